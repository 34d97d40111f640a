"""The drift stage on a store: the ``drift`` settings reach each analysis."""

from __future__ import annotations

import pytest
from steps.test_extract import WordsEmbedder
from steps.test_run import seeded_store

from pipeline.config import Config, DriftConfig, StepsConfig, TurnClusterConfig
from pipeline.drift import run as analysis
from pipeline.steps.run import update_process
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
        summary = analysis.update_drift(store, config=config, embedder=WordsEmbedder(),
                                        run_id="r-drift")  # fmt: skip
    assert summary["mode"] == "computed"
    for name, settings in EXPECTED.items():
        assert {k: received[name].get(k) for k in settings} == settings, name


@pytest.mark.parametrize("weight", [0.5, 0.0])
def test_the_undocumented_weight_reaches_the_fitness(tmp_path, weight):
    # the call says one step the SOP does not have: with no weight it costs no fitness
    database, sops = seeded_store(tmp_path)
    config = Config(database=database, sops=sops, steps=StepsConfig(threshold=0.6),
                    drift=DriftConfig(undocumented_weight=weight))  # fmt: skip
    with open_store(database) as store:
        update_process(store, config=config, embedder=WordsEmbedder(), run_id="r-steps")
        store.con.execute("update step_events set step_id = 'small_talk' where step_id = 'other'")
        analysis.update_drift(store, config=config, embedder=WordsEmbedder(), run_id="r-drift")
        row = store.sql("select undocumented, fitness from conformance").row(0)
    assert row == (["small_talk"], 1.0 - weight / (2 + weight))
