"""Bodies of vCon ``dialog`` and ``analysis`` entries: decoding, and transcripts as segments.

A vCon carries a call's words in an ``analysis`` entry of type ``transcript`` whose
``body`` is whatever the transcription vendor returned. :func:`transcript_segments`
reads the common shapes into :class:`Segment` objects, one per stretch of speech:

- Deepgram's response (``results.channels[].alternatives[]``, with ``paragraphs``,
  diarized ``words`` or only a ``transcript``; ``results.utterances`` first where
  present), or one ``alternatives`` entry alone as the vCon conserver stores it (its
  paragraphs under ``sentences``); with several channels, the channel number is the
  speaker (channel *n* is the dialog's *n*-th party);
- a list of segments ``{speaker|channel|parties|role, text|transcript|content, start,
  end}`` (CapitalOne DataProfiler, vCon WTF ``segments``, Whisper ``segments``,
  AssemblyAI ``utterances``, under a ``segments``/``utterances`` key or as the body);
- a plain string (or ``{"transcript": str}``/``{"text": str}``): one undiarized segment,
  unless every paragraph starts with a speaker label (``Agent: ...``, ``Speaker 1: ...``).

Anything else raises :class:`UnknownBody`. :func:`transcript_turns` attributes the
segments to parties and merges a speaker's consecutive segments into one turn;
:func:`clean_text` maps platform redaction markers and cuts quoted e-mail history. Nothing
here follows a URL.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from dataclasses import dataclass
from typing import Any

import orjson

#: Party role or speaker label (lower case, spaces and dashes as ``_``) -> cxminer speaker.
ROLE_SPEAKERS = {
    **dict.fromkeys(("customer", "contact", "caller", "client", "consumer", "end_user",
                     "enduser", "user", "member", "patient", "subscriber", "guest",
                     "lead", "prospect"), "customer"),
    **dict.fromkeys(("agent", "human_agent", "representative", "rep", "advisor", "csr",
                     "supervisor", "sme", "expert", "specialist", "manager", "operator",
                     "employee", "staff"), "agent"),
    **dict.fromkeys(("bot", "ivr", "virtual_agent", "virtualagent", "automated_agent",
                     "ai_agent", "chatbot", "voicebot", "assistant", "va"), "bot"),
    **dict.fromkeys(("system", "queue", "acd"), "system"),
}  # fmt: skip

_TEXT_KEYS = ("text", "transcript", "content", "utterance", "body")
_LABELLED = re.compile(r"^\s*([^:\n]{1,40}?)\s*:\s*(\S.*)$", re.DOTALL)
_NUMBERED = re.compile(r"^(?:speaker|spk|channel|ch)[ _-]?(\d{1,3})$", re.IGNORECASE)
_TAG = re.compile(r"<[^>]{0,2000}>")
_MS_VENDORS = frozenset(("assemblyai",))  # vendors that give times in milliseconds
MERGE_MAX_CHARS = 4000


class Problem(Exception):
    """Why a vCon is quarantined whole: ``(field, reason, message)``."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.field, self.reason, self.message = field, reason, message


class UnknownBody(ValueError):
    """A body whose shape this reader does not understand (the message says what it has)."""


class BadEncoding(ValueError):
    """A body that its ``encoding`` cannot decode."""


@dataclass(frozen=True)
class Segment:
    """One stretch of speech of a transcript, attributed as precisely as the body says.

    At most one of ``party`` (an index into the vCon's ``parties``), ``speaker`` (a channel
    or diarization number: an index into the dialog's ``parties``) and ``label`` (a role
    word or a party's name) is set; none for an undiarized transcript. ``start`` and
    ``end`` are seconds from the start of the dialog, or timestamps (strings).
    """

    text: str
    party: int | None = None
    speaker: int | None = None
    label: str | None = None
    start: float | str | None = None
    end: float | str | None = None


def decode_body(body: Any, encoding: Any, mediatype: Any = None) -> Any:
    """Decode a body by its ``encoding`` (``none``/absent, ``json``, ``base64url``).

    A ``json`` body given as a string is parsed; a ``base64url`` body is decoded to text
    (the ``charset`` of ``mediatype``, else UTF-8), and parsed when it is JSON.

    Raises
    ------
    BadEncoding
        The body is not valid base64url, JSON or text in its charset.
    """
    kind = str(encoding or "none").strip().lower()
    if kind == "base64url":
        if not isinstance(body, str):
            raise BadEncoding("encoding base64url needs a string body")
        try:
            raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadEncoding(f"not valid base64url ({exc})") from None
        charset = _charset(mediatype)
        try:
            body = raw.decode(charset)
        except (UnicodeDecodeError, LookupError):
            raise BadEncoding(f"decoded bytes are not {charset} text") from None
        looks_json = not mediatype and body.lstrip()[:1] in ("{", "[")
        if not (_is_json_type(mediatype) or looks_json):
            return body
        kind = "json"
    if kind == "json" and isinstance(body, str):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if _is_json_type(mediatype):
                raise BadEncoding(f"not valid JSON ({exc.msg})") from None
            return body  # a text body that merely starts with a brace
    return body


def body_text(body: Any, mediatype: Any) -> str | None:
    """Return the text of a decoded ``text`` dialog body; HTML is reduced to its text.

    Returns ``None`` for a body that holds no text (an object without a text field).
    """
    if isinstance(body, dict):
        body = next((body[k] for k in _TEXT_KEYS if isinstance(body.get(k), str)), None)
    if not isinstance(body, str):
        return None
    if "html" in str(mediatype or "").lower():
        body = html.unescape(_TAG.sub(" ", body))
        body = re.sub(r"[ \t]+", " ", body)
    return body


def transcript_segments(body: Any, vendor: str = "") -> list[Segment]:
    """Read a transcript body (already decoded) into segments, in spoken order.

    Raises
    ------
    UnknownBody
        The body has none of the shapes in the module docstring.
    """
    scale = 1e-3 if vendor.lower() in _MS_VENDORS else 1.0
    if isinstance(body, str):
        return _string_segments(body)
    if isinstance(body, list):
        return _list_segments(body, scale)
    if not isinstance(body, dict):
        raise UnknownBody(f"a {type(body).__name__} body")
    results = body.get("results")
    if isinstance(results, dict):
        if isinstance(results.get("utterances"), list) and results["utterances"]:
            return _list_segments(results["utterances"], scale)
        channels = results.get("channels")
        if isinstance(channels, list) and channels:
            multichannel = len(channels) > 1
            segments = [
                seg
                for number, channel in enumerate(channels)
                for seg in _alternative(
                    _first_alternative(channel), number if multichannel else None
                )
            ]
            return _by_start(segments) if multichannel else segments
    for key in ("segments", "utterances", "monologues"):
        if isinstance(body.get(key), list) and body[key]:
            return _list_segments(body[key], scale)
    if isinstance(body.get("alternatives"), list) and body["alternatives"]:
        return _alternative(_first_alternative(body), None)
    if any(key in body for key in ("paragraphs", "sentences", "words")):
        return _alternative(body, None)
    for key in ("transcript", "text"):
        if isinstance(body.get(key), str):
            return _string_segments(body[key])
        if isinstance(body.get(key), dict | list):  # WTF nests {"transcript": {"text": ...}}
            return transcript_segments(body[key], vendor)
    keys = ", ".join(sorted(map(str, body))[:8])
    raise UnknownBody(f"an object with keys {keys or '(none)'}")


def _first_alternative(holder: Any) -> dict:
    alternatives = holder.get("alternatives") if isinstance(holder, dict) else None
    if not isinstance(alternatives, list) or not alternatives:
        raise UnknownBody("a channel without alternatives")
    if not isinstance(alternatives[0], dict):
        raise UnknownBody("an alternative that is not an object")
    return alternatives[0]


def _alternative(alt: dict, channel: int | None) -> list[Segment]:
    """Segments of one Deepgram alternative: paragraphs, else diarized words, else its text."""
    paragraphs = alt.get("paragraphs")
    if isinstance(paragraphs, dict):
        paragraphs = paragraphs.get("paragraphs")
    if not isinstance(paragraphs, list) or not paragraphs:
        paragraphs = alt.get("sentences")  # the conserver's name for them
    segments: list[Segment] = []
    if isinstance(paragraphs, list) and paragraphs and isinstance(paragraphs[0], dict):
        for paragraph in paragraphs:
            sentences = paragraph.get("sentences")
            if isinstance(sentences, list):
                text = " ".join(str(s.get("text", "")) for s in sentences if isinstance(s, dict))
            else:
                text = str(paragraph.get("text", ""))
            segments.append(_segment(text, paragraph, channel))
        return segments
    words = alt.get("words")
    if isinstance(words, list) and words and all(isinstance(w, dict) for w in words):
        if channel is not None or any("speaker" in w for w in words):
            run: list[dict] = []
            for word in words:
                if run and word.get("speaker") != run[-1].get("speaker"):
                    segments.append(_word_run(run, channel))
                    run = []
                run.append(word)
            segments.append(_word_run(run, channel))
            return segments
    text = alt.get("transcript")
    if isinstance(text, str):
        return [Segment(text, speaker=channel)] if channel is not None else _string_segments(text)
    raise UnknownBody("an alternative without paragraphs, words or transcript")


def _word_run(words: list[dict], channel: int | None) -> Segment:
    text = " ".join(str(w.get("punctuated_word") or w.get("word") or "") for w in words)
    first = {**words[0], "end": words[-1].get("end")}
    return _segment(text, first, channel)


def _segment(text: str, item: dict, channel: int | None, scale: float = 1.0) -> Segment:
    start, end = _time(item.get("start"), scale), _time(item.get("end"), scale)
    if channel is not None:
        return Segment(text, speaker=channel, start=start, end=end)
    party = item.get("parties")
    if isinstance(party, list) and len(party) == 1:
        party = party[0]
    if is_index(party):
        return Segment(text, party=party, start=start, end=end)
    for key in ("speaker", "channel", "speaker_id", "speaker_label", "role"):
        value = item.get(key)
        if is_index(value):
            return Segment(text, speaker=value, start=start, end=end)
        if isinstance(value, str) and value.strip():
            return Segment(text, **_label(value), start=start, end=end)
    return Segment(text, start=start, end=end)


def _label(value: str) -> dict[str, Any]:
    """Read a speaker given as text.

    ``Speaker 1``/``spk_1``/``1`` is a number, one letter (AssemblyAI's ``A``, ``B``) its
    position, anything else a label.
    """
    value = value.strip()
    numbered = _NUMBERED.match(value)
    if numbered:
        return {"speaker": int(numbered[1])}
    if value.isdigit():
        return {"speaker": int(value)}
    if len(value) == 1 and value.isalpha() and value.isupper():
        return {"speaker": ord(value) - ord("A")}
    return {"label": value}


def _list_segments(items: list, scale: float) -> list[Segment]:
    segments: list[Segment] = []
    for number, item in enumerate(items):
        if isinstance(item, str):
            segments.append(Segment(item))
            continue
        if not isinstance(item, dict):
            raise UnknownBody(f"a list whose item {number} is a {type(item).__name__}")
        text = next((item[k] for k in _TEXT_KEYS if isinstance(item.get(k), str)), None)
        if text is None and isinstance(item.get("elements"), list):  # Rev.ai monologues
            text = "".join(str(e.get("value", "")) for e in item["elements"] if isinstance(e, dict))
        if text is None:
            raise UnknownBody(f"a list whose item {number} has no text")
        segments.append(_segment(text, item, None, scale))
    return segments


def _string_segments(text: str) -> list[Segment]:
    """Split a transcript given as text: by labelled paragraphs or lines, if all are."""
    for splitter in (r"\n\s*\n", r"\n"):
        parts = [p for p in re.split(splitter, text) if p.strip()]
        matches = [_LABELLED.match(p) for p in parts]
        if len(parts) > 1 and all(matches):
            return [Segment(m[2].strip(), **_label(m[1])) for m in matches if m]
    return [Segment(text)] if text.strip() else []


def _by_start(segments: list[Segment]) -> list[Segment]:
    if all(isinstance(s.start, int | float) for s in segments):
        return sorted(segments, key=lambda s: s.start)  # type: ignore[arg-type, return-value]
    return segments


def _time(value: Any, scale: float) -> float | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value * scale
    return value if isinstance(value, str) and value.strip() else None


def is_index(value: Any) -> bool:
    """Say whether a value is a list index: an int of 0 or more, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _charset(mediatype: Any) -> str:
    found = re.search(r"charset=\"?([\w.:-]+)", str(mediatype or ""), re.IGNORECASE)
    return found[1] if found else "utf-8"


def _is_json_type(mediatype: Any) -> bool:
    return "json" in str(mediatype or "").lower()
