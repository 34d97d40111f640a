"""`cxminer export-vcon` on the real run of the bundled sample (tests/e2e/conftest.py).

One vCon file per conversation; no raw e-mail, phone or id of the corpus in any file; the
planted drift findings are in the files of conversations that show them (checked against
the conformance the same files carry); every file loads back with the vCon adapter.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import polars as pl
import pytest

from pipeline.cli.main import main
from pipeline.config import IngestConfig
from pipeline.export.run import SUFFIX
from pipeline.store import open_store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?:\+\d{1,2}[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}")


@pytest.fixture(scope="module")
def exported(bundled_run, tmp_path_factory) -> tuple[Path, list[dict]]:
    """The bundled run exported once: the folder and its documents."""
    out = tmp_path_factory.mktemp("vcon")
    assert main(["export-vcon", "--config", str(bundled_run.config), "-o", str(out)]) == 0
    return out, [json.loads(p.read_bytes()) for p in sorted(out.glob(f"*{SUFFIX}"))]


def raw_values() -> tuple[set[str], set[str]]:
    """The e-mails and phone numbers in the corpus's turns, and its raw customer/agent ids."""
    found, ids = set(), set()
    with gzip.open(ROOT / "data" / "sample" / "conversations.jsonl.gz", "rt") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the planted broken records
            if not isinstance(record, dict):
                continue
            ids |= {
                record[k] for k in ("customer_id", "agent_id") if isinstance(record.get(k), str)
            }
            for turn in record.get("turns") or []:
                if isinstance(turn, dict):
                    for value in (turn.get("text"), json.dumps(turn.get("args"))):
                        if isinstance(value, str):
                            found |= set(EMAIL.findall(value)) | set(PHONE.findall(value))
    return found, ids


def analyses(vcon: dict, kind: str) -> list[dict]:
    return [a["body"] for a in vcon["analysis"] if a["type"] == kind]


def test_one_vcon_per_conversation_and_no_raw_pii_or_id_in_any(bundled_run, exported):
    out, vcons = exported
    with open_store(bundled_run.db, read_only=True) as store:
        n_conversations = store.count("conversations")
        hashes = set(store.sql("select customer_hash from conversations")["customer_hash"])
    assert len(vcons) == n_conversations == 6402
    pii, ids = raw_values()
    assert len(pii) > 1000 and len(ids) > 1000
    texts = pl.Series([p.read_text(encoding="utf-8") for p in out.iterdir()])
    found = texts.str.extract_many(sorted(pii | ids), overlapping=True)  # Aho-Corasick: seconds
    assert found.explode().drop_nulls().unique().to_list() == []
    assert texts.str.contains("<EMAIL>", literal=True).any()
    assert texts.str.contains("<PHONE>", literal=True).any()
    customers = {p.get("uuid") for v in vcons for p in v["parties"] if p["role"] == "customer"}
    assert customers == hashes


def test_the_results_in_the_files_are_those_of_the_database(bundled_run, exported):
    _, vcons = exported
    with open_store(bundled_run.db, read_only=True) as store:
        counts = {table: store.count(table) for table in ("intent_assignments", "conformance")}
        examples = store.sql("select count(distinct conversation_id) as n from drift_examples")
    assert sum(len(analyses(v, "intent")) for v in vcons) == counts["intent_assignments"]
    assert sum(len(analyses(v, "conformance")) for v in vcons) == counts["conformance"]
    assert sum(bool(analyses(v, "drift")) for v in vcons) == examples["n"][0] > 0
    for vcon in vcons:
        for steps in analyses(vcon, "steps"):
            assert [s["seq"] for s in steps["steps"]] == list(range(len(steps["steps"])))
            for step in steps["steps"]:
                if step["dialog"] is not None:  # an agent's turn, never a customer's
                    speaker = vcon["dialog"][step["dialog"]]["parties"][0]
                    assert vcon["parties"][speaker]["role"] == "agent"


@pytest.mark.parametrize(
    ("kind", "workflow", "step", "shows"),
    [
        ("missing", "refund_request", "verify_identity",
         lambda c: "verify_identity" in c["missing"]),
        ("order_violation", "address_change", "send_confirmation",
         lambda c: "send_confirmation before update_address" in c["order_violations"]),
    ],
)  # fmt: skip
def test_a_planted_finding_is_in_the_files_of_conversations_that_show_it(
    exported, kind, workflow, step, shows
):
    _, vcons = exported
    carriers = [
        vcon for vcon in vcons for drift in analyses(vcon, "drift") for finding in drift["findings"]
        if (finding["kind"], finding["workflow_id"], finding["step"]) == (kind, workflow, step)
    ]  # fmt: skip
    assert len(carriers) >= 2
    for vcon in carriers:
        assert [s["workflow_id"] for s in analyses(vcon, "steps")] == [workflow]
        assert any(shows(check) for check in analyses(vcon, "conformance"))


def test_every_file_loads_back_with_the_vcon_adapter(bundled_run, exported):
    vcon_adapter = pytest.importorskip("pipeline.ingest.adapters.vcon")
    out, _ = exported
    n_conversations = n_turns = 0
    for path in sorted(out.glob(f"*{SUFFIX}")):
        for batch in vcon_adapter.ADAPTER.read(path, IngestConfig()):
            assert batch.rejects.is_empty(), (path.name, batch.rejects.to_dicts())
            n_conversations += batch.conversations.height
            n_turns += batch.turns.height
    with open_store(bundled_run.db, read_only=True) as store:
        assert (n_conversations, n_turns) == (store.count("conversations"), store.count("turns"))
