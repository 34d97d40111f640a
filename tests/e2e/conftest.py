"""The bundled run: ``cxminer run`` on the bundled sample (``data/``), once a session.

As ``make run`` does, with its own database and report folder in a temporary folder and
the repository's embedding cache (about a minute warm, a few minutes cold). The report's
browser test and the examples' test read it; nothing may write to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from pipeline.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


class BundledRun(NamedTuple):
    config: Path
    db: Path
    out: Path  # the report folder: index.html, summary.md


@pytest.fixture(scope="session")
def bundled_run(tmp_path_factory, prefect_harness) -> BundledRun:
    folder = tmp_path_factory.mktemp("bundled")
    settings = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    settings |= {  # the repository's config, its paths made absolute or moved here
        "database": str(folder / "cxminer.duckdb"),
        "landing": str(ROOT / settings["landing"]),
        "sops": str(ROOT / settings["sops"]),
    }
    settings["embed"]["cache_dir"] = str(ROOT / settings["embed"]["cache_dir"])
    settings["flows"]["report_dir"] = str(folder / "out")
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    assert main(["run", "--config", str(config)]) == 0
    return BundledRun(config, folder / "cxminer.duckdb", folder / "out")
