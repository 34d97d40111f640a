"""`cxminer serve`: starts a Prefect server, registers both deployments, stops on Ctrl-C."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from processes import kill_group

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deployments(port: int) -> list[dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/deployments/filter",
        data=b"{}",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_serve_registers_the_schedules_and_stops_on_ctrl_c(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "database: cx.duckdb\nflows:\n  nightly_cron: '*/5 * * * *'\n  refit_cron: '1 * * * *'\n"
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    cxminer = Path(sys.executable).with_name("cxminer")
    process = subprocess.Popen(
        [str(cxminer), "serve", "--config", str(config), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        found, deadline = [], time.monotonic() + 180
        while time.monotonic() < deadline and len(found) < 2:
            time.sleep(2)
            assert process.poll() is None, process.stdout.read()
            try:
                found = deployments(port)
            except OSError:
                continue
        schedules = {d["name"]: [s["schedule"]["cron"] for s in d["schedules"]] for d in found}
        assert schedules == {"nightly": ["*/5 * * * *"], "refit": ["1 * * * *"]}
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            kill_group(process)
    assert process.returncode == 0, output
    assert "cxminer serve: stopped" in output
    with pytest.raises(OSError):  # the local server went with it
        deployments(port)
