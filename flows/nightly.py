"""The nightly flow: ingest new files, then every stage, then the report; and its schedules.

Each stage is its own subflow and run record; a stage whose inputs did not change is
reused (see :mod:`flows.stages`), so a night with no new data takes seconds, and a run
that failed or was killed half-way is completed by the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.drift import drift_flow
from flows.embed import run_embed_flow
from flows.ingest import ingest_flow
from flows.intents import run_intents_flow
from flows.process import process_flow, process_inputs
from flows.readiness import readiness_flow
from flows.report import report_flow
from flows.stages import reuse_current
from pipeline import schema
from pipeline.config import load_config
from pipeline.store import open_store

TOP_FINDINGS = 10


@flow(name="nightly", log_prints=False)
def nightly_flow(
    config_path: str | None = None,
    db_path: str | None = None,
    inputs: Sequence[str] | None = None,
    fmt: str | None = None,
    sops: str | None = None,
    refit: bool | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Ingest, embed, intents, steps and discovery, drift, readiness, report; artifacts.

    The embed stage fills the embedding cache for the texts the later stages read, and
    the intent stage assigns new conversations, on the task runner of ``flows.runner``
    (a Dask cluster when configured).

    Parameters
    ----------
    config_path, db_path
        The config file and database (defaults: built-in config, its ``database``).
    inputs, fmt
        Files or folders to ingest instead of the landing folder; their format.
    sops
        The documented-SOP folder instead of ``sops`` in config.
    refit
        ``True`` refits the intent model, ``False`` only assigns, ``None`` follows config.
    force
        Re-read input files even when their content was already ingested.
    """
    where = {"config_path": config_path, "db_path": db_path}
    summary = {
        "ingest": ingest_flow(inputs=inputs, fmt=fmt, force=force, **where),
        "embed": run_embed_flow(**where),
    }
    # A stage whose inputs did not change is recorded as unchanged without its subflow.
    summary["intents"] = (refit is not True and reuse_current("intents", **where)) or (
        run_intents_flow(refit=refit, **where)
    )
    summary["process"] = reuse_current("process", extra=process_inputs, sops=sops, **where) or (
        process_flow(sops=sops, **where)
    )
    summary["drift"] = reuse_current("drift", **where) or drift_flow(**where)
    summary["readiness"] = reuse_current("readiness", **where) or readiness_flow(**where)
    summary["report"] = report_flow(**where)
    _publish(summary, config_path=config_path, db_path=db_path)
    return summary


def _publish(summary: dict[str, Any], *, config_path: str | None, db_path: str | None) -> None:
    """Prefect artifacts: the readiness table, the top drift findings, the run summary."""
    config = load_config(config_path)
    with open_store(db_path or config.database, read_only=True, settings=config.store) as store:
        readiness = store.sql(
            f"select rank, workflow_id, round(score, 1) as score, round(low, 1) as low, "
            f"round(high, 1) as high, tier from {schema.READINESS} "
            f"where run_id = (select max(run_id) from {schema.READINESS}) order by rank"
        )
        findings = store.sql(
            f"select severity, kind, sop_id, step, team, window_start, sentence "
            f"from {schema.DRIFT_FINDINGS} where flagged order by "
            "case severity when 'high' then 0 when 'medium' then 1 else 2 end, "
            f"q_value nulls last limit {TOP_FINDINGS}"
        )
    create_table_artifact(
        key="readiness", table=readiness.to_dicts(), description="Autonomy readiness, best first"
    )
    create_table_artifact(
        key="drift-findings",
        table=[{k: str(v) for k, v in row.items()} for row in findings.to_dicts()],
        description=f"Top {TOP_FINDINGS} flagged drift findings",
    )
    lines = ["| stage | run | mode |", "|---|---|---|"]
    for stage, result in summary.items():
        lines.append(f"| {stage} | {result.get('run_id', '')} | {result.get('mode', 'ok')} |")
    create_markdown_artifact(
        key="run-summary", markdown="\n".join(lines), description="cxminer nightly run"
    )
