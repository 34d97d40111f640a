"""Fixtures of the report tests: a store filled with every table the report reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_store import GENERATED, fill

from pipeline.report.data import read_report_data
from pipeline.report.render import render_report
from pipeline.report.views import VIEWS_DIR, view_statements
from pipeline.store import Store, open_store


@pytest.fixture
def full_store(db_path: Path):
    with open_store(db_path) as store:
        fill(store)
        store.create_views(view_statements(VIEWS_DIR))
        yield store


@pytest.fixture
def empty_store(db_path: Path):
    with open_store(db_path) as store:
        store.create_views(view_statements(VIEWS_DIR))
        yield store


@pytest.fixture
def rendered(full_store: Store) -> tuple[str, str]:
    return render_report(read_report_data(full_store), generated_at=GENERATED)
