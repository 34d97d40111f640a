"""The steps and discovery stages on a store: the ``steps`` settings reach the extraction.

A bag-of-words embedder stands in for the sentence model (as in test_steps.py); the
end-to-end tests run the real one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fake_embedders import WordsEmbedder
from stage_runs import update_process
from steps.run_cases import (
    seeded_store,
)

from pipeline.config import Config, StepsConfig
from pipeline.store import open_store

#: Generic sign-offs of a centre whose agents close in sailing words.
HARBOUR_CLOSINGS = ("Fair winds and calm seas to you, sailor.",)


def _run(tmp_path: Path, steps: StepsConfig) -> tuple[dict, list[str]]:
    """``update_process``' summary and the step ids of the call's units under ``steps``."""
    database, sops = seeded_store(tmp_path)
    config = Config(database=database, sops=sops, steps=steps)
    with open_store(database) as store:
        summary = update_process(store, config=config, embedder=WordsEmbedder(), run_id="r-steps")
        events = store.sql("select step_id from step_events order by conversation_id, seq")
    return summary, events["step_id"].to_list()


ON_SCRIPT = StepsConfig(threshold=0.6)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (ON_SCRIPT, ["ask_account", "inform_balance", "other"]),
        (dataclasses.replace(ON_SCRIPT, closing_phrasings=HARBOUR_CLOSINGS),
         ["ask_account", "inform_balance", "closing"]),
        # the paraphrase is no longer close enough to its step, and the balance alone
        # explains too little of the call for the SOP to apply
        (dataclasses.replace(ON_SCRIPT, threshold=0.95), ["other", "other", "other"]),
        # ...unless a third of a call is enough
        (dataclasses.replace(ON_SCRIPT, threshold=0.95, min_explained=0.3),
         ["other", "inform_balance", "other"]),
    ],
)  # fmt: skip
def test_the_steps_settings_reach_the_extraction(tmp_path, steps, expected):
    summary, step_ids = _run(tmp_path, steps)
    assert (summary["mode"], step_ids) == ("extracted", expected)


def test_speakers_choose_the_turns_read_from_the_store(tmp_path):
    # the call's utterances are all the agent's: with only bots' counting, none is a step
    summary, step_ids = _run(tmp_path, dataclasses.replace(ON_SCRIPT, speakers=("bot",)))
    assert (summary["mode"], step_ids) == ("skipped", [])
