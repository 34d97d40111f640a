"""What the report shows, read from the store's views and tables (the report's boundary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from pipeline import schema
from pipeline.errors import StoreError
from pipeline.report.views import REPORT_VIEWS
from pipeline.store import Store

_RECENT_RUNS = 20


@dataclass(frozen=True)
class ReportData:
    """What the report shows, read from the store by :func:`read_report_data`."""

    counts: dict[str, int]  # rows per table
    period: tuple[datetime | None, datetime | None]  # first and last conversation start
    runs: pl.DataFrame  # the latest runs, newest first
    intents: pl.DataFrame  # view intent_overview
    intent_weekly: pl.DataFrame
    sops: pl.DataFrame  # latest version of each documented SOP, with its YAML
    step_types: pl.DataFrame
    process_edges: pl.DataFrame  # view process_edges
    candidate_sops: pl.DataFrame
    workflow_conformance: pl.DataFrame
    step_deviations: pl.DataFrame
    team_conformance: pl.DataFrame
    drift: pl.DataFrame  # view drift_findings_ranked
    readiness: pl.DataFrame  # view readiness_leaderboard
    data_quality: pl.DataFrame
    leaders_capacity: pl.DataFrame = field(default_factory=pl.DataFrame)  # view leaders_capacity
    unranked: pl.DataFrame = field(default_factory=pl.DataFrame)  # view unranked_workflows
    examples: pl.DataFrame = field(default_factory=pl.DataFrame)  # view finding_examples


def read_report_data(store: Store) -> ReportData:
    """Read the report's views and tables (read-only; the views must exist).

    A stage that has not run leaves its tables empty; the report says so.

    Raises
    ------
    StoreError
        A report view is missing: run the statements of
        :func:`~pipeline.report.views.view_statements` first.
    """
    present = set(
        store.sql("select table_name from information_schema.tables")["table_name"].to_list()
    )
    missing = [v for v in REPORT_VIEWS if v not in present]
    if missing:
        raise StoreError(
            f"{store.path}: report views missing: {', '.join(missing)}; create them first "
            "(store.create_views(pipeline.report.views.view_statements()) on a writable store)"
        )
    first, last = store.sql(
        f"select min(started_at) as a, max(started_at) as b from {schema.CONVERSATIONS}"
    ).row(0)
    sops = store.sql(
        f"select sop_id, version, intent, n_steps, yaml from {schema.SOPS} "
        "qualify row_number() over (partition by sop_id order by version desc) = 1 "
        "order by sop_id"
    )
    views = {name: store.sql(f"select * from {name}") for name in REPORT_VIEWS}
    return ReportData(
        counts={t: store.count(t) for t in schema.COLUMNS if t in present},
        period=(first, last),
        runs=store.sql(
            f"select run_id, flow, status, started_at, finished_at, error from {schema.RUNS} "
            f"order by started_at desc limit {_RECENT_RUNS}"
        ),
        intents=views["intent_overview"],
        intent_weekly=views["intent_weekly"],
        sops=sops,
        step_types=store.sql(f"select step_id, label, source from {schema.STEP_TYPES}"),
        process_edges=views["process_edges"],
        candidate_sops=store.sql(
            f"select workflow_id, step, support, position from {schema.CANDIDATE_SOPS}"
        ),
        workflow_conformance=views["workflow_conformance"],
        step_deviations=views["step_deviations"],
        team_conformance=views["team_conformance"],
        drift=views["drift_findings_ranked"],
        readiness=views["readiness_leaderboard"],
        data_quality=views["data_quality"],
        leaders_capacity=views["leaders_capacity"],
        unranked=views["unranked_workflows"],
        examples=views["finding_examples"],
    )
