import hashlib

import duckdb
import polars as pl
import pytest
from drift.conformance_cases import (
    REFUND,
    SOPS,
    check,
    log,
    metadata,
)
from polars.testing import assert_frame_equal

from pipeline import migrations, schema
from pipeline.drift.conformance import CONFORMANCE_SCHEMA, check_conformance, check_trace
from pipeline.errors import SchemaError, SopError
from pipeline.process.variants import variant_of_case
from pipeline.sops.model import Sop, Step, parse_sop


def vid(*steps):
    return hashlib.sha1("\x1f".join(steps).encode()).hexdigest()[:12]


def expected(*rows):
    """Rows of ``(conversation, sop_id, trace, fitness, missing, undocumented, order,
    skipped)``; the version comes from SOPS, is_conforming from the lists, the optional
    steps not done (the ``skipped`` column) from SOPS's ungated optional steps absent
    from the trace (tested by name in test_optional_steps_not_done)."""
    out = []
    for case, sop_id, trace, fitness, missing, undocumented, order, skipped in rows:
        conforming = not (missing or order or skipped or undocumented)
        sop = SOPS[sop_id]
        optional = [s.id for s in sop.steps if not s.mandatory and s.when is None
                    and s.id not in trace]  # fmt: skip
        out.append(
            (
                case,
                sop_id,
                sop.version,
                vid(*trace),
                fitness,
                missing,
                undocumented,
                order,
                skipped,
                conforming,
                optional,
            )  # fmt: skip
        )
    return pl.DataFrame(out, schema=CONFORMANCE_SCHEMA, orient="row")


@pytest.mark.parametrize(
    ("steps", "amount", "fitness", "missing", "undocumented", "order", "skipped"),
    [
        # conforming, with the optional confirm
        (["verify", "lookup", "refund", "confirm"], "50", 1.0, [], [], [], []),
        # an optional step is never missing
        (["verify", "lookup", "refund"], "50", 1.0, [], [], [], []),
        # missing mandatory step: 1 - 1 / (3 + 4)
        (["verify", "refund"], "50", 6 / 7, ["lookup"], [], [], []),
        # nothing done: every required step absent, 1 - 3 / 7
        (["other"], "50", 4 / 7, ["verify", "lookup", "refund"], [], [], []),
        # gate not applicable (amount <= 200): approve is not required
        (["verify", "lookup", "refund"], "200", 1.0, [], [], [], []),
        # gate skipped (amount > 200): 1 - 1 / (4 + 4); approve is optional, so not missing
        (["verify", "lookup", "refund"], "250.5", 0.875, [], [], [], ["approve"]),
        # gate taken
        (["verify", "lookup", "approve", "refund"], "250.5", 1.0, [], [], [], []),
        # undocumented steps, distinct in first-occurrence order: 1 - 1 / (3 + 4 + 1)
        (
            ["verify", "chat", "lookup", "upsell", "refund", "chat"],
            "50",
            0.875,
            [],
            ["chat", "upsell"],
            [],
            [],
        ),
        # order violation, written "B before A": 1 - 1 / 7
        (["lookup", "verify", "refund"], "50", 6 / 7, [], [], ["lookup before verify"], []),
        # two violations of the same step
        (
            ["refund", "approve", "lookup", "verify"],
            "50",
            1 - 3 / 7,
            [],
            [],
            ["lookup before verify", "approve before lookup", "refund before lookup"],
            [],
        ),
        # a step repeated later: order is judged on first occurrences
        (["verify", "lookup", "verify", "refund"], "50", 1.0, [], [], [], []),
    ],
)
def test_each_deviation_kind(steps, amount, fitness, missing, undocumented, order, skipped):
    events = log(("c1", "refund", steps))
    result = check(events, metadata(c1=f'{{"amount": {amount}}}'))
    want = expected(("c1", "refund", steps, fitness, missing, undocumented, order, skipped))
    assert_frame_equal(result, want)


@pytest.mark.parametrize(
    "meta",
    [None, "{}", '{"amount": null}', '{"amount": "a lot"}', '{"other": 900}', "not json"],
    ids=["null", "empty", "json-null", "not-a-number", "other-field", "unparseable"],
)
def test_gate_with_unknown_field_is_neither_skipped_nor_missing(meta):
    events = log(("c1", "refund", ["verify", "lookup", "refund"]))
    result = check(events, metadata(c1=meta))
    assert_frame_equal(
        result, expected(("c1", "refund", ["verify", "lookup", "refund"], 1.0, [], [], [], []))
    )


def test_without_conversations_every_gate_is_unknown():
    events = log(("c1", "refund", ["verify", "lookup", "refund"]), ("c2", "payment", ["verify"]))
    result = check(events)
    assert_frame_equal(
        result,
        expected(
            ("c1", "refund", ["verify", "lookup", "refund"], 1.0, [], [], [], []),
            ("c2", "payment", ["verify"], 1 - 1 / 3, ["pay"], [], [], []),
        ),
    )


@pytest.mark.parametrize(
    ("meta", "fitness", "missing", "skipped"),
    [
        # holds: a mandatory gate skipped is missing and skipped, counted once: 1 - 2 / (3 + 1)
        ('{"amount": 150, "currency": "EUR"}', 0.5, ["approve", "pay"], ["approve"]),
        # false: approve is not required; pay is: 1 - 1 / (2 + 1)
        ('{"amount": 150, "currency": "USD"}', 1 - 1 / 3, ["pay"], []),
        # true and unknown = unknown: not required
        ('{"amount": 150}', 1 - 1 / 3, ["pay"], []),
        # false and unknown = false
        ('{"amount": 50}', 1 - 1 / 3, ["pay"], []),
    ],
)
def test_mandatory_gate(meta, fitness, missing, skipped):
    events = log(("c1", "payment", ["verify"]))
    result = check(events, metadata(c1=meta))
    assert_frame_equal(
        result, expected(("c1", "payment", ["verify"], fitness, missing, [], [], skipped))
    )


def test_ignored_steps_and_consecutive_repeats_are_left_out_but_kept_in_the_variant():
    # is_repeat rows leave the trace and the variant; ignored steps leave only the check
    steps = ["greeting", "verify", "verify", "other", "lookup", "refund", "refund", "closing"]
    events = log(("c1", "refund", steps))
    result = check(events, ignore=("other", "greeting", "closing"))
    trace = ["greeting", "verify", "other", "lookup", "refund", "closing"]
    assert_frame_equal(result, expected(("c1", "refund", trace, 1.0, [], [], [], [])))


def test_default_ignore_is_other_only():
    events = log(("c1", "refund", ["greeting", "verify", "other", "lookup", "refund"]))
    result = check(events)
    trace = ["greeting", "verify", "other", "lookup", "refund"]
    want = expected(("c1", "refund", trace, 1 - 0.5 / 7.5, [], ["greeting"], [], []))
    assert_frame_equal(result, want)


def test_conversations_without_sop_or_with_unknown_sop_get_no_row():
    events = log(
        ("c1", None, ["verify", "lookup"]),
        ("c2", "retired_sop", ["verify", "lookup"]),
        ("c3", "refund", ["verify", "lookup", "refund"]),
    )
    result = check(events)
    assert result["conversation_id"].to_list() == ["c3"]


def test_same_trace_shares_variant_and_result():
    steps = ["verify", "refund", "chat"]
    events = log(("c1", "refund", steps), ("c2", "refund", steps), ("c3", "refund", ["verify"]))
    result = check(events)
    want = expected(
        ("c1", "refund", steps, 1 - 1.5 / 7.5, ["lookup"], ["chat"], [], []),
        ("c2", "refund", steps, 1 - 1.5 / 7.5, ["lookup"], ["chat"], [], []),
        ("c3", "refund", ["verify"], 1 - 2 / 7, ["lookup", "refund"], [], [], []),
    )
    assert_frame_equal(result, want)


def test_variant_ids_agree_with_the_variants_table():
    events = log(
        ("c1", "refund", ["greeting", "verify", "verify", "other", "lookup", "refund"]),
        ("c2", "payment", ["verify", "approve", "pay", "pay"]),
    )
    result = check(events, ignore=("other", "greeting"))
    kept = events.filter(~pl.col("is_repeat"))
    variants = variant_of_case(kept, intent_col="workflow_id")
    joined = result.join(variants, on="conversation_id")
    assert joined.height == 2
    assert joined["variant_id"].to_list() == joined["variant_id_right"].to_list()


def test_gate_outcome_splits_a_variant_but_not_its_id():
    steps = ["verify", "lookup", "refund"]
    events = log(("c1", "refund", steps), ("c2", "refund", steps))
    result = check(events, metadata(c1='{"amount": 500}', c2='{"amount": 5}'))
    want = expected(
        ("c1", "refund", steps, 0.875, [], [], [], ["approve"]),
        ("c2", "refund", steps, 1.0, [], [], [], []),
    )
    assert_frame_equal(result, want)


@pytest.mark.parametrize(
    ("trace", "gates", "fitness"),
    [
        (["verify", "lookup", "refund"], {}, 1.0),
        (["verify", "lookup", "refund", "x"], {}, 1 - 0.5 / 7.5),
        (["verify", "lookup", "refund", "x", "y"], {}, 1 - 1 / 8),
        (["verify", "refund"], {}, 1 - 1 / 7),
        (["verify"], {}, 1 - 2 / 7),
        ([], {}, 1 - 3 / 7),
        (["lookup", "verify", "refund"], {}, 1 - 1 / 7),
        (["verify", "lookup", "refund"], {"approve": True}, 1 - 1 / 8),
        (["verify", "lookup", "refund"], {"approve": False}, 1.0),
        (["verify", "lookup", "refund"], {"approve": None}, 1.0),
    ],
)
def test_fitness_values(trace, gates, fitness):
    assert check_trace(REFUND, trace, gates=gates).fitness == pytest.approx(fitness, abs=1e-12)


def test_fitness_falls_with_each_further_deviation():
    traces = [
        ["verify", "lookup", "refund"],
        ["verify", "lookup", "refund", "x"],  # + undocumented
        ["lookup", "verify", "refund", "x"],  # + order violation
        ["lookup", "verify", "x"],  # + missing
        ["lookup", "verify", "x", "y"],  # + undocumented
    ]
    values = [check_trace(REFUND, t, gates={"approve": False}).fitness for t in traces]
    assert values[0] == 1.0
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert all(0.0 <= v <= 1.0 for v in values)


def test_an_undocumented_process_step_breaks_conformance_and_weight_is_a_parameter():
    result = check_trace(REFUND, ["verify", "lookup", "refund", "x"], undocumented_weight=1.0)
    assert not result.is_conforming
    assert result.undocumented == ("x",)
    assert result.fitness == pytest.approx(1 - 1 / 8)
    ignored = check_trace(REFUND, ["verify", "lookup", "refund", "x"], ignore=("x",))
    assert ignored.is_conforming and ignored.fitness == 1.0
    # a cluster of off-script talk is undocumented and lowers fitness, yet no process step
    talk = check_trace(REFUND, ["verify", "lookup", "refund", "d_1"], off_script=("d_1",))
    assert talk.undocumented == ("d_1",) and talk.fitness < 1.0 and talk.is_conforming


def test_optional_steps_not_done_are_listed_but_keep_conformance():
    result = check_trace(REFUND, ["verify", "lookup", "refund"])
    assert result.skipped == ("confirm",)  # the ungated optional step; approve is a gate
    assert result.is_conforming and result.fitness == 1.0
    assert check_trace(REFUND, ["verify", "lookup", "refund", "confirm"]).skipped == ()


def test_fitness_of_a_sop_with_nothing_required_is_one():
    sop = parse_sop(
        {"sop_id": "s", "version": 1, "steps": [{"id": "a", "mandatory": False}]}, origin="t"
    )
    assert check_trace(sop, []).fitness == 1.0


def test_bad_when_names_sop_step_and_condition():
    # parse_sop rejects such a when; a Sop built in code reaches the stage unchecked.
    sop = Sop(sop_id="s", version=2, intent=("s",), steps=(Step(id="gate", when="amount >> 5"),))
    with pytest.raises(
        SopError, match=r"^sop s version 2: step gate: when: condition 'amount >> 5'"
    ):
        check_conformance(log(("c1", "s", ["gate"])), {"s": sop})


def test_output_columns_and_dtypes_match_the_table():
    assert list(CONFORMANCE_SCHEMA) == schema.batch_columns(schema.CONFORMANCE)
    result = check(log(("c1", "refund", ["verify"])))
    assert result.schema == CONFORMANCE_SCHEMA


def test_empty_input_gives_an_empty_table():
    result = check(log(), metadata())
    assert_frame_equal(result, pl.DataFrame(schema=CONFORMANCE_SCHEMA))


def test_duckdb_accepts_the_output():
    result = check(
        log(("c1", "refund", ["lookup", "verify", "chat"])), metadata(c1='{"amount": 900}')
    )
    con = duckdb.connect()
    ddl = next(s for s in migrations.MIGRATIONS[5] if f"create table {schema.CONFORMANCE} " in s)
    con.execute(ddl)
    for statement in migrations.MIGRATIONS[8]:
        con.execute(statement)
    con.register("batch", result)
    columns = ", ".join(result.columns)
    con.execute(
        f"insert into {schema.CONFORMANCE} ({columns}, run_id) select *, 'run-1' from batch"
    )
    row = con.execute(
        f"select missing, order_violations, skipped_gates, version from {schema.CONFORMANCE}"
    ).fetchone()
    assert row == (["refund"], ["lookup before verify"], ["approve"], 3)


def test_does_not_modify_its_input():
    events = log(("c2", "refund", ["lookup", "verify", "verify"]), ("c1", "payment", ["verify"]))
    conversations = metadata(c1='{"amount": 150, "currency": "EUR"}', c2=None)
    before = (events.clone(), conversations.clone())
    check(events, conversations, ignore=["other"])
    assert_frame_equal(events, before[0])
    assert_frame_equal(conversations, before[1])


@pytest.mark.parametrize(
    ("drop", "table"),
    [("is_repeat", "step_events"), ("seq", "step_events"), ("metadata", "conversations")],
)
def test_missing_column_is_named(drop, table):
    events = log(("c1", "refund", ["verify"]))
    conversations = metadata(c1=None)
    if table == "step_events":
        events = events.drop(drop)
    else:
        conversations = conversations.drop(drop)
    with pytest.raises(SchemaError, match=rf"^{table}: expected columns .*missing {drop};"):
        check(events, conversations)


def test_repeated_conversation_metadata_is_an_error():
    conversations = pl.concat([metadata(c1='{"amount": 1}'), metadata(c1='{"amount": 2}')])
    with pytest.raises(
        SchemaError, match="conversations: conversation_id 'c1' appears more than once"
    ):
        check(log(("c1", "refund", ["verify"])), conversations)


def test_custom_column_roles():
    events = log(("c1", "refund", ["lookup", "verify"])).rename(
        {"conversation_id": "case", "step_id": "activity", "seq": "order"}
    )
    conversations = metadata(c1='{"amount": 900}').rename({"conversation_id": "case"})
    result = check_conformance(
        events,
        SOPS,
        conversations=conversations,
        case_col="case",
        activity_col="activity",
        order_col="order",
    )
    assert result.row(0, named=True)["conversation_id"] == "c1"
    assert result.row(0, named=True)["skipped_gates"] == ["approve"]


def test_ignore_may_be_one_step_id():
    events = log(("c1", "refund", ["verify", "hold", "lookup", "refund"]))
    assert check(events, ignore="hold")["undocumented"].to_list() == [[]]


def test_negative_undocumented_weight_is_an_error():
    with pytest.raises(ValueError, match=r"undocumented_weight: expected >= 0, found -1"):
        check(log(("c1", "refund", ["verify"])), undocumented_weight=-1)
