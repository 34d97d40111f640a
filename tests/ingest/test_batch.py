"""Shaping a validated batch for the store (``pipeline.ingest.batch``)."""

import polars as pl
import pytest
from conftest import HASH_KEY

from pipeline.ingest import redact_quarantine
from pipeline.ingest.redact import hash_identifiers
from pipeline.schema import QUARANTINE, batch_columns


def quarantine_frame() -> pl.DataFrame:
    row = {name: None for name in batch_columns(QUARANTINE)}
    raw = '{"customer_id": "u-77", "agent_id": 12, "text": "mail jo@x.io"}'
    row |= {"locator": "line 3", "raw": raw, "message": "turns[0].speaker: found jo@x.io"}
    return pl.DataFrame([row], schema={c: pl.String for c in row}, strict=False)


def test_redact_quarantine_masks_identifiers_and_pii():
    out = redact_quarantine(quarantine_frame(), redact_types=("email",))
    assert out.columns == batch_columns(QUARANTINE)
    assert out.select("raw", "message").row(0) == (
        '{"customer_id": "<ID>", "agent_id": "<ID>", "text": "mail <EMAIL>"}',
        "turns[0].speaker: found <EMAIL>",
    )


@pytest.mark.parametrize(
    ("function", "frames", "kwargs"),
    [
        (redact_quarantine, ("quarantine",), {"redact_types": ("email",)}),
        (hash_identifiers, ("ids",), {"key": HASH_KEY}),
    ],
)
def test_batch_functions_do_not_modify_their_inputs(function, frames, kwargs):
    inputs = {"quarantine": quarantine_frame(), "ids": pl.Series("id", ["a1", None, "a1"])}
    args = [inputs[name] for name in frames]
    before = [a.clone() for a in args]
    function(*args, **kwargs)
    assert all(a.equals(b) for a, b in zip(args, before, strict=True))
