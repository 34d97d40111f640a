"""Exception clusters: deviating turns of a SOP, clustered and named by their text.

The bag-of-words embedder of the steps tests stands in for the sentence model.
"""

import dataclasses
import json

import polars as pl
import pytest
from drift.exceptions_cases import (
    NOT_STEPS,
    PLACES,
    SOP,
    loyalty,
    tables,
)
from fake_embedders import WordsEmbedder
from scipy.stats import false_discovery_control, fisher_exact

from pipeline import schema
from pipeline.config import DriftConfig
from pipeline.drift.exceptions import find_exception_clusters
from pipeline.drift.mix import DRIFT_FINDINGS_SCHEMA
from pipeline.sops.model import Sop, Step

CONFIG = DriftConfig(min_count=5)


def test_two_planted_sub_flows_are_found_named_and_placed():
    turns, events, conformance = loyalty()
    embedder = WordsEmbedder()
    found = find_exception_clusters(conformance, events, turns, [SOP], embedder=embedder,
                                    not_steps=NOT_STEPS, config=CONFIG)  # fmt: skip
    assert embedder.calls == 1
    assert found.select("step", "n", "n_baseline", "flagged", "severity").rows() == [
        ("x_add_hand", 20, 30, True, "high"),
        ("x_book_callback", 20, 30, True, "high"),
    ]
    assert found["rate"].to_list() == pytest.approx([2 / 3, 2 / 3])
    points, hotel = found.rows(named=True)
    assert (hotel["baseline"], hotel["p_value"], hotel["q_value"]) == (None, None, None)
    assert (hotel["kind"], hotel["sop_id"], hotel["workflow_id"]) == (
        "exception_cluster", "loyalty_points", "loyalty_points",
    )  # fmt: skip
    assert hotel["sentence"] == (
        "In 67% of loyalty_points conversations agents do an undocumented sub-flow "
        "'book a callback with our partner hotel' (e.g. \"Let me also book a callback with "
        'our partner hotel in riga for tomorrow"): a candidate step for the SOP.'
    )
    assert points["sentence"] == (
        "In 67% of loyalty_points conversations agents do an undocumented sub-flow "
        "'add them by hand' where the mandatory step check_points is missing (e.g. \"I see the "
        'loyalty points for your stay in kyoto are missing so I will add the..."): a candidate '
        "step for the SOP, or a replacement for check_points."
    )
    details = json.loads(points["details"])
    assert details["sits_at"] == [{"deviation": "missing step", "step": "check_points",
                                   "n_turns": 20}]  # fmt: skip
    assert details["terms"][:3] == ["add", "add hand", "hand"]
    assert (details["n_conversations"], details["n_turns"]) == (20, 20)
    assert details["exemplar"] == (
        "I see the loyalty points for your stay in kyoto are missing so I will add them by hand"
    )


def test_a_one_off_turn_is_in_no_cluster():
    turns, events, conformance = loyalty()
    found = find_exception_clusters(conformance, events, turns, [SOP], embedder=WordsEmbedder(),
                                    not_steps=NOT_STEPS, config=CONFIG)  # fmt: skip
    assert not found["details"].str.contains("lovely").any()
    assert found["n"].to_list() == [20, 20]  # the one-off call (c05) is counted nowhere


def test_turns_that_never_recur_give_no_finding():
    words = ["alpha", "bravo", "delta", "gecko", "hotel", "india", "juliet", "kilo", "lima",
             "mike", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "victor", "whisky",
             "xray", "yankee", "zulu", "amber", "basil", "cedar", "dune"]  # fmt: skip
    calls = [[("agent", f"{w} {w}s {w}ing", "other")] for w in words]
    turns, events, conformance = tables(calls)
    found = find_exception_clusters(conformance, events, turns, [SOP], embedder=WordsEmbedder(),
                                    config=CONFIG)  # fmt: skip
    assert found.is_empty() and found.schema == DRIFT_FINDINGS_SCHEMA


def test_a_sub_flow_in_fewer_than_min_count_conversations_is_not_flagged():
    turns, events, conformance = loyalty()
    found = find_exception_clusters(
        conformance,
        events,
        turns,
        [SOP],
        embedder=WordsEmbedder(),
        not_steps=NOT_STEPS,
        config=DriftConfig(min_count=21),
    )
    assert found["flagged"].to_list() == [False, False]
    assert found["severity"].to_list() == ["info", "info"]
    assert found["sentence"][1] == (
        "In 20 loyalty_points conversations (67%) agents do an undocumented sub-flow "
        "'book a callback with our partner hotel' (e.g. \"Let me also book a callback with "
        'our partner hotel in riga for tomorrow"); fewer than 21 conversations, so not flagged.'
    )


def test_min_cluster_size_reaches_the_clustering():
    turns, events, conformance = loyalty()
    found = find_exception_clusters(
        conformance,
        events,
        turns,
        [SOP],
        embedder=WordsEmbedder(),
        not_steps=NOT_STEPS,
        config=CONFIG,
        min_cluster_size=25,
    )
    assert found.is_empty()


@pytest.mark.parametrize(
    ("shares", "severity"),
    [({}, "high"), ({"exception_high_share": 0.7}, "medium"),
     ({"exception_high_share": 0.8, "exception_medium_share": 0.7}, "low")],
)  # fmt: skip
def test_severity_follows_the_configured_shares(shares, severity):
    turns, events, conformance = loyalty()  # both sub-flows in 2/3 of the calls
    found = find_exception_clusters(conformance, events, turns, [SOP], embedder=WordsEmbedder(),
                                    not_steps=NOT_STEPS,
                                    config=dataclasses.replace(CONFIG, **shares))  # fmt: skip
    assert found.select("flagged", "severity").rows() == [(True, severity)] * 2


HOTEL = Sop("hotel_booking", 1, ("hotel",), (Step("ask_reference"), Step("close")))


def hotel_call(i: int) -> list[tuple]:
    """Every hotel call has the callback sub-flow and a room upgrade, both undocumented."""
    return [
        ("agent", "May I have your booking reference", "ask_reference"),
        (
            "agent",
            f"Let me also book a callback with our partner hotel in {PLACES[i % 10]} for tomorrow",
            "other",
        ),  # fmt: skip
        (
            "agent",
            f"Your room upgrade to a suite with a view of {PLACES[(i + 5) % 10]} "
            "is confirmed for tonight",
            "adjust_points",  # a step of the loyalty SOP, not of this one
        ),
        ("agent", "Thank you, goodbye", "close"),
    ]


def test_a_sub_flow_as_common_in_other_workflows_is_not_flagged():
    loyal, hotel = loyalty(), tables([hotel_call(i) for i in range(30)], sop_id="hotel_booking",
                                     prefix="h")  # fmt: skip
    turns, events, conformance = (pl.concat([a, b]) for a, b in zip(loyal, hotel, strict=True))
    found = find_exception_clusters(conformance, events, turns, [SOP, HOTEL],
                                    embedder=WordsEmbedder(), not_steps=NOT_STEPS,
                                    config=CONFIG)  # fmt: skip
    assert found.select(
        "sop_id", "step", "n", "rate", "baseline", "flagged", "severity"
    ).rows() == [
        ("hotel_booking", "x_book_callback", 30, 1.0, 2 / 3, False, "info"),
        ("hotel_booking", "x_confirmed_tonight", 30, 1.0, 0.0, True, "high"),
        ("loyalty_points", "x_add_hand", 20, 2 / 3, 0.0, True, "high"),
        ("loyalty_points", "x_book_callback", 20, 2 / 3, 1.0, False, "info"),
    ]
    # one-sided Fisher tests of each cluster's share against the other SOP's, then BH
    counts = [(30, 20), (30, 0), (20, 0), (20, 30)]  # (this SOP's, the other's) of 30 each
    p = [fisher_exact([[n, 30 - n], [m, 30 - m]], alternative="greater").pvalue
         for n, m in counts]  # fmt: skip
    assert found["q_value"].to_list() == pytest.approx(list(false_discovery_control(p)))
    assert found["sentence"][1] == (
        "In 100% of hotel_booking conversations (against 0% in other workflows) agents do an "
        "undocumented sub-flow 'confirmed for tonight' (step adjust_points of loyalty_points) "
        '(e.g. "Your room upgrade to a suite with a view of kyoto is confirmed for tonight"): '
        "a candidate step for the SOP."
    )
    assert found["sentence"][3] == (
        "In 67% of loyalty_points conversations (against 100% in other workflows) agents do an "
        "undocumented sub-flow 'book a callback with our partner hotel' (e.g. \"Let me also "
        'book a callback with our partner hotel in riga for tomorrow"); more common in other '
        "workflows: conversation management rather than a step of this SOP, so not flagged."
    )
    assert found["sentence"][2].startswith(
        "In 67% of loyalty_points conversations (against 0% in other workflows) agents do an "
        "undocumented sub-flow 'add them by hand' where the mandatory step check_points is "
        "missing"
    )


@pytest.mark.parametrize(("min_lift", "flagged"), [(2.0, False), (1.4, True)])
def test_a_lower_min_lift_flags_a_sub_flow_half_again_as_common_as_elsewhere(min_lift, flagged):
    loyal, hotel = loyalty(), tables([hotel_call(i) for i in range(30)], sop_id="hotel_booking",
                                     prefix="h")  # fmt: skip
    turns, events, conformance = (pl.concat([a, b]) for a, b in zip(loyal, hotel, strict=True))
    config = dataclasses.replace(CONFIG, exception_min_lift=min_lift)
    found = find_exception_clusters(conformance, events, turns, [SOP, HOTEL],
                                    embedder=WordsEmbedder(), not_steps=NOT_STEPS,
                                    config=config)  # fmt: skip
    row = found.filter(
        (pl.col("sop_id") == "hotel_booking") & (pl.col("step") == "x_book_callback")
    )
    assert row.select("rate", "baseline", "flagged").rows() == [(1.0, 2 / 3, flagged)]


def test_findings_keep_the_drift_findings_contract():
    turns, events, conformance = loyalty()
    found = find_exception_clusters(conformance, events, turns, [SOP], embedder=WordsEmbedder(),
                                    not_steps=NOT_STEPS, config=CONFIG)  # fmt: skip
    assert found.columns == schema.batch_columns(schema.DRIFT_FINDINGS)
    assert found.schema == DRIFT_FINDINGS_SCHEMA
    assert found["finding_id"].n_unique() == found.height
    assert set(found["severity"]) <= set(schema.SEVERITIES)
    for column in ("finding_id", "kind", "flagged", "severity", "sentence", "details"):
        assert found[column].null_count() == 0


def test_exception_clusters_do_not_modify_their_input():
    frames = loyalty()
    kept = [f.clone() for f in frames]
    turns, events, conformance = frames
    find_exception_clusters(conformance, events, turns, [SOP], embedder=WordsEmbedder(),
                            not_steps=NOT_STEPS, config=CONFIG)  # fmt: skip
    for before, after in zip(kept, frames, strict=True):
        assert after.equals(before)


def test_empty_input_gives_an_empty_contract_frame():
    turns, events, conformance = loyalty()
    found = find_exception_clusters(conformance.clear(), events.clear(), turns.clear(), [SOP],
                                    embedder=WordsEmbedder())  # fmt: skip
    assert found.is_empty() and found.schema == DRIFT_FINDINGS_SCHEMA
    assert find_exception_clusters(
        conformance, events, turns, [], embedder=WordsEmbedder()
    ).is_empty()
