"""Redaction recall and precision on real labelled chats, and its speed (not a test).

MultiDoGO's dev splits (``../shared/data/multidogo/<domain>/dev.tsv``: airline, fastfood,
insurance) label every token of each customer utterance with a slot (``name``,
``address``, ``ssn``, ``O`` ...; a ``B-``/``I-`` prefix is ignored). The text is as the
dataset ships it: lower-case, punctuation stripped (an e-mail is ``vishnugmailcom``).
Each redactor runs on the utterances as ingest would see them, and is scored as
``cxminer evaluate``'s redaction section scores a database (:mod:`pipeline.evaluate.redaction`:
the slots as personal-data types, a token survives when it is still there after
redaction): per type **recall**, the share of its tokens that did not survive, and for
``O`` tokens the share kept (what redaction must not remove); then utterances and
conversations per second. Candidate redactors are compared here before one becomes the
default: the shape rules alone (the default before the word rules), cxminer's default
(shapes, then the word rules of :mod:`pipeline.ingest.identity` with each conversation's
context), and the libraries of ``benchmarks/redact_libraries.py`` where they are
installed (Presidio without an NER model, usaddress + phonenumbers, python-stdnum).

``--split train`` scores the split the word rules were developed on; ``dev`` (the
default) is the held-out figure the README reports.

Then, what the redactors change where there is next to nothing to redact: Banking77's
test queries (``../shared/data/banking77/test.csv``, 3,080 single customer questions to a
bank, cased and punctuated, no names or numbers given as answers). Every query a
redactor changes is printed as a count (and the first few shown): a change there is
most likely a word taken for personal data.

Usage::

    python benchmarks/bench_redact.py [--data DIR] [--split dev|train|test]
        [--domains airline fastfood insurance]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.evaluate.datasets import MULTIDOGO_PII, multidogo_turn_pii  # noqa: E402
from pipeline.evaluate.redaction import count_removed  # noqa: E402
from pipeline.ingest.adapters.files import iter_delimited  # noqa: E402
from pipeline.ingest.adapters.multidogo import HEADER  # noqa: E402
from pipeline.ingest.identity.lexicon import load as load_lexicon  # noqa: E402
from pipeline.ingest.redact import PII_TYPES, SHAPE_TYPES, redact_texts  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "multidogo"
BANKING77 = ROOT.parent / "shared" / "data" / "banking77" / "test.csv"
DOMAINS = ("airline", "fastfood", "insurance")
#: The personal-data types MultiDoGO's slots give (:data:`MULTIDOGO_PII`), in print order.
TYPES = tuple(dict.fromkeys(MULTIDOGO_PII.values()))

#: A redactor reads the ``conversation_id, text`` rows and returns the redacted texts.
Redactor = Callable[[pl.DataFrame], pl.Series]


def read_dev(data: Path, domains: tuple[str, ...], split: str = "dev") -> pl.DataFrame:
    """Return ``conversation_id, text, types`` rows of one split (see ``turn_pii``), in order.

    Rows whose label count differs from their token count (a few, in the source) are
    dropped and counted on stderr.
    """
    records, skipped = [], 0
    for domain in domains:
        rows = iter_delimited(
            data / domain / f"{split}.tsv",
            header=HEADER,
            delimiter="\t",
            expected="a MultiDoGO TSV",
        )
        for _, fields, problem in rows:
            pii = None
            if problem is None and len(fields) == len(HEADER):
                pii = multidogo_turn_pii(fields[3], fields[4])
            if pii is None:
                skipped += 1
                continue
            records.append((fields[0], int(fields[1]), pii["text"], pii["types"]))
    if skipped:
        print(f"skipped {skipped} rows whose labels do not fit their tokens", file=sys.stderr)
    frame = pl.DataFrame(records, schema=["conversation_id", "turn", "text", "types"], orient="row")
    return frame.sort("conversation_id", "turn", maintain_order=True).drop("turn")


def score(rows: pl.DataFrame, redactor: Redactor) -> dict[str, object]:
    """Recall per type, ``O`` kept share, and throughput of one redactor on ``rows``."""
    started = time.perf_counter()
    redacted = redactor(rows)
    seconds = time.perf_counter() - started
    total, removed = count_removed(rows["text"], rows["types"], redacted)
    figures: dict[str, object] = {
        kind: (removed[kind] / total[kind] if total[kind] else None, total[kind]) for kind in TYPES
    }
    figures["O kept"] = (1 - removed["O"] / total["O"], total["O"])
    figures["utterances/s"] = rows.height / seconds
    figures["conversations/s"] = rows["conversation_id"].n_unique() / seconds
    return figures


def shapes_only(rows: pl.DataFrame) -> pl.Series:
    """The shape rules alone (formats and checksums): the default before the word rules."""
    return redact_texts(rows["text"], types=SHAPE_TYPES)[0]


def default(rows: pl.DataFrame) -> pl.Series:
    """cxminer's default: every type, each conversation's turns with their context."""
    speakers = pl.Series("speaker", ["customer"] * rows.height)
    return redact_texts(
        rows["text"],
        types=PII_TYPES,
        conversation_ids=rows["conversation_id"],
        speakers=speakers,
    )[0]


def redactors() -> dict[str, Redactor]:
    """The redactors to compare: shapes only, the default, and the installed libraries."""
    found: dict[str, Redactor] = {
        "shapes only (formats + checksums)": shapes_only,
        "cxminer default (shapes + word rules)": default,
    }
    try:
        from redact_libraries import library_redactors
    except ImportError:  # run from elsewhere than benchmarks/
        return found
    for name, redactor in library_redactors().items():
        found[name] = lambda rows, redactor=redactor: redactor(rows["text"])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED, help="MultiDoGO folder")
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS))
    parser.add_argument("--split", choices=("dev", "train", "test"), default="dev")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"{args.data}: not found (needs ../shared/data/multidogo)", file=sys.stderr)
        return 2
    rows = read_dev(args.data, tuple(args.domains), args.split)
    started = time.perf_counter()
    load_lexicon()
    print(f"word-rule lexicon loaded in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    print(
        f"MultiDoGO {args.split} ({', '.join(args.domains)}): {rows.height:,} customer utterances, "
        f"{rows['conversation_id'].n_unique():,} conversations"
    )
    for name, redactor in redactors().items():
        figures = score(rows, redactor)
        print(f"\n{name}")
        for group in (*TYPES, "O kept"):
            share, n = figures[group]
            what = "kept" if group == "O kept" else "recall"
            shown = "-" if share is None else f"{share:.3f}"
            print(f"  {group:16s} {what} {shown:>6}  ({n:,} tokens)")
        print(
            f"  speed            {figures['utterances/s']:,.0f} utterances/s, "
            f"{figures['conversations/s']:,.0f} conversations/s"
        )
    if BANKING77.exists():
        print_changed_queries(BANKING77)
    return 0


def print_changed_queries(path: Path, shown: int = 5) -> None:
    """Print how many Banking77 queries each redactor changes, and the first few."""
    texts = pl.read_csv(path, columns=["text"])["text"].cast(pl.String)
    rows = pl.DataFrame({"conversation_id": [str(i) for i in range(texts.len())], "text": texts})
    print(f"\nBanking77 test ({texts.len():,} queries): queries changed")
    for name, redactor in redactors().items():
        out = redactor(rows)
        changed = [(a, b) for a, b in zip(texts, out, strict=True) if a != b]
        print(f"  {name:45s} {len(changed):>5,}")
        for before, after in changed[:shown]:
            print(f"      {before!r} -> {after!r}")


if __name__ == "__main__":
    sys.exit(main())
