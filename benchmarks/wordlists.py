"""The default word lists beside the sample's wording and their effect on real outcomes.

For every phrase of the default outcome lists and step role phrasings: how many lines of
the sample generator's content (``pipeline/sample/content.yaml``) contain it (one line
only is a sign the phrase was copied from the sample) and, given a STAR database written
by the scoreboard (``quality.py --workdir DIR``: ``DIR/board/star/cxminer.duckdb``), how
much the accuracy of outcomes derived from the transcript falls without it (drop-one).

Usage::

    python benchmarks/wordlists.py [--star-db FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import polars as pl
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import Config, OutcomeConfig  # noqa: E402
from pipeline.outcomes.derive import derive_outcomes  # noqa: E402
from pipeline.store import open_store  # noqa: E402

OUTCOME_LISTS = ("escalation_phrases", "transfer_phrases", "closing_phrases")
ROLE_LISTS = ("greeting_phrasings", "closing_phrasings", "hold_phrasings")


def sample_lines() -> list[str]:
    """Every string of the sample's content file, lower case, spaces collapsed."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.append(" ".join(value.lower().split()))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(yaml.safe_load((ROOT / "pipeline" / "sample_content.yaml").read_text()))
    return found


def outcome_accuracy(db: Path, config: OutcomeConfig) -> float:
    """Accuracy of outcomes derived from the transcript against the stored data outcome."""
    with open_store(db, read_only=True) as store:
        conversations = store.sql(
            "select conversation_id, customer_hash, started_at, ended_at, outcome "
            "from conversations"
        )
        turns = store.sql(
            "select conversation_id, turn_idx, speaker, event_type, text, action_name, "
            "action_status, ts from turns"
        )
    truth = conversations.select("conversation_id", truth="outcome").drop_nulls("truth")
    workflows = conversations.select("conversation_id", workflow_id=pl.lit(None, pl.String))
    derived = derive_outcomes(
        conversations, turns, workflows, config=dataclasses.replace(config, derive="always")
    ).join(truth, on="conversation_id")
    return float((derived["outcome"] == derived["truth"]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--star-db", type=Path, help="a STAR database of the scoreboard")
    args = parser.parse_args()
    lines = sample_lines()
    config = Config()
    base = outcome_accuracy(args.star_db, config.outcomes) if args.star_db else None
    if base is not None:
        print(f"STAR outcomes derived from the transcript, default lists: accuracy {base:.4f}")
    print(f"{'list':<22} {'phrase':<46} {'sample lines':>12} {'STAR drop-one':>14}")
    for name in (*OUTCOME_LISTS, *ROLE_LISTS):
        section = config.outcomes if name in OUTCOME_LISTS else config.steps
        phrases = getattr(section, name)
        for phrase in phrases:
            wanted = " ".join(phrase.lower().split())
            hits = sum(wanted in line for line in lines)
            exact = any(line.strip(" .!?") == wanted.strip(" .!?") for line in lines)
            effect = ""
            if base is not None and name in OUTCOME_LISTS:
                fewer = dataclasses.replace(
                    config.outcomes, **{name: tuple(p for p in phrases if p != phrase)}
                )
                effect = f"{outcome_accuracy(args.star_db, fewer) - base:+.4f}"
            mark = " (a whole sample line)" if exact else " <- one line" if hits == 1 else ""
            print(f"{name:<22} {phrase!r:<46} {hits:>12} {effect:>14}{mark}")


if __name__ == "__main__":
    main()
