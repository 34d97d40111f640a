"""Intent ids across refits and the lineage events."""

import numpy as np
import polars as pl

from pipeline.intents.lineage import intent_lineage, match_intent_ids
from pipeline.intents.model import IntentModel


def test_match_keeps_ids_of_close_centroids_and_numbers_new_ones_after_the_highest():
    eye = np.eye(4, dtype=np.float32)
    previous = IntentModel(3, ["i001", "i002", "i007"], eye[:3], None, None, {"max_id": 9}, None)
    new = np.stack([eye[2], eye[0], eye[3]])  # i007 and i001 again, one unseen
    ids, similarity = match_intent_ids(previous, new, threshold=0.7)
    assert ids == ["i007", "i001", "i010"]
    assert similarity == {"i007": 1.0, "i001": 1.0}
    fresh, _ = match_intent_ids(None, new, threshold=0.7)
    assert fresh == ["i001", "i002", "i003"]


def test_lineage_names_kept_new_split_merged_and_retired_intents():
    previous = pl.DataFrame(
        {
            "conversation_id": [f"c{i}" for i in range(12)],
            "intent_id": ["A"] * 4 + ["B"] * 4 + ["C"] * 2 + ["D"] * 2,
        }
    )
    current = pl.DataFrame(
        {
            "conversation_id": [f"c{i}" for i in range(12)] + ["n1", "n2"],
            # A kept; B split: half stays B, half to new E; C merged into A; D retired
            # (its conversations unassigned); F is new data only
            "intent_id": ["A"] * 4 + ["B", "B", "E", "E"] + ["A", "A"] + [None, None] + ["F", "F"],
        }
    )
    lineage = intent_lineage(
        previous,
        current,
        old_ids=["A", "B", "C", "D"],
        similarity={"A": 0.95, "B": 0.9},
        share=0.2,
    )
    events = {(r["event"], r["intent_id"], r["related_intent_id"]) for r in lineage.to_dicts()}
    assert events == {
        ("kept", "A", "A"),
        ("kept", "B", "B"),
        ("split", "E", "B"),
        ("merged", "A", "C"),
        ("new", "F", None),
        ("retired", "C", None),
        ("retired", "D", None),
    }


def test_match_intent_ids_does_not_modify_its_inputs():
    eye = np.eye(4, dtype=np.float32)
    previous = IntentModel(3, ["i001", "i002"], eye[:2].copy(), None, None, {"max_id": 2}, None)
    new = np.stack([eye[1], eye[3]])
    before_new, before_old = new.copy(), previous.centroids.copy()
    match_intent_ids(previous, new, threshold=0.7)
    np.testing.assert_array_equal(new, before_new)
    np.testing.assert_array_equal(previous.centroids, before_old)
    assert previous.intent_ids == ["i001", "i002"] and previous.params == {"max_id": 2}
