"""Stage 10, report: the SQL views, and the HTML report and Markdown summary built on them.

:func:`view_statements` reads ``reports/views/NN_name.sql`` (one ``create or replace
view`` a file) for the caller to run; :func:`read_report_data` reads the views and a
few tables through a :class:`~pipeline.store.Store`; :func:`render_report` turns that
into one self-contained HTML page (inline CSS and SVG, no script, nothing fetched at
view time) and a Markdown summary, from the templates in ``reports/templates``. Three
audiences, three sections: leaders (the readiness ranking), process owners (per
workflow: process graph, deviations, drift, teams) and analysts (intents, data quality,
runs). Every text from data is escaped: the HTML template autoescapes, the SVG helpers
of :mod:`pipeline.report.charts` escape, and the Markdown environment escapes every
value it prints.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
import polars as pl
import yaml
from markupsafe import Markup, escape

from pipeline import schema
from pipeline.errors import SchemaError, SopError, StoreError
from pipeline.report.charts import interval_svg, process_graph_svg, series_svg, sparkline_svg
from pipeline.sops.model import Sop, parse_sop
from pipeline.store import Store

ROOT = Path(__file__).resolve().parents[2]
VIEWS_DIR = ROOT / "reports" / "views"
TEMPLATES_DIR = ROOT / "reports" / "templates"

# The views the report reads, by the name their file creates.
REPORT_VIEWS = (
    "intent_overview",
    "intent_weekly",
    "workflow_conformance",
    "step_deviations",
    "team_conformance",
    "drift_findings_ranked",
    "readiness_leaderboard",
    "data_quality",
    "process_edges",
)
# Drift kinds whose rate is a share of conversations (shown as %).
SHARE_KINDS = ("missing", "order_violation", "undocumented", "gate_skipped", "conformance_change")
# Drift kinds tested per window (a rate series to chart); the others cover the period.
WINDOW_KINDS = (*SHARE_KINDS, "intent_mix", "variant_mix")
# A test series: the same test over windows (findings.IDENTITY without the window).
_SERIES_KEY = ("kind", "sop_id", "workflow_id", "step", "team", "agent_hash", "metric")
MAX_FINDINGS = 10  # flagged series shown per workflow (all are in the drift view)
TOP = 10  # rows of the Markdown summary's lists
_RECENT_RUNS = 20

_VIEW_FILE = re.compile(r"^\d+_(?P<name>[a-z][a-z0-9_]*)\.sql$")
_CREATE_VIEW = re.compile(r"\bcreate\s+or\s+replace\s+view\s+(?P<name>[A-Za-z_]\w*)", re.I)
_COMMENT = re.compile(r"--[^\n]*")


def view_statements(views_dir: Path = VIEWS_DIR) -> list[tuple[str, str]]:
    """Return ``(view name, SQL)`` of each ``NN_name.sql`` file, sorted by file name.

    Raises
    ------
    SchemaError
        A file is not named ``NN_name.sql``, or does not hold exactly one
        ``create or replace view name`` (comments aside) for the name in its file name.
    """
    statements = []
    for path in sorted(Path(views_dir).glob("*.sql")):
        named = _VIEW_FILE.match(path.name)
        if named is None:
            raise SchemaError(
                f"{path}: a view file must be named NN_name.sql (digits, '_', a lower-case "
                "name); rename it"
            )
        sql = path.read_text(encoding="utf-8")
        found = _CREATE_VIEW.findall(_COMMENT.sub("", sql))
        if len(found) != 1 or found[0].lower() != named["name"]:
            raise SchemaError(
                f"{path}: expected exactly one 'create or replace view {named['name']} as ...', "
                f"found {len(found)} view statement(s) {found}; one view a file, named as the file"
            )
        statements.append((named["name"], sql))
    return statements


# ---- reading ----------------------------------------------------------------------------
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


def read_report_data(store: Store) -> ReportData:
    """Read the report's views and tables (read-only; the views must exist).

    A stage that has not run leaves its tables empty; the report says so.

    Raises
    ------
    StoreError
        A report view is missing: run the statements of :func:`view_statements` first.
    """
    present = set(
        store.sql("select table_name from information_schema.tables")["table_name"].to_list()
    )
    missing = [v for v in REPORT_VIEWS if v not in present]
    if missing:
        raise StoreError(
            f"{store.path}: report views missing: {', '.join(missing)}; create them first "
            "(store.create_views(pipeline.report.render.view_statements()) on a writable store)"
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
        step_types=store.sql(f"select step_id, label from {schema.STEP_TYPES}"),
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
    )


def report_paths(out_dir: Path) -> tuple[Path, Path]:
    """Return the paths of the HTML report and the Markdown summary in ``out_dir``."""
    return out_dir / "index.html", out_dir / "summary.md"


# ---- rendering --------------------------------------------------------------------------
def render_report(
    data: ReportData, *, generated_at: datetime, templates_dir: Path = TEMPLATES_DIR
) -> tuple[str, str]:
    """Render the HTML report and the Markdown summary (pure, apart from reading templates).

    Returns
    -------
    tuple of str
        The HTML document (``report.html.j2``) and the Markdown text (``summary.md.j2``).
    """
    context = _context(data, generated_at=generated_at)
    filters = {"pct": _pct, "num": _num, "fixed": _fixed, "when": _when, "q": _q}
    page = _environment(templates_dir, autoescape=True, finalize=None)  # escapes every value
    page.filters.update(filters, emph=_emphasis)
    summary = _environment(templates_dir, autoescape=False, finalize=_md_value)
    summary.filters.update(filters, emph=lambda text: _MdText(_md(text, emphasis=True)))
    return (
        page.get_template("report.html.j2").render(**context),
        summary.get_template("summary.md.j2").render(**context),
    )


def _environment(templates_dir: Path, **options: Any) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        **options,
    )


def _context(data: ReportData, *, generated_at: datetime) -> dict[str, Any]:
    """Shape the report data into the templates' sections."""
    workflows = _workflows(data)
    cross = _cross_findings(data.drift)
    flagged = [f for w in workflows for f in w["findings"]] + cross
    return {
        "generated_at": generated_at,
        "counts": data.counts,
        "period": data.period,
        "leaders": _leaders(data.readiness),
        "workflows": workflows,
        "cross_findings": cross,
        "top_findings": sorted(flagged, key=lambda f: f["priority"])[:TOP],
        "drift_computed": data.counts.get(schema.DRIFT_FINDINGS, 0) > 0,
        "intents": _intents(data.intents, data.intent_weekly),
        "quality": _quality(data.data_quality),
        "runs": data.runs.to_dicts(),
    }


def _leaders(readiness: pl.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            **row,
            "name": row["label"] or row["workflow_id"],
            "interval": interval_svg(row["score"], row["low"], row["high"], tier=row["tier"]),
            "components": _components(row["components"]),
        }
        for row in readiness.to_dicts()
    ]


def _components(text: str | None) -> list[dict[str, Any]]:
    """Rows ``name, value, weight, points, detail`` of a readiness ``components`` JSON.

    Each component maps to ``{value, weight, contribution, detail}``; a bare value is
    shown as the value. Text that is not a JSON object gives no rows.
    """
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        return []
    rows = []
    for name, item in parsed.items() if isinstance(parsed, dict) else ():
        item = item if isinstance(item, dict) else {"value": item}
        value = item.get("value")
        rows.append(
            {
                "name": str(name).replace("_", " "),
                "value": _fixed(value) if isinstance(value, int | float) else value,
                "weight": item.get("weight"),
                "points": item.get("contribution"),
                "detail": item.get("detail"),
            }
        )
    return rows


def _workflows(data: ReportData) -> list[dict[str, Any]]:
    """One section per workflow: documented SOPs first, then mined-only workflows."""
    sops = {row["sop_id"]: row for row in data.sops.to_dicts()}
    ids = set(sops) | set(data.process_edges["workflow_id"].to_list())
    ids |= set(data.workflow_conformance["sop_id"].to_list())
    labels = dict(data.step_types.select("step_id", "label").iter_rows())
    intent_labels = dict(data.intents.select("intent_id", "label").iter_rows())
    candidates = dict(
        data.readiness.filter(pl.col("playbook_source") == "candidate")
        .select("workflow_id", "playbook")
        .iter_rows()
    )
    out = []
    for wf in sorted(ids, key=lambda w: (w not in sops, w)):
        row = sops.get(wf)
        sop = _parse(row["yaml"], wf) if row else None
        conformance = data.workflow_conformance.filter(pl.col("sop_id") == wf)
        version = conformance["version"].max()  # the SOP version in force
        deviations = data.step_deviations.filter(
            (pl.col("sop_id") == wf) & pl.col("version").eq_missing(version)
        )
        edges = data.process_edges.filter(pl.col("workflow_id") == wf)
        candidate = data.candidate_sops.filter(pl.col("workflow_id") == wf)
        missing = deviations.filter(pl.col("deviation") == "missing")
        title = ", ".join(row["intent"]) if row else intent_labels.get(wf, "")
        documented = set(sop.step_ids) if sop else set()
        graph = None
        if not edges.is_empty():
            graph = process_graph_svg(
                edges,
                sop=sop,
                positions=dict(candidate.select("step", "position").drop_nulls().iter_rows()),
                # documented steps go by their SOP id, the others by their label
                labels={k: v for k, v in labels.items() if k not in documented},
                skipped=dict(missing.select("step", "share").iter_rows()),
                support=dict(candidate.select("step", "support").iter_rows()),
            )
        out.append(
            {
                "id": wf,
                "anchor": "wf-" + re.sub(r"[^A-Za-z0-9_-]", "-", wf),
                "title": "" if title == wf else title,
                "documented": row is not None,
                "version": row["version"] if row else None,
                "yaml": row["yaml"] if row else None,
                "candidate": candidates.get(wf),
                "kpis": conformance.filter(pl.col("version") == version).to_dicts()[0]
                if version is not None
                else None,
                "graph": graph,
                "deviations": deviations.head(10).to_dicts(),
                "teams": data.team_conformance.filter(
                    (pl.col("sop_id") == wf) & pl.col("version").eq_missing(version)
                ).to_dicts(),
                **_findings(data.drift, wf),
            }
        )
    return out


def _parse(text: str, sop_id: str) -> Sop | None:
    """Parse a stored SOP YAML; None when it no longer parses (then shown as text only)."""
    try:
        return parse_sop(yaml.safe_load(text), origin=f"sops table, {sop_id}")
    except (yaml.YAMLError, SopError):
        return None


def _findings(drift: pl.DataFrame, wf: str) -> dict[str, Any]:
    """Return a workflow's flagged findings, one per test series, and its count of tests."""
    mine = drift.filter(pl.col("workflow_id").eq(wf) | pl.col("sop_id").eq(wf))
    findings = _by_series(mine.filter(pl.col("flagged")))
    shown = [{**f, "chart": _chart(mine, f)} for f in findings[:MAX_FINDINGS]]
    return {"findings": shown, "n_flagged": len(findings), "n_tests": mine.height}


def _cross_findings(drift: pl.DataFrame) -> list[dict[str, Any]]:
    """Return the flagged findings of no single workflow (intent mix, pooled outcomes)."""
    shared = drift.filter(pl.col("workflow_id").is_null() & pl.col("sop_id").is_null())
    findings = _by_series(shared.filter(pl.col("flagged")))
    return [{**f, "chart": _chart(shared, f)} for f in findings[:MAX_FINDINGS]]


def _by_series(flagged: pl.DataFrame) -> list[dict[str, Any]]:
    """One finding per test series, its most urgent row, in priority order.

    Adds ``flagged_windows`` (the series' flagged window starts, in order), ``percent``
    (its rate is a share of conversations) and ``windowed`` (it is tested per window).
    """
    series: dict[tuple, list[dict[str, Any]]] = {}
    for row in flagged.sort("priority").to_dicts():
        series.setdefault(tuple(row[c] for c in _SERIES_KEY), []).append(row)
    return [
        {
            **rows[0],
            "flagged_windows": sorted(r["window_start"] for r in rows if r["window_start"]),
            "percent": rows[0]["kind"] in SHARE_KINDS,
            "windowed": rows[0]["kind"] in WINDOW_KINDS,
        }
        for rows in series.values()
    ]


def _chart(drift: pl.DataFrame, finding: dict[str, Any]) -> Markup | None:
    """Chart the rate per window of a finding's test series against its baseline.

    None for a kind that covers the whole period, or a series of fewer than two windows.
    """
    if not finding["windowed"] or finding["window_start"] is None:
        return None
    same = pl.all_horizontal(pl.col(c).eq_missing(finding[c]) for c in _SERIES_KEY)
    series = (
        drift.filter(same & pl.col("rate").is_not_null() & pl.col("window_start").is_not_null())
        .sort("window_start")
        .unique("window_start", keep="first", maintain_order=True)
    )
    if series.height < 2:
        return None
    where = " / ".join(str(finding[c]) for c in ("step", "team", "agent_hash") if finding[c])
    return series_svg(
        series["window_start"].to_list(),
        series["rate"].to_list(),
        baseline=finding["baseline"],
        flagged=set(series.filter(pl.col("flagged"))["window_start"].to_list()),
        percent=finding["percent"],
        title=f"{finding['kind']} {where}: rate per window against the baseline",
    )


def _intents(intents: pl.DataFrame, weekly: pl.DataFrame) -> list[dict[str, Any]]:
    """Intent rows with a sparkline of weekly conversations (weeks without any count 0)."""
    weeks = sorted(set(weekly["week"].to_list()))
    counts = {(i, w): n for i, w, n in weekly.iter_rows()}
    rows = []
    for row in intents.to_dicts():
        values = [counts.get((row["intent_id"], w), 0) for w in weeks]
        title = f"conversations per week, {weeks[0]} to {weeks[-1]}: {values}" if weeks else ""
        rows.append({**row, "trend": sparkline_svg(values, title=title) if weeks else None})
    return rows


def _quality(quality: pl.DataFrame) -> dict[str, Any]:
    """Record counts per source, and quarantine reasons and redactions over all sources."""
    sources = [
        {**part.select("path", "format", "status").row(0, named=True),
         **dict(part.select("item", "n").iter_rows())}
        for _, part in quality.filter(pl.col("category") == "records")
        .group_by("source_id", maintain_order=True)
    ]  # fmt: skip

    def totals(category: str) -> list[tuple[str, int]]:
        summed = quality.filter(pl.col("category") == category).group_by("item").agg(pl.sum("n"))
        return summed.sort(["n", "item"], descending=[True, False]).rows()

    return {
        "sources": sources,
        "quarantine": totals("quarantine"),
        "redactions": totals("redaction"),
    }


# ---- formatting (template filters) ---------------------------------------------------------
def _pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _fixed(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _q(value: float | None) -> str:
    """Format a q-value with its relation: ``= 0.0312`` or ``< 0.0001``."""
    return "not tested" if value is None else "< 0.0001" if value < 1e-4 else f"= {value:.4f}"


def _when(value: datetime | date | None) -> str:
    if value is None:
        return "–"
    return f"{value:%Y-%m-%d %H:%M}" if isinstance(value, datetime) else f"{value:%Y-%m-%d}"


_EMPHASIS = re.compile(r"\*([^*<>]+)\*")


def _emphasis(text: str | None) -> Markup:
    """Escape a sentence for HTML, then show its ``*word*`` emphasis in italics."""
    return Markup(_EMPHASIS.sub(r"<em>\1</em>", str(escape(text or ""))))


class _MdText(str):
    """Markdown already escaped (by a filter), so the environment prints it as it is."""


_WHITESPACE = re.compile(r"\s+")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")
_MD_SPECIAL_BUT_STARS = re.compile(r"([\\`_\[\]|#])")


def _md(value: object, *, emphasis: bool = False) -> str:
    """Markdown-safe text: HTML-escaped (viewers render raw HTML), specials escaped.

    With ``emphasis``, balanced ``*word*`` pairs are kept as Markdown emphasis.
    """
    text = html.escape(_WHITESPACE.sub(" ", str(value)), quote=False)  # one line
    keep_stars = emphasis and text.count("*") % 2 == 0
    return (_MD_SPECIAL_BUT_STARS if keep_stars else _MD_SPECIAL).sub(r"\\\1", text)


def _md_value(value: object) -> str:
    """Escape every value the Markdown template prints (its ``finalize``)."""
    return value if isinstance(value, _MdText) else _md("" if value is None else value)
