"""pipeline.progress: bar, log and off modes, the ticker's life; flows.progress: the run log."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest

import pipeline.progress as progress
from pipeline.errors import ConfigError
from pipeline.progress import track


class Recorder:
    """A stand-in for stderr that keeps each write with the time it came."""

    def __init__(self, *, tty: bool = False) -> None:
        self.tty = tty
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((time.monotonic(), text))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty

    @property
    def text(self) -> str:
        return "".join(text for _, text in self.writes)


class Records(logging.Handler):
    """Keep every record ``cxminer.progress`` writes (any level, any mode)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int = logging.INFO) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]


def recorded_stderr(monkeypatch) -> Recorder:
    """Put a :class:`Recorder` in place of ``sys.stderr`` (in the test: pytest's capture
    puts its own back between a fixture's setup and the test)."""
    recorder = Recorder()
    monkeypatch.setattr("sys.stderr", recorder)
    return recorder


@pytest.fixture
def records() -> Records:
    handler = Records()
    progress.logger.addHandler(handler)
    yield handler
    progress.logger.removeHandler(handler)


def tickers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("cxminer-progress")]


@pytest.mark.parametrize(
    ("setting", "tty", "mode"),
    [("", False, "log"), ("", True, "bar"), ("auto", False, "log"), ("AUTO", True, "bar"),
     ("bar", False, "bar"), ("log", True, "log"), ("off", True, "off")],
)  # fmt: skip
def test_the_mode_follows_the_variable_and_auto_follows_the_terminal(
    monkeypatch, setting, tty, mode
):
    monkeypatch.setenv(progress.MODE_ENV, setting)
    monkeypatch.setattr("sys.stderr", Recorder(tty=tty))
    assert progress.progress_mode() == mode


def test_an_unknown_mode_is_a_config_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv(progress.MODE_ENV, "fancy")
    with pytest.raises(ConfigError, match="CXMINER_PROGRESS: expected one of auto/bar/log/off"):
        track("embedding")


def test_the_bar_moves_at_least_every_second_during_an_opaque_call(monkeypatch, records):
    stderr = recorded_stderr(monkeypatch)
    monkeypatch.setenv(progress.MODE_ENV, "bar")
    with track("intents: UMAP on 300 conversations"):
        assert tickers() == ["cxminer-progress: intents: UMAP on 300 conversations"]
        time.sleep(2.3)  # stands for a call that reports nothing
    times = [at for at, _ in stderr.writes]
    assert max(b - a for a, b in zip(times, times[1:], strict=False)) <= 1.0
    assert "intents: UMAP on 300 conversations [00:02]" in stderr.text  # the elapsed time moved
    assert tickers() == []
    # the lines still go to the logger (for the Prefect run log), but not to the terminal
    lines = records.lines()
    assert lines[0] == "intents: UMAP on 300 conversations: started"
    assert lines[-1].startswith("intents: UMAP on 300 conversations: done in 2.")
    assert "started" not in stderr.text


def test_a_counted_bar_shows_done_of_total_in_its_unit(monkeypatch):
    stderr = recorded_stderr(monkeypatch)
    monkeypatch.setenv(progress.MODE_ENV, "bar")
    with track("embedding", total=10, unit=" texts") as bar:
        bar.update(4)
        bar.update(6)
    assert bar.done == 10
    assert "embedding: 100%" in stderr.text and "10/10" in stderr.text and "texts/s" in stderr.text


def test_log_lines_at_start_periodically_and_at_the_end(monkeypatch, records):
    stderr = recorded_stderr(monkeypatch)
    monkeypatch.setenv(progress.MODE_ENV, "log")
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.3)
    monkeypatch.setattr(progress, "TICK_S", 0.05)
    with track("embedding", total=20, unit=" texts") as bar:
        for _ in range(10):
            time.sleep(0.1)
            bar.update(2)
    lines = records.lines()
    assert lines[0] == "embedding: started, 20 texts to do"
    end = r"embedding: done in \d\.\d s, 20/20 texts \(100%\), \d+ texts/s"
    assert re.fullmatch(end, lines[-1])
    periodic = lines[1:-1]
    assert len(periodic) >= 2  # about 1 s at one line every 0.3 s
    for line in periodic:
        assert re.fullmatch(r"embedding: \d+/20 texts \(\d+%\), \d+ texts/s, \d\.\d s", line)
    info = [r.created for r in records.records if r.levelno == logging.INFO]
    assert min(b - a for a, b in zip(info, info[1:-1], strict=False)) >= 0.3 - 0.01  # at most every
    # plain lines on stderr, each with the time
    assert re.match(r"\d\d:\d\d:\d\d \| embedding: started", stderr.text)
    assert stderr.text.count("\n") == len(lines) and "\r" not in stderr.text
    assert tickers() == []


def test_an_opaque_call_logs_its_elapsed_time(monkeypatch, records):
    stderr = recorded_stderr(monkeypatch)
    monkeypatch.setenv(progress.MODE_ENV, "log")
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.2)
    monkeypatch.setattr(progress, "TICK_S", 0.05)
    with track("intents: UMAP on 300 conversations"):
        time.sleep(0.5)
    lines = records.lines()
    assert lines[0] == "intents: UMAP on 300 conversations: started"
    assert re.fullmatch(r"intents: UMAP on 300 conversations: running, \d\.\d s", lines[1])
    assert re.fullmatch(r"intents: UMAP on 300 conversations: done in \d\.\d s", lines[-1])
    assert stderr.text.count(" | intents: UMAP on 300 conversations: ") == len(lines)


def test_an_inner_block_starts_and_ends_quietly_and_writes_the_periodic_line(monkeypatch, records):
    stderr = recorded_stderr(monkeypatch)
    monkeypatch.setenv(progress.MODE_ENV, "log")
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.2)
    monkeypatch.setattr(progress, "TICK_S", 0.05)
    with track("drift"):
        with track("drift: exception clusters"):
            time.sleep(0.5)
    lines = records.lines()  # the inner block's start and end are DEBUG: left out at INFO
    assert lines[0] == "drift: started" and lines[-1].startswith("drift: done in ")
    periodic = lines[1:-1]
    assert periodic
    assert all(line.startswith("drift: exception clusters: running") for line in periodic)
    assert stderr.text.count("\n") == len(lines)


def test_off_is_silent_and_starts_no_thread(monkeypatch, records):
    stderr = recorded_stderr(monkeypatch)
    monkeypatch.setenv(progress.MODE_ENV, "off")
    with track("embedding", total=3, unit=" texts") as bar:
        assert tickers() == []
        bar.update(3)
    assert bar.done == 3
    assert stderr.writes == [] and records.records == []


@pytest.mark.parametrize("mode", ["bar", "log"])
def test_an_exception_inside_the_block_stops_the_ticker_and_propagates(monkeypatch, records, mode):
    recorded_stderr(monkeypatch)
    monkeypatch.setenv(progress.MODE_ENV, mode)
    with pytest.raises(ZeroDivisionError), track("steps: tagging 2,705 turns"):
        assert len(tickers()) == 1
        1 / 0  # noqa: B018
    assert tickers() == []
    assert records.lines()[-1].startswith("steps: tagging 2,705 turns: stopped after 0.")
    assert records.lines()[-1].endswith("(ZeroDivisionError)")
    assert progress._OPEN.blocks == []  # a later block is outermost again


@pytest.fixture
def run_logs_at_info():
    """Let Prefect's run loggers pass INFO (the suite keeps Prefect at WARNING)."""
    import prefect.main  # noqa: F401  (configures Prefect's loggers: before the level is set)

    run_loggers = logging.getLogger("prefect.flow_runs")
    level = run_loggers.level
    run_loggers.setLevel(logging.INFO)
    yield
    run_loggers.setLevel(level)


@pytest.mark.usefixtures("prefect_harness", "run_logs_at_info")
def test_the_run_log_gets_the_lines_of_bar_mode_and_the_ticker(monkeypatch):
    """flows.progress: start, periodic (from the ticker thread) and end lines reach Prefect."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    from flows.progress import stage_progress

    monkeypatch.setenv(progress.MODE_ENV, "bar")
    monkeypatch.setattr("sys.stderr", Recorder())
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.2)
    monkeypatch.setattr(progress, "TICK_S", 0.05)

    @flow(name="progress-demo")
    def demo() -> int:
        with stage_progress("demo"), track("demo: opaque call"):
            time.sleep(0.6)
        return 1

    state = demo(return_state=True)
    assert state.is_completed()
    APILogHandler().flush()
    run = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        logs = [
            (log.name, log.message) for log in client.read_logs(log_filter=run, limit=200, offset=0)
        ]
    ours = [message for name, message in logs if name == "cxminer.progress"]
    assert ours[0] == "demo: started" and ours[-1].startswith("demo: done in 0.")
    assert any(m.startswith("demo: opaque call: running, 0.") for m in ours[1:-1]), ours
    # outside a run the handler is gone: nothing more is sent
    assert not any(type(h).__name__ == "RunLogHandler" for h in progress.logger.handlers)
