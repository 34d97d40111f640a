"""Raw batches (``pipeline.ingest.adapters``); fixtures and helpers the adapter tests share."""

from ingest.adapters_cases import (
    conv,
    read_all,
    write_lines,
)

from pipeline.ingest.adapters.jsonl import read_jsonl


def test_a_boolean_where_a_string_belongs_is_a_type_problem(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [conv("c1", "hi", outcome=True)])
    conversations, _, _ = read_all(read_jsonl(path, batch_size=10))
    row = conversations.row(0, named=True)
    assert (row["outcome"], row["problem_field"], row["problem_reason"]) == (
        None,
        "outcome",
        "bad_type",
    )


def test_rejects_count_toward_the_batch_bound(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [b"{broken"] * 5)
    batches = list(read_jsonl(path, batch_size=2))
    assert [b.rejects.height for b in batches] == [2, 2, 1]
