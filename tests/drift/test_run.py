"""The drift stage on a store: the ``drift`` settings reach each analysis."""

from __future__ import annotations

import polars as pl
import pytest
from fake_embedders import WordsEmbedder
from stage_runs import update_process
from steps.run_cases import seeded_store

from pipeline.config import Config, DriftConfig, StepsConfig, TurnClusterConfig
from pipeline.drift import run as analysis
from pipeline.errors import StoreError
from pipeline.outcomes.run import update_outcomes
from pipeline.store import open_store

STEPS = StepsConfig(threshold=0.6, speakers=("agent",), clustering=TurnClusterConfig(min_turns=7))
#: Every drift setting away from its default: the stage functions read them from the config.
DRIFT = DriftConfig(permutations=99, seed=7, variant_rare_share=0.05, change_min_shift=0.08,
                    change_min_segment=3, change_medium_factor=2.5, change_high_factor=4.0,
                    exception_min_lift=3.0, exception_high_share=0.3,
                    exception_medium_share=0.15, undocumented_weight=0.25)  # fmt: skip
EXPECTED = {
    "check_conformance": {"undocumented_weight": 0.25},
    "find_drift": {"config": DRIFT},
    "find_mix_drift": {"config": DRIFT},
    "find_variant_mix_drift": {"config": DRIFT},
    "find_conformance_changes": {"config": DRIFT},
    "find_exception_clusters": {"config": DRIFT, "speakers": ("agent",),
                                "cluster_config": TurnClusterConfig(min_turns=7)},
}  # fmt: skip


def test_update_drift_passes_each_setting_on(tmp_path, monkeypatch):
    database, sops = seeded_store(tmp_path)
    config = Config(database=database, sops=sops, steps=STEPS, drift=DRIFT)
    received: dict[str, dict] = {}
    for name in EXPECTED:
        real = getattr(analysis, name)

        def spy(*args, _name=name, _real=real, **kwargs):
            received[_name] = kwargs
            return _real(*args, **kwargs)

        monkeypatch.setattr(analysis, name, spy)
    with open_store(database) as store:
        update_process(store, config=config, embedder=WordsEmbedder(), run_id="r-steps")
        update_outcomes(store, config=config, run_id="r-drift")
        summary = analysis.update_drift(store, config=config, embedder=WordsEmbedder(),
                                        run_id="r-drift")  # fmt: skip
    assert summary["mode"] == "computed"
    for name, settings in EXPECTED.items():
        assert {k: received[name].get(k) for k in settings} == settings, name


def test_update_drift_reads_the_stored_outcomes(tmp_path, monkeypatch):
    # the outcomes stage wrote them; drift compares deviations with what is stored
    database, sops = seeded_store(tmp_path)
    config = Config(database=database, sops=sops, steps=StepsConfig(threshold=0.6))
    seen: list[pl.DataFrame] = []
    real = analysis.find_drift

    def spy(conformance, outcomes, *args, **kwargs):
        seen.append(outcomes)
        return real(conformance, outcomes, *args, **kwargs)

    monkeypatch.setattr(analysis, "find_drift", spy)
    with open_store(database) as store:
        update_process(store, config=config, embedder=WordsEmbedder(), run_id="r-steps")
        update_outcomes(store, config=config, run_id="r-outcomes")
        summary = analysis.update_drift(store, config=config, embedder=WordsEmbedder(),
                                        run_id="r-drift")  # fmt: skip
        written = store.sql("select run_id, count(*) from outcomes group by run_id").rows()
        checked = store.sql("select distinct run_id from conformance").rows()
    assert seen[0].select("conversation_id", "run_id").rows() == [("c1", "r-outcomes")]
    assert written == [("r-outcomes", 1)]  # drift leaves the outcomes as they were
    assert checked == [("r-drift",)]
    assert list(summary) == ["mode", "conformance", "findings", "flagged", "conforming_share",
                             "encoded"]  # fmt: skip
    assert summary["conformance"] == 1


def test_update_drift_skips_before_the_process_stage(tmp_path):
    database, sops = seeded_store(tmp_path)
    config = Config(database=database, sops=sops)
    with open_store(database) as store:
        summary = analysis.update_drift(store, config=config, embedder=WordsEmbedder(),
                                        run_id="r-drift")  # fmt: skip
        written = store.count("conformance")
    assert summary == {"mode": "skipped", "reason": "no step events: run the process stage first"}
    assert written == 0


@pytest.mark.parametrize("weight", [0.5, 0.0])
def test_the_undocumented_weight_reaches_the_fitness(tmp_path, weight):
    # the call says one step the SOP does not have: with no weight it costs no fitness
    database, sops = seeded_store(tmp_path)
    config = Config(database=database, sops=sops, steps=StepsConfig(threshold=0.6),
                    drift=DriftConfig(undocumented_weight=weight))  # fmt: skip
    with open_store(database) as store:
        update_process(store, config=config, embedder=WordsEmbedder(), run_id="r-steps")
        store.con.execute("update step_events set step_id = 'small_talk' where step_id = 'other'")
        update_outcomes(store, config=config, run_id="r-drift")
        analysis.update_drift(store, config=config, embedder=WordsEmbedder(), run_id="r-drift")
        row = store.sql("select undocumented, fitness from conformance").row(0)
    assert row == (["small_talk"], 1.0 - weight / (2 + weight))


def test_read_findings_before_the_drift_stage_is_a_store_error(tmp_path):
    database, _ = seeded_store(tmp_path)
    with pytest.raises(StoreError, match="no drift findings"):
        analysis.read_findings(database)


FINDING = {"severity": "high", "kind": "missing", "sop_id": "balance", "workflow_id": "balance",
           "step": "ask_account", "team": None, "flagged": True,
           "sentence": "ask_account was skipped more often."}  # fmt: skip


@pytest.mark.parametrize(
    ("rows", "text"),
    [
        ([], "no flagged findings\n"),
        ([FINDING], "[high] missing: balance / ask_account\n"
                    "    ask_account was skipped more often.\n"),
        ([FINDING | {"sop_id": None, "step": None, "team": None, "flagged": False,
                     "workflow_id": "billing"}],
         "[high] missing: billing (not flagged)\n    ask_account was skipped more often.\n"),
        ([FINDING | {"nested": False}, FINDING | {"team": "south", "nested": True}],
         "[high] missing: balance / ask_account\n    ask_account was skipped more often.\n"
         "    [high] missing: balance / ask_account / south\n"
         "        ask_account was skipped more often.\n"),
    ],
)  # fmt: skip
def test_format_findings(rows, text):
    keys = {k: pl.Boolean if k in ("flagged", "nested") else pl.String
            for row in rows for k in row} or dict.fromkeys(FINDING, pl.String)  # fmt: skip
    frame = pl.DataFrame(rows, schema=keys)
    assert analysis.format_findings(frame) == text


def test_the_limit_counts_findings_not_the_rows_nested_under_them():
    ordered = pl.DataFrame({"finding_id": ["a", "a1", "a2", "b", "c"],
                            "nested": [False, True, True, False, False]})  # fmt: skip
    assert analysis.first_findings(ordered, 2)["finding_id"].to_list() == ["a", "a1", "a2", "b"]
    assert analysis.first_findings(ordered, 1)["finding_id"].to_list() == ["a", "a1", "a2"]
    assert analysis.first_findings(ordered, 0).height == 0
    assert analysis.first_findings(ordered, None).height == 5
