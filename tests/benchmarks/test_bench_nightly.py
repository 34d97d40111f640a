"""The nightly benchmark's corpus (structure kept, wording real) and its per-stage table.

The benchmark itself runs the whole pipeline (minutes); here the corpus generator runs at
a small N and the table builder on synthetic runs and samples.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import nightly_corpus  # noqa: E402
from bench_nightly import format_table, interpolate, stage_table  # noqa: E402
from nightly_corpus import (  # noqa: E402
    TOLERANCE,
    calibrate,
    corpus_shares,
    distinct_share,
    generate_corpus,
    read_real,
    real_shares,
)

from pipeline.sample.generate import generate_sample  # noqa: E402

SEED = 3


@pytest.fixture(scope="module")
def real():
    return read_real()


@pytest.fixture(scope="module")
def generated(real):
    """As many conversations as STAR has dialogues: the size the shares are matched at."""
    return generate_corpus(len(real.star_dialogues), seed=SEED, real=real)


def _without_text(record: dict) -> dict:
    return {
        **record,
        "turns": [{k: v for k, v in t.items() if k != "text"} for t in record["turns"]],
    }


@pytest.mark.shared_data
def test_the_corpus_is_deterministic(real):
    first, again = (generate_corpus(300, seed=SEED, real=real) for _ in range(2))
    assert first[0] == again[0] and first[2] == again[2]
    assert first[0] != generate_corpus(300, seed=SEED + 1, real=real)[0]


@pytest.mark.shared_data
def test_the_corpus_keeps_the_samples_structure_and_truth(generated):
    records, labels, _ = generated
    planned = generate_sample(len(records), seed=SEED).conversations[: len(records)]
    assert [_without_text(r) for r in records] == [_without_text(c.record) for c in planned]
    assert [label["intent"] for label in labels] == [c.intent for c in planned]
    for record in records:
        speakers = {t["speaker"] for t in record["turns"] if t.get("text")}
        assert speakers == {"customer", "agent"}, record["conversation_id"]
    assert any(t.get("event_type") == "action" for r in records for t in r["turns"])


@pytest.mark.shared_data
def test_the_wording_comes_from_the_real_datasets(real, generated):
    records, _, figures = generated
    texts = [t["text"] for r in records for t in r["turns"] if t.get("text")]
    queries = {q for pool in real.banking77.values() for q in pool}
    assert 0 < figures["q"] < 1 and 0 < figures["p"] < 1
    assert queries & set(texts), "no opening is a Banking77 query"
    assert any(s in text for text in texts for s in real.agent_sentences if len(s) > 25)
    assert set(real.customer_goodbyes) & set(texts)


@pytest.mark.shared_data
@pytest.mark.parametrize("kind", ["opening", "agent"])
def test_distinct_shares_match_the_real_ones_at_the_same_size(real, generated, kind):
    records, _, figures = generated
    k = figures["k"]
    assert k == len(records) == len(real.star_dialogues)
    generated_share = corpus_shares(records[:k])[kind]
    real_share = real_shares(real, k)[kind]
    assert abs(generated_share - real_share) <= TOLERANCE, (generated_share, real_share)
    planned = generate_sample(k, seed=SEED).conversations[:k]
    assert generated_share > corpus_shares([c.record for c in planned])[kind] + TOLERANCE


def test_missing_data_is_one_line_naming_the_folder(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        read_real(tmp_path)
    assert nightly_corpus.main(["10", "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "shared" in err


def test_distinct_share_ignores_case_and_whitespace():
    assert distinct_share(["Hi  there", "hi there ", "Bye"]) == pytest.approx(2 / 3)
    assert distinct_share([]) == 0.0


@pytest.mark.parametrize(("target", "expected"), [(0.45, 0.5), (0.1, 0.0), (0.9, 1.0)])
def test_calibrate_finds_the_probability_of_a_target_share(target, expected):
    assert calibrate(lambda p: 0.2 + 0.5 * p, target) == pytest.approx(expected, abs=1e-3)


# samples (epoch s, RSS MB, CPU s): CPU at 0.5/s up to t=4, then 1/s; RSS peaks at t=7
SAMPLES = [
    (float(t), rss, (0.5 * t if t <= 4 else 2 + (t - 4)))
    for t, rss in enumerate([100, 200, 300, 250, 240, 600, 700, 900, 500, 400, 450])
]
RUNS = [
    {
        "flow": "ingest",
        "started_at": 1.0,
        "finished_at": 4.0,
        "status": "ok",
        "row_counts": {"records": 12, "loaded": 10},
    },
    {
        "flow": "embed",
        "started_at": 4.0,
        "finished_at": 8.5,
        "status": "ok",
        "row_counts": {"texts": 50, "encoded": 20},
    },
    {
        "flow": "drift",
        "started_at": 9.2,
        "finished_at": 9.4,
        "status": "ok",
        "row_counts": {"unchanged": 1},
    },
    {
        "flow": "report",
        "started_at": 9.5,
        "finished_at": None,
        "status": "running",
        "row_counts": {},
    },
]


def test_interpolate_is_linear_between_samples_and_flat_outside():
    assert interpolate(SAMPLES, 4.5, 2) == pytest.approx(2.5)
    assert interpolate(SAMPLES, 2.25, 1) == pytest.approx(287.5)
    assert interpolate(SAMPLES, -1, 2) == 0.0 and interpolate(SAMPLES, 99, 2) == 8.0


def test_stage_table_attributes_cpu_and_rss_to_each_window():
    table = {row["stage"]: row for row in stage_table(RUNS, SAMPLES)}
    ingest, embed, drift, report = table["ingest"], table["embed"], table["drift"], table["report"]
    assert (ingest["wall_s"], ingest["cpu_s"], ingest["peak_rss_mb"]) == (3.0, 1.5, 300)
    assert (ingest["rows"], ingest["rows_of"], ingest["encoded"]) == (10, "loaded", None)
    assert embed["cpu_s"] == pytest.approx(4.5) and embed["peak_rss_mb"] == 900
    assert (embed["rows"], embed["encoded"]) == (50, 20)
    # no sample inside 9.2-9.4 s: the samples around it (t=9 and t=10)
    assert drift["peak_rss_mb"] == 450 and drift["cpu_s"] == pytest.approx(0.2)
    assert (drift["rows"], drift["rows_of"]) == (1, "unchanged")
    # never finished: its window runs to the last sample
    assert report["wall_s"] == pytest.approx(0.5) and report["rows"] is None


def test_the_whole_line_gives_the_share_of_wall_time_spent_embedding():
    whole = {"wall_s": 9.0, "cpu_s": 7.0, "peak_rss_mb": 910.0, "exit_code": 0}
    printed = format_table(stage_table(RUNS, SAMPLES), whole)
    assert "embedding 50% of wall" in printed
    assert [line.split()[0] for line in printed.splitlines()[1:5]] == [r["flow"] for r in RUNS]
