"""The conversations behind each flagged drift finding (``pipeline.drift.examples``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from drift.conformance_cases import REFUND, SOPS, log
from fake_embedders import WordsEmbedder

from pipeline.config import DriftConfig
from pipeline.drift.conformance import check_conformance
from pipeline.drift.deviating_turns import DEVIATING_SCHEMA
from pipeline.drift.examples import find_drift_examples
from pipeline.drift.excerpts import excerpt_examples, typical
from pipeline.drift.findings import findings_frame
from pipeline.drift.run import format_findings

MONDAY = datetime(2026, 3, 2, 9, tzinfo=UTC)
WEEK1, WEEK1_END = date(2026, 3, 9), date(2026, 3, 15)


def case(cid, steps, *, week=1, team="north", intent="i1", metadata=None, agent_turns=None,
         escalated=False, resolved=True, repeat=False, sop="refund"):  # fmt: skip
    return {"cid": cid, "steps": steps, "week": week, "team": team, "intent": intent,
            "metadata": metadata, "agent_turns": agent_turns or len(steps), "sop": sop,
            "escalated": escalated, "resolved": resolved, "repeat": repeat}  # fmt: skip


def tables(*cases):
    """step_events, conformance, conversations, outcomes of hand-made conversations."""
    events = log(*[(c["cid"], c["sop"], c["steps"]) for c in cases])
    conversations = pl.DataFrame(
        [{"conversation_id": c["cid"], "started_at": MONDAY + timedelta(weeks=c["week"]),
          "team": c["team"], "agent_hash": "a1", "queue": "q", "channel": "chat",
          "intent_id": c["intent"], "is_outlier": False,
          "metadata": json.dumps(c["metadata"]) if c["metadata"] else None} for c in cases],
        schema={"conversation_id": pl.String, "started_at": pl.Datetime("us", "UTC"),
                "team": pl.String, "agent_hash": pl.String, "queue": pl.String,
                "channel": pl.String, "intent_id": pl.String, "is_outlier": pl.Boolean,
                "metadata": pl.String},
    )  # fmt: skip
    conformance = check_conformance(events, SOPS, conversations=conversations)
    outcomes = pl.DataFrame(
        [{"conversation_id": c["cid"], "n_agent_turns": c["agent_turns"],
          "escalated": c["escalated"], "resolved": c["resolved"],
          "repeat_contact": c["repeat"]} for c in cases]
    )  # fmt: skip
    return events, conformance, conversations, outcomes


def finding(fid, kind, **fields):
    details = fields.pop("details", {"group": "all"})
    return {"finding_id": fid, "kind": kind, "sop_id": "refund", "workflow_id": "refund",
            "window_start": WEEK1, "window_end": WEEK1_END, "flagged": True, "severity": "high",
            "sentence": "s", "details": json.dumps(details), **fields}  # fmt: skip


def examples(findings, cases, **kwargs):
    events, conformance, conversations, outcomes = tables(*cases)
    return find_drift_examples(findings_frame(findings), conformance, events, conversations,
                               outcomes, SOPS, config=DriftConfig(), **kwargs)  # fmt: skip


def picked(frame):
    return dict(zip(frame["conversation_id"], zip(frame["turn_idx"], frame["why"], strict=True),
                    strict=True))  # fmt: skip


# Turns: log() puts step k of a trace at turn 2k + 1.
def test_a_missing_step_shows_where_it_was_due_in_the_findings_window_and_team():
    found = examples(
        [finding("f1", "missing", step="verify", team="north")],
        [case("in", ["lookup", "refund"]),  # verify missing: lookup (turn 1) is where it was due
         case("done", ["verify", "lookup", "refund"]),  # did it: not an example
         case("early", ["lookup", "refund"], week=0),  # before the finding's window
         case("south", ["lookup", "refund"], team="south")],  # another team's conversation
    )  # fmt: skip
    assert picked(found) == {"in": (1, "no verify step; lookup was done where it was due")}
    assert found.row(0, named=True) | {"why": None} == {
        "finding_id": "f1", "kind": "missing", "workflow_id": "refund", "step": "verify",
        "rank": 1, "conversation_id": "in", "turn_idx": 1, "why": None}  # fmt: skip


def test_a_step_nothing_follows_shows_at_the_last_process_step():
    # confirm is optional and last: a conversation without it ends at refund (turn 5)
    trace = ["verify", "lookup", "refund", "other"]
    found = examples([finding("f1", "skipped", step="confirm")], [case("a", trace)],
                     ignore=("other",))  # fmt: skip
    assert picked(found) == {"a": (5, "no confirm step; its last step (turn 5) came without it")}


def test_a_skipped_gate_shows_the_gated_action_that_went_ahead():
    held = {"amount": 500}
    found = examples(
        [finding("f1", "gate_skipped", step="approve")],
        [case("a", ["verify", "lookup", "refund"], metadata=held),
         case("small", ["verify", "lookup", "refund"], metadata={"amount": 50})],
    )  # fmt: skip
    assert picked(found) == {
        "a": (5, "approval gate approve skipped while amount > 200 held; refund was done where "
                 "it was due")}  # fmt: skip


def test_an_order_violation_shows_the_step_done_too_early():
    found = examples([finding("f1", "order_violation", step="refund")],
                     [case("a", ["verify", "refund", "lookup"])])  # fmt: skip
    assert picked(found) == {"a": (3, "refund done at turn 3, before lookup (turn 5)")}


def test_an_undocumented_step_shows_its_first_turn_named_by_its_phrase():
    found = examples([finding("f1", "undocumented", step="d_x_1")],
                     [case("a", ["verify", "d_x_1", "lookup", "d_x_1", "refund"])],
                     step_names={"d_x_1": "store credit"})  # fmt: skip
    assert picked(found) == {"a": (3, "undocumented step 'store credit' (d_x_1) at turn 3")}


def test_outcome_impact_examples_deviate_reached_the_step_and_had_the_compared_outcome():
    row = finding("f1", "outcome_impact", step="verify", metric="escalated", outcome_delta=0.2,
                  details={"deviation": "missing"})  # fmt: skip
    found = examples(
        [row],
        [case("hit", ["lookup", "refund"], escalated=True),
         case("calm", ["lookup", "refund"]),  # deviates, but was not escalated
         case("early", ["d_x"], escalated=True),  # escalated before reaching verify's place
         case("did", ["verify", "lookup"], escalated=True)],  # escalated, but did verify
    )  # fmt: skip
    assert picked(found) == {"hit": (1, "no verify step; lookup was done where it was due; "
                                        "escalated")}  # fmt: skip


def test_a_pooled_outcome_impact_takes_examples_from_each_of_its_workflows():
    details = {"deviation": "undocumented", "sops": ["refund", "payment"]}
    pooled = finding("f1", "outcome_impact", step="d_x", sop_id=None, workflow_id=None,
                     metric="repeat_contact", outcome_delta=0.2, details=details)  # fmt: skip
    found = examples(
        [pooled],
        [case("r", ["verify", "d_x"], repeat=True), case("p", ["d_x", "pay"], repeat=True,
                                                         sop="payment"),
         case("once", ["verify", "d_x"])],
    )  # fmt: skip
    assert picked(found) == {
        "r": (3, "undocumented step d x at turn 3; the customer came back (repeat contact)"),
        "p": (1, "undocumented step d x at turn 1; the customer came back (repeat contact)"),
    }


def test_a_better_outcome_shows_conversations_on_that_side():
    row = finding("f1", "outcome_impact", step="verify", metric="resolved", outcome_delta=-0.3,
                  details={"deviation": "missing"})  # fmt: skip
    found = examples([row], [case("lost", ["lookup", "refund"], resolved=False),
                             case("won", ["lookup", "refund"])])  # fmt: skip
    assert picked(found) == {"lost": (1, "no verify step; lookup was done where it was due; "
                                         "not resolved")}  # fmt: skip


def test_a_conformance_fall_shows_the_deviation_that_rose_after_the_change():
    segments = {"before": {"from": "2026-03-02", "to": "2026-03-08"},
                "after": {"from": "2026-03-09", "to": "2026-03-15"}}  # fmt: skip
    row = finding("f1", "conformance_change", metric="conforming_share", rate=0.3, baseline=0.9,
                  details=segments)  # fmt: skip
    found = examples(
        [row],
        [case("b1", ["lookup", "refund"], week=0),  # missing verify: as common before
         case("a1", ["lookup", "refund"]), case("a2", ["verify", "refund", "lookup"]),
         case("a3", ["verify", "refund", "lookup"]), case("ok", ["verify", "lookup", "refund"])],
    )  # fmt: skip
    assert set(picked(found)) == {"a2", "a3"}  # the order violation is new after the change
    assert picked(found)["a2"] == (3, "refund done at turn 3, before lookup (turn 5)")


def test_intent_mix_shows_opening_requests_of_the_intent_that_grew():
    moved = [{"category": "unassigned", "label": None, "share_before": 0.1, "share_after": 0.6},
             {"category": "i2", "label": "points", "share_before": 0.0, "share_after": 0.3},
             {"category": "i1", "label": "refund", "share_before": 0.9,
              "share_after": 0.1}]  # fmt: skip
    row = finding("f1", "intent_mix", sop_id=None, workflow_id=None, details={"moved": moved})
    found = examples([row], [case("p", ["verify"], intent="i2"), case("r", ["verify"]),
                             case("old", ["verify"], intent="i2", week=0)])  # fmt: skip
    assert picked(found) == {
        "p": (None, "the intent 'points' (i2) grew from 0% to 30% of conversations; this one "
                    "opened with its request")}  # fmt: skip


def test_variant_mix_shows_where_the_grown_variant_departs_from_the_shrunk_one():
    variants = pl.DataFrame({"workflow_id": ["refund"] * 2, "variant_id": ["new", "old"],
                             "sequence": [["verify", "refund", "lookup"],
                                          ["verify", "lookup", "refund"]],
                             "rank": [2, 1]})  # fmt: skip
    cases = [case("n", ["verify", "refund", "lookup"]), case("o", ["verify", "lookup", "refund"])]
    events, conformance, *_ = tables(*cases)
    ids = dict(zip(conformance["conversation_id"], conformance["variant_id"], strict=True))
    variants = variants.with_columns(variant_id=pl.Series([ids["n"], ids["o"]]))
    moved = [{"category": ids["o"], "share_before": 0.9, "share_after": 0.5},
             {"category": ids["n"], "share_before": 0.1, "share_after": 0.5}]  # fmt: skip
    found = examples([finding("f1", "variant_mix", details={"moved": moved})], cases,
                     variants=variants)  # fmt: skip
    assert picked(found) == {
        "n": (3, f"variant {ids['n']} grew from 10% to 50% of refund conversations; refund at "
                 "turn 3, where the usual path has lookup")}  # fmt: skip


def test_exception_cluster_examples_are_its_steps_turns_nearest_its_exemplar():
    texts = {("a", 3): "I extended your warranty by a year", ("b", 5): "your warranty is extended",
             ("c", 3): "warranty extended by one year", ("d", 3): "lovely weather today",
             ("e", 3): "the weather is lovely", ("f", 3): "sunny weather here"}  # fmt: skip
    deviating = pl.DataFrame(
        [{"conversation_id": c, "sop_id": "refund", "turn_idx": t, "step_id": "d_x",
          "text": text, "missing_step": "verify" if c == "a" else None, "absent_steps": []}
         for (c, t), text in texts.items()], schema=DEVIATING_SCHEMA,
    )  # fmt: skip
    details = {"steps": {"d_x": 6}, "exemplar": "I extended your warranty by a year",
               "n_turns": 6, "label": "warranty"}  # fmt: skip
    row = finding("f1", "exception_cluster", step="x_warranty", window_start=None,
                  window_end=None, details=details)  # fmt: skip
    cases = [case(c, ["verify", "d_x", "lookup"]) for c in "abcdef"]
    found = examples([row], cases, deviating=deviating, embedder=WordsEmbedder())
    said = "an off-script turn of the sub-flow 'warranty'"
    assert picked(found) == {
        "a": (3, said + ", standing where the mandatory step verify is missing"),
        "b": (5, said), "c": (3, said),
    }  # fmt: skip


def test_unflagged_findings_and_findings_without_candidates_get_no_examples():
    rows = [finding("f1", "missing", step="verify", flagged=False),
            finding("f2", "missing", step="lookup")]  # fmt: skip
    assert examples(rows, [case("a", ["lookup", "refund"])]).is_empty()


def test_at_most_three_examples_a_finding_ranked_from_one():
    cases = [case(f"c{i}", ["lookup", "refund"], agent_turns=i) for i in range(1, 8)]
    found = examples([finding("f1", "missing", step="verify")], cases)
    assert found["rank"].to_list() == [1, 2, 3]
    assert found["conversation_id"][0] == "c4"  # the median length


def test_the_examples_are_typical_never_the_extremes_and_stable():
    candidates = pl.DataFrame({"finding_id": ["f"] * 6,
                               "conversation_id": ["s", "m1", "m2", "m3", "x", "y"]})  # fmt: skip
    lengths = pl.DataFrame({"conversation_id": ["s", "m1", "m2", "m3", "x", "y"],
                            "n_agent_turns": [1, 8, 9, 10, 60, 9]})  # fmt: skip
    first = typical(candidates, lengths, key="finding_id", n=3)
    assert set(first["conversation_id"]) <= {"m1", "m2", "m3", "y"}  # not 1 or 60 turns
    assert set(first["conversation_id"][:2]) == {"m2", "y"}  # the median, 9, first
    assert first.equals(typical(candidates.reverse(), lengths, key="finding_id", n=3))


def test_finding_examples_do_not_modify_their_inputs():
    events, conformance, conversations, outcomes = tables(case("a", ["lookup", "refund"]))
    findings = findings_frame([finding("f1", "missing", step="verify")])
    copies = [f.clone() for f in (findings, conformance, events, conversations, outcomes)]
    find_drift_examples(findings, conformance, events, conversations, outcomes, SOPS,
                        config=DriftConfig())  # fmt: skip
    assert all(a.equals(b) for a, b in zip(copies, (findings, conformance, events, conversations,
                                                    outcomes), strict=True))  # fmt: skip


TURNS = pl.DataFrame(
    {"conversation_id": ["a"] * 6 + ["b"] * 2,
     "turn_idx": [0, 1, 2, 3, 4, 5, 0, 1],
     "speaker": ["agent", "customer", "agent", "agent", "customer", "agent", "agent", "customer"],
     "event_type": ["utterance", "utterance", "utterance", "action", "utterance", "utterance",
                    "utterance", "utterance"],
     "text": ["hi", "I want my money <EMAIL>", "x" * 300, None, "ok", "bye", "hello", "help"],
     "action_name": [None, None, None, "billing.refund", None, None, None, None],
     "action_status": [None, None, None, "failed", None, None, None, None]}
)  # fmt: skip


@pytest.mark.parametrize("context", [1, 2])
def test_the_excerpt_is_the_highlighted_turn_and_its_neighbours(context):
    picks = pl.DataFrame({"conversation_id": ["a"], "turn_idx": [3]},
                         schema={"conversation_id": pl.String, "turn_idx": pl.Int32})  # fmt: skip
    excerpt = json.loads(
        excerpt_examples(picks, TURNS, context=context, max_chars=30)["excerpt"][0]
    )
    assert [t["turn_idx"] for t in excerpt] == list(range(3 - context, 4 + context))
    assert [t["highlight"] for t in excerpt].count(True) == 1
    shown = {t["turn_idx"]: t["text"] for t in excerpt}
    assert shown[3] == "[billing.refund failed]"  # an action, by name
    assert shown[2] == "x" * 29 + "…"  # cut at max_chars


def test_a_pick_without_a_turn_shows_the_opening_request():
    picks = pl.DataFrame({"conversation_id": ["a", "b"], "turn_idx": [None, None]},
                         schema={"conversation_id": pl.String, "turn_idx": pl.Int32})  # fmt: skip
    out = excerpt_examples(picks, TURNS)
    assert out["turn_idx"].to_list() == [1, 1]
    first = json.loads(out["excerpt"][0])
    assert [t["text"] for t in first if t["highlight"]] == ["I want my money <EMAIL>"]


def test_format_findings_prints_each_example_under_its_finding():
    example = {"conversation_id": "c7", "turn_idx": 2, "why": "no verify step",
               "excerpt": [{"turn_idx": 1, "speaker": "customer", "text": "refund please",
                            "highlight": False},
                           {"turn_idx": 2, "speaker": "agent", "text": "order number?",
                            "highlight": True}]}  # fmt: skip
    row = {"severity": "high", "kind": "missing", "sop_id": "refund", "workflow_id": "refund",
           "step": "verify", "team": None, "flagged": True, "sentence": "Agents skip verify.",
           "examples": [example]}  # fmt: skip
    assert format_findings(pl.DataFrame([row])) == (
        "[high] missing: refund / verify\n"
        "    Agents skip verify.\n"
        "    e.g. c7: no verify step\n"
        "          1 customer: refund please\n"
        "      >   2 agent: order number?\n"
    )


def test_the_refund_sop_of_these_tests_orders_lookup_after_verify():
    # the rules above read "where it was due" from the SOP's after lists
    assert dict((s.id, s.after) for s in REFUND.steps)["lookup"] == ("verify",)
