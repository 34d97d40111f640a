"""The readiness stage on a store: when it skips, and reading its ranking back."""

from __future__ import annotations

import pytest
from steps.run_cases import seeded_store

from pipeline.config import Config
from pipeline.errors import StoreError
from pipeline.readiness import run
from pipeline.store import open_store


def test_update_readiness_skips_before_the_outcomes_are_written(tmp_path):
    database, sops = seeded_store(tmp_path)
    with open_store(database) as store:
        summary = run.update_readiness(store, config=Config(database=database, sops=sops),
                                       run_id="r-readiness")  # fmt: skip
        written = store.count("readiness")
    assert summary == {"mode": "skipped", "reason": "no outcomes: run the drift stage first"}
    assert written == 0


def test_read_readiness_before_the_readiness_stage_is_a_store_error(tmp_path):
    database, _ = seeded_store(tmp_path)
    with pytest.raises(StoreError, match="no readiness scores"):
        run.read_readiness(database)
