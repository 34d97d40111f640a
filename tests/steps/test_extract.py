"""Step extraction: the SOP library, scores, SOP choice, decoding, discovery, contracts.

A bag-of-words embedder stands in for the sentence model: cosine tracks shared words,
which is what these tests need (benchmarks/eval_steps.py runs the real model).
"""

import hashlib
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipeline.errors import SchemaError
from pipeline.sops.model import Sop, Step
from pipeline.steps.clusters import cluster_turns
from pipeline.steps.extract import (
    SOURCES,
    STEP_EVENTS_SCHEMA,
    STEP_TYPES_SCHEMA,
    agent_units,
    extract_steps,
)
from pipeline.steps.library import step_library, template_pattern
from pipeline.steps.scores import calibrate_threshold, otsu_threshold

DIM = 256


class WordsEmbedder:
    """A text's vector is the normalised sum of random vectors of its words."""

    model_id = "words-test"
    dim = DIM

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        rows = []
        for text in texts:
            words = re.findall(r"[a-z]+", text.lower()) or ["<none>"]
            row = sum(_word(w) for w in words)
            rows.append(row / np.linalg.norm(row))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), DIM)


def _word(word: str) -> np.ndarray:
    seed = int(hashlib.sha256(word.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).normal(size=DIM)


def sop(sop_id: str, *steps: Step) -> Sop:
    return Sop(sop_id=sop_id, version=1, intent=(sop_id,), steps=steps)


BALANCE = sop(
    "balance",
    Step(id="ask_account", examples=("Can you tell me your account number?",),
         next=("lookup",)),
    Step(id="lookup", description="Query", action="bank.lookup", after=("ask_account",),
         next=("found",)),
    Step(id="found", description="Found", when="the lookup succeeded", next=("inform_balance",)),
    Step(id="inform_balance", examples=("Your balance is {balance:d} dollars.",)),
)  # fmt: skip
FRAUD = sop(
    "fraud",
    Step(id="ask_account", examples=("Can you tell me your account number?",)),
    Step(id="ask_fraud_details", examples=("Please describe the suspicious transaction.",)),
    Step(id="file_report", examples=("Your fraud report has been filed.",),
         action="bank.report"),
)  # fmt: skip
START = datetime(2026, 1, 1, tzinfo=UTC)


def conversation(cid: str, *turns: tuple[str, str], intent: str | None = None) -> list[dict]:
    """Turn rows: ``("agent", text)``, ``("customer", text)`` or ``("action", name)``."""
    rows = []
    for i, (who, value) in enumerate(turns):
        action = who in ("action", "system")
        rows.append({
            "conversation_id": cid,
            "turn_idx": i,
            "speaker": "system" if who == "system" else ("agent" if action else who),
            "event_type": "action" if action else "utterance",
            "text": None if action else value,
            "action_name": value if action else None,
            "ts": START + timedelta(seconds=10 * i),
            **({"intent_id": intent} if intent is not None else {}),
        })  # fmt: skip
    return rows


def frame(*conversations: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([row for c in conversations for row in c])


def steps_of(events: pl.DataFrame, cid: str) -> list[str]:
    return events.filter(pl.col("conversation_id") == cid).sort("seq")["step_id"].to_list()


BALANCE_CALL = conversation(
    "c1",
    ("customer", "I want to know my balance"),
    ("agent", "Can you tell me your account number?"),
    ("customer", "It is 12345"),
    ("action", "bank.lookup"),
    ("system", "bank.result"),
    ("agent", "Your balance is 1,250 dollars."),
    ("agent", "What a lovely sunny morning in Lisbon"),
    ("agent", "Thank you and goodbye."),
)


# ---- the library -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "text", "matches"),
    [
        ("Your balance is {balance:d} in credit.", "Your balance is 1,910 in credit.", True),
        ("Your balance is {balance:d} in credit.", "your  balance is 5068 IN credit.", True),
        ("Your balance is {balance:d} in credit.", "Your balance is <CARD> in credit.", True),
        ("Your balance is {balance:d} in credit.", "Your balance is high in credit.", False),
        ("Alright, the {hotel:s} ticks all boxes.", "Alright, the Old Town Inn ticks all boxes.",
         True),
        ("Alright, the {hotel:s} ticks all boxes.", "Alright, the Inn ticks all boxes. Book?",
         False),
    ],
)  # fmt: skip
def test_a_template_matches_its_slot_filled_replies(template, text, matches):
    assert bool(template_pattern(template).fullmatch(text)) is matches


def test_a_phrasing_without_slots_is_no_template():
    assert template_pattern("Hello, how can I help?") is None


def test_library_shares_ids_binds_actions_and_looks_through_outcomes():
    library = step_library([BALANCE, FRAUD])
    ids = list(library.type_ids)
    assert ids == ["ask_account", "lookup", "found", "inform_balance", "ask_fraud_details",
                   "file_report", "greeting", "closing", "hold"]  # fmt: skip
    assert library.generic == (False,) * 6 + (True, True, True)
    # "Query" is a button label in a SOP that words its steps: matched by binding only
    assert ids.index("lookup") not in library.proto_type
    assert ids.index("found") not in library.proto_type
    assert library.bindings["balance"] == {"bank.lookup": (ids.index("lookup"),)}
    expected = library.expected["balance"]
    assert expected[ids.index("ask_account")] == {ids.index("lookup")}
    assert expected[ids.index("lookup")] == {ids.index("inform_balance")}  # through "found"
    assert library.starts["balance"] == ids.index("ask_account")
    assert library.sop_steps[0] == ("balance/ask_account", "fraud/ask_account")
    template = library.proto_texts[list(library.proto_type).index(ids.index("inform_balance"))]
    assert template == "Your balance is balance dollars."


def test_otsu_threshold_splits_between_the_two_groups():
    assert otsu_threshold(np.array([0.1, 0.2, 0.15, 0.8, 0.9, 0.85])) == pytest.approx(0.5)
    assert otsu_threshold(np.array([0.4])) == 0.4
    assert otsu_threshold(np.array([])) == 1.0


def test_threshold_is_calibrated_on_scores_that_fill_no_template():
    library = step_library([BALANCE])
    n_types = len(library.type_ids)
    best = np.array([1.0, 1.0, 1.0, 0.9, 0.8, 0.3, 0.2])  # three template fills left out
    scores = np.full((len(best), n_types), -1.0)
    scores[:, 0] = best
    assert calibrate_threshold(scores, library) == pytest.approx(0.55)


# ---- guided extraction -------------------------------------------------------------------
def test_turns_and_actions_become_steps_templates_bindings_and_other():
    events, types = extract_steps(frame(BALANCE_CALL), [BALANCE], embedder=WordsEmbedder(),
                                  threshold=0.5)  # fmt: skip
    assert events["turn_idx"].to_list() == [1, 3, 4, 5, 6, 7]  # agent turns and actions
    assert steps_of(events, "c1") == [
        "ask_account", "lookup", "bank.result", "inform_balance", "other", "closing",
    ]  # fmt: skip
    assert events["source"].to_list() == ["sop", "sop", "action", "sop", "other", "sop"]
    confidence = dict(zip(events["step_id"], events["confidence"], strict=True))
    assert confidence["inform_balance"] == 1.0  # the template is filled
    assert confidence["lookup"] == 1.0
    assert confidence["other"] is None
    assert events["sop_id"].unique().to_list() == ["balance"]
    row = types.filter(pl.col("step_id") == "inform_balance").row(0, named=True)
    assert row["sop_id"] == "balance"
    assert row["exemplar"] == "Your balance is 1,250 dollars."
    assert row["sop_steps"] == ["balance/inform_balance"]


def test_an_off_script_turn_is_not_forced_onto_a_step():
    call = conversation(
        "c1",
        ("agent", "Can you tell me your account number?"),
        ("agent", "Tell me about your weekend plans"),  # shares words, not the step
        ("action", "bank.lookup"),
    )
    events, _ = extract_steps(frame(call), [BALANCE], embedder=WordsEmbedder(), threshold=0.6)
    assert steps_of(events, "c1") == ["ask_account", "other", "lookup"]


def test_repeats_of_a_step_are_flagged():
    call = conversation(
        "c1",
        ("agent", "Can you tell me your account number?"),
        ("customer", "sorry?"),
        ("agent", "Can you tell me your account number?"),
        ("action", "bank.lookup"),
    )
    events, _ = extract_steps(frame(call), [BALANCE], embedder=WordsEmbedder(), threshold=0.6)
    assert events["is_repeat"].to_list() == [False, True, False]


def test_greetings_and_closings_get_generic_types_when_no_sop_has_them():
    call = conversation(
        "c1",
        ("agent", "Hello, how can I help you?"),
        ("agent", "Can you tell me your account number?"),
        ("agent", "Thank you for contacting us, goodbye."),
    )
    events, types = extract_steps(frame(call), [BALANCE], embedder=WordsEmbedder(),
                                  threshold=0.6)  # fmt: skip
    assert steps_of(events, "c1") == ["greeting", "ask_account", "closing"]
    row = types.filter(pl.col("step_id") == "closing").row(0, named=True)
    assert (row["source"], row["sop_id"], row["sop_steps"]) == ("sop", None, [])


def test_a_hold_is_a_role_step_that_keeps_the_context():
    call = conversation(
        "c1",
        ("agent", "Can you tell me your account number?"),
        ("agent", "Please hold while I look into it."),
        ("action", "bank.lookup"),
        ("agent", "Your balance is 12 dollars."),
    )
    events, types = extract_steps(frame(call), [BALANCE], embedder=WordsEmbedder(),
                                  threshold=0.6)  # fmt: skip
    assert steps_of(events, "c1") == ["ask_account", "hold", "lookup", "inform_balance"]
    row = types.filter(pl.col("step_id") == "hold").row(0, named=True)
    assert (row["source"], row["sop_id"], row["sop_steps"]) == ("sop", None, [])


def test_steps_said_in_either_order_of_a_partial_order_sop():
    card = sop(
        "card",
        Step(id="verify", examples=("Can I have your full name please?",)),
        Step(id="security", examples=("What is your date of birth?",), after=("verify",)),
        Step(id="block", examples=("I have blocked your card.",), after=("verify",)),
    )
    calls = frame(
        conversation("c1", ("agent", "Can I have your full name please?"),
                     ("agent", "What is your date of birth?"),
                     ("agent", "I have blocked your card.")),
        conversation("c2", ("agent", "Can I have your full name please?"),
                     ("agent", "I have blocked your card."),
                     ("agent", "What is your date of birth?")),
    )  # fmt: skip
    events, _ = extract_steps(calls, [card], embedder=WordsEmbedder(), threshold=0.6)
    assert steps_of(events, "c1") == ["verify", "security", "block"]
    assert steps_of(events, "c2") == ["verify", "block", "security"]


def test_a_closing_repeated_under_several_ids_is_one_shared_step():
    bye = Step(id="bank_bye", examples=("Thank you and goodbye.",))
    balance = sop("balance", *BALANCE.steps, bye)
    hotel = sop("hotel", Step(id="ask_hotel", examples=("Which hotel are you staying at?",)),
                Step(id="goodbye_1", examples=("Thank you and goodbye.",)))  # fmt: skip
    party = sop("party", Step(id="ask_venue", examples=("Which venue do you want?",)),
                Step(id="goodbye_1", examples=("Thank you and goodbye.",)))  # fmt: skip
    calls = frame(
        conversation("c1", ("agent", "Can you tell me your account number?"),
                     ("agent", "Thank you and goodbye.")),
        conversation("c2", ("agent", "Which hotel are you staying at?"),
                     ("agent", "Thank you and goodbye.")),
    )  # fmt: skip
    events, types = extract_steps(calls, [balance, hotel, party], embedder=WordsEmbedder(),
                                  threshold=0.6)  # fmt: skip
    assert steps_of(events, "c1") == ["ask_account", "goodbye_1"]
    assert steps_of(events, "c2") == ["ask_hotel", "goodbye_1"]
    row = types.filter(pl.col("step_id") == "goodbye_1").row(0, named=True)
    assert sorted(row["sop_steps"]) == ["balance/bank_bye", "hotel/goodbye_1", "party/goodbye_1"]


def test_each_conversation_takes_the_sop_that_explains_it_or_none():
    calls = frame(
        BALANCE_CALL,
        conversation("c2", ("agent", "Can you tell me your account number?"),
                     ("agent", "Please describe the suspicious transaction."),
                     ("action", "bank.report")),
        conversation("c3", ("agent", "Our new loyalty scheme gives double points"),
                     ("agent", "Points arrive within three working days")),
    )  # fmt: skip
    events, _ = extract_steps(calls, [BALANCE, FRAUD], embedder=WordsEmbedder(), threshold=0.6)
    chosen = dict(events.group_by("conversation_id").agg(pl.col("sop_id").first()).iter_rows())
    assert chosen == {"c1": "balance", "c2": "fraud", "c3": None}
    assert steps_of(events, "c2") == ["ask_account", "ask_fraud_details", "file_report"]
    assert set(steps_of(events, "c3")) == {"other"}  # too few to cluster


def test_an_intents_majority_sop_settles_conversations_that_fit_several():
    fraud_call = [("agent", "Can you tell me your account number?"),
                  ("agent", "Please describe the suspicious transaction.")]  # fmt: skip
    balance_call = [("agent", "Can you tell me your account number?"),
                    ("agent", "Your balance is 10 dollars.")]  # fmt: skip
    ambiguous = [("agent", "Can you tell me your account number?")]
    calls = [conversation(f"f{i}", *fraud_call, intent="i1") for i in range(3)]
    calls += [conversation(f"b{i}", *balance_call, intent="i2") for i in range(5)]
    calls.append(conversation("x", *ambiguous, intent="i1"))
    without, _ = extract_steps(frame(*calls).drop("intent_id"), [BALANCE, FRAUD],
                               embedder=WordsEmbedder(), threshold=0.6)  # fmt: skip
    with_prior, _ = extract_steps(frame(*calls), [BALANCE, FRAUD], embedder=WordsEmbedder(),
                                  threshold=0.6)  # fmt: skip

    def sop_of(events):
        return events.filter(pl.col("conversation_id") == "x")["sop_id"].item()

    assert sop_of(without) == "balance"  # a tie: the SOP more conversations took
    assert sop_of(with_prior) == "fraud"


def _requests(axis_of: dict[str, int], seed: int = 0):
    """Request vectors near one axis per conversation, as ``request_vectors`` returns them."""
    rng = np.random.default_rng(seed)
    rows = np.eye(DIM)[list(axis_of.values())] + rng.normal(scale=0.05, size=(len(axis_of), DIM))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return pl.DataFrame({"conversation_id": list(axis_of)}), rows.astype(np.float32)


def test_customers_who_ask_alike_settle_what_the_agents_steps_leave_open():
    ask = ("agent", "Can you tell me your account number?")
    fraud = ("agent", "Please describe the suspicious transaction.")
    balance = ("agent", "Your balance is 10 dollars.")
    chat = [("agent", "Our loyalty scheme gives double points"),
            ("agent", "Points arrive within three working days")]  # fmt: skip
    calls = [conversation(f"f{i}", ask, fraud) for i in range(8)]
    calls += [conversation(f"b{i}", ask, balance) for i in range(9)]  # the commoner SOP
    calls += [conversation(f"p{i}", *chat) for i in range(8)]  # no SOP fits these
    calls += [
        conversation("tie", ask),  # both SOPs explain it alike
        conversation("lead1", ask, balance),  # balance explains one unit more
        conversation("lead2", ask, balance, ("agent", "Your balance is 12 dollars.")),
        conversation("part", ask, *chat),  # a SOP explains a third of it
    ]
    axis = {f"f{i}": 0 for i in range(8)} | {f"b{i}": 1 for i in range(9)}
    axis |= {f"p{i}": 2 for i in range(8)} | {"tie": 0, "lead1": 0, "lead2": 0, "part": 2}

    def chosen(requests):
        events, _ = extract_steps(frame(*calls), [BALANCE, FRAUD], embedder=WordsEmbedder(),
                                  threshold=0.6, requests=requests, neighbours=5)  # fmt: skip
        first = events.group_by("conversation_id").agg(pl.col("sop_id").first())
        return dict(first.iter_rows())

    without, with_requests = chosen(None), chosen(_requests(axis))
    assert [without[c] for c in ("lead1", "lead2", "part")] == ["balance", "balance", None]
    # the request is one more unit of evidence: it settles a tie and outweighs a one-unit
    # lead, not two; peers that no SOP fits vote for none, so "part" stays unguided
    assert [with_requests[c] for c in ("tie", "lead1", "lead2", "part")] == [
        "fraud", "fraud", "balance", None,
    ]  # fmt: skip
    assert chosen(_requests(axis | {"tie": 1}))["tie"] == "balance"
    assert {with_requests[f"f{i}"] for i in range(8)} == {"fraud"}
    assert {with_requests[f"b{i}"] for i in range(9)} == {"balance"}


def test_sequence_context_tells_apart_two_steps_bound_to_one_action():
    booking = sop(
        "booking",
        Step(id="ask_details", examples=("When would you like to come?",), next=("check",)),
        Step(id="check", description="Query check", action="api.query", next=("offer",)),
        Step(id="offer", examples=("A table is free, shall I book it?",), next=("book",)),
        Step(id="book", description="Query book", action="api.query", next=("done",)),
        Step(id="done", examples=("Your table is booked.",)),
    )
    call = conversation(
        "c1",
        ("agent", "When would you like to come?"),
        ("action", "api.query"),
        ("agent", "A table is free, shall I book it?"),
        ("action", "api.query"),
        ("agent", "Your table is booked."),
    )
    events, _ = extract_steps(frame(call), [booking], embedder=WordsEmbedder(), threshold=0.6)
    assert steps_of(events, "c1") == ["ask_details", "check", "offer", "book", "done"]


# ---- discovered and unguided step types ----------------------------------------------------
NAMES = ["alice", "bruno", "chen", "dara", "emil", "farah", "goran", "hana", "ivan", "jonas"]
PLACES = ["paris", "rome", "oslo", "lima", "kyoto", "cairo", "quito", "riga", "bern", "doha"]


def _family_calls(n: int, families) -> list[list[dict]]:
    """``n`` conversations; each family gives one turn: ``(who, value)`` of the call number."""
    return [conversation(f"c{i:02d}", *[f(i) for f in families]) for i in range(n)]


def test_unguided_turns_cluster_into_labelled_step_types():
    families = [
        lambda i: ("agent", f"May I have your full name please {NAMES[i % 10]}"),
        lambda i: ("agent", f"Your taxi to {PLACES[i % 10]} arrives in {i % 7 + 2} minutes"),
        lambda i: ("agent", f"Please rate our driver {NAMES[(i + 3) % 10]} from one to five"),
    ]
    calls = frame(*_family_calls(30, families))
    events, types = extract_steps(calls, [], embedder=WordsEmbedder())
    by_turn = events.pivot(on="turn_idx", index="conversation_id", values="step_id")
    ids = [by_turn[str(t)].unique().to_list() for t in range(3)]
    assert all(len(i) == 1 for i in ids) and len({i[0] for i in ids}) == 3
    assert events["sop_id"].null_count() == events.height
    assert set(events["source"]) == {"discovered"}
    found = types.filter(pl.col("step_id") == ids[1][0]).row(0, named=True)
    assert found["source"] == "discovered" and found["n_events"] == 30
    assert "taxi" in found["label"] or "minutes" in found["label"]
    assert found["exemplar"].startswith("Your taxi to")


#: One turn each of a balance call on script: asking, looking up, telling the balance.
ON_SCRIPT = [
    lambda i: ("agent", "Can you tell me your account number?"),
    lambda i: ("action", "bank.lookup"),
    lambda i: ("agent", f"Your balance is {100 + i} dollars."),
]


def test_recurring_off_script_turns_of_a_sop_become_discovered_steps():
    families = [
        *ON_SCRIPT,
        lambda i: ("agent", f"I will transfer you to the fraud desk in {PLACES[i % 10]} now"),
        lambda i: ("agent", f"Our branch in {PLACES[(i + 4) % 10]} opens at nine on weekdays"),
        lambda i: ("agent", "Thank you and goodbye."),
    ]
    calls = frame(*_family_calls(30, families))
    events, types = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.6)
    by_turn = events.pivot(on="turn_idx", index="conversation_id", values="step_id")
    assert [by_turn[str(t)].unique().item() for t in range(3)] == [
        "ask_account", "lookup", "inform_balance",
    ]  # fmt: skip
    discovered = {by_turn["3"].unique().item(), by_turn["4"].unique().item()}
    assert discovered == {"d_balance_0", "d_balance_1"}
    assert by_turn["5"].unique().item() == "closing"
    assert set(types.filter(pl.col("source") == "discovered")["sop_id"]) == {"balance"}
    none, _ = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.6,
                            discover=False)  # fmt: skip
    assert set(none.filter(pl.col("turn_idx").is_in([3, 4]))["step_id"]) == {"other"}


def test_recurring_off_script_talk_that_ends_the_calls_is_their_closing():
    # "cheerio ..." shares no word with the generic closings, so it scores as off-script;
    # being the last agent utterance of the calls makes its cluster the closing role
    families = [
        *ON_SCRIPT,
        lambda i: ("agent", f"Cheerio now, mind how you go {NAMES[i % 2]}"),
    ]
    calls = frame(*_family_calls(30, families))
    events, types = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.6)
    last = events.filter(pl.col("turn_idx") == 3)
    assert set(last["step_id"]) == {"closing"} and set(last["source"]) == {"sop"}
    assert not types.filter(pl.col("source") == "discovered").height


def test_cluster_turns_needs_enough_turns():
    vectors = WordsEmbedder().encode(["hello there"] * 5)
    found = cluster_turns([str(i) for i in range(5)], ["hello there"] * 5, vectors,
                          ["c"] * 5)  # fmt: skip
    assert found.labels.tolist() == [-1] * 5 and found.descriptions == []


# ---- contracts -------------------------------------------------------------------------
def test_the_frames_keep_their_contract():
    calls = frame(BALANCE_CALL, conversation("c2", ("customer", "hi"), ("agent", "Hello")))
    events, types = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.5)
    assert events.schema == STEP_EVENTS_SCHEMA
    assert types.schema == STEP_TYPES_SCHEMA
    agent_or_action = calls.filter(
        (pl.col("speaker") == "agent") | (pl.col("event_type") == "action")
    )
    assert events.height == agent_or_action.height
    assert not events.select("conversation_id", "seq").is_duplicated().any()
    assert events["step_id"].null_count() == 0
    assert set(events["source"]) <= set(SOURCES)
    assert set(types["step_id"]) == set(events["step_id"])
    counts = dict(events.group_by("step_id").len().iter_rows())
    assert dict(types.select("step_id", "n_events").iter_rows()) == counts


def test_no_agent_turns_give_empty_frames():
    calls = frame(conversation("c1", ("customer", "hello?")))
    events, types = extract_steps(calls, [BALANCE], embedder=WordsEmbedder())
    assert events.is_empty() and events.schema == STEP_EVENTS_SCHEMA
    assert types.is_empty() and types.schema == STEP_TYPES_SCHEMA


def test_extraction_does_not_modify_its_input():
    calls = frame(BALANCE_CALL)
    before = calls.clone()
    sops = [BALANCE, FRAUD]
    extract_steps(calls, sops, embedder=WordsEmbedder(), threshold=0.5)
    assert calls.equals(before)
    assert sops == [BALANCE, FRAUD]


def test_each_distinct_text_is_encoded_in_one_call():
    embedder = WordsEmbedder()
    calls = frame(BALANCE_CALL, conversation("c2", *[("agent", "Thank you and goodbye.")] * 3))
    extract_steps(calls, [BALANCE], embedder=embedder, threshold=0.5)
    assert embedder.calls == 1


def test_units_are_agent_turns_and_actions_in_order():
    units = agent_units(frame(BALANCE_CALL).reverse())
    assert units["turn_idx"].to_list() == [1, 3, 4, 5, 6, 7]
    assert units["seq"].to_list() == list(range(6))
    assert units["text"].to_list()[:2] == ["Can you tell me your account number?", None]


def test_a_turns_frame_without_a_column_is_a_schema_error():
    with pytest.raises(SchemaError, match="action_name"):
        extract_steps(frame(BALANCE_CALL).drop("action_name"), [], embedder=WordsEmbedder())


@pytest.mark.parametrize(
    "option", [{"min_explained": 1.5}, {"threshold": -0.1}, {"edge_role_share": 1.5}]
)
def test_settings_out_of_range_are_rejected(option):
    with pytest.raises(ValueError, match=next(iter(option))):
        extract_steps(frame(BALANCE_CALL), [], embedder=WordsEmbedder(), **option)


# ---- settings (steps in config.yaml) ------------------------------------------------------
#: A centre's own conversation management, worded like none of the built-in phrasings.
HARBOUR_ROLES = {
    "greeting": ("Ahoy, welcome aboard the harbour desk!",),
    "closing": ("Fair winds and calm seas to you, sailor.",),
    "hold": ("Drop anchor a moment while I check the log.",),
}
HARBOUR_CALL = conversation(
    "c1",
    ("agent", "Ahoy there, welcome to the harbour desk"),
    ("agent", "Can you tell me your account number?"),
    ("agent", "Drop anchor one moment, I check the log"),
    ("action", "bank.lookup"),
    ("agent", "Your balance is 10 dollars."),
    ("agent", "Fair winds to you, sailor"),
)


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ({}, ["other", "ask_account", "other", "lookup", "inform_balance", "other"]),
        (HARBOUR_ROLES, ["greeting", "ask_account", "hold", "lookup", "inform_balance", "closing"]),
    ],
)
def test_configured_role_phrasings_decide_conversation_management(roles, expected):
    events, _ = extract_steps(frame(HARBOUR_CALL), [BALANCE], embedder=WordsEmbedder(),
                              threshold=0.6, **({"roles": roles} if roles else {}))  # fmt: skip
    assert steps_of(events, "c1") == expected


def test_a_role_without_phrasings_is_left_out():
    roles = {**HARBOUR_ROLES, "hold": ()}
    events, types = extract_steps(frame(HARBOUR_CALL), [BALANCE], embedder=WordsEmbedder(),
                                  threshold=0.6, roles=roles)  # fmt: skip
    assert steps_of(events, "c1") == [
        "greeting", "ask_account", "other", "lookup", "inform_balance", "closing",
    ]  # fmt: skip
    assert "hold" not in step_library([BALANCE], roles=roles).type_ids


@pytest.mark.parametrize(("share", "role"), [(0.5, True), (1.0, False)])
def test_edge_role_share_decides_when_a_cluster_at_the_calls_end_is_the_closing(share, role):
    # every "cheerio" turn ends its call: a share of 1.0, not more than 1.0
    families = [*ON_SCRIPT, lambda i: ("agent", f"Cheerio now, mind how you go {NAMES[i % 2]}")]
    calls = frame(*_family_calls(30, families))
    events, _ = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.6,
                              edge_role_share=share)  # fmt: skip
    last = events.filter(pl.col("turn_idx") == 3)
    assert (set(last["step_id"]) == {"closing"}) is role
    assert set(last["source"]) == {"sop" if role else "discovered"}


def test_speakers_decide_whose_utterances_are_steps():
    call = conversation("c1", ("agent", "Can you tell me your account number?"),
                        ("customer", "It is 12345"))  # fmt: skip
    bot = frame(call).with_columns(
        speaker=pl.when(pl.col("speaker") == "agent").then(pl.lit("bot")).otherwise("speaker")
    )
    both, _ = extract_steps(bot, [BALANCE], embedder=WordsEmbedder(), threshold=0.6)
    agents, _ = extract_steps(bot, [BALANCE], embedder=WordsEmbedder(), threshold=0.6,
                              speakers=("agent",))  # fmt: skip
    assert (steps_of(both, "c1"), agents.height) == (["ask_account"], 0)
