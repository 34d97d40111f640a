"""Evidence plumbing: which conversations are typical, where a path departs, the excerpt.

The drift and readiness examples (:mod:`pipeline.drift.examples`,
:mod:`pipeline.readiness.examples`) choose candidates per finding or reason; these pure
functions keep the typical ones (:func:`typical`: the length nearest the candidates'
median, never the worst), say where a conversation's path leaves a usual one
(:func:`departures`), show where a deviation from the SOP happens
(:func:`mark_deviations`) and cut the turns around the turn that matters out of ``turns``
(:func:`excerpt_examples`; the text is redacted at ingest). Python runs per example,
never per conversation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping

import polars as pl

from pipeline.drift.reach import later_steps
from pipeline.sops.model import Sop

_ABSENT = ("missing", "skipped", "gate_skipped")


def named(step: pl.Expr, names: Mapping[str, str] | None = None) -> pl.Expr:
    """Name a step in words: ``verify identity``; a step found in the data by phrase and id."""
    plain = step.str.replace_all("_", " ")
    if not names:
        return plain
    phrase = step.replace_strict(dict(names), default=None, return_dtype=pl.String)
    return pl.when(phrase.is_null()).then(plain).otherwise(pl.format("'{}' ({})", phrase, step))


def typical(candidates: pl.DataFrame, outcomes: pl.DataFrame, *, key: str, n: int) -> pl.DataFrame:
    """Keep ``n`` typical conversations per ``key`` and number them (``rank``).

    Typical: the length (``outcomes.n_agent_turns``) nearest the median of the key's
    candidates, ties broken by sha1 of the conversation id (hashed for the shortlist as
    near as the ``n``-th only). A conversation's first row, in the order given, stands.
    """
    frame = candidates.unique([key, "conversation_id"], keep="first", maintain_order=True).join(
        outcomes.select("conversation_id", _len=pl.col("n_agent_turns").cast(pl.Float64)),
        on="conversation_id", how="left")  # fmt: skip
    gap = (pl.col("_len") - pl.col("_len").median().over(key)).abs()
    frame = frame.with_columns(_gap=gap.fill_null(float("inf")).fill_nan(float("inf")))
    short = frame.filter(pl.col("_gap") <= pl.col("_gap").sort().head(n).max().over(key))
    ids = short["conversation_id"].unique().to_list()
    hashes = [hashlib.sha1(i.encode(), usedforsecurity=False).hexdigest() for i in ids]
    return (short.with_columns(_hash=pl.col("conversation_id").replace_strict(ids, hashes))
            .sort(key, "_gap", "_hash").group_by(key, maintain_order=True).head(n)
            .with_columns(rank=(pl.int_range(pl.len()).over(key) + 1).cast(pl.Int32))
            .drop("_len", "_gap", "_hash"))  # fmt: skip


def mark_deviations(rows: pl.DataFrame, step_events: pl.DataFrame, sops: Mapping[str, Sop], *,
                    ignore: Collection[str] = (),
                    step_names: Mapping[str, str] | None = None) -> pl.DataFrame:  # fmt: skip
    """Add the turn that shows each deviation (``turn_idx``) and ``why`` in words.

    ``rows`` hold ``conversation_id, sop_id, _dev`` (a deviation kind), ``step`` and
    ``before`` (an order violation's later step); other columns are kept. A step left out
    shows where it was due (module docstring), else at the conversation's last step that is
    not an ``ignore`` step (any step where all are); rows without a turn are dropped.
    """
    rows = rows.with_row_index("_row")
    events = step_events.filter(pl.col("turn_idx").is_not_null()).join(
        rows.select("conversation_id").unique(), on="conversation_id", how="semi")  # fmt: skip
    first = events.group_by("conversation_id", "step_id").agg(
        _seq=pl.col("seq").min(), _turn=pl.col("turn_idx").sort_by("seq").first())  # fmt: skip
    process = ~pl.col("step_id").is_in(list(ignore))
    last = (
        events.sort(process, "seq").group_by("conversation_id").agg(_end=pl.col("turn_idx").last())
    )
    after = pl.DataFrame([(s, step, later) for s, sop in sops.items()
                          for step, done in _after(sop).items() for later in done],
                         schema=dict.fromkeys(["sop_id", "step", "step_id"], pl.String),
                         orient="row")  # fmt: skip
    gates = pl.DataFrame([(s, st.id, st.when) for s, sop in sops.items() for st in sop.steps
                          if st.when],
                         schema=dict.fromkeys(["sop_id", "step", "_when"], pl.String),
                         orient="row")  # fmt: skip
    due = (rows.filter(pl.col("_dev").is_in(_ABSENT))
           .select("_row", "conversation_id", "sop_id", "step")
           .join(after, on=["sop_id", "step"]).join(first, on=["conversation_id", "step_id"])
           .sort("_seq").group_by("_row").agg(_due=pl.col("step_id").first(),
                                              _due_turn=pl.col("_turn").first()))  # fmt: skip
    frame = (rows.join(due, on="_row", how="left")
             .join(first.select("conversation_id", step="step_id", _own="_turn"),
                   on=["conversation_id", "step"], how="left")
             .join(first.select("conversation_id", before="step_id", _other="_turn"),
                   on=["conversation_id", "before"], how="left")
             .join(last, on="conversation_id", how="left")
             .join(gates, on=["sop_id", "step"], how="left"))  # fmt: skip
    dev, step = pl.col("_dev"), named(pl.col("step"), step_names)
    absent = dev.is_in(_ABSENT)
    done = pl.when(pl.col("_due").is_not_null()).then(
        pl.format("{} was done where it was due", named(pl.col("_due"), step_names))).otherwise(
        pl.format("its last step (turn {}) came without it", "_end"))  # fmt: skip
    why = (pl.when(dev == "gate_skipped")
           .then(pl.format("approval gate {} skipped while {} held; {}", step, "_when", done))
           .when(absent).then(pl.format("no {} step; {}", step, done))
           .when(dev == "order_violation").then(pl.format(
               "{} done at turn {}, before {} (turn {})", step, "_own",
               named(pl.col("before"), step_names), "_other"))
           .otherwise(pl.format("undocumented step {} at turn {}", step, "_own")))  # fmt: skip
    turn = pl.when(absent).then(pl.coalesce("_due_turn", "_end")).otherwise("_own")
    return (frame.with_columns(turn_idx=turn, why=why).filter(pl.col("turn_idx").is_not_null())
            .sort("_row")
            .drop("_row", "_due", "_due_turn", "_own", "_other", "_end", "_when"))  # fmt: skip


def _after(sop: Sop) -> dict[str, set[str]]:
    """Per process step: the process steps documented after it (else later in the file)."""
    order = [s.id for s in sop.steps if s.is_process]
    later = later_steps(sop)
    return {s: later[s] or set(order[i + 1 :]) for i, s in enumerate(order)}


def departures(rows: pl.DataFrame, step_events: pl.DataFrame, reference: pl.DataFrame, *,
               key: str, ignore: Collection[str] = (),
               names: Mapping[str, str] | None = None) -> pl.DataFrame:  # fmt: skip
    """Add where each conversation's path first departs from its ``key``'s usual path.

    ``rows`` hold ``key`` and ``conversation_id``; ``reference`` ``key`` and ``_path`` (the
    usual steps, a list). A conversation's path is its ``step_events`` (``seq, step_id,
    turn_idx, is_repeat``) without repeats, in ``seq`` order (as ``variants.sequence``);
    ``ignore`` steps (no step, greetings, holds) are left out of both paths. Adds
    ``turn_idx`` (the first step that differs; with none, the last step), ``_hit``
    (whether one differs) and ``_how`` in words; rows without a path are dropped.
    """
    kept = ~pl.col("step_id").is_in(list(ignore))
    path = (step_events.filter(~pl.col("is_repeat") & kept & pl.col("turn_idx").is_not_null())
            .join(rows.select("conversation_id").unique(), on="conversation_id", how="semi")
            .sort("seq").with_columns(pos=pl.int_range(pl.len()).over("conversation_id"))
            .select("conversation_id", "pos", "step_id", "turn_idx"))  # fmt: skip
    usual = (reference.select(key, step_id="_path").explode("step_id").filter(kept)
             .with_columns(pos=pl.int_range(pl.len()).over(key))
             .rename({"step_id": "_usual"}))  # fmt: skip
    joined = (rows.select(key, "conversation_id").unique().join(path, on="conversation_id")
              .join(usual, on=[key, "pos"], how="left"))  # fmt: skip
    differs = pl.col("_usual").is_null() | (pl.col("_usual") != pl.col("step_id"))
    where = (joined.with_columns(_hit=differs & pl.col(key).is_in(usual[key].implode()))
             .sort(pl.col("_hit").not_(), "pos").group_by(key, "conversation_id")
             .agg(pl.all().first(), _last=pl.col("turn_idx").sort_by("pos").last(),
                  _len=pl.len().cast(pl.Int64))
             .join(usual.select(key, _len="pos", _next="_usual"), on=[key, "_len"],
                   how="left"))  # fmt: skip
    step, usual_step = named(pl.col("step_id"), names), named(pl.col("_usual"), names)
    stop = pl.format("its steps stop at turn {}, before the usual path's {}", "_last",
                     named(pl.col("_next"), names))  # fmt: skip
    how = (pl.when(~pl.col("_hit") & pl.col("_next").is_not_null()).then(stop)
           .when(~pl.col("_hit")).then(pl.format("the usual steps, to turn {}", "_last"))
           .when(pl.col("_usual").is_null())
           .then(pl.format("{} at turn {}, after the usual path has ended", step, "turn_idx"))
           .otherwise(pl.format("{} at turn {}, where the usual path has {}", step,
                                "turn_idx", usual_step)))  # fmt: skip
    found = where.select(key, "conversation_id", "_hit", _how=how,
                         _turn=pl.when("_hit").then("turn_idx").otherwise("_last"))  # fmt: skip
    return rows.join(found, on=[key, "conversation_id"]).rename({"_turn": "turn_idx"})


def excerpt_examples(picks: pl.DataFrame, turns: pl.DataFrame, *, context: int = 2,
                     max_chars: int = 240) -> pl.DataFrame:  # fmt: skip
    """Add ``excerpt``: the highlighted turn and ``context`` turns each side, as JSON text.

    ``picks`` hold ``conversation_id`` and ``turn_idx`` (null: the first customer
    utterance, else the first turn; filled in). ``turns`` is the ``turns`` table (text
    redacted at ingest; an action shows as ``[name]`` or ``[name failed]``). The excerpt is
    a list of ``{turn_idx, speaker, text, highlight}``, texts cut to ``max_chars``.
    """
    own = turns.join(picks.select("conversation_id").unique(), on="conversation_id", how="semi")
    said = own.filter((pl.col("speaker") == "customer") & (pl.col("event_type") == "utterance"))
    picks = picks.join(said.group_by("conversation_id").agg(_open=pl.col("turn_idx").min()),
                       on="conversation_id", how="left").with_columns(
        turn_idx=pl.coalesce("turn_idx", "_open", pl.lit(0)).cast(pl.Int32)
    ).drop("_open")  # fmt: skip
    failed = (
        pl.when(pl.col("action_status") == "failed").then(pl.lit(" failed")).otherwise(pl.lit(""))
    )
    text = (
        pl.when(pl.col("event_type") == "action")
        .then(pl.format("[{}{}]", pl.col("action_name").fill_null("action"), failed))
        .otherwise(pl.col("text").fill_null(""))
    )
    text = pl.when(text.str.len_chars() > max_chars).then(
        text.str.slice(0, max_chars - 1).str.strip_chars_end() + "…").otherwise(text)  # fmt: skip
    near = (picks.select("conversation_id", _i=pl.int_range(pl.len()), _h="turn_idx")
            .join(own, on="conversation_id")
            .filter(pl.col("turn_idx").is_between(pl.col("_h") - context, pl.col("_h") + context))
            .sort("_i", "turn_idx").group_by("_i", maintain_order=True)
            .agg(pl.struct(pl.col("turn_idx").cast(pl.Int64), "speaker", text=text,
                           highlight=pl.col("turn_idx") == pl.col("_h"))
                 .alias("_turns")))  # fmt: skip
    texts = ["[]"] * picks.height
    for i, excerpt in near.iter_rows():  # per example: few
        texts[i] = json.dumps(excerpt, ensure_ascii=False)
    return picks.with_columns(excerpt=pl.Series(texts, dtype=pl.String))
