"""The input formats ingest reads, in detection order, and the two ways in: detect and read.

A new format is one adapter module declaring an :class:`~pipeline.ingest.adapters.adapter.Adapter`
and one line in :data:`ADAPTERS` (its name must also be a value of
``pipeline.settings.ingest.FORMATS``, the config's choices).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.config import FORMATS, IngestConfig
from pipeline.errors import InputError
from pipeline.ingest.adapters import (
    RawBatch,
    abcd,
    amazon,
    aws_pca,
    banking77,
    ccai,
    genesys,
    jsonl,
    multidogo,
    star,
    table,
    vcon,
)
from pipeline.ingest.adapters.adapter import Adapter, FileHead

# Detection tries these in order and takes the first whose test passes: name tests first,
# then the first record. A JSONL record with a conversation id is not checked for ABCD keys;
# the platforms' documents are told apart by their own keys (vCon: vcon/parties/dialog,
# CCAI: entries or transcript.transcriptSegments, Genesys: conversationId + transcripts,
# Amazon: Transcript + Participants/ConversationCharacteristics/ContentMetadata, AWS PCA:
# ConversationAnalytics + SpeechSegments).
ADAPTERS: tuple[Adapter, ...] = (
    table.PARQUET,
    banking77.ADAPTER,
    multidogo.ADAPTER,
    table.CSV,
    star.ADAPTER,
    vcon.ADAPTER,
    ccai.ADAPTER,
    genesys.ADAPTER,
    amazon.ADAPTER,
    aws_pca.ADAPTER,
    jsonl.ADAPTER,
    abcd.ADAPTER,
)
#: What a file that no test recognises is read as (its reader reports what is wrong).
FALLBACK = "jsonl"
_BY_NAME = {adapter.name: adapter for adapter in ADAPTERS}


def detect_format(path: Path) -> str:
    """Guess a file's format from its name and its first record.

    A ``.csv`` whose header line is exactly ``text,category`` is Banking77 (a turn-per-row
    export needs conversation id and speaker columns, so it cannot be one); a ``.tsv``
    whose header line is exactly MultiDoGO's (``conversationId``, ``turnNumber``,
    ``utteranceId``, ``utterance``, ``slot-labels``, ``intent``) is MultiDoGO (it has no
    speaker column either).

    Returns
    -------
    str
        The name of the first adapter in :data:`ADAPTERS` whose test passes, else
        :data:`FALLBACK`.

    Raises
    ------
    InputError
        The file cannot be opened.
    """
    head = FileHead(path)
    for adapter in ADAPTERS:
        if adapter.detect is not None and adapter.detect(head):
            return adapter.name
    return FALLBACK


def read_raw(path: Path, *, fmt: str, config: IngestConfig) -> Iterator[RawBatch]:
    """Dispatch to the reader of ``fmt`` (``auto`` detects it).

    Raises
    ------
    InputError
        ``fmt`` is not a known format.
    """
    if fmt == "auto":
        fmt = detect_format(path)
    adapter = _BY_NAME.get(fmt)
    if adapter is None:
        raise InputError(f"{path}: unknown format {fmt!r}; expected {'/'.join(FORMATS)}")
    return adapter.read(path, config)
