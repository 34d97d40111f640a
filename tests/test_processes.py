"""No process the test suite starts outlives it (servers, CLI children, their children)."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from processes import SESSION_MARK, kill_group, marked_processes, wait_for_none

ROOT = Path(__file__).resolve().parents[1]


def marked_env(mark: str) -> dict[str, str]:
    return {**os.environ, SESSION_MARK: mark}


def test_a_marked_process_is_found_and_killing_its_group_takes_its_children():
    mark = uuid.uuid4().hex
    # a parent whose child would be orphaned if only the parent were killed
    parent = subprocess.Popen(
        ["bash", "-c", "sleep 120 & echo started; wait"],
        env=marked_env(mark), stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert parent.stdout.readline().strip() == "started"
        expected = ["bash -c sleep 120 & echo started; wait", "sleep 120"]
        deadline = time.monotonic() + 10  # the child may still be between fork and exec
        commands = sorted(command for _, command in marked_processes(mark))
        while commands != expected and time.monotonic() < deadline:
            time.sleep(0.05)
            commands = sorted(command for _, command in marked_processes(mark))
        assert commands == expected
    finally:
        kill_group(parent)
    assert wait_for_none(mark, timeout_s=5) == []


def test_an_unmarked_process_is_not_found():
    child = subprocess.Popen(["sleep", "60"], env=marked_env("someone-else"))
    try:
        assert marked_processes(uuid.uuid4().hex) == []
    finally:
        child.kill()
        child.wait()


@pytest.mark.slow
def test_a_test_session_with_the_prefect_server_and_a_served_cli_leaves_no_process():
    """A nested run of the suite's server tests: everything they started is gone after."""
    mark = uuid.uuid4().hex
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "tests/flows/test_serve.py",
            "tests/flows/test_flows.py::test_ingest_flow_records_the_run_and_is_idempotent",
        ],
        cwd=ROOT, env=marked_env(mark), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert "outlived them" not in result.stdout
    assert marked_processes(mark) == []
