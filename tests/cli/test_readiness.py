"""`cxminer readiness`: the ranking, then each workflow's volume and hours a month."""

from __future__ import annotations

import json

from report_store import fill

from pipeline.cli.main import EXIT_OK, main
from pipeline.store import open_store


def test_readiness_prints_the_capacity_with_units_and_totals(db_path, capsys):
    with open_store(db_path) as store:
        fill(store)
    assert main(["readiness", "--db", str(db_path)]) == EXIT_OK
    out = capsys.readouterr().out
    ranking, capacity = out.split("\n\ncapacity per month", 1)
    assert "refund_request" in ranking
    header = capacity.splitlines()[1]
    for unit in ("conv/month", "agent h/month", "AI conv/month", "AI h/month", "approvals/month"):
        assert unit in header
    rows = {line.split()[0]: line.split() for line in capacity.splitlines()[2:5]}
    assert rows["refund_request"][1:4] == ["approval", "3.0", "75%"]
    assert rows["i2"][4] == "unknown"  # no conversation of i2 is timed
    assert rows["total"][1:3] == ["4.0", "100%"]
    assert "1 conversation has no handle time" in capacity


def test_readiness_json_lines_stay_ranking_rows(db_path, capsys):
    with open_store(db_path) as store:
        fill(store)
    assert main(["readiness", "--db", str(db_path), "--json"]) == EXIT_OK
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["workflow_id"] for r in rows] == ["refund_request", "i2"]
