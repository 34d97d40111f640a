"""Who speaks in a vCon, and what else it says: parties' roles, the conversation's fields.

Split from :mod:`pipeline.ingest.adapters.vcon` (the reader): roles from the parties
(the contact-centre extension's ``role``, older ``role``/``meta.role``, else ``type``; two
parties with no role: the one who starts the first dialog is the customer), the ids of
the speaking parties, and the conversation's channel, direction, id, end and metadata.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from pipeline.ingest.adapters import (
    content_hash,
)
from pipeline.ingest.adapters.vcon_bodies import ROLE_SPEAKERS, Problem
from pipeline.ingest.adapters.vcon_text import norm, when

_ID_FIELDS = ("uuid", "id", "contact_id", "tel", "mailto", "sip", "did", "name")
_CC_DIALOG = ("interaction_type", "interaction_id", "campaign", "skill")
_OUTBOUND = frozenset(("out", "outbound", "outgoing"))
_CHANNELS = frozenset(("voice", "chat", "email", "sms", "video", "messaging", "social"))
_SHORT_BODY_CHARS = 300


def assign_speakers(turns: list[dict], roles: list) -> list[int]:
    """Replace each turn's ``party`` by its ``speaker``; return the parties that speak."""
    speaking: list[int] = []
    for turn in turns:
        if "party" not in turn:
            continue
        index = turn.pop("party")
        speaker, original = roles[index]
        if speaker is None:
            shown = (
                "no role (cc extension role, meta.role or type)"
                if original is None
                else f"role {original!r}, not a customer, agent, bot or system role"
            )
            raise Problem(f"parties[{index}].role", "unknown_speaker", f"party {index} has {shown}")
        turn["speaker"] = speaker
        if speaker == "agent" and original and norm(original) != "agent":
            turn["role"] = original  # supervisor, sme, ...: kept beside the speaker
        if index not in speaking:
            speaking.append(index)
    return speaking


def party_roles(parties: list, dialogs: list) -> tuple[list[tuple[str | None, Any]], str | None]:
    """Return ``(speaker or None, original role)`` per party, and the rule that inferred any."""
    roles: list[tuple[str | None, Any]] = []
    for party in parties:
        meta = party.get("meta") if isinstance(party.get("meta"), dict) else {}
        original = next(
            (
                value
                for value in (party.get("role"), meta.get("role"), party.get("type"))
                if isinstance(value, str) and value.strip()
            ),
            None,
        )
        roles.append((ROLE_SPEAKERS.get(norm(original)) if original else None, original))
    if len(roles) != 2 or all(original for _, original in roles):
        return roles, None
    if not any(original for _, original in roles):
        first = dialogs[0] if dialogs else {}
        origin = originator(0, first, parties) if first.get("parties") is not None else 0
        outbound = _direction(first) in _OUTBOUND
        speakers = {origin: "agent" if outbound else "customer"}
        speakers[1 - origin] = "customer" if outbound else "agent"
        rule = (
            "outbound: the originator of the first dialog is the agent, the other the customer"
            if outbound
            else "the originator of the first dialog is the customer, the other the agent"
        )
        return [(speakers[i], None) for i in range(2)], rule
    known = next(i for i, (_, original) in enumerate(roles) if original)
    other = {"agent": "customer", "customer": "agent"}.get(roles[known][0] or "")
    if other is None:
        return roles, None
    roles[1 - known] = (other, None)
    return roles, f"party {1 - known} has no role: the other of party {known}'s"


def originator(i: int, dialog: dict, parties: list) -> int:
    """Return the index of the party that starts dialog ``i``: its originator, else first."""
    origin = dialog.get("originator")
    if origin is None:
        members = dialog.get("parties")
        origin = members[0] if isinstance(members, list) and members else members
        if isinstance(origin, list):
            origin = origin[0] if origin else None
    if not isinstance(origin, int) or isinstance(origin, bool) or not 0 <= origin < len(parties):
        message = f"no party index of the {len(parties)} parties ({origin!r})"
        raise Problem(f"dialog[{i}].originator", "bad_type", message)
    return origin


def is_transcript(entry: dict) -> bool:
    """Say whether an ``analysis`` entry is a transcript."""
    kind = str(entry.get("type") or "").lower()
    return kind.startswith("transcript") or kind in ("transcription", "wtf_transcription")


def party_id(parties: list, speaking: list[int], roles: list, speaker: str) -> str | None:
    """Return the identifier of the first party of ``speaker`` that speaks (else of any)."""
    candidates = [i for i in speaking if roles[i][0] == speaker]
    candidates += [i for i, (s, _) in enumerate(roles) if s == speaker and i not in candidates]
    for i in candidates:
        for key in _ID_FIELDS:
            value = parties[i].get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()
    return None


def conversation_metadata(
    vcon: dict,
    dialogs: list,
    analyses: list,
    roles: list,
    inferred: str | None,
    used: list[dict],
    untranscribed: list[int],
) -> dict[str, Any]:
    """Return the conversation's metadata: no party field but the roles, no media body."""
    meta: dict[str, Any] = {"source_format": "vcon"}
    for key, name in (
        ("vcon", "vcon_version"),
        ("created_at", "created_at"),
        ("subject", "subject"),
        ("extensions", "extensions"),
        ("critical", "critical"),
        ("must_support", "must_support"),
    ):
        if vcon.get(key) not in (None, "", [], {}):
            meta[name] = vcon[key]
    meta["party_roles"] = [original for _, original in roles]
    if inferred:
        meta["roles_inferred"] = inferred
    group = [g["uuid"] for g in list_of(vcon, "group") if isinstance(g, dict) and g.get("uuid")]
    if group:
        meta["group"] = group
    for key in ("redacted", "appended", "amended"):
        ref = vcon.get(key)
        kept = {k: ref[k] for k in ("uuid", "type") if isinstance(ref, dict) and ref.get(k)}
        if kept:
            meta[key] = kept
    attachments = [
        a.get("type") or a.get("purpose") or "untyped"
        for a in list_of(vcon, "attachments")
        if isinstance(a, dict)
    ]
    if attachments:
        meta["attachments"] = attachments
    if used:
        meta["transcripts"] = used
    others = [
        _analysis_summary(e) for e in analyses if isinstance(e, dict) and not is_transcript(e)
    ]
    if others:
        meta["analysis"] = others
    if untranscribed:
        meta["untranscribed_dialogs"] = untranscribed
    cc = [{k: d[k] for k in _CC_DIALOG if d.get(k) is not None} for d in dialogs]
    if any(cc):
        meta["cc"] = cc if len(cc) > 1 else cc[0]
    return meta


def _analysis_summary(entry: dict) -> dict[str, Any]:
    keys = (("type", "type"), ("vendor", "provider"), ("dialog", "dialog"))
    summary = {name: entry[k] for k, name in keys if entry.get(k) is not None}
    body = entry.get("body")
    if isinstance(body, str) and str(entry.get("encoding") or "none").lower() == "none":
        cut = len(body) > _SHORT_BODY_CHARS
        summary["body"] = body[:_SHORT_BODY_CHARS] + "..." if cut else body
    return summary


def channel_of(dialog: dict) -> str:
    """Return a dialog's channel (voice, chat, email, ...) from its application and type."""
    application = str(dialog.get("application") or "").strip().lower()
    if application in _CHANNELS:  # what cxminer export-vcon writes there
        return application
    kind = str(dialog.get("type", "")).lower()
    mediatype = str(dialog.get("mediatype") or dialog.get("mimetype") or "").lower()
    if kind == "video" or mediatype.startswith("video/"):
        return "video"
    if kind == "recording" or mediatype.startswith("audio/"):
        return "voice"
    if dialog.get("message_id") or mediatype.startswith("message/"):
        return "email"
    return "chat"


def _direction(dialog: dict) -> str:
    meta = dialog.get("meta") if isinstance(dialog.get("meta"), dict) else {}
    return str(dialog.get("direction") or meta.get("direction") or "").strip().lower()


def conversation_id_of(vcon: Any) -> str | None:
    """Return a vCon's conversation id: the contact centre's, else its ``uuid``.

    The contact-centre extension's ``interaction_id``, when every dialog that has one
    names the same, is the centre's own id of the contact (what ``cxminer export-vcon``
    writes there: a round trip keeps the conversation's id); else the vCon's ``uuid``,
    else ``vcon-<content hash>``. None for a document that is no object.
    """
    if not isinstance(vcon, dict):
        return None
    dialogs = vcon.get("dialog") if isinstance(vcon.get("dialog"), list) else []
    named = {d.get("interaction_id") for d in dialogs if isinstance(d, dict)} - {None}
    if len(named) == 1 and isinstance(one := named.pop(), str) and one.strip():
        return one.strip()
    uuid = vcon.get("uuid")
    if isinstance(uuid, str) and uuid.strip():
        return uuid.strip()
    return "vcon-" + content_hash(orjson.dumps(vcon, option=orjson.OPT_SORT_KEYS, default=str))


def dialog_end(dialog: dict) -> datetime | None:
    """Return when a dialog ends: its start plus its duration; None when unknown."""
    start = when(dialog.get("start"))
    duration = dialog.get("duration")
    if start is None or not isinstance(duration, int | float) or isinstance(duration, bool):
        return start
    return start + timedelta(seconds=duration)


def list_of(vcon: dict, key: str) -> list:
    """Return ``vcon[key]`` as a list (absent: empty); anything else is a ``bad_type`` problem."""
    value = vcon.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Problem(key, "bad_type", f"expected a list, found {kind_of(value)}")
    return value


def kind_of(value: Any) -> str:
    """Name a JSON value's type for a message (object, list, string, ...)."""
    names = {dict: "an object", list: "a list", str: "a string", type(None): "null"}
    return names.get(type(value), type(value).__name__)
