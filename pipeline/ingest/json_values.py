"""Redact the values inside JSON texts (action arguments, conversation metadata).

A placeholder written over a bare JSON number would break the document, and keys are
the document's schema, not personal data. So each document is parsed and every string
value, and every number of three or more digits, is redacted on its own, read as the
answer to its key (``"customer_name": "Priya Raman"`` is a name, ``"account": 99201``
an id); a number that changes becomes a string. Texts that are not JSON are redacted as
plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import polars as pl

from pipeline.ingest.redact import redact_texts

_KEY_WORDS = str.maketrans({"_": " ", "-": " ", ".": " "})


def _leaves(value: Any, key: str, found: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for child_key, child in value.items():
            _leaves(child, str(child_key), found)
    elif isinstance(value, list):
        for child in value:
            _leaves(child, key, found)
    elif isinstance(value, str) or (
        isinstance(value, int | float) and not isinstance(value, bool) and len(str(value)) >= 3
    ):
        found.append((key, str(value)))


def _rebuild(value: Any, replaced: dict[tuple[str, str], str], key: str) -> Any:
    if isinstance(value, dict):
        return {k: _rebuild(v, replaced, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuild(v, replaced, key) for v in value]
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return replaced.get((key, str(value)), value)
    return value


def redact_json_texts(
    texts: pl.Series, *, types: Sequence[str], allow: Sequence[str] = ()
) -> pl.Series:
    """Redact the string and long-number values of each JSON text (see the module docstring).

    Returns
    -------
    pl.Series
        Same name, length and order; nulls stay null.
    """
    rows = texts.to_list()
    documents: list[Any] = []
    leaves: list[tuple[str, str]] = []
    for text in rows:
        try:
            document = orjson.loads(text) if text is not None else None
        except orjson.JSONDecodeError:
            document = None
        documents.append(document if isinstance(document, dict | list) else None)
        if documents[-1] is not None:
            _leaves(document, "", leaves)
    replaced = _redacted_leaves(list(dict.fromkeys(leaves)), types=types, allow=allow)
    plain = [
        i for i, (text, doc) in enumerate(zip(rows, documents, strict=True)) if text and doc is None
    ]
    if plain:
        out, _ = redact_texts(
            pl.Series([rows[i] for i in plain], dtype=pl.String), types=types, allow=allow
        )
        for i, text in zip(plain, out.to_list(), strict=True):
            rows[i] = text
    for i, document in enumerate(documents):
        if document is None or not replaced:
            continue
        found: list[tuple[str, str]] = []
        _leaves(document, "", found)
        if any(leaf in replaced for leaf in found):
            rows[i] = orjson.dumps(_rebuild(document, replaced, "")).decode()
    return pl.Series(texts.name, rows, dtype=pl.String)


def _redacted_leaves(
    distinct: list[tuple[str, str]], *, types: Sequence[str], allow: Sequence[str]
) -> dict[tuple[str, str], str]:
    """Redact each ``(key, value)`` leaf as the answer to its key read as a question."""
    if not distinct:
        return {}
    # Each leaf is read after its key ("customer name: Priya Raman", "order: 3348917502"),
    # so the key is the value's cue; a value alone ("emea") is no identity answer.
    prefixes = [f"{key.translate(_KEY_WORDS)}: " if key else "" for key, _ in distinct]
    texts = [prefix + value for prefix, (_, value) in zip(prefixes, distinct, strict=True)]
    out, _ = redact_texts(pl.Series(texts, dtype=pl.String), types=types, allow=allow)
    values = [
        text[len(prefix) :] if text.startswith(prefix) else "<REDACTED>"
        for prefix, text in zip(prefixes, out.to_list(), strict=True)
    ]
    return {leaf: value for leaf, value in zip(distinct, values, strict=True) if value != leaf[1]}
