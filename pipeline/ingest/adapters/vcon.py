"""IETF vCon (draft-ietf-vcon-vcon-core): one JSON document per conversation.

A file is one vCon (``.vcon``, ``.vcon.json``, pretty-printed or not), a JSON array of
vCons, or JSONL of vCons, one a line (gzip allowed). Every syntax version is read
(``vcon`` 0.0.1 with ``mimetype``, 0.3.0 and later with ``mediatype``); a file is never
rejected only because it fails the informational JSON schema. Nothing is fetched: a
``url`` of a dialog, attachment or ``redacted``/``group`` reference is never followed.

Mapping:

- **Who speaks.** A party's role is its ``role`` (the contact-centre extension's, also
  what older writers put there), else ``meta.role``, else ``type``; roles map onto
  speakers by :data:`ROLE_SPEAKERS` (``supervisor``/``sme`` -> agent, with the original
  role kept on the turn; ``contact`` -> customer; ``ivr``/``virtual agent`` -> bot).
  A speaking party with no role or another role quarantines the conversation
  (``unknown_speaker``, naming ``parties[i].role`` and the value), except in a vCon of
  exactly two parties: when neither has a role, **the party that originates the first
  dialog (its ``originator``, else the first of its ``parties``) is the customer and the
  other the agent**, unless that dialog says it is outbound (``direction`` or
  ``meta.direction`` ``out``/``outbound``), which turns it round; when one has a role
  agent or customer, the other has the other role. Either way the metadata says so
  (``roles_inferred``): it is a guess that fails on unmarked outbound contacts (an
  agent's follow-up e-mail, a campaign call).
- **Identifiers.** The customer's party (the first customer that speaks) gives
  ``customer_id`` and the agent's gives ``agent_id``: the first of ``uuid``, ``id``,
  ``contact_id``, ``tel``, ``mailto``, ``sip``, ``did``, ``name`` (hashed by ingest);
  no party field but its role reaches the metadata.
- **Text.** A ``text`` dialog with a ``body`` is one turn (``encoding`` none, json or
  base64url; HTML reduced to text; an e-mail's quoted history cut): its originator
  speaks at its ``start``. Any other dialog (``recording``, ``video``, a text dialog
  without a body) takes its words from the ``analysis`` entries of type ``transcript*``
  that point at it (``dialog``; none needed when there is one dialog), read by
  :func:`~pipeline.ingest.adapters.vcon_bodies.transcript_segments`; a redacted
  transcript is preferred. Channel and diarization numbers are positions in the dialog's
  ``parties`` (channel *n* is its *n*-th party, as the core draft says; diarization
  speaker *n* likewise); consecutive segments of one speaker make one turn, at the
  dialog's ``start`` plus the segment's offset. Turns follow the order of ``dialog``.
  Platform redaction markers become cxminer placeholders (``map_markers``; DataProfiler's
  ``{{LABEL}}`` too): what was redacted stays redacted. Action events come back from an
  ``actions`` analysis (what ``cxminer export-vcon`` writes: ``{action, party,
  after_dialog, args, status, start}``), each after the turns of its dialog.
- **Quarantined whole**: a vCon with no text but a recording without transcript
  (``no_transcript``), a transcript body this reader does not understand
  (``unknown_transcript_body``, naming the vendor and schema), a transcript of several
  parties that names no speaker, or one only (``undiarized_transcript``: a one-sided
  recording, such as a voicemail, is quarantined with them), an unknown
  speaker, a bad body encoding (``bad_encoding``) or a bad structure (``bad_type``). A
  dialog without text beside others with text (a call that was not transcribed, in a
  chat that was) is listed in ``metadata.untranscribed_dialogs`` and the rest loads.
- **Conversation.** ``uuid`` -> ``conversation_id`` (as it is), else
  ``vcon-<content hash>``; the first dialog ``start`` -> ``started_at`` (else
  ``created_at``); the last dialog end (``start`` + ``duration``, or the last turn) ->
  ``ended_at``; the channel of the first dialog with text: its ``application`` when that
  names a channel (``voice``, ``chat``, ...), else ``voice``/``video`` for a recording,
  ``email`` for text with a ``message_id`` or a ``message/*`` type, else ``chat``.
  ``metadata`` gets ``subject``, the ``group``/``redacted``/``appended``/``amended``
  references (their uuid and type), attachment types (never their bodies), the other
  analyses (type, ``vendor`` as ``provider``, dialog, a short text body) and the
  contact-centre dialog parameters. (Ingest's redaction reads a word after "vendor" as a
  person's name, hence ``provider``.)
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from pipeline.config import IngestConfig
from pipeline.ingest.adapters import (
    RawBatch,
    Record,
    build_batch,
    canonical_hash,
    reject,
)
from pipeline.ingest.adapters.adapter import Adapter, FileHead
from pipeline.ingest.adapters.files import iter_lines, open_binary
from pipeline.ingest.adapters.jsonl import parse_line
from pipeline.ingest.adapters.vcon_bodies import (
    BadEncoding,
    Problem,
    UnknownBody,
    body_text,
    decode_body,
    transcript_segments,
)
from pipeline.ingest.adapters.vcon_parties import (
    assign_speakers,
    channel_of,
    conversation_id_of,
    conversation_metadata,
    dialog_end,
    is_transcript,
    kind_of,
    list_of,
    originator,
    party_id,
    party_roles,
)
from pipeline.ingest.adapters.vcon_text import clean_text, iso, timestamp, when
from pipeline.ingest.adapters.vcon_turns import insert_actions, transcript_turns

_NO_TEXT_TYPES = frozenset(("transfer", "incomplete"))  # dialogs that never hold words
_RAW_KEEP_CHARS = 4000


def read_vcon(path: Path, *, batch_size: int) -> Iterator[RawBatch]:
    """Yield raw batches of canonical conversations from a vCon file (see the module doc).

    Raises
    ------
    InputError
        The file cannot be opened.
    """
    records: list[Record] = []
    rejects: list[dict] = []
    for locator, vcon, error in iter_vcons(path):
        if error is not None:
            rejects.append(error)
        else:
            try:
                data = vcon_to_record(vcon)
            except Problem as problem:
                row = reject(locator, problem.reason, problem.message, _raw(vcon), problem.field)
                rejects.append({**row, "conversation_id": conversation_id_of(vcon)})
            else:
                records.append(Record(locator, data, canonical_hash(data), _raw(vcon)))
        if len(records) + len(rejects) >= batch_size:
            yield build_batch(records, rejects)
            records, rejects = [], []
    if records or rejects:
        yield build_batch(records, rejects)


def iter_vcons(path: Path) -> Iterator[tuple[str, Any, dict | None]]:
    """Yield ``(locator, vcon, reject row or None)`` for each vCon of a file.

    JSONL (the first line is a whole JSON object) is streamed line by line (``line N``);
    otherwise the file is one document: a vCon (``document``) or a list (``item N``).

    Raises
    ------
    InputError
        The file cannot be opened.
    """
    lines = iter_lines(path)
    first = next(lines, None)
    if first is None:
        return
    if first[2] is None and first[1][:1] == b"{" and _is_object(first[1]):
        yield from _jsonl(itertools.chain([first], lines))
        return
    lines.close()
    try:
        with open_binary(path) as handle:
            data = handle.read()
    except (EOFError, OSError, gzip.BadGzipFile, zlib.error) as exc:
        message = f"gzip stream is truncated or corrupt ({exc}); re-copy the file"
        yield "document", None, reject("document", "truncated_gzip", message)
        return
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if any(_is_object(line) for line in data.splitlines()[1:]):  # JSONL, first line bad
            yield from _jsonl(iter_lines(path))
            return
        message = f"not valid JSON ({exc.msg} at char {exc.pos})"
        raw = data[:_RAW_KEEP_CHARS].decode("utf-8", "replace")
        yield "document", None, reject("document", "malformed_json", message, raw)
        return
    if not isinstance(document, list):
        yield "document", document, None
        return
    for number, item in enumerate(document):
        yield f"item {number}", item, None


def _jsonl(lines: Iterator[tuple[int, bytes, tuple[str, str] | None]]) -> Iterator[tuple]:
    for line_no, line, error in lines:
        locator = f"line {line_no}"
        if error is not None:
            yield locator, None, reject(locator, *error)
            continue
        rows: list[dict] = []
        parsed = parse_line(locator, line, rows)
        yield locator, None if parsed is None else parsed.data, rows[0] if rows else None


def vcon_to_record(vcon: Any) -> dict[str, Any]:
    """Convert one parsed vCon to a canonical record.

    Raises
    ------
    Problem
        The vCon is to be quarantined (its field, reason and message).
    """
    if not isinstance(vcon, dict):
        raise Problem("", "bad_type", f"expected a vCon JSON object, found {kind_of(vcon)}")
    parties, dialogs, analyses = (list_of(vcon, key) for key in ("parties", "dialog", "analysis"))
    for key, items in (("parties", parties), ("dialog", dialogs)):
        bad = next((i for i, item in enumerate(items) if not isinstance(item, dict)), None)
        if bad is not None:
            message = f"expected an object, found {kind_of(items[bad])}"
            raise Problem(f"{key}[{bad}]", "bad_type", message)
    roles, inferred = party_roles(parties, dialogs)
    transcripts = _transcripts_by_dialog(analyses, len(dialogs))
    turns: list[dict[str, Any]] = []
    used: list[dict[str, Any]] = []
    untranscribed: list[int] = []
    channels: list[str] = []
    ends_at: dict[int, int] = {}  # dialog index -> number of turns up to its end
    for i, dialog in enumerate(dialogs):
        channel = channel_of(dialog)
        found = _dialog_turns(i, dialog, parties, transcripts.get(i, []), used, channel)
        if found is None:
            if str(dialog.get("type", "")).lower() not in _NO_TEXT_TYPES:
                untranscribed.append(i)
            found = []
        if found:
            channels.append(channel)
        turns.extend(found)
        ends_at[i] = len(turns)
    if turns:
        insert_actions(turns, analyses, ends_at, len(parties))
    if not turns and untranscribed:
        what = str(dialogs[untranscribed[0]].get("type") or "dialog")
        raise Problem(
            f"dialog[{untranscribed[0]}]",
            "no_transcript",
            f"{what} without a transcript: no text to load (no text body and no analysis of "
            "type transcript for it; recordings are not transcribed and URLs not fetched)",
        )
    speaking = assign_speakers(turns, roles)
    starts = [t for d in dialogs if (t := when(d.get("start")))]
    ends = [t for d in dialogs if (t := dialog_end(d))] + [t for x in turns if (t := when(x["ts"]))]
    return {
        "conversation_id": conversation_id_of(vcon),
        "channel": channels[0] if channels else None,
        "agent_id": party_id(parties, speaking, roles, "agent"),
        "customer_id": party_id(parties, speaking, roles, "customer"),
        "started_at": iso(min(starts)) if starts else timestamp(vcon.get("created_at")),
        "ended_at": iso(max(ends)) if ends else None,
        "metadata": conversation_metadata(
            vcon, dialogs, analyses, roles, inferred, used, untranscribed
        ),
        "turns": turns,
    }


def _dialog_turns(
    i: int,
    dialog: dict,
    parties: list,
    transcripts: list[tuple[int, dict]],
    used: list[dict],
    channel: str,
) -> list[dict[str, Any]] | None:
    """Return the turns of one dialog (each with its party or speaker); ``None``: no text."""
    mediatype = dialog.get("mediatype") or dialog.get("mimetype")
    if str(dialog.get("type", "")).lower() == "text" and dialog.get("body") is not None:
        try:
            body = decode_body(dialog["body"], dialog.get("encoding"), mediatype)
        except BadEncoding as exc:
            raise Problem(f"dialog[{i}].body", "bad_encoding", str(exc)) from None
        text = body_text(body, mediatype)
        if text is None:
            message = f"a text dialog whose body holds no text ({kind_of(body)})"
            raise Problem(f"dialog[{i}].body", "bad_type", message)
        text = clean_text(text, email=channel == "email")
        if not text.strip():
            return []
        party = originator(i, dialog, parties)
        return [{"party": party, "text": text, "ts": timestamp(dialog.get("start"))}]
    unknown: list[str] = []
    for a, entry in transcripts:
        vendor = str(entry.get("vendor") or "")
        try:
            if entry.get("body") is None:
                raise UnknownBody("no inline body (a url is never fetched)")
            body = decode_body(entry["body"], entry.get("encoding"), entry.get("mediatype"))
            if isinstance(body, str) and body.lstrip()[:1] in ("{", "["):
                body = decode_body(body, "json")  # JSON kept as a string with encoding none
            segments = transcript_segments(body, vendor)
        except (UnknownBody, BadEncoding) as exc:
            schema = entry.get("schema") or entry.get("vendor_schema") or "none given"
            unknown.append(
                f"analysis[{a}] (vendor {vendor or 'none given'}, schema {schema}): {exc}"
            )
            continue
        used.append(
            {"dialog": i, "analysis": a, "type": entry.get("type"), "provider": vendor or None}
        )
        members = dialog.get("parties")
        if isinstance(members, int) and not isinstance(members, bool):
            members = [members]
        if not isinstance(members, list) or not members:
            members = list(range(len(parties)))
        start = when(dialog.get("start"))
        return transcript_turns(segments, members, parties, start, f"analysis[{a}]")
    if unknown:
        raise Problem(
            f"analysis[{transcripts[0][0]}].body",
            "unknown_transcript_body",
            f"dialog {i}'s transcript is in a form this reader does not know: {'; '.join(unknown)}",
        )
    return None


def _transcripts_by_dialog(analyses: list, n_dialogs: int) -> dict[int, list[tuple[int, dict]]]:
    """Return the transcript analyses per dialog index, a redacted one first.

    An analysis without ``dialog`` belongs to the only dialog, if there is one only.
    """
    found: dict[int, list[tuple[int, dict]]] = {}
    for a, entry in enumerate(analyses):
        if not isinstance(entry, dict) or not is_transcript(entry):
            continue
        targets = entry.get("dialog", 0 if n_dialogs == 1 else None)
        for target in targets if isinstance(targets, list) else [targets]:
            if isinstance(target, int) and not isinstance(target, bool):
                found.setdefault(target, []).append((a, entry))
    for entries in found.values():
        entries.sort(key=lambda item: "redact" not in str(item[1].get("type", "")).lower())
    return found


def _raw(vcon: Any) -> str:
    """Return the vCon for the quarantine table, without party identifiers or media bodies."""
    if isinstance(vcon, dict):
        vcon = dict(vcon)
        if isinstance(vcon.get("parties"), list):
            vcon["parties"] = [
                {k: p[k] for k in ("role", "type") if k in p} if isinstance(p, dict) else p
                for p in vcon["parties"]
            ]
        for key in ("dialog", "attachments"):
            if isinstance(vcon.get(key), list):
                vcon[key] = [_slim(entry) for entry in vcon[key]]
    return orjson.dumps(vcon, default=str).decode()[:_RAW_KEEP_CHARS]


def _slim(entry: Any) -> Any:
    if not isinstance(entry, dict) or str(entry.get("type", "")).lower() == "text":
        return entry
    return {k: v for k, v in entry.items() if k != "body"}


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def looks_like_vcon(record: Any) -> bool:
    """Whether a parsed JSON value is a vCon (or a list that starts with one)."""
    if isinstance(record, list) and record:
        record = record[0]
    return (
        isinstance(record, dict)
        and "conversation_id" not in record
        and isinstance(record.get("parties"), list)
        and ("dialog" in record or "vcon" in record)
    )


def detect(head: FileHead) -> bool:
    """Whether a file is vCon: by its name, its first record or its start.

    A ``.vcon``/``.vcon.json``/``.vcon.jsonl`` name, a first line that is a vCon, or a
    pretty-printed document that starts with ``{``/``[`` and has ``parties`` and
    ``dialog`` keys.
    """
    if head.name.endswith((".vcon", ".vcon.json", ".vcon.jsonl")):
        return True
    first = head.first_record
    if first is not None:
        return looks_like_vcon(first)
    start = head.start.lstrip()
    return start[:1] in (b"{", b"[") and b'"parties"' in start and b'"dialog"' in start


def _read(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_vcon(path, batch_size=config.batch_size)


ADAPTER = Adapter("vcon", read=_read, detect=detect)
