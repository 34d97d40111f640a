import hashlib
from datetime import datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.config import DiscoverConfig
from pipeline.errors import SchemaError, SopError
from pipeline.evaluate.metrics import END, START
from pipeline.process.discover import (
    SEP,
    discover_candidate_sop,
    discover_dfg,
    discover_process,
    discover_variants,
    draft_sop,
    precedence,
    variant_id,
    variant_of_case,
)
from pipeline.sops.model import Step, parse_sop, sop_to_dict, sop_to_yaml

T0 = datetime(2026, 3, 1, 10)
SCHEMA = {
    "conversation_id": pl.String,
    "intent_id": pl.String,
    "seq": pl.Int64,
    "step_id": pl.String,
    "ts": pl.Datetime("us"),
}


def log(*cases, gaps=None):
    """An event log from ``(case, intent, steps)``; events 10 s apart unless ``gaps``.

    ``gaps`` maps a case to the seconds of each event after T0 (None = no timestamp).
    Rows are written in reverse so that every function has to sort by case and seq.
    """
    rows = []
    for case, intent, steps in cases:
        offsets = (gaps or {}).get(case, [10 * i for i in range(len(steps))])
        for seq, (step, offset) in enumerate(zip(steps, offsets, strict=True)):
            ts = None if offset is None else T0 + timedelta(seconds=offset)
            rows.append((case, intent, seq, step, ts))
    return pl.DataFrame(rows[::-1], schema=SCHEMA, orient="row")


def vid(*steps):
    return hashlib.sha1("\x1f".join(steps).encode()).hexdigest()[:12]


# The 10-case refund log worked through in test_candidate_sop_exact.
REFUND = (
    [(f"a{i}", "refund", ["greet", "verify", "check", "refund", "close"]) for i in range(6)]
    + [(f"b{i}", "refund", ["greet", "verify", "check", "deny", "close"]) for i in range(3)]
    + [("c0", "refund", ["greet", "check", "verify", "refund", "upsell", "close"])]
)


# ---------------------------------------------------------------- variants


def test_variant_id_is_sha1_of_the_joined_steps():
    assert SEP == "\x1f"
    assert variant_id(["a", "b"]) == vid("a", "b")
    assert len(variant_id(["a"])) == 12
    # the separator keeps ["a", "b"] and ["ab"] apart
    assert variant_id(["a", "b"]) != variant_id(["ab"])


def test_discover_variants_exact():
    events = log(
        ("c1", "refund", ["a", "b", "c"]),
        ("c2", "refund", ["a", "c"]),
        ("c3", "refund", ["a", "b", "c"]),
        ("c4", "refund", ["a", "b", "c"]),
        ("c5", "billing", ["x"]),
    )
    expected = pl.DataFrame(
        {
            "intent_id": ["billing", "refund", "refund"],
            "variant_id": [vid("x"), vid("a", "b", "c"), vid("a", "c")],
            "sequence": [["x"], ["a", "b", "c"], ["a", "c"]],
            "n": [1, 3, 1],
            "share": [1.0, 0.75, 0.25],
            "rank": [1, 1, 2],
        }
    )
    assert_frame_equal(discover_variants(events), expected)


def test_variant_ties_rank_by_sequence():
    # one case each: ["a"] < ["a", "b"] < ["a", "c"] < ["ab"] as lists of steps
    events = log(
        ("c1", "i", ["ab"]),
        ("c2", "i", ["a", "c"]),
        ("c3", "i", ["a", "b"]),
        ("c4", "i", ["a"]),
    )
    variants = discover_variants(events)
    assert variants["sequence"].to_list() == [["a"], ["a", "b"], ["a", "c"], ["ab"]]
    assert variants["rank"].to_list() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (["a", "b", "a"], ["a", "b", "a"]),  # repeated, not consecutively
        (["a", "a", "b"], ["a", "a", "b"]),  # not collapsed by the caller: kept as is
        (["x"], ["x"]),  # single event
    ],
)
def test_variant_sequence_keeps_the_steps_in_seq_order(steps, expected):
    variants = discover_variants(log(("c1", "i", steps)))
    assert variants["sequence"].to_list() == [expected]
    assert variants["variant_id"].to_list() == [vid(*expected)]


def test_same_sequence_in_two_intents_is_counted_per_intent():
    events = log(("c1", "i1", ["a", "b"]), ("c2", "i2", ["a", "b"]), ("c3", "i2", ["a", "b"]))
    variants = discover_variants(events)
    assert variants.select("intent_id", "n", "share", "rank").rows() == [
        ("i1", 1, 1.0, 1),
        ("i2", 2, 1.0, 1),
    ]


def test_variant_of_case_joins_back_to_the_variants():
    events = log(("c2", "i", ["a", "c"]), ("c1", "i", ["a", "b"]), ("c3", "j", ["a", "b"]))
    expected = pl.DataFrame(
        {
            "conversation_id": ["c1", "c2", "c3"],
            "intent_id": ["i", "i", "j"],
            "variant_id": [vid("a", "b"), vid("a", "c"), vid("a", "b")],
        }
    )
    assigned = variant_of_case(events)
    assert_frame_equal(assigned, expected)
    counts = assigned.group_by("intent_id", "variant_id").len().sort("intent_id", "variant_id")
    variants = discover_variants(events).sort("intent_id", "variant_id")
    assert counts["len"].to_list() == variants["n"].to_list()


def test_variants_follow_custom_column_roles():
    events = log(("c1", "i", ["a", "b"])).rename(
        {"conversation_id": "case", "intent_id": "flow", "seq": "order", "step_id": "act"}
    )
    variants = discover_variants(
        events, case_col="case", activity_col="act", intent_col="flow", order_col="order"
    )
    assert variants.columns[0] == "flow"
    assert variants["sequence"].to_list() == [["a", "b"]]
    assert variant_of_case(
        events, case_col="case", activity_col="act", intent_col="flow", order_col="order"
    ).columns == ["case", "flow", "variant_id"]


def test_a_step_holding_the_separator_is_rejected():
    with pytest.raises(SchemaError, match="x1f"):
        discover_variants(log(("c1", "i", ["a\x1fb"])))


@pytest.mark.parametrize("discover", [discover_variants, variant_of_case, discover_dfg, precedence])
def test_missing_column_names_it(discover):
    with pytest.raises(SchemaError, match="missing seq"):
        discover(log(("c1", "i", ["a"])).drop("seq"))


# ---------------------------------------------------------------- directly-follows graph


def test_discover_dfg_exact():
    events = log(
        ("c1", "i", ["a", "b", "c"]),
        ("c2", "i", ["a", "c"]),
        gaps={"c1": [0, 10, 40], "c2": [0, 20]},
    )
    expected = pl.DataFrame(
        {
            "intent_id": ["i"] * 5,
            "src": ["c", START, "a", "a", "b"],
            "dst": [END, "a", "b", "c", "c"],
            "n": [2, 2, 1, 1, 1],
            "share": [1.0, 1.0, 0.5, 0.5, 1.0],
            "median_gap_s": [None, None, 10.0, 20.0, 30.0],
        }
    )
    # by n, then src: "▶" sorts after the letters
    assert_frame_equal(discover_dfg(events), expected)


def test_median_gap_skips_missing_timestamps():
    events = log(
        ("c1", "i", ["a", "b"]),
        ("c2", "i", ["a", "b"]),
        ("c3", "i", ["a", "b"]),
        ("c4", "i", ["a", "b"]),
        gaps={"c1": [0, 10], "c2": [0, 20], "c3": [0, 60], "c4": [0, None]},
    )
    edges = discover_dfg(events)
    row = edges.filter(src="a", dst="b")
    assert (row["n"].item(), row["median_gap_s"].item()) == (4, 20.0)


@pytest.mark.parametrize("ts_col", ["ts", None])
def test_dfg_without_timestamps_has_null_gaps(ts_col):
    events = log(("c1", "i", ["a", "b"]), gaps={"c1": [None, None]})
    if ts_col is None:
        events = events.drop("ts")
    edges = discover_dfg(events, ts_col=ts_col)
    assert edges["median_gap_s"].null_count() == edges.height == 3


@pytest.mark.parametrize(
    ("steps", "edges"),
    [
        (["x"], {(START, "x"), ("x", END)}),
        (["a", "b", "a"], {(START, "a"), ("a", "b"), ("b", "a"), ("a", END)}),
        (["a", "a", "b"], {(START, "a"), ("a", "a"), ("a", "b"), ("b", END)}),  # self-loop
    ],
)
def test_dfg_edge_cases(steps, edges):
    found = discover_dfg(log(("c1", "i", steps)))
    assert set(found.select("src", "dst").rows()) == edges
    assert found["n"].sum() == len(steps) + 1


def test_dfg_keeps_intents_apart():
    events = log(("c1", "i1", ["a", "b"]), ("c2", "i2", ["a", "c"]), ("c3", "i2", ["a", "b"]))
    a_out = discover_dfg(events).filter(src="a").sort("intent_id", "dst")
    assert a_out.select("intent_id", "dst", "n", "share").rows() == [
        ("i1", "b", 1, 1.0),
        ("i2", "b", 1, 0.5),
        ("i2", "c", 1, 0.5),
    ]


def test_dfg_contract():
    edges = discover_dfg(log(*REFUND))
    assert edges.select("intent_id", "src", "dst").is_unique().all()
    assert edges.select("intent_id", "src", "dst", "n", "share").null_count().row(0) == (0,) * 5
    shares = edges.group_by("intent_id", "src").agg(pl.col("share").sum())["share"]
    assert shares.to_list() == pytest.approx([1.0] * shares.len())
    assert edges.filter(src=START)["n"].sum() == edges.filter(dst=END)["n"].sum() == 10


# ---------------------------------------------------------------- precedence


def test_precedence_exact():
    events = log(
        ("c1", "i", ["a", "b", "c"]),
        ("c2", "i", ["a", "c", "b"]),
        ("c3", "i", ["b", "a"]),
    )
    expected = pl.DataFrame(
        {
            "intent_id": ["i"] * 6,
            "a": ["a", "a", "b", "b", "c", "c"],
            "b": ["b", "c", "a", "c", "a", "b"],
            "n_both": [3, 2, 3, 2, 2, 2],
            "share_a_before_b": [2 / 3, 1.0, 1 / 3, 0.5, 0.0, 0.5],
        }
    )
    assert_frame_equal(precedence(events), expected)


def test_precedence_uses_first_occurrences_and_keeps_intents_apart():
    events = log(("c1", "i1", ["a", "b", "a"]), ("c2", "i2", ["b", "a"]))
    assert precedence(events).rows() == [
        ("i1", "a", "b", 1, 1.0),
        ("i1", "b", "a", 1, 0.0),
        ("i2", "a", "b", 1, 0.0),
        ("i2", "b", "a", 1, 1.0),
    ]


def test_precedence_of_single_event_cases_is_empty():
    assert precedence(log(("c1", "i", ["x"]))).is_empty()


# ---------------------------------------------------------------- candidate SOP


def test_candidate_sop_exact():
    # positions: greet 0; verify .25 (.4 in c0); check .5 (.2 in c0); refund, deny .75;
    # upsell .8; close 1. verify before check in 9 of 10 cases (= 0.9, kept). Through
    # mandatory check, greet and verify are implied for the later steps; through the
    # optional refund and deny, check is not implied for close. check -> refund 6,
    # deny 3, verify 1: a split into refund (0.6) and deny (0.3).
    candidate = discover_candidate_sop(log(*REFUND), rare_support=0.2)
    expected = pl.DataFrame(
        {
            "intent_id": ["refund"] * 7,
            "step": ["greet", "verify", "check", "deny", "refund", "upsell", "close"],
            "support": [1.0, 1.0, 1.0, 0.3, 0.7, 0.1, 1.0],
            "n_conversations": [10, 10, 10, 3, 7, 1, 10],
            "role": ["mandatory"] * 3 + ["optional", "optional", "rare", "mandatory"],
            "position": [0.0, 0.25, 0.5, 0.75, 0.75, 0.8, 1.0],
            "after": [
                [],
                ["greet"],
                ["verify"],
                ["check"],
                ["check"],
                [],
                ["check", "deny", "refund"],
            ],
            "branches": [[], [], ["refund", "deny"], [], [], [], []],
        },
        schema_overrides={"after": pl.List(pl.String), "branches": pl.List(pl.String)},
    )
    assert_frame_equal(candidate, expected)


def test_position_is_the_median_over_cases_not_over_variants():
    # check at .5 in two identical cases, at 0 in two different ones: the median over
    # the four cases is (0 + .5) / 2, though two of the three variants put it at 0.
    cases = [("a0", "x", ["go", "check", "end"]), ("a1", "x", ["go", "check", "end"]),
             ("b", "x", ["check", "go", "end"]), ("c", "x", ["check", "end"])]  # fmt: skip
    candidate = discover_candidate_sop(log(*cases))
    assert dict(zip(candidate["step"], candidate["position"], strict=True)) == {
        "check": 0.25, "go": 0.0, "end": 1.0}  # fmt: skip


def test_repeating_every_case_only_scales_the_counts():
    once = discover_candidate_sop(log(*REFUND), rare_support=0.2)
    thrice = discover_candidate_sop(
        log(*[(f"{case}-{k}", intent, steps) for case, intent, steps in REFUND for k in range(3)]),
        rare_support=0.2,
    )
    assert_frame_equal(thrice, once.with_columns(pl.col("n_conversations") * 3))


def test_discover_process_equals_the_tables_built_one_by_one():
    events = log(*REFUND, ("d0", "refund", ["greet", "other", "verify", "other", "close"]))
    events = events.rename({"intent_id": "workflow_id"}).with_columns(is_repeat=pl.col("seq") == 4)
    config = DiscoverConfig(mandatory_support=0.6, rare_support=0.1)
    tables = discover_process(events, config, not_steps=("other",))
    kept = events.filter(~pl.col("is_repeat"))
    roles = {"intent_col": "workflow_id"}
    assert_frame_equal(tables["variants"], discover_variants(kept, **roles))
    assert_frame_equal(tables["dfg_edges"], discover_dfg(kept, **roles))
    assert_frame_equal(
        tables["candidate_sops"],
        discover_candidate_sop(
            kept.filter(pl.col("step_id") != "other"),
            mandatory_support=0.6,
            rare_support=0.1,
            precedence_share=config.precedence_share,
            branch_share=config.branch_share,
            **roles,
        ),
    )


@pytest.mark.parametrize(
    "discover",
    [discover_variants, discover_dfg, discover_candidate_sop, precedence, variant_of_case],
)
@pytest.mark.parametrize("mixed", [False, True])
def test_a_log_already_in_case_order_gives_the_same_tables(discover, mixed):
    # In case order the log is not sorted again; a case with two intents (mixed) must
    # still be split per intent as the sorted path does.
    cases = [*REFUND, ("d0", "billing", ["greet", "charge", "close"])]
    if mixed:
        cases.append(("a0", "billing", ["charge"]))
    reversed_log = log(*cases)
    in_order = reversed_log.sort("conversation_id", "seq", "intent_id")
    assert_frame_equal(discover(in_order), discover(reversed_log))


def test_after_is_the_transitive_reduction_of_a_mandatory_chain():
    events = log(*[(f"c{i}", "i", ["a", "b", "c", "d"]) for i in range(3)])
    candidate = discover_candidate_sop(events)
    assert candidate["after"].to_list() == [[], ["a"], ["b"], ["c"]]


@pytest.mark.parametrize(
    ("n_with", "n_cases", "role"),
    [
        (8, 10, "mandatory"),  # support 0.8: at the mandatory bound
        (7, 10, "optional"),
        (1, 10, "optional"),  # support 0.1: at the rare bound, not below it
        (1, 20, "rare"),
    ],
)
def test_role_follows_support(n_with, n_cases, role):
    events = log(*[(f"c{i}", "i", ["a", "x"] if i < n_with else ["a"]) for i in range(n_cases)])
    row = discover_candidate_sop(events).filter(step="x")
    assert (row["support"].item(), row["role"].item()) == (n_with / n_cases, role)


def test_rare_steps_have_no_order():
    events = log(*[(f"c{i}", "i", ["a", "x", "b"] if i == 0 else ["a", "b"]) for i in range(20)])
    row = discover_candidate_sop(events).filter(step="x")
    assert row.select("role", "after", "branches").rows() == [("rare", [], [])]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (["x"], [("x", 1, 1.0, 0.0)]),  # single event: position 0
        (["a", "b", "a"], [("a", 1, 1.0, 0.0), ("b", 1, 1.0, 0.5)]),  # first occurrence
        (["a", "a", "b"], [("a", 1, 1.0, 0.0), ("b", 1, 1.0, 1.0)]),  # repeats not collapsed
    ],
)
def test_candidate_sop_edge_cases(steps, expected):
    candidate = discover_candidate_sop(log(("c1", "i", steps)))
    assert candidate.select("step", "n_conversations", "support", "position").rows() == expected


def test_candidate_sop_keeps_intents_apart():
    events = log(
        ("c1", "i1", ["a", "b"]),
        ("c2", "i1", ["a"]),
        ("c3", "i2", ["b", "a"]),
    )
    candidate = discover_candidate_sop(events)
    assert candidate.select("intent_id", "step", "support", "after").rows() == [
        ("i1", "a", 1.0, []),
        ("i1", "b", 0.5, ["a"]),
        ("i2", "b", 1.0, []),
        ("i2", "a", 1.0, ["b"]),
    ]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"mandatory_support": 1.5}, "mandatory_support"),
        ({"rare_support": -0.1}, "rare_support"),
        ({"rare_support": 0.9, "mandatory_support": 0.8}, "must not exceed"),
        ({"precedence_share": 0.5}, "precedence_share"),
        ({"branch_share": 0.0}, "branch_share"),
    ],
)
def test_candidate_sop_rejects_bad_shares(params, match):
    with pytest.raises(ValueError, match=match):
        discover_candidate_sop(log(("c1", "i", ["a"])), **params)


# ---------------------------------------------------------------- empty logs and inputs

EMPTY_SCHEMAS = {
    discover_variants: {
        "intent_id": pl.String,
        "variant_id": pl.String,
        "sequence": pl.List(pl.String),
        "n": pl.Int64,
        "share": pl.Float64,
        "rank": pl.Int64,
    },
    variant_of_case: {
        "conversation_id": pl.String,
        "intent_id": pl.String,
        "variant_id": pl.String,
    },
    discover_dfg: {
        "intent_id": pl.String,
        "src": pl.String,
        "dst": pl.String,
        "n": pl.Int64,
        "share": pl.Float64,
        "median_gap_s": pl.Float64,
    },
    precedence: {
        "intent_id": pl.String,
        "a": pl.String,
        "b": pl.String,
        "n_both": pl.Int64,
        "share_a_before_b": pl.Float64,
    },
    discover_candidate_sop: {
        "intent_id": pl.String,
        "step": pl.String,
        "support": pl.Float64,
        "n_conversations": pl.Int64,
        "role": pl.String,
        "position": pl.Float64,
        "after": pl.List(pl.String),
        "branches": pl.List(pl.String),
    },
}


@pytest.mark.parametrize("discover", list(EMPTY_SCHEMAS), ids=lambda f: f.__name__)
def test_empty_log_gives_an_empty_table_with_the_schema(discover):
    result = discover(pl.DataFrame(schema=SCHEMA))
    assert result.is_empty()
    assert dict(result.schema) == EMPTY_SCHEMAS[discover]


@pytest.mark.parametrize("discover", list(EMPTY_SCHEMAS), ids=lambda f: f.__name__)
def test_discover_does_not_modify_its_input(discover):
    events = log(*REFUND, ("s1", "other", ["x"]), gaps={"a0": [0, 5, None, 20, 30]})
    before = events.clone()
    discover(events)
    assert_frame_equal(events, before)


def test_cases_without_an_intent_form_their_own_group():
    events = log(("c1", None, ["a", "b"]), ("c2", None, ["a", "b"]), ("c3", "i", ["b", "a"]))
    assert discover_variants(events).select("intent_id", "n").rows() == [("i", 1), (None, 2)]
    assert discover_dfg(events).filter(pl.col("intent_id").is_null())["n"].to_list() == [2, 2, 2]
    candidate = discover_candidate_sop(events)
    assert candidate.select("intent_id", "step", "after").rows() == [
        ("i", "b", []),
        ("i", "a", ["b"]),
        (None, "a", []),
        (None, "b", ["a"]),
    ]


def test_events_without_a_step_are_ignored():
    events = pl.concat([log(("c1", "i", ["a", "b"])), log(("c1", "i", [None]))])
    events = events.with_columns(seq=pl.when(pl.col("step_id").is_null()).then(1).otherwise("seq"))
    assert discover_variants(events)["sequence"].to_list() == [["a", "b"]]


# ---------------------------------------------------------------- playbook draft


@pytest.fixture(scope="module")
def candidate():
    return discover_candidate_sop(log(*REFUND), rare_support=0.2)


def test_draft_sop_from_the_candidate(candidate):
    draft = draft_sop(
        candidate,
        intent_id="refund",
        labels={"verify": "Confirm the customer's identity"},
        examples={"verify": ["can I have your full name"]},
        actions={"refund": "billing.refund"},
    )
    assert (draft.sop_id, draft.version, draft.intent, draft.source) == (
        "refund",
        1,
        ("refund",),
        "mined draft",
    )
    assert "review" in draft.description
    assert (draft.risk.moves_money, draft.risk.regulated) == (False, False)
    assert draft.steps == (
        Step(id="greet"),
        Step(
            id="verify",
            description="Confirm the customer's identity",
            examples=("can I have your full name",),
            after=("greet",),
        ),
        Step(id="check", after=("verify",), next=("refund", "deny")),
        Step(id="deny", mandatory=False, after=("check",)),
        Step(id="refund", action="billing.refund", mandatory=False, after=("check",)),
        Step(id="close", after=("check", "deny", "refund")),
    )  # upsell is rare: left out


def test_draft_sop_round_trips(candidate):
    draft = draft_sop(candidate, intent_id="refund", sop_id="refund_v")
    assert parse_sop(sop_to_dict(draft), origin="draft.yaml") == draft
    assert "sop_id: refund_v" in sop_to_yaml(draft)


def test_draft_keeps_only_earlier_kept_steps_in_after_and_kept_steps_in_next():
    candidate = pl.DataFrame(
        {
            "intent_id": ["i"] * 4,
            "step": ["a", "b", "r", "c"],
            "role": ["mandatory", "optional", "rare", "mandatory"],
            "position": [0.0, 0.5, 0.6, 1.0],
            # b names the later c (a cycle with c's after) and the rare r
            "after": [[], ["a", "c", "r"], [], ["b", "r"]],
            "branches": [["b", "r", "c"], [], [], ["a", "c"]],
        }
    )
    draft = draft_sop(candidate, intent_id="i")
    assert [(s.id, s.after, s.next) for s in draft.steps] == [
        ("a", (), ("b", "c")),
        ("b", ("a",), ()),
        ("c", ("b",), ("a",)),
    ]
    assert parse_sop(sop_to_dict(draft), origin="x") == draft


@pytest.mark.parametrize(
    ("intent_id", "sop_id"),
    [("refund request", "refund_request"), ("card/lost?", "card_lost_"), ("§", "_")],
)
def test_draft_sop_id_from_the_intent(intent_id, sop_id):
    candidate = pl.DataFrame(
        {
            "intent_id": [intent_id],
            "step": ["a"],
            "role": ["mandatory"],
            "position": [0.0],
            "after": [[]],
            "branches": [[]],
        },
        schema_overrides={"after": pl.List(pl.String), "branches": pl.List(pl.String)},
    )
    draft = draft_sop(candidate, intent_id=intent_id)
    assert (draft.sop_id, draft.intent) == (sop_id, (intent_id,))


@pytest.mark.parametrize(
    ("intent_id", "match"),
    [
        ("nope", "no candidate SOP rows.*intents: refund, scattered"),
        ("scattered", "every step is rare or omitted"),
    ],
)
def test_draft_sop_errors(intent_id, match):
    # "scattered": 20 cases, each with its own step (support 0.05, all rare)
    events = log(*REFUND, *[(f"s{i}", "scattered", [f"x{i}"]) for i in range(20)])
    with pytest.raises(SopError, match=match):
        draft_sop(discover_candidate_sop(events), intent_id=intent_id)


def test_draft_sop_omits_the_unplaced_residue():
    events = log(*[(f"c{i}", "i", ["a", "other", "b"]) for i in range(3)])
    candidate = discover_candidate_sop(events)
    assert "other" in candidate["step"].to_list()
    assert draft_sop(candidate, intent_id="i").step_ids == ("a", "b")
    assert draft_sop(candidate, intent_id="i", omit=()).step_ids == ("a", "other", "b")


def test_draft_sop_rejects_a_step_id_a_playbook_cannot_hold():
    candidate = discover_candidate_sop(log(("c1", "i", ["check balance"])))
    with pytest.raises(SopError, match="check balance"):
        draft_sop(candidate, intent_id="i")


def test_draft_sop_does_not_modify_its_input(candidate):
    before = candidate.clone()
    draft_sop(candidate, intent_id="refund", labels={"greet": "Hello"})
    assert_frame_equal(candidate, before)
