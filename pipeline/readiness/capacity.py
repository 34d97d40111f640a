"""Stage 9, readiness capacity: per workflow, the volume and hours an AI agent could take.

Leaders decide in volume and hours, not seats. :func:`leaders_capacity` puts the latest
ranking beside each workflow's volume, agent handle time and outcomes, per month, and
says what an AI agent could take at the workflow's tier; :func:`format_capacity` prints
it. The view ``leaders_capacity`` (``reports/views/10_leaders_capacity.sql``) computes
the same figures in SQL for the report and BI tools; a test holds the two equal.

Definitions (every per-month figure divides by one span, so rows add up):

span_months
    Days between the first and the last conversation start of all contacts, over
    :data:`MONTH_DAYS`; at least one month (a shorter sample is not scaled up).
conversations_per_month, contact_share
    The workflow's conversations (``readiness.n_conversations``) over the span, and over
    all contacts (conversations with no workflow or a small intent included).
agent_hours_per_month
    Agent handle time: the sum of ``outcomes.duration_s`` (``ended_at - started_at``,
    else the first to the last turn timestamp) over the span, in hours. A conversation
    with neither is untimed: it adds nothing and is counted in
    ``untimed_conversations``, so the hours say over how many conversations
    (``timed_conversations``) they were measured; null when none was.
resolved_share, escalated_share, repeat_contact_share
    Of the workflow's conversations with an outcome; in the totals row, of all the
    rows' conversations together (a share is not a sum).
ai_conversations_per_month, ai_agent_hours_per_month, approvals_per_month
    What an AI agent could take at the tier: everything for ``autonomous``; everything
    for ``agent with human approval``, with one approval per conversation (an upper
    bound: the SOPs' ``when`` gates, where they exist, would ask for fewer); nothing
    for ``human-led``.

The totals row (``is_total``) sums every count and per-month column and
``contact_share`` over the rows; ``span_months`` is the same on every row.
"""

from __future__ import annotations

import polars as pl

from pipeline import schema
from pipeline.errors import SchemaError

AUTONOMOUS, APPROVAL, HUMAN_LED = schema.TIERS
MONTH_DAYS = 30.44  # a mean Gregorian month
TOTAL = "total"

CAPACITY_SCHEMA = pl.Schema(
    {
        "rank": pl.Int32,
        "workflow_id": pl.String,
        "label": pl.String,
        "tier": pl.String,
        "score": pl.Float64,
        "conversations": pl.Int64,
        "conversations_per_month": pl.Float64,
        "contact_share": pl.Float64,
        "agent_hours_per_month": pl.Float64,
        "timed_conversations": pl.Int64,
        "untimed_conversations": pl.Int64,
        "resolved_share": pl.Float64,
        "escalated_share": pl.Float64,
        "repeat_contact_share": pl.Float64,
        "ai_conversations_per_month": pl.Float64,
        "ai_agent_hours_per_month": pl.Float64,
        "approvals_per_month": pl.Float64,
        "span_months": pl.Float64,
        "is_total": pl.Boolean,
    }
)
# The totals row sums these over the rows.
ADDITIVE = (
    "conversations",
    "conversations_per_month",
    "contact_share",
    "agent_hours_per_month",
    "timed_conversations",
    "untimed_conversations",
    "ai_conversations_per_month",
    "ai_agent_hours_per_month",
    "approvals_per_month",
)
_OUTCOMES = ("resolved", "escalated", "repeat_contact")


def span_months(starts: pl.Series) -> float:
    """Return the months between the first and the last start, at least 1 (none: 1)."""
    first, last = starts.min(), starts.max()
    if first is None or last is None:
        return 1.0
    return max(1.0, (last - first).total_seconds() / 86_400 / MONTH_DAYS)


def leaders_capacity(
    ranking: pl.DataFrame, outcomes: pl.DataFrame, conversations: pl.DataFrame
) -> pl.DataFrame:
    """Per ranked workflow: volume, hours, outcomes and what an AI agent could take, a month.

    Parameters
    ----------
    ranking
        The latest ``readiness`` rows: ``workflow_id, label, rank, tier, score,
        n_conversations``.
    outcomes
        ``workflow_id, duration_s, resolved, escalated, repeat_contact``, one row per
        conversation.
    conversations
        ``started_at`` of every contact (the span and the share's denominator).

    Returns
    -------
    polars.DataFrame
        :data:`CAPACITY_SCHEMA`: one row per workflow in rank order, then the totals
        row (``is_total``, ``label`` ``total``; none without a workflow); the module
        docstring defines the columns.

    Raises
    ------
    SchemaError
        A frame lacks a needed column.
    """
    _require(ranking, ("workflow_id", "label", "rank", "tier", "score", "n_conversations"),
             "readiness")  # fmt: skip
    _require(outcomes, ("workflow_id", "duration_s", *_OUTCOMES), "outcomes")
    _require(conversations, ("started_at",), "conversations")
    months = span_months(conversations["started_at"])
    contacts = conversations.height
    measured = outcomes.group_by("workflow_id").agg(
        timed_conversations=pl.col("duration_s").count().cast(pl.Int64),
        _seconds=pl.col("duration_s").sum(),
        **{f"{o}_share": pl.col(o).cast(pl.Float64).mean() for o in _OUTCOMES},
    )
    per_month = pl.col("conversations") / months
    hours = pl.when(pl.col("timed_conversations") > 0).then(pl.col("_seconds") / 3600 / months)
    human_led = pl.col("tier") == HUMAN_LED
    rows = (
        ranking.select(
            "rank",
            "workflow_id",
            "label",
            "tier",
            "score",
            conversations=pl.col("n_conversations").cast(pl.Int64),
        )  # fmt: skip
        .join(measured, on="workflow_id", how="left")
        .with_columns(pl.col("timed_conversations").fill_null(0))
        .with_columns(
            conversations_per_month=per_month,
            contact_share=pl.col("conversations") / contacts if contacts else None,
            agent_hours_per_month=hours,
            untimed_conversations=(pl.col("conversations") - pl.col("timed_conversations")).clip(
                lower_bound=0
            ),
            ai_conversations_per_month=pl.when(human_led).then(0.0).otherwise(per_month),
            ai_agent_hours_per_month=pl.when(human_led).then(0.0).otherwise(hours),
            approvals_per_month=pl.when(pl.col("tier") == APPROVAL).then(per_month).otherwise(0.0),
            span_months=pl.lit(months),
            is_total=pl.lit(False),
        )
        .sort("rank", "workflow_id")
        .select([pl.col(c).cast(t) for c, t in CAPACITY_SCHEMA.items()])
    )
    ranked = outcomes.filter(pl.col("workflow_id").is_in(ranking["workflow_id"].implode()))
    if rows.is_empty():
        return rows
    return pl.concat([rows, _totals(rows, ranked, months)])


def _totals(rows: pl.DataFrame, ranked: pl.DataFrame, months: float) -> pl.DataFrame:
    """Return the totals row: each additive column summed (null where every row is null)."""
    total: dict = {c: None for c in CAPACITY_SCHEMA}
    for column in ADDITIVE:
        values = rows[column].drop_nulls()
        total[column] = values.sum() if values.len() else None
    for outcome in _OUTCOMES:
        total[f"{outcome}_share"] = ranked[outcome].cast(pl.Float64).mean()
    total.update(label=TOTAL, span_months=months, is_total=True)
    return pl.DataFrame([total], schema=CAPACITY_SCHEMA)


def format_capacity(capacity: pl.DataFrame) -> str:
    """Render :func:`leaders_capacity` as plain text: units in the header, totals last.

    Returns
    -------
    str
        A line stating the span, a header, one line per workflow, the totals line and
        notes on untimed conversations and on approvals; empty for no rows.
    """
    if capacity.is_empty():
        return ""
    months = capacity["span_months"][0]
    lines = [
        f"capacity per month ({months:.1f} months of data, a month = {MONTH_DAYS} days; "
        "hours = agent handle time):",
        f"{'workflow':<24} {'tier':<10} {'conv/month':>10} {'share':>6} {'agent h/month':>13} "
        f"{'timed':>11} {'resolved':>8} {'escal.':>6} {'repeat':>6} {'AI conv/month':>13} "
        f"{'AI h/month':>10} {'approvals/month':>15}",
    ]
    for row in capacity.iter_rows(named=True):
        name = TOTAL if row["is_total"] else row["workflow_id"]
        tier = {APPROVAL: "approval"}.get(row["tier"], row["tier"] or "")
        timed = f"{row['timed_conversations']}/{row['conversations']}"
        lines.append(
            f"{name[:24]:<24} {tier:<10} {row['conversations_per_month']:>10.1f} "
            f"{_pct(row['contact_share']):>6} {_num(row['agent_hours_per_month']):>13} "
            f"{timed:>11} {_pct(row['resolved_share']):>8} {_pct(row['escalated_share']):>6} "
            f"{_pct(row['repeat_contact_share']):>6} {row['ai_conversations_per_month']:>13.1f} "
            f"{_num(row['ai_agent_hours_per_month']):>10} {row['approvals_per_month']:>15.1f}"
        )
    untimed = capacity.filter("is_total")["untimed_conversations"][0]
    if untimed:
        lines.append(
            f"{untimed} {'conversation has' if untimed == 1 else 'conversations have'} no "
            "handle time (neither start and end times nor turn timestamps): their hours are "
            "unknown and not counted; 'timed' says how many were"
        )
    lines.append(
        "approvals/month: one per conversation of an approval-gated workflow (an upper bound)"
    )
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _require(frame: pl.DataFrame, columns: tuple[str, ...], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{table}: expected columns {', '.join(columns)}, missing {', '.join(missing)}; "
            f"pass the {table} table as the store returns it"
        )
