"""The report flow: create the SQL views, then write the HTML report and Markdown summary."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.progress import stage_progress
from flows.stages import recorded_run
from pipeline.config import load_config
from pipeline.report.data import read_report_data
from pipeline.report.render import render_report, report_paths
from pipeline.report.views import view_statements
from pipeline.store import Store, open_store


@task(retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def write_text(path: Path, text: str) -> Path:
    """Write a file atomically (a reader never sees half a report); retried: I/O."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path


@task(cache_policy=NO_CACHE)
def render_task(store: Store) -> tuple[str, str]:
    """Create the views and render the report from them."""
    store.create_views(view_statements())
    return render_report(read_report_data(store), generated_at=datetime.now(UTC))


@flow(name="report", log_prints=False)
def report_flow(
    config_path: str | None = None, db_path: str | None = None, out_dir: str | None = None
) -> dict[str, Any]:
    """Create the report views in the database and write ``index.html`` and ``summary.md``."""
    config = load_config(config_path)
    db = Path(db_path) if db_path else config.database
    out = Path(out_dir) if out_dir else config.flows.report_dir
    html_path, md_path = report_paths(out)
    with (
        stage_progress("report"),
        open_store(db, lock_timeout_s=config.lock_timeout_s, settings=config.store) as store,
    ):
        with recorded_run(store, flow="report", config=config) as run_id:
            html, markdown = render_task(store)
            write_text(html_path, html)
            write_text(md_path, markdown)
        store.finish_run(run_id, status="ok", row_counts={"html_bytes": len(html.encode())})
    return {"run_id": run_id, "database": str(db), "html": str(html_path), "markdown": str(md_path)}
