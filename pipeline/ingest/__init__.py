"""Ingest: turn input files into validated, redacted conversation and turn frames.

An adapter (:mod:`pipeline.ingest.adapters`, picked by name or detected through
:mod:`~pipeline.ingest.adapters.registry`) parses each file into raw batches of bounded
size; :func:`validate_batch` checks them and quarantines what is broken;
:func:`prepare_batch` redacts PII, hashes identifiers and shapes each batch to the store's
columns. :func:`read_source` chains the three for one file. The package never touches the
store: the ingest flow (``flows/ingest.py``) writes each :class:`IngestBatch`.
"""

from pipeline.ingest.adapters.registry import detect_format, read_raw
from pipeline.ingest.batch import IngestBatch, prepare_batch, redact_quarantine
from pipeline.ingest.read import list_inputs, read_source, unreadable_reason
from pipeline.ingest.redact import hash_identifiers, redact_text, redact_texts
from pipeline.ingest.validate import ValidBatch, validate_batch

__all__ = [
    "IngestBatch",
    "ValidBatch",
    "detect_format",
    "hash_identifiers",
    "list_inputs",
    "prepare_batch",
    "read_raw",
    "read_source",
    "redact_quarantine",
    "redact_text",
    "redact_texts",
    "unreadable_reason",
    "validate_batch",
]
