"""The benchmark scripts run end to end (tiny sizes: this checks they work, not how fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import write_squad

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_benchmark_script_prints_every_row_beside_its_baseline(tmp_path: Path):
    dataset = write_squad(tmp_path / "tiny-squad.json")
    out = tmp_path / "bench.json"
    args = ["benchmarks/run.py", "--dataset", str(dataset), "--sizes", "40", "--questions", "4"]
    args += ["--bounds-paragraphs", "300", "--bounds-html-bytes", "60000"]
    done = run([*args, "--concurrent-asks", "4", "--json", str(out)])
    report = json.loads(out.read_text())
    ingest = report["ingest"]
    assert ingest["texts_embedded"] == ingest["chunks"] > 0
    assert ingest["reingest_texts_embedded"] == 0
    assert set(ingest["raw_encode_seconds_by_batch_size"]) == {"4", "8", "32"}
    real, synthetic = report["sizes"]
    assert real["chunks"] == ingest["chunks"]
    assert synthetic["chunks"] > 0 and synthetic["build"]["naive_chunks"] > 0  # tiny text: fewer than asked
    for size in report["sizes"]:
        for system in ("citebot", "citebot-off", "naive"):
            assert size[system]["p50_ms"] > 0 and size[system]["peak_rss_mb"] > 0
    bounds = report["bounds"]
    assert bounds["soup"]["result"].startswith("refused") and bounds["real_page"]["result"] == "accepted"
    assert bounds["short_paragraphs"]["bounded_join_s"] > 0
    assert all(v["errors"] == 0 for v in report["concurrency"].values())
    for row in (
        "ingest chunks/s",
        "re-ingest unchanged",
        "ask p50 ms @",
        "open and first answer",
        "peak RSS MB @",
        "cold start",
        "what the reranker adds",
        "reranker on vs off",
        "sentence join of the index build",
        "tag-soup HTML",
        "asks/s with 32 concurrent",
    ):
        assert row in done.stdout, row


def test_news_check_reports_answer_metrics():
    result = json.loads(run(["benchmarks/news_check.py", "--json"]).stdout)
    assert result["citation_validity"] == 1.0
    assert result["answerable"] == sum(1 for q in result["questions"] if q["gold"])
    assert 0 <= result["hit_at_1"] <= 1 and 0 <= result["abstain_unanswerable"] <= 1


def test_ceilings_benchmark_ranks_the_same_questions_every_way(tmp_path: Path):
    dataset = write_squad(tmp_path / "tiny-squad.json")
    out = tmp_path / "ceilings.json"
    done = run(["benchmarks/ceilings.py", "--dataset", str(dataset), "--sample", "20", "--json", str(out)])
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert set(rows) == {
        "shipped",
        "no cross-encoder",
        "every sentence, shipped weight",
        "every sentence, cross-encoder alone",
        "whole chunks",
        "first stage, 30 candidates a side",
    }
    assert report["answerable"] > 0 and report["absent"] > 0
    for entry in rows.values():
        assert 0 <= entry["recall@1"] <= entry["recall@5"] <= entry["recall@10"] <= 1
    assert (
        rows["first stage, 30 candidates a side"]["recall@10"] <= rows["first stage, 30 candidates a side"]["recall@20"]
    )
    assert "recall@20" not in rows["shipped"]  # it ranks 10 chunks
    assert 0 <= rows["shipped"]["absent abstain @ 5%"] <= 1
    assert rows["every sentence, shipped weight"]["ms per question"] > 0
    assert set(report["any sentence of the top k chunks holds the answer"]) == {"1", "3", "5", "10"}
    assert "| shipped |" in done.stdout


def test_sets_benchmark_prints_each_filter_beside_its_baseline(tmp_path: Path):
    dataset = write_squad(tmp_path / "tiny-squad.json")
    out = tmp_path / "sets.json"
    args = ["benchmarks/sets.py", "--dataset", str(dataset), "--chunks", "60", "--sets", "3", "--questions", "4"]
    run([*args, "--keep", str(tmp_path / "work"), "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["built"]["chunks"] > 0
    rows = report["rows"]
    assert rows["ask, no filter"]["x_baseline"] == 1.0
    assert rows["chroma query, one collection, no filter"]["x_baseline"] == 1.0
    assert all(row["p50_ms"] > 0 for row in rows.values())
    # one set of three: some chunks allowed, not all
    assert 0 < report["allowed chunks, one set"] < report["built"]["chunks"]


@pytest.mark.server
@pytest.mark.postgres
def test_scale_benchmark_prints_server_rows_beside_embedded(tmp_path: Path):
    dataset = write_squad(tmp_path / "tiny-squad.json")
    out = tmp_path / "scale.json"
    args = ["benchmarks/scale.py", "--dataset", str(dataset), "--sizes", "60", "--questions", "4"]
    args += ["--namespaces", "3", "--writer-articles", "2", "--writer-sentences", "5", "--json", str(out)]
    done = run(args)
    report = json.loads(out.read_text())
    (size,) = report["sizes"]
    for config in ("embedded", "server"):
        assert size["ingest"][config]["chunks"] > 0
        assert size["ask"][config]["p50_ms"] > 0 and size["ask"][config]["peak_rss_mb"] > 0
        assert report["writers"][config]["two writers"] > 0
    assert report["namespaces"]["built"]["namespaces"] == 3
    assert set(report["namespaces"]["visit"]) == {"cache bound 64 MB", "cache unbounded"}
    for row in ("| ingest, ", "| ask p50 (ms), ", "| server | ", "| one of 3 namespaces |", "| cache bound 64 MB |"):
        assert row in done.stdout, row
