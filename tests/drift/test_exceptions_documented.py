"""Exception clusters that are documented steps, and the outcome cost of the others.

A cluster whose turns fill a documented template, or are a closing another SOP
documents, is no exception; the flagged ones are ranked by how often their
conversations end poorly. The bag-of-words embedder stands in for the sentence model.
"""

import json

import polars as pl
import pytest
from drift.exceptions_cases import NOT_STEPS, PLACES, SOP, loyalty, tables
from fake_embedders import WordsEmbedder

from pipeline.config import DriftConfig
from pipeline.drift.exceptions import find_exception_clusters
from pipeline.evaluate.exception_templates import count_template_exemplars
from pipeline.sops.model import Sop, Step

CONFIG = DriftConfig(min_count=5)
BALANCE = "Your points balance stands at {points:d} points after the {month:s} statement"
WORDED = Sop(
    "loyalty_points", 1, ("loyalty",),
    (Step("verify_identity", examples=("Can you confirm your membership number please",)),
     Step("check_points", examples=(BALANCE,)), Step("close")),
)  # fmt: skip
HOTEL = Sop(
    "hotel_booking", 1, ("hotel",),
    (Step("ask_reference", examples=("May I have your booking reference",)),
     Step("goodbye_1", examples=("Thank you for calling, goodbye and take care",))),
)  # fmt: skip


def worded_call(i: int) -> list[tuple]:
    """Every call: the balance said in words the tagger missed; calls 10-29 a callback."""
    call = [
        ("agent", "Can you confirm your membership number please", "verify_identity"),
        ("agent", f"Your points balance stands at {100 * i + 7} points after the "
                  f"{PLACES[i % 10]} statement", "other"),  # a filled-in template, untagged
    ]  # fmt: skip
    if i >= 10:
        call.append(("agent", f"Arranging a partner hotel callback in {PLACES[(i + 3) % 10]} "
                              "tomorrow morning", "other"))  # fmt: skip
    return [*call, ("agent", "Thanks so much for calling, goodbye, take care", "goodbye_1")]


def hotel_call(i: int) -> list[tuple]:
    return [("agent", "May I have your booking reference", "ask_reference"),
            ("agent", "Thank you for calling, goodbye and take care", "goodbye_1")]  # fmt: skip


def worded_tables():
    loyal = tables([worded_call(i) for i in range(30)])
    hotel = tables([hotel_call(i) for i in range(30)], sop_id="hotel_booking", prefix="h")
    return [pl.concat([a, b], how="diagonal_relaxed") for a, b in zip(loyal, hotel, strict=True)]


def found_by_step(found: pl.DataFrame) -> dict[str, dict]:
    return {
        r["step"]: r | {"details": json.loads(r["details"])} for r in found.iter_rows(named=True)
    }


def test_filled_in_templates_and_another_sops_closing_are_not_flagged_a_sub_flow_is():
    turns, events, conformance = worded_tables()
    found = find_exception_clusters(conformance, events, turns, [WORDED, HOTEL],
                                    embedder=WordsEmbedder(), not_steps=NOT_STEPS,
                                    config=CONFIG)  # fmt: skip
    rows = found_by_step(found.filter(pl.col("sop_id") == "loyalty_points"))
    balance = next(r for r in rows.values() if "balance" in r["details"]["exemplar"])
    assert (balance["flagged"], balance["severity"]) == (False, "info")
    assert balance["details"]["documented"]["step"] == "check_points"
    assert balance["details"]["documented"]["of_sop"] is True
    assert "documented step check_points" in balance["sentence"]
    closing = next(r for r in rows.values() if "goodbye" in r["details"]["exemplar"])
    assert (closing["flagged"], closing["details"]["documented"]["role"]) == (False, "closing")
    assert "conversation management" in closing["sentence"]
    callback = next(r for r in rows.values() if "callback" in r["details"]["exemplar"])
    assert (callback["flagged"], callback["details"]["documented"]) == (True, None)
    assert found.filter(pl.col("flagged"))["step"].to_list() == [callback["step"]]


def test_a_fixed_threshold_above_every_paraphrase_still_takes_template_fills():
    turns, events, conformance = worded_tables()
    found = find_exception_clusters(conformance, events, turns, [WORDED, HOTEL],
                                    embedder=WordsEmbedder(), not_steps=NOT_STEPS,
                                    config=CONFIG, threshold=0.999)  # fmt: skip
    rows = found_by_step(found.filter(pl.col("sop_id") == "loyalty_points"))
    balance = next(r for r in rows.values() if "balance" in r["details"]["exemplar"])
    assert balance["details"]["documented"]["step"] == "check_points"
    closing = next(r for r in rows.values() if "goodbye" in r["details"]["exemplar"])
    assert closing["flagged"] is True  # a paraphrase of the closing: not at this threshold


def outcome_rows(poor: set[int], n: int = 30) -> pl.DataFrame:
    return pl.DataFrame({
        "conversation_id": [f"c{i:02d}" for i in range(n)],
        "resolved": [i not in poor for i in range(n)],
        "escalated": [False] * n,
        "repeat_contact": [False] * n,
    })  # fmt: skip


def test_flagged_clusters_are_ranked_by_the_outcomes_they_cost():
    turns, events, conformance = loyalty()  # hand-added points in 0-19, a callback in 10-29
    found = find_exception_clusters(conformance, events, turns, [SOP], embedder=WordsEmbedder(),
                                    not_steps=NOT_STEPS, config=CONFIG,
                                    outcomes=outcome_rows(set(range(10))))  # fmt: skip
    assert found.select("step", "flagged", "severity").rows() == [
        ("x_add_hand", True, "high"),  # 10 of its 20 calls unresolved, none of the others
        ("x_book_callback", True, "low"),
    ]
    cost = json.loads(found["details"][0])["outcome_cost"]
    assert (cost["poor_share"], cost["poor_share_others"], cost["extra_poor"]) == (0.5, 0.0, 10.0)
    assert cost["unresolved_share"] == [0.5, 0.0]
    assert cost["p_value"] == pytest.approx(184756 / 30045015)  # C(20,10) / C(30,10)
    assert cost["q_value"] == pytest.approx(2 * 184756 / 30045015) and cost["costly"]
    assert "50% of these conversations end unresolved" in found["sentence"][0]


def test_a_costly_sub_flow_rare_in_the_sop_is_medium():
    turns, events, conformance = loyalty()
    config = DriftConfig(min_count=5, exception_medium_share=0.7, exception_high_share=0.8)
    found = find_exception_clusters(conformance, events, turns, [SOP], embedder=WordsEmbedder(),
                                    not_steps=NOT_STEPS, config=config,
                                    outcomes=outcome_rows(set(range(10))))  # fmt: skip
    assert found.select("step", "severity").rows() == [("x_add_hand", "medium"),
                                                       ("x_book_callback", "low")]  # fmt: skip


def finding(sop_id: str, exemplar: str, *, flagged: bool = True, kind="exception_cluster"):
    return {"kind": kind, "sop_id": sop_id, "step": f"x_{len(exemplar)}", "flagged": flagged,
            "details": json.dumps({"exemplar": exemplar})}  # fmt: skip


def test_the_counter_finds_flagged_exemplars_that_fill_a_documented_template():
    findings = pl.DataFrame([
        finding("loyalty_points", "Your points balance stands at 1,250 points after the May "
                                  "statement"),  # fills WORDED's template
        finding("loyalty_points", "thank you for calling,   goodbye and TAKE CARE"),  # HOTEL's
        finding("loyalty_points", "You have 1250 points after May"),  # a paraphrase: no fill
        finding("loyalty_points", "Let me book a callback for tomorrow"),
        finding("loyalty_points", "Your points balance stands at 3 points after the May "
                                  "statement", flagged=False),
        finding("loyalty_points", "May I have your booking reference", kind="undocumented"),
    ])  # fmt: skip
    counted = count_template_exemplars(findings, [WORDED, HOTEL])
    assert (counted["n_flagged_clusters"], counted["n_template_exemplars"]) == (4, 2)
    assert [(e["template_step"], e["own_sop"]) for e in counted["examples"]] == [
        ("loyalty_points/check_points", True), ("hotel_booking/goodbye_1", False),
    ]  # fmt: skip
    assert counted["examples"][0]["template"] == BALANCE
