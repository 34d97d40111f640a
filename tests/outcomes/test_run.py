"""The outcomes stage on a store: what it reads, what it writes, when it skips."""

from __future__ import annotations

from fake_embedders import WordsEmbedder
from stage_runs import update_process
from steps.run_cases import seeded_store

from pipeline.config import Config, OutcomeConfig, StepsConfig
from pipeline.outcomes import run
from pipeline.store import open_store


def test_update_outcomes_skips_before_the_process_stage(tmp_path):
    database, sops = seeded_store(tmp_path)
    with open_store(database) as store:
        summary = run.update_outcomes(store, config=Config(database=database, sops=sops),
                                      run_id="r-outcomes")  # fmt: skip
        written = store.count("outcomes")
    assert summary == {"mode": "skipped", "reason": "no step events: run the process stage first"}
    assert written == 0


def test_update_outcomes_writes_one_row_a_conversation_with_its_workflow(tmp_path, monkeypatch):
    database, sops = seeded_store(tmp_path)
    outcomes = OutcomeConfig(min_customer_turns=3)
    config = Config(database=database, sops=sops, steps=StepsConfig(threshold=0.6),
                    outcomes=outcomes)  # fmt: skip
    received = {}
    real = run.derive_outcomes

    def spy(*args, **kwargs):
        received.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(run, "derive_outcomes", spy)
    with open_store(database) as store:
        update_process(store, config=config, embedder=WordsEmbedder(), run_id="r-steps")
        summary = run.update_outcomes(store, config=config, run_id="r-outcomes")
        rows = store.sql(
            "select conversation_id, workflow_id, outcome, run_id from outcomes"
        ).rows()
    assert summary == {"mode": "computed", "outcomes": 1}
    assert received == {"config": outcomes}
    # two customer utterances, fewer than the three asked for: the customer gave up
    assert rows == [("c1", "balance", "abandoned", "r-outcomes")]
