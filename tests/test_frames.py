"""Frame contracts: a stage names what its input frame lacks."""

import polars as pl
import pytest

from pipeline.errors import SchemaError
from pipeline.frames import require_columns

FRAME = pl.DataFrame({"conversation_id": ["a"], "sop_id": ["s"]})


def test_a_frame_with_every_column_passes():
    assert require_columns(FRAME, ("sop_id",), table="conformance", what="drift") is None


@pytest.mark.parametrize(
    ("fix", "message"),
    [
        (None, "drift: the conformance frame lacks column(s) fitness, missing; expected "
               "conversation_id, fitness, missing (table conformance)"),
        ("pass the conformance table", "drift: the conformance frame lacks column(s) fitness, "
         "missing; expected conversation_id, fitness, missing; pass the conformance table"),
    ],
)  # fmt: skip
def test_a_missing_column_names_stage_table_columns_and_fix(fix, message):
    with pytest.raises(SchemaError) as raised:
        require_columns(FRAME, ("conversation_id", "fitness", "missing"), table="conformance",
                        what="drift", fix=fix)  # fmt: skip
    assert str(raised.value) == message
