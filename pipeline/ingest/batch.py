"""The ingest batch: one batch's frames redacted, identifiers hashed, shaped for the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from pipeline.ingest.json_values import redact_json_texts
from pipeline.ingest.redact import SHAPE_TYPES, hash_identifiers, redact_texts
from pipeline.schema import CONVERSATIONS, QUARANTINE, REDACTIONS, TURNS, batch_columns

# Fields of raw records that hold customer or agent identities; masked in quarantine raw.
_ID_KEYS = ("agent_id", "customer_id", "AnonymizedUserWorkerID", "AnonymizedWizardWorkerID")
_ID_PATTERN = r'"(' + "|".join(_ID_KEYS) + r')"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)'


@dataclass(frozen=True)
class IngestBatch:
    """One batch ready for the store: redacted, identifiers hashed, quarantine separated."""

    conversations: pl.DataFrame
    turns: pl.DataFrame
    redactions: pl.DataFrame
    quarantine: pl.DataFrame

    @property
    def n_records(self) -> int:
        """Records seen in this batch (valid plus quarantined)."""
        return self.conversations.height + self.quarantine.height


def prepare_batch(
    conversations: pl.DataFrame,
    turns: pl.DataFrame,
    quarantine: pl.DataFrame,
    *,
    source_id: str,
    hash_key: bytes,
    redact_types: Sequence[str],
    redact_allow: Sequence[str] = (),
) -> IngestBatch:
    """Redact text, hash identifiers and shape the frames to the store's columns.

    Turn texts are redacted with their conversation's context (the agent's question
    before an answer, a name carried to every turn); ``turns`` is in conversation order.
    """
    text, counts = redact_texts(
        turns["text"],
        types=redact_types,
        allow=redact_allow,
        conversation_ids=turns["conversation_id"],
        speakers=turns["speaker"],
    )
    args = redact_json_texts(turns["args"], types=redact_types, allow=redact_allow)
    metadata = redact_json_texts(conversations["metadata"], types=redact_types, allow=redact_allow)
    out_turns = turns.with_columns(text=text, args=args, action_name=pl.col("action"))
    out_turns = out_turns.with_columns(ts=pl.col("ts_parsed")).select(batch_columns(TURNS))
    redactions = (
        pl.concat([turns.select("conversation_id", "turn_idx"), counts], how="horizontal")
        .unpivot(index=["conversation_id", "turn_idx"], variable_name="pii_type", value_name="n")
        .filter(pl.col("n") > 0)
        .with_columns(pl.col("n").cast(pl.Int32))
        .sort("conversation_id", "turn_idx", "pii_type")
    )
    out_conv = conversations.with_columns(
        # files read together (pipeline.ingest.read.read_valid) carry their own source ids
        source_id=pl.col("source_id")
        if "source_id" in conversations.columns
        else pl.lit(source_id),
        agent_hash=hash_identifiers(conversations["agent_id"], key=hash_key),
        customer_hash=hash_identifiers(conversations["customer_id"], key=hash_key),
        outcome=pl.col("outcome").str.strip_chars().str.to_lowercase(),
        metadata=metadata,
    ).select(batch_columns(CONVERSATIONS))
    return IngestBatch(
        conversations=out_conv,
        turns=out_turns,
        redactions=redactions.select(batch_columns(REDACTIONS)),
        quarantine=redact_quarantine(
            quarantine, redact_types=redact_types, redact_allow=redact_allow
        ),
    )


def redact_quarantine(
    quarantine: pl.DataFrame, *, redact_types: Sequence[str], redact_allow: Sequence[str] = ()
) -> pl.DataFrame:
    """Mask identifiers and redact PII in quarantined raw records and messages."""
    if quarantine.is_empty():
        return quarantine.select(batch_columns(QUARANTINE))
    masked = quarantine["raw"].str.replace_all(_ID_PATTERN, r'"$1": "<ID>"')
    raw, _ = redact_texts(masked, types=redact_types, allow=redact_allow)
    # A message is cxminer's own sentence quoting values: their shapes are redacted.
    shapes = [t for t in redact_types if t in SHAPE_TYPES]
    message, _ = redact_texts(quarantine["message"], types=shapes)
    return quarantine.with_columns(raw=raw, message=message).select(batch_columns(QUARANTINE))
