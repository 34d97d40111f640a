"""A vCon transcript's segments as turns: each segment's party, a speaker's segments merged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.ingest.adapters.vcon_bodies import (
    MERGE_MAX_CHARS,
    ROLE_SPEAKERS,
    BadEncoding,
    Problem,
    Segment,
    decode_body,
    is_index,
)
from pipeline.ingest.adapters.vcon_text import clean_text, norm, offset_ts, timestamp


def _segment_party(seg: Segment, members: list, parties: list, where: str) -> int | str | None:
    """Return the party index (or, for a role word, the speaker) of a segment."""
    if seg.party is not None:
        if seg.party >= len(parties):
            message = f"party {seg.party} is not in parties ({len(parties)})"
            raise Problem(where, "bad_type", message)
        return seg.party
    if seg.speaker is not None:
        member = members[seg.speaker] if seg.speaker < len(members) else None
        return _member(member, parties, where, seg.speaker)
    if seg.label is not None:
        speaker = ROLE_SPEAKERS.get(norm(seg.label))
        if speaker:
            return speaker
        label = seg.label.strip().lower()
        names = [
            i
            for i, p in enumerate(parties)
            if isinstance(p, dict) and str(p.get("name", "")).strip().lower() == label
        ]
        if len(names) == 1:
            return names[0]
        message = f"speaker label {seg.label!r} is neither a role nor a party's name"
        raise Problem(where, "unknown_speaker", message)
    return None


def _member(member: Any, parties: list, where: str, number: int) -> int:
    if isinstance(member, list) and len(member) == 1:
        member = member[0]
    if not is_index(member) or member >= len(parties):
        message = f"speaker/channel {number} names no single party of the dialog ({member!r})"
        raise Problem(where, "unknown_speaker", message)
    return member


def transcript_turns(
    segments: list[Segment], members: list, parties: list, start: datetime | None, where: str
) -> list[dict[str, Any]]:
    """Turn a transcript's segments into turns, each with its ``party`` or ``speaker``.

    Parameters
    ----------
    members
        The dialog's ``parties`` (channel and speaker numbers index it).
    parties
        The vCon's parties (``parties`` of a segment and names of labels index it).
    start
        The dialog's start: segment times in seconds are offsets from it.
    where
        The analysis entry, for messages (``analysis[0]``).

    Raises
    ------
    Problem
        ``undiarized_transcript`` when the dialog has several parties and the transcript
        names none, or one only for several segments; ``unknown_speaker`` for a speaker
        that is no party; ``bad_type`` for a party index out of range.
    """
    attributed = [_segment_party(seg, members, parties, where) for seg in segments]
    said = [(who, seg) for who, seg in zip(attributed, segments, strict=True) if seg.text.strip()]
    if len(members) > 1 and said:
        speakers = {who for who, _ in said}
        if None in speakers or (len(speakers) == 1 and len(said) > 1):
            whom = "no speaker" if None in speakers else "one speaker only"
            raise Problem(
                f"{where}.body",
                "undiarized_transcript",
                f"the dialog has {len(members)} parties but its transcript names {whom}: "
                "cannot tell who said what (transcribe with diarization or one channel a party)",
            )
    if len(members) == 1:
        only = _member(members[0], parties, where, 0)
        said = [(only if who is None else who, seg) for who, seg in said]
    turns: list[dict[str, Any]] = []
    for who, seg in said:
        text = clean_text(seg.text.strip())
        key = "speaker" if isinstance(who, str) else "party"
        last = turns[-1] if turns else None
        if last and last.get(key) == who and len(last["text"]) + len(text) < MERGE_MAX_CHARS:
            last["text"] += " " + text
            continue
        turns.append({key: who, "text": text, "ts": offset_ts(seg.start, start)})
    return turns


def insert_actions(turns: list[dict], analyses: list, ends_at: dict[int, int], n: int) -> None:
    """Put back the action events of an ``actions`` analysis (``cxminer export-vcon``'s).

    Its JSON body lists ``{action, party, after_dialog, args, status, start}``: each is an
    action turn right after the turns of dialog ``after_dialog`` (``null``: first).
    """
    found: list[tuple[int, dict[str, Any]]] = []
    for a, entry in enumerate(analyses):
        body = entry.get("body") if isinstance(entry, dict) else None
        if str(entry.get("type") if isinstance(entry, dict) else "").lower() != "actions":
            continue
        try:
            body = decode_body(body, entry.get("encoding"), entry.get("mediatype"))
        except BadEncoding as exc:
            raise Problem(f"analysis[{a}].body", "bad_encoding", str(exc)) from None
        items = body.get("actions") if isinstance(body, dict) else None
        for j, item in enumerate(items if isinstance(items, list) else []):
            where = f"analysis[{a}].body.actions[{j}]"
            party, after = (item.get(k) if isinstance(item, dict) else None
                            for k in ("party", "after_dialog"))  # fmt: skip
            if not isinstance(party, int) or isinstance(party, bool) or not 0 <= party < n:
                raise Problem(where, "bad_type", f"party: no party index ({party!r})")
            position = ends_at.get(after, 0) if isinstance(after, int) else 0
            turn = {"party": party, "event_type": "action", "action": item.get("action"),
                    "args": item.get("args"), "status": item.get("status"),
                    "ts": timestamp(item.get("start"))}  # fmt: skip
            found.append((position, turn))
    # last first, so that earlier insertions do not move later ones
    for k in sorted(range(len(found)), key=lambda k: (found[k][0], k), reverse=True):
        turns.insert(*found[k])
