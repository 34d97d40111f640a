"""Replies worded only (or mostly) by slots, recognised from the result before them.

A bag-of-words embedder stands in for the sentence model: a bare value ("Grand Hotel")
shares no word with a slot's name ("hotel name"), so only the result can tell the step.
"""

import json

import numpy as np
import polars as pl
import pytest
from fake_embedders import WordsEmbedder
from steps.extract_cases import conversation, frame, sop, steps_of

from pipeline.sops.model import Step
from pipeline.steps.extract import extract_steps
from pipeline.steps.library import step_library
from pipeline.steps.slot_values import (
    read_phrasings,
    read_result_values,
    result_values,
    slot_heavy_phrasings,
)
from pipeline.steps.units import agent_units

HOTEL = sop(
    "hotel",
    Step(id="ask_criteria", examples=("Which hotel are you looking for?",), next=("lookup",)),
    Step(id="lookup", description="Query", action="hotel.query", after=("ask_criteria",),
         next=("inform_name",)),
    Step(id="inform_name", examples=("{hotel_name:s}",), next=("inform_rating",)),
    Step(id="inform_rating", examples=("{average_rating:d}",), next=("inform_price",)),
    Step(id="inform_price", examples=("{price:d}",), next=("ask_more",)),
    Step(id="ask_more", examples=("Would you like to search for any more hotels?",)),
)  # fmt: skip

GRAND = {"item": {"Name": "Grand Hotel", "Location": "North", "AverageRating": 4, "Price": 120},
         "total_items": 3}  # fmt: skip


def call(cid: str, *turns: tuple[str, object]) -> tuple[list[dict], list[dict]]:
    """Turn rows and result rows; ``("result", args)`` is a system result carrying args."""
    rows = conversation(cid, *[("system", "hotel.result") if who == "result" else (who, value)
                               for who, value in turns])  # fmt: skip
    results = [{"conversation_id": cid, "turn_idx": i, "args": json.dumps(value)}
               for i, (who, value) in enumerate(turns) if who == "result"]  # fmt: skip
    return rows, results


def extract(*calls: tuple[list[dict], list[dict]], sops=(HOTEL,), with_results: bool = True):
    turns = frame(*[rows for rows, _ in calls])
    found = [r for _, results in calls for r in results]
    results = pl.DataFrame(found) if with_results and found else None
    events, _ = extract_steps(turns, list(sops), embedder=WordsEmbedder(), threshold=0.5,
                              results=results)  # fmt: skip
    return events


def searched(cid: str, *said: str, result=GRAND) -> tuple[list[dict], list[dict]]:
    return call(
        cid,
        ("agent", "Which hotel are you looking for?"),
        ("customer", "Something in the north please"),
        ("action", "hotel.query"),
        ("result", result),
        *[("agent", text) for text in said],
        ("agent", "Would you like to search for any more hotels?"),
    )


def test_a_bare_value_of_the_preceding_result_is_the_slot_only_step():
    events = extract(searched("c1", "grand   HOTEL"))
    assert steps_of(events, "c1") == [
        "ask_criteria", "lookup", "hotel.result", "inform_name", "ask_more",
    ]  # fmt: skip
    said = events.filter(pl.col("step_id") == "inform_name")
    assert said["confidence"].to_list() == [1.0]  # scored as a template fill


def test_the_same_value_without_a_result_before_it_is_not_the_step():
    no_result = extract(searched("c1", "Grand Hotel"), with_results=False)
    assert "inform_name" not in steps_of(no_result, "c1")
    after = call(
        "c2",
        ("agent", "Which hotel are you looking for?"),
        ("agent", "Grand Hotel"),  # said before the result that carries it
        ("action", "hotel.query"),
        ("result", GRAND),
    )
    assert "inform_name" not in steps_of(extract(after), "c2")


@pytest.mark.parametrize(
    "said",
    ["Grand Hotel, the best", "Riverside Inn", "4 stars and 120 dollars"],
)
def test_a_turn_with_words_the_result_does_not_hold_is_not_read(said):
    events = extract(searched("c1", said))
    assert not {"inform_name", "inform_rating", "inform_price"} & set(steps_of(events, "c1"))


def test_the_slot_named_like_the_values_field_wins():
    events = extract(searched("c1", "120", "4"))  # Price and AverageRating, in either order
    assert steps_of(events, "c1")[3:5] == ["inform_price", "inform_rating"]


def test_a_value_under_two_fields_is_settled_by_the_sop_graph():
    both = {"item": {"Name": "Grand Hotel", "AverageRating": 4, "Price": 4}}
    events = extract(searched("c1", "Grand Hotel", "4", "4", result=both))
    # rating and price tie by name; the graph expects rating after the name, price next
    assert steps_of(events, "c1")[3:6] == ["inform_name", "inform_rating", "inform_price"]


def test_a_placeholder_matches_the_same_placeholder_in_the_result():
    redacted = {"item": {"Name": "Grand Hotel", "Price": "<ID>"}}
    assert steps_of(extract(searched("c1", "<ID>", result=redacted)), "c1")[3] == "inform_price"
    assert steps_of(extract(searched("c2", "<PHONE>", result=redacted)), "c2")[3] == "other"


SERVICE = sop(
    "service",
    Step(id="ask_room", examples=("What is your room number?",), next=("book",)),
    Step(id="book", description="Query", action="service.query", next=("confirm",)),
    Step(id="confirm", examples=("{room_number:d} {time:s} confirmed",), next=("bye",)),
    Step(id="bye", examples=("Thank you for staying with us.",)),
)  # fmt: skip


@pytest.mark.parametrize(
    ("said", "step"),
    [
        ("CONFIRMED: 9 am, 42.", "confirm"),  # the literal word and both values, reordered
        ("42, 9 am", "confirm"),  # the values alone
        ("9 am", "confirm"),  # one value of two slots
        ("42 at 9 am", "other"),  # a word neither the template nor the result has
        ("42, 9 am, booked", "other"),  # three values for two slots
    ],
)
def test_a_slot_heavy_template_with_one_literal_word(said, step):
    booked = call(
        "c1",
        ("agent", "What is your room number?"),
        ("customer", "forty two"),
        ("action", "service.query"),
        ("result", {"item": {"RoomNumber": 42, "Time": "9 am", "Status": "booked"}}),
        ("agent", said),
        ("agent", "Thank you for staying with us."),
    )
    assert steps_of(extract(booked, sops=[SERVICE]), "c1")[3] == step


@pytest.mark.parametrize(
    ("examples", "heavy"),
    [
        (("{name:s}",), True),
        (("{hotel_name:s}, {hotel_location:s}",), True),
        (("Room {room:d}",), True),  # one literal word, one slot
        (("Your room {room:d}",), False),  # two literal words: its pattern recognises it
        (("{name:s}", "The hotel is called {name:s}"), False),  # one wordier phrasing
        (("Goodbye!",), False),
    ],
)
def test_mostly_slots_means_no_more_literal_words_than_slots(examples, heavy):
    library = step_library([sop("s", Step(id="reply", examples=examples))], roles={})
    assert bool(slot_heavy_phrasings(library)) is heavy


def test_result_values_are_the_json_leaves_with_their_keys():
    args = json.dumps({"item": {"Name": "The  Grand\tHotel", "Rating": 4.0, "Open": True,
                                "Tags": ["quiet", 7], "Note": None}, "total_items": 3})  # fmt: skip
    assert result_values(args) == {
        "the grand hotel": frozenset({"Name"}),
        "4": frozenset({"Rating"}),
        "quiet": frozenset({"Tags"}),
        "7": frozenset({"Tags"}),
        "3": frozenset({"total_items"}),
    }
    assert result_values("not json") == {}


def test_read_phrasings_prefers_a_name_in_common_to_none():
    library = step_library([HOTEL], roles={})
    heavy = slot_heavy_phrasings(library)
    values = {"grand hotel": frozenset({"HotelName"}), "9": frozenset({"Floor"})}
    winners = read_phrasings("Grand Hotel", values, heavy)
    assert [library.type_ids[library.proto_type[p]] for p in winners] == ["inform_name"]
    assert read_phrasings("Grand Hotel 9", values, heavy) == ()  # two values, one slot each


def test_read_result_values_adds_one_row_per_text_and_winners_and_keeps_its_inputs():
    rows_a, results_a = searched("c1", "Grand Hotel")
    rows_b, results_b = searched("c2", "Grand Hotel")
    units = agent_units(frame(rows_a, rows_b))
    library = step_library([HOTEL], roles={})
    texts = units["text"].drop_nulls().unique(maintain_order=True).to_list()
    rows = np.array([texts.index(t) if t else -1 for t in units["text"].fill_null("")])
    phrase_scores = np.zeros((len(texts), len(library.proto_texts)))
    before = rows.copy(), phrase_scores.copy()
    results = pl.DataFrame(results_a + results_b)
    new_rows, origin, scores = read_result_values(units, rows, phrase_scores, library, results)
    read = np.flatnonzero(new_rows != rows)
    assert units["text"].gather(read).to_list() == ["Grand Hotel", "Grand Hotel"]
    assert new_rows[read].tolist() == [len(texts)] * 2  # one shared extra row
    assert origin.tolist() == [*range(len(texts)), texts.index("Grand Hotel")]
    assert scores[len(texts)].max() == 1.0 and scores.shape[0] == len(texts) + 1
    np.testing.assert_array_equal(rows, before[0])
    np.testing.assert_array_equal(phrase_scores, before[1])


RATED = sop("rated", Step(id="inform", examples=("{hotel_name:s}, {average_rating:d}",)))


@pytest.mark.parametrize(
    ("said", "result", "read"),
    [
        ("Grand Hotel, 4", {"Name": "<NAME>", "AverageRating": 4}, True),  # name hidden
        ("Grand Hotel", {"Name": "<NAME>", "AverageRating": 4}, False),  # hidden alone
        ("sure thing, 4", {"Name": "<NAME>", "AverageRating": 4}, False),  # not name-like
        ("Grand Hotel, 4", {"Name": "Riverside Inn", "AverageRating": 4}, False),  # shown
        ("<ID>", {"Balance": "<REDACTED>"}, True),  # a placeholder under an opaque mark
        ("<ID>", {"Balance": "1,250"}, False),
    ],
)
def test_a_value_the_result_hides_is_read_only_beside_one_it_shows(said, result, read):
    library = step_library([RATED], roles={})
    heavy = slot_heavy_phrasings(library)
    assert bool(read_phrasings(said, result_values(json.dumps({"item": result})), heavy)) is read
