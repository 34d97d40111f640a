"""Stage 8, outcomes: how each conversation ended, and whether the customer came back.

Reads ``conversations``, ``turns`` and a conversation -> workflow frame (the caller
derives it from ``step_events`` or ``intent_assignments``); produces ``outcomes``, one
row per conversation.

The outcome comes from the data where the data has one (``outcomes.derive: auto``);
otherwise, or always with ``derive: always``, it is derived from the transcript by the
first rule that holds:

1. ``escalated``: an action event whose name contains a configured escalation word (and
   whose status is not ``failed``), or an agent/bot utterance containing a configured
   escalation phrase;
2. ``transferred``: the same with the transfer words and phrases (escalation is checked
   first, so "I'll transfer you to my supervisor" is an escalation);
3. ``abandoned``: fewer customer utterances than ``min_customer_turns``;
4. ``resolved``: one of the last ``closing_turns`` agent/bot utterances after the
   customer's first utterance holds a closing phrase ("anything else", "have a great
   day"): the agent closed the conversation;
5. ``abandoned``: the customer spoke last and nobody closed: the customer left;
6. ``unknown``: the agent spoke last without a recognisable closing.

Every step is a polars expression over all turns or conversations at once; the repeat
contact search is one sort and a shift, O(n log n), never a Python loop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import polars as pl

from pipeline.config import OutcomeConfig
from pipeline.errors import SchemaError
from pipeline.schema import OUTCOMES, batch_columns

# Spellings of the data's outcome field, after normalisation (lower case, runs of other
# characters as "_"). A value not here and not in the config's aliases is "unknown".
DATA_OUTCOMES: dict[str, str] = {
    **dict.fromkeys(
        ("resolved", "resolve", "solved", "fixed", "completed", "complete", "closed",
         "success", "successful", "answered", "handled", "done"),
        "resolved",
    ),
    **dict.fromkeys(
        ("escalated", "escalate", "escalation", "escalated_to_supervisor"), "escalated"
    ),
    **dict.fromkeys(
        ("transferred", "transfer", "transferred_out", "handoff", "hand_off", "handed_off",
         "handover", "routed", "rerouted"),
        "transferred",
    ),
    **dict.fromkeys(
        ("abandoned", "abandon", "abandonment", "dropped", "disconnected", "hung_up",
         "hangup", "timed_out", "timeout", "no_response", "customer_left"),
        "abandoned",
    ),
}  # fmt: skip
_AGENT_SPEAKERS = ("agent", "bot")
_US_PER_DAY = 86_400_000_000
_UTC = pl.Datetime("us", "UTC")
_CONVERSATION_COLUMNS = ("conversation_id", "customer_hash", "started_at", "ended_at", "outcome")
_TURN_COLUMNS = (
    "conversation_id",
    "turn_idx",
    "speaker",
    "event_type",
    "text",
    "action_name",
    "action_status",
)
_OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String(),
    "workflow_id": pl.String(),
    "outcome": pl.String(),
    "outcome_source": pl.String(),
    "escalated": pl.Boolean(),
    "resolved": pl.Boolean(),
    "repeat_contact": pl.Boolean(),
    "repeat_gap_days": pl.Float64(),
    "n_agent_turns": pl.Int32(),
    "failed_actions": pl.Int32(),
    "duration_s": pl.Float64(),
}


def derive_outcomes(
    conversations: pl.DataFrame,
    turns: pl.DataFrame,
    workflows: pl.DataFrame,
    *,
    config: OutcomeConfig,
) -> pl.DataFrame:
    """Return the outcome, escalation, resolution and repeat contact of each conversation.

    Reads ``conversations`` and ``turns`` rows and ``workflows``; produces ``outcomes``
    rows (every column but ``run_id``), one per conversation, in the input order.

    Parameters
    ----------
    conversations
        ``conversation_id``, ``customer_hash``, ``started_at``, ``ended_at`` and
        ``outcome`` (free text or null); other columns are ignored.
    turns
        ``conversation_id``, ``turn_idx``, ``speaker``, ``event_type``, ``text``,
        ``action_name``, ``action_status`` and, if present, ``ts``.
    workflows
        ``conversation_id`` -> ``workflow_id`` (null: none); a conversation missing
        here has no workflow.
    config
        Phrases, words, the repeat window and the abandonment threshold.

    Returns
    -------
    pl.DataFrame
        ``schema.batch_columns("outcomes")``. ``outcome_source`` is ``data`` when the
        data's outcome is present: a recognised spelling (:data:`DATA_OUTCOMES` plus
        ``config.outcome_aliases``) maps to its value, any other value to ``unknown``
        (the data said something this stage cannot read; it does not guess over it);
        null, blank and ``config.no_outcome_values`` count as absent and the outcome is
        derived (the module docstring gives the rules); with ``config.derive`` ``always``
        every outcome is. ``escalated`` is true for
        escalated and transferred (the first agent handed the customer on), ``resolved``
        for resolved. ``repeat_contact`` marks the *first* of two conversations of one
        ``customer_hash`` on one ``workflow_id`` whose starts lie at most
        ``repeat_days`` days apart (A, B, C a day apart each: A and B are marked);
        ``repeat_gap_days`` is the days to that next start, null when not a repeat. A
        null customer, workflow or start is never a repeat. ``n_agent_turns`` counts
        agent and bot utterances (not actions); ``failed_actions`` the action events
        whose ``action_status`` is ``failed`` (0 when none, or none known).
        ``duration_s`` is ``ended_at - started_at``; where either is missing or the span
        is negative, the span of the turns' ``ts``; else null.

    Raises
    ------
    SchemaError
        A needed column is missing, a time column is not a datetime, a conversation
        appears twice in ``conversations``, or has two workflows in ``workflows``.
    """
    _check(conversations, _CONVERSATION_COLUMNS, "conversations")
    _check(turns, _TURN_COLUMNS, "turns")
    _check(workflows, ("conversation_id", "workflow_id"), "workflows")
    # Repeated identical pairs (one per step event, say) are harmless; two workflows for
    # one conversation, or a conversation twice, are not.
    workflows = workflows.select("conversation_id", "workflow_id").unique()
    for name, frame in (("conversations", conversations), ("workflows", workflows)):
        if frame["conversation_id"].is_duplicated().any():
            duplicate = frame.filter(pl.col("conversation_id").is_duplicated())["conversation_id"]
            raise SchemaError(
                f"{name}: expected one row per conversation_id, found {duplicate[0]!r} "
                "more than once; pass one row (one workflow) per conversation"
            )
    # Conversations get an integer key (their row number): the turns are hashed on their
    # string id once, in one join, and every later group-by and join is on an integer.
    conversation = (
        conversations.lazy()
        .select(
            pl.col("conversation_id").cast(pl.String),
            pl.col("customer_hash").cast(pl.String),
            _as_utc(conversations, "started_at"),
            _as_utc(conversations, "ended_at"),
            _data_outcome(
                pl.col("outcome").cast(pl.String),
                config.outcome_aliases,
                absent=config.no_outcome_values,
            )
            if config.derive == "auto"
            else pl.lit(None, dtype=pl.String).alias("_data"),
        )
        .with_row_index("_key")
    )
    frame = (
        conversation.join(
            workflows.lazy().select(
                pl.col("conversation_id").cast(pl.String), pl.col("workflow_id").cast(pl.String)
            ),
            on="conversation_id",
            how="left",
            maintain_order="left",
        )
        .join(
            _turn_signals(turns, conversation.select("_key", "conversation_id"), config),
            on="_key",
            how="left",
            maintain_order="left",
        )
        .with_columns(
            pl.col("_n_agent", "_n_customer", "_n_failed").fill_null(0),
            pl.col("_escalation", "_transfer", "_closing").fill_null(False),
        )
        .with_columns(
            outcome=pl.coalesce("_data", _derived(config.min_customer_turns)),
            outcome_source=pl.when(pl.col("_data").is_not_null())
            .then(pl.lit("data"))
            .otherwise(pl.lit("derived")),
            _start=pl.coalesce("started_at", "_first_ts"),
            duration_s=_duration_s(),
        )
        .collect()
    )
    repeats = _repeat_contacts(frame, repeat_days=config.repeat_days)
    return (
        frame.join(repeats, on="_key", how="left", maintain_order="left")
        .with_columns(
            escalated=pl.col("outcome").is_in(["escalated", "transferred"]),
            resolved=pl.col("outcome") == "resolved",
            repeat_contact=pl.col("repeat_gap_days").is_not_null(),
            n_agent_turns=pl.col("_n_agent"),
            failed_actions=pl.col("_n_failed"),
        )
        .select([pl.col(name).cast(_OUTPUT_SCHEMA[name]) for name in batch_columns(OUTCOMES)])
    )


def normalise_outcome(values: pl.Expr) -> pl.Expr:
    """Return the data's outcome spelling in normal form: lower case, ``_`` between words.

    ``" Timed-Out "`` -> ``"timed_out"``; blank -> null.
    """
    normal = values.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "_").str.strip_chars("_")
    return pl.when(normal != "").then(normal)


def _data_outcome(values: pl.Expr, aliases: Mapping[str, str], *, absent: Sequence[str]) -> pl.Expr:
    """Map the data's outcome to an outcome value; null where the data has none (or says so)."""
    # The config's values, normalised as the data is (same rule, in Python: a few keys).
    extra = {_normal(key): v for key, v in aliases.items()}
    normal = normalise_outcome(values)
    return (
        pl.when(normal.is_not_null() & ~normal.is_in([_normal(v) for v in absent]))
        .then(
            normal.replace_strict(
                {**DATA_OUTCOMES, **extra}, default="unknown", return_dtype=pl.String
            )
        )
        .alias("_data")
    )


def _normal(value: str) -> str:
    """One configured spelling in the normal form of :func:`normalise_outcome`."""
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")


def _turn_signals(turns: pl.DataFrame, keys: pl.LazyFrame, config: OutcomeConfig) -> pl.LazyFrame:
    """Return one row per conversation ``_key`` with the counts and flags the rules read.

    ``_n_agent``, ``_n_customer`` (utterances), ``_n_failed`` (failed actions),
    ``_escalation``, ``_transfer``, ``_closing``, ``_customer_last`` (the customer spoke
    last), ``_first_ts``, ``_last_ts``. Turns of conversations not in ``keys`` are left
    out. Cost: one join on the string id, then group-bys of plain aggregations on an
    integer key; only agent and bot utterances are lower-cased and searched.
    """
    utterance = pl.col("event_type") == "utterance"
    agent = utterance & pl.col("speaker").is_in(_AGENT_SPEAKERS)
    customer = utterance & (pl.col("speaker") == "customer")
    ts = _as_utc(turns, "ts") if "ts" in turns.columns else pl.lit(None, _UTC).alias("ts")
    rows = turns.lazy().select(
        pl.col("conversation_id").cast(pl.String),
        "turn_idx",
        _agent=agent,
        _customer=customer,
        _action=pl.col("event_type") == "action",
        _failed=(pl.col("event_type") == "action")
        & (pl.col("action_status").cast(pl.String) == "failed"),
        text=pl.col("text").cast(pl.String),
        action_name=pl.col("action_name").cast(pl.String).str.to_lowercase(),
        ts=ts,
    )
    rows = keys.join(rows, on="conversation_id", how="inner").drop("conversation_id")
    # an escalation or transfer that failed (action status) did not hand the customer on
    done, escalation = (
        pl.col("_action") & ~pl.col("_failed").fill_null(False),
        config.escalation_actions,
    )
    per_conversation = rows.group_by("_key").agg(
        _n_agent=pl.col("_agent").sum(),
        _n_customer=pl.col("_customer").sum(),
        _n_failed=pl.col("_failed").fill_null(False).sum(),
        _first_customer=pl.when("_customer").then("turn_idx").min(),
        _last_customer=pl.when("_customer").then("turn_idx").max(),
        _last_agent=pl.when("_agent").then("turn_idx").max(),
        _acted_escalation=(done & _contains(pl.col("action_name"), escalation)).any(),
        _acted_transfer=(done & _contains(pl.col("action_name"), config.transfer_actions)).any(),
        _first_ts=pl.col("ts").min(),
        _last_ts=pl.col("ts").max(),
    )
    said = pl.col("_said")
    # A closing counts among the last N agent utterances after the customer's first one.
    from_end = pl.col("turn_idx").rank("ordinal", descending=True)
    closings = (
        rows.filter("_agent")
        .select("_key", "turn_idx", _said=pl.col("text").str.to_lowercase())
        .join(per_conversation.select("_key", "_first_customer"), on="_key", how="left")
        .with_columns(_candidate=pl.col("turn_idx") > pl.col("_first_customer"))
        .with_columns(
            _closes=pl.col("_candidate").fill_null(False)
            & (from_end.over("_key", "_candidate") <= config.closing_turns)
            & _contains(said, config.closing_phrases)
        )
        .group_by("_key")
        .agg(
            _said_escalation=_contains(said, config.escalation_phrases).any(),
            _said_transfer=_contains(said, config.transfer_phrases).any(),
            _closing=pl.col("_closes").any(),
        )
    )
    return per_conversation.join(closings, on="_key", how="left").select(
        "_key",
        "_n_agent",
        "_n_customer",
        "_n_failed",
        "_first_ts",
        "_last_ts",
        _escalation=pl.col("_acted_escalation") | pl.col("_said_escalation").fill_null(False),
        _transfer=pl.col("_acted_transfer") | pl.col("_said_transfer").fill_null(False),
        _closing=pl.col("_closing").fill_null(False),
        _customer_last=pl.col("_last_customer") > pl.col("_last_agent").fill_null(-1),
    )


def _contains(text: pl.Expr, words: Sequence[str]) -> pl.Expr:
    """Return whether lower-cased ``text`` holds any of ``words`` (null -> False)."""
    if not words:
        return pl.lit(False)
    return text.str.contains_any([w.lower() for w in words]).fill_null(False)


def _derived(min_customer_turns: int) -> pl.Expr:
    """Return the derived outcome: the first rule of the module docstring that holds."""
    return (
        pl.when("_escalation")
        .then(pl.lit("escalated"))
        .when("_transfer")
        .then(pl.lit("transferred"))
        .when(pl.col("_n_customer") < min_customer_turns)
        .then(pl.lit("abandoned"))
        .when("_closing")
        .then(pl.lit("resolved"))
        .when(pl.col("_customer_last").fill_null(False))
        .then(pl.lit("abandoned"))
        .otherwise(pl.lit("unknown"))
    )


def _duration_s() -> pl.Expr:
    """Return ``ended_at - started_at`` in seconds, else the turns' ``ts`` span, else null."""
    recorded = (pl.col("ended_at") - pl.col("started_at")).dt.total_microseconds() / 1e6
    spanned = (pl.col("_last_ts") - pl.col("_first_ts")).dt.total_microseconds() / 1e6
    return pl.when(recorded >= 0).then(recorded).otherwise(spanned)


def _repeat_contacts(frame: pl.DataFrame, *, repeat_days: int) -> pl.DataFrame:
    """Return ``_key`` and ``repeat_gap_days`` of the conversations that recur.

    Sorted by customer, workflow, start (ties by id), each conversation's next contact
    is the following row when it has the same customer and workflow: one sort and a
    shift, O(n log n), no per-customer loop.
    """
    keys = ("customer_hash", "workflow_id")
    ordered = (
        frame.lazy()
        .select("_key", "conversation_id", *keys, "_start")
        .drop_nulls([*keys, "_start"])
        .sort(*keys, "_start", "conversation_id")
    )
    same = pl.all_horizontal(pl.col(k).shift(-1) == pl.col(k) for k in keys)
    gap = (pl.col("_start").shift(-1) - pl.col("_start")).dt.total_microseconds() / _US_PER_DAY
    return (
        ordered.with_columns(repeat_gap_days=pl.when(same).then(gap))
        .filter(pl.col("repeat_gap_days") <= repeat_days)
        .select("_key", "repeat_gap_days")
        .collect()
    )


def _as_utc(frame: pl.DataFrame, column: str) -> pl.Expr:
    """``column`` as a UTC datetime; naive datetimes are taken to be UTC."""
    dtype = frame.schema[column]
    if dtype == pl.Null:
        return pl.col(column).cast(_UTC)
    if not isinstance(dtype, pl.Datetime):
        raise SchemaError(
            f"column {column}: expected a datetime, found {dtype}; parse it to a timestamp "
            "before deriving outcomes"
        )
    if dtype.time_zone is None:
        return pl.col(column).dt.replace_time_zone("UTC").dt.cast_time_unit("us")
    return pl.col(column).dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def _check(frame: pl.DataFrame, needed: Sequence[str], name: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        what = "a conversation_id -> workflow_id frame" if name == "workflows" else f"{name} rows"
        raise SchemaError(
            f"{name}: expected columns {', '.join(needed)}, missing {', '.join(missing)}; "
            f"pass {what}"
        )
