"""Shared fixtures. Prefect runs against a throwaway local server, never the network."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
import uuid
from pathlib import Path

from processes import SESSION_MARK, wait_for_none

# Before anything imports prefect: a private home (removed at exit), no telemetry, quiet logs.
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="cxminer-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# Every process the suite starts inherits this mark, so survivors can be found at the end.
os.environ.setdefault(SESSION_MARK, uuid.uuid4().hex)
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import orjson  # noqa: E402
import pytest  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).parent / "fixtures"
HASH_KEY = b"test-key"


def write_jsonl(path: Path, records: list) -> Path:
    """Write records (dicts, or raw bytes lines) as JSONL."""
    with open(path, "wb") as handle:
        for record in records:
            handle.write(record if isinstance(record, bytes) else orjson.dumps(record))
            handle.write(b"\n")
    return path


def conversation(cid: str, *turns: tuple[str, str], **fields) -> dict:
    """A canonical record with (speaker, text) turns."""
    return {
        "conversation_id": cid,
        **fields,
        "turns": [{"speaker": s, "text": t} for s, t in turns],
    }


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for the whole session (~10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.duckdb"


def pytest_collection_modifyitems(config, items):
    """Skip tests that need ../shared/data when it is absent (a user's clone)."""
    if SHARED_DATA.exists():
        return
    skip = pytest.mark.skip(reason=f"needs the shared datasets at {SHARED_DATA}")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when a process it started (a server, a CLI child) outlived it; stop it."""
    survivors = wait_for_none(os.environ[SESSION_MARK], timeout_s=10)
    for pid, _ in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if survivors:
        listed = "; ".join(f"pid {pid}: {command[:120]}" for pid, command in survivors)
        session.config.get_terminal_writer().line(
            f"ERROR: {len(survivors)} process(es) started by the tests outlived them "
            f"(now killed): {listed}",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def ingest_star_excerpt(db_path: Path) -> None:
    """Load the STAR excerpt fixture into a database, as the ingest stage would."""
    from pipeline.config import IngestConfig
    from pipeline.ingest import read_source
    from pipeline.store import open_store

    with open_store(db_path) as store:
        for batch in read_source(
            FIXTURES / "star_excerpt.jsonl",
            source_id="star",
            fmt="star",
            config=IngestConfig(),
            hash_key=HASH_KEY,
        ):
            store.write_conversations(
                conversations=batch.conversations,
                turns=batch.turns,
                redactions=batch.redactions,
                run_id="r-ingest",
            )
