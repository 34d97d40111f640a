"""Redaction recall and precision on real labelled chats, and its speed (not a test).

MultiDoGO's dev splits (``../shared/data/multidogo/<domain>/dev.tsv``: airline, fastfood,
insurance) label every token of each customer utterance with a slot (``name``,
``address``, ``ssn``, ``O`` ...; a ``B-``/``I-`` prefix is ignored). The text is as the
dataset ships it: lower-case, punctuation stripped (an e-mail is ``vishnugmailcom``).
Each redactor runs on the utterances as ingest would see them; a token survives when it
is still there, in order, after redaction (a difflib alignment of the whitespace tokens
before and after: a token a placeholder replaced, in whole or in part, did not survive).
Printed per slot type: **recall**, the share of its tokens that did not survive, and for
``O`` tokens the share kept (what redaction must not remove); then utterances and
conversations per second.

Usage::

    python benchmarks/bench_redact.py [--data DIR] [--domains airline fastfood insurance]
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.ingest.adapters.files import iter_delimited  # noqa: E402
from pipeline.ingest.adapters.multidogo import HEADER  # noqa: E402
from pipeline.ingest.redact import PII_TYPES, redact_texts  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "multidogo"
DOMAINS = ("airline", "fastfood", "insurance")
# The slot types that are personal data, in the groups (both phone spellings).
GROUPS = {
    "name": ("name",),
    "address": ("address",),
    "email": ("email_address",),
    "phone": ("phone_number", "phonenumber"),
    "ssn": ("ssn",),
    "booking number": ("booking_confirmation_number",),
    "policy id": ("policyid",),
    "claim id": ("claimid",),
}

Redactor = Callable[[pl.Series], pl.Series]


def read_dev(data: Path, domains: tuple[str, ...]) -> pl.DataFrame:
    """Return ``conversation_id, utterance, labels`` rows of the dev splits with aligned labels.

    Rows whose label count differs from their token count (a few, in the source) are
    dropped and counted on stderr.
    """
    records = []
    for domain in domains:
        rows = iter_delimited(
            data / domain / "dev.tsv", header=HEADER, delimiter="\t", expected="a MultiDoGO TSV"
        )
        for _, fields, problem in rows:
            if problem is None and len(fields) == len(HEADER):
                record = dict(zip(HEADER, fields, strict=True))
                records.append((record["conversationId"], record["utterance"],
                                record["slot-labels"]))  # fmt: skip
    rows = pl.DataFrame(records, schema=["conversation_id", "utterance", "labels"], orient="row")
    aligned = rows.filter(
        pl.col("utterance").str.split(" ").list.len() == pl.col("labels").str.split(" ").list.len()
    )
    if aligned.height < rows.height:
        print(f"skipped {rows.height - aligned.height} misaligned rows", file=sys.stderr)
    return aligned


def surviving(before: list[str], after: list[str]) -> list[bool]:
    """Per token of ``before``: is it still in ``after`` (in order, unchanged)?"""
    kept = [False] * len(before)
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for block in matcher.get_matching_blocks():
        for i in range(block.a, block.a + block.size):
            kept[i] = True
    return kept


def score(rows: pl.DataFrame, redactor: Redactor) -> dict[str, object]:
    """Recall per group, ``O`` kept share, and throughput of one redactor on ``rows``."""
    started = time.perf_counter()
    redacted = redactor(rows["utterance"])
    seconds = time.perf_counter() - started
    total, removed = Counter(), Counter()
    for text, labels, out in zip(rows["utterance"], rows["labels"], redacted, strict=True):
        tokens = text.split(" ")
        kept_tokens = surviving(tokens, out.split(" "))
        for token_label, kept in zip(labels.split(" "), kept_tokens, strict=True):
            slot = token_label[2:] if token_label[:2] in ("B-", "I-") else token_label
            total[slot] += 1
            removed[slot] += not kept
    figures: dict[str, object] = {}
    for group, slots in GROUPS.items():
        n = sum(total[s] for s in slots)
        figures[group] = (sum(removed[s] for s in slots) / n if n else None, n)
    figures["O kept"] = (1 - removed["O"] / total["O"], total["O"])
    figures["utterances/s"] = rows.height / seconds
    figures["conversations/s"] = rows["conversation_id"].n_unique() / seconds
    return figures


def current(texts: pl.Series) -> pl.Series:
    """Today's redactor with every type (``ingest`` redacts ``redact.types``, these by default)."""
    return redact_texts(texts, types=PII_TYPES)[0]


REDACTORS: dict[str, Redactor] = {"current (shapes + checksums)": current}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED, help="MultiDoGO folder")
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS))
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"{args.data}: not found (needs ../shared/data/multidogo)", file=sys.stderr)
        return 2
    rows = read_dev(args.data, tuple(args.domains))
    print(
        f"MultiDoGO dev ({', '.join(args.domains)}): {rows.height:,} customer utterances, "
        f"{rows['conversation_id'].n_unique():,} conversations"
    )
    for name, redactor in REDACTORS.items():
        figures = score(rows, redactor)
        print(f"\n{name}")
        for group in (*GROUPS, "O kept"):
            share, n = figures[group]
            what = "kept" if group == "O kept" else "recall"
            shown = "-" if share is None else f"{share:.3f}"
            print(f"  {group:16s} {what} {shown:>6}  ({n:,} tokens)")
        print(
            f"  speed            {figures['utterances/s']:,.0f} utterances/s, "
            f"{figures['conversations/s']:,.0f} conversations/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
