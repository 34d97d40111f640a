"""`cxminer serve`: the nightly and refit deployments on their cron schedules.

Schedules fire only against a real Prefect server (the temporary one a plain flow call
starts has no scheduler), so without ``PREFECT_API_URL`` a local ``prefect server
start`` is launched first and stopped on exit. Prefect is imported only after the API
URL is set: its settings are read at import.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipeline.config import load_config
from pipeline.errors import CxminerError

SERVER_START_TIMEOUT_S = 120


class ServeError(CxminerError, RuntimeError):
    """The Prefect server could not be started or reached."""


def start_server(port: int, *, timeout_s: float = SERVER_START_TIMEOUT_S) -> subprocess.Popen:
    """Start ``prefect server start`` on 127.0.0.1:port; return once it answers."""
    prefect = Path(sys.executable).with_name("prefect")
    process = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # Ctrl-C reaches us, and we stop the server ourselves
    )
    url = f"http://127.0.0.1:{port}/api/health"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            reason = (process.stderr.read() or b"").decode(errors="replace").strip()
            raise ServeError(
                f"the Prefect server exited at start (code {process.returncode}): "
                f"{reason.splitlines()[-1] if reason else 'no message'}; is port {port} free? "
                "Pass --port, or set PREFECT_API_URL to a running server"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    stop_server(process)
    raise ServeError(f"the Prefect server did not answer at {url} within {timeout_s:.0f} s")


def stop_server(process: subprocess.Popen) -> None:
    """Stop a server started by :func:`start_server` (its whole process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_flows(config_path: str | None, db_path: str | None, *, port: int = 4200) -> int:
    """Serve the nightly and refit deployments until interrupted; return an exit code."""
    config = load_config(config_path)
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: as Ctrl-C
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        print(f"cxminer serve: starting a local Prefect server on 127.0.0.1:{port}", flush=True)
        server = start_server(port)
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    try:
        from prefect import serve
        from prefect.schedules import Cron

        from flows.nightly import nightly_flow

        parameters = {"config_path": config_path, "db_path": db_path}
        deployments = [
            nightly_flow.to_deployment(
                name="nightly",
                schedule=Cron(config.flows.nightly_cron, timezone=config.flows.timezone),
                parameters=parameters,
                description="Ingest new files, then every stage, then the report.",
            ),
            nightly_flow.to_deployment(
                name="refit",
                schedule=Cron(config.flows.refit_cron, timezone=config.flows.timezone),
                parameters={**parameters, "refit": True},
                description="The nightly flow with a refit of the intent model.",
            ),
        ]
        print(
            f"cxminer serve: nightly at '{config.flows.nightly_cron}', refit at "
            f"'{config.flows.refit_cron}' ({os.environ['PREFECT_API_URL']}); Ctrl-C stops",
            flush=True,
        )
        try:
            serve(*deployments, print_starting_message=False)
        except KeyboardInterrupt:
            pass
        print("cxminer serve: stopped", flush=True)
        return 0
    finally:
        if server is not None:
            stop_server(server)
