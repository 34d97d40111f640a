"""A JSONL corpus with planted faults of every kind among good records.

``build_fault_corpus`` returns the lines and, per line number, the quarantine reason
expected (``None`` for a good record), so tests can check every record's fate.
"""

from __future__ import annotations

import random

import orjson

MAX_TEXT = 200


def _good(cid: str, rng: random.Random) -> dict:
    turns = [
        {
            "speaker": "customer",
            "text": f"I need help with order {rng.randint(1000, 9999)}",
            "ts": "2026-03-01T10:00:00Z",
        },
        # a chat export's delivery state on an utterance is no action status: ignored
        {
            "speaker": "agent",
            "text": "sure, let me check",
            "ts": "2026-03-01T10:00:05+00:00",
            "status": "read",
        },
        {
            "speaker": "agent",
            "event_type": "action",
            "action": "orders.lookup",
            "args": {"n": 1},
            "ts": "2026-03-01 10:00:09",
            "status": rng.choice(["ok", "Failed", " OK ", ""]),  # case and blanks are fine
        },
        {"speaker": "bot", "text": "survey sent"},
    ]
    return {
        "conversation_id": cid,
        "channel": "chat",
        "agent_id": f"a{rng.randint(1, 5)}",
        "customer_id": f"u{rng.randint(1, 50)}",
        "started_at": "2026-03-01T10:00:00Z",
        "turns": turns,
    }


def _faults(rng: random.Random) -> list[tuple[bytes, str]]:
    """(line, expected reason) for each planted fault kind, several of each."""
    out: list[tuple[bytes, str]] = []

    def add(record, reason):
        out.append((record if isinstance(record, bytes) else orjson.dumps(record), reason))

    for k in range(3):
        r = _good(f"bad-noid-{k}", rng)
        del r["conversation_id"]
        add(r, "missing_id")
        add({**_good("", rng), "conversation_id": "  "}, "missing_id")
        add({**_good(f"bad-empty-{k}", rng), "turns": []}, "empty_turns")
        r = _good(f"bad-noturns-{k}", rng)
        del r["turns"]
        add(r, "empty_turns")
        r = _good(f"bad-speaker-{k}", rng)
        r["turns"][1]["speaker"] = ["robot", "supervisor", None][k]
        add(r, "unknown_speaker")
        r = _good(f"bad-ts-{k}", rng)
        r["turns"][2]["ts"] = ["yesterday", "2026-13-45T99:00:00Z", "01/03/2026 10am"][k]
        add(r, "bad_timestamp")
        add({**_good(f"bad-started-{k}", rng), "started_at": "soon"}, "bad_timestamp")
        r = _good(f"bad-long-{k}", rng)
        r["turns"][0]["text"] = "x" * (MAX_TEXT + 1 + k)
        add(r, "text_too_long")
        add(b'{"conversation_id": "bad-json-%d", "turns": [' % k, "malformed_json")
        add(b"{'single': 'quotes'}", "malformed_json")
        latin1 = (
            b'{"conversation_id": "bad-enc-%d", "turns": [{"speaker": "agent", "text": "caf\xe9"}]}'
        )
        add(latin1 % k, "bad_encoding")
        r = _good(f"bad-text-{k}", rng)
        r["turns"][1]["text"] = ["", "   ", None][k]
        add(r, "missing_text")
    add(b"[1, 2, 3]", "bad_type")
    add({**_good("bad-turns-type", rng), "turns": "hello"}, "bad_type")
    r = _good("bad-turn-obj", rng)
    r["turns"][1] = "just a string"
    add(r, "bad_type")
    r = _good("bad-text-type", rng)
    r["turns"][0]["text"] = {"nested": True}
    add(r, "bad_type")
    add({**_good("bad-id-type", rng), "conversation_id": {"a": 1}}, "bad_type")
    r = _good("bad-event", rng)
    r["turns"][1]["event_type"] = "hold_music"
    add(r, "bad_event_type")
    r = _good("bad-action", rng)
    r["turns"][2]["action"] = None
    add(r, "missing_action")
    for k, value in enumerate(["maybe", "error"]):
        r = _good(f"bad-status-{k}", rng)
        r["turns"][2]["status"] = value
        add(r, "bad_status")
    return out


def build_fault_corpus(
    n_good: int = 120, seed: int = 3
) -> tuple[list[bytes], dict[int, str | None]]:
    """Return JSONL lines and ``{line number: expected reason or None}``."""
    rng = random.Random(seed)
    good = [(orjson.dumps(_good(f"ok-{i}", rng)), None) for i in range(n_good)]
    faults = _faults(rng)
    # Duplicates: a later record reusing a good record's id (kept: the first).
    dupes = [
        (orjson.dumps(_good(f"ok-{i}", rng) | {"channel": "voice"}), "duplicate_id")
        for i in (5, 17, 60)
    ]
    mixed = good + faults
    rng.shuffle(mixed)
    lines = mixed + dupes  # after every original, so the first occurrence is the good one
    return [line for line, _ in lines], {i + 1: reason for i, (_, reason) in enumerate(lines)}
