"""`cxminer run` on a terminal never goes silent: progress output at least every 10 seconds.

A real run (real model, real Prefect) of a small generated sample in a subprocess with
``CXMINER_PROGRESS=bar``; its stderr is read as it comes (a bar redraws with ``\\r``, no
newline), each chunk timestamped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from processes import kill_group

from pipeline.sample.generate import generate_sample
from pipeline.sample.truth import write_sample

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

SILENCE_S = 10.0  # the longest a long stage may show nothing on a terminal
# What each long stage's blocks say (pipeline/progress.py), as the bars show it.
STAGES = (
    "embed [",
    "embedding: ",
    "encoding: ",
    "intents [",
    "intents: UMAP and HDBSCAN on ",
    "intents: stability check on ",
    "process [",
    "steps: tagging ",
    "steps: clustering ",
    "process: discovering variants and graphs from ",
    "drift [",
    "drift: conformance of ",
    "drift: findings: ",
    "drift: exception clusters [",
    "readiness: scoring ",
    "report [",
)


def read_chunks(stream, chunks: list[tuple[float, bytes]]) -> None:
    """Append ``(time, bytes)`` for each read of ``stream`` until it closes."""
    while block := stream.read1(65536):
        chunks.append((time.monotonic(), block))


def test_a_run_on_a_terminal_shows_progress_at_least_every_ten_seconds(tmp_path):
    import prefect.settings

    data = tmp_path / "data"
    write_sample(generate_sample(300, seed=11), data)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {tmp_path / 'cx.duckdb'}\nlanding: {data}\nsops: {data / 'sops'}\n"
        f"embed:\n  cache_dir: {Path.cwd() / '.cache' / 'cxminer'}\n"
        f"flows:\n  report_dir: {tmp_path / 'out'}\n"
    )
    env = {
        **os.environ,
        "CXMINER_PROGRESS": "bar",  # stderr is a pipe here: auto would write log lines
        "CXMINER_HASH_KEY": "progress-test-key",
        "PREFECT_API_URL": prefect.settings.PREFECT_API_URL.value(),  # the session's server
        "PYTHONUNBUFFERED": "1",
    }
    cxminer = Path(sys.executable).with_name("cxminer")
    chunks: list[tuple[float, bytes]] = []
    with open(tmp_path / "stdout.txt", "wb") as stdout:
        process = subprocess.Popen(
            [str(cxminer), "run", "--config", str(config)],
            stdout=stdout, stderr=subprocess.PIPE, env=env, start_new_session=True,
        )  # fmt: skip
        reader = threading.Thread(target=read_chunks, args=(process.stderr, chunks))
        reader.start()
        try:
            code = process.wait(timeout=600)
        finally:
            kill_group(process)  # the run's group, even when the test failed
            reader.join(timeout=10)
        exited = time.monotonic()
    assert code == 0, b"".join(block for _, block in chunks).decode(errors="replace")[-3000:]
    times = [at for at, _ in chunks] + [exited]
    gaps = [(b - a, i) for i, (a, b) in enumerate(zip(times, times[1:], strict=False))]
    longest, where = max(gaps)
    text = b"".join(block for _, block in chunks).decode(errors="replace")
    before = b"".join(block for _, block in chunks[: where + 1]).decode(errors="replace")
    assert longest <= SILENCE_S, f"{longest:.1f} s silent after: {before[-300:]!r}"
    assert len(chunks) > 60  # a bar redraws every second: about a minute of them
    missing = [stage for stage in STAGES if f"\r{stage}" not in text]
    assert missing == []
