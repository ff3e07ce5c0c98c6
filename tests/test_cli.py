"""The ``citebot`` command line: every command, the JSON contracts, and the error paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from citebot.cli import main
from tests.builders import article

POMPEO = "Iran must withdraw all forces under Iranian command throughout the entirety Syria"


@pytest.fixture
def cli(tmp_path: Path, capsys, real_embedder):
    """Run ``citebot ARGS`` in-process on a temporary data dir; returns (code, stdout, stderr)."""
    data = tmp_path / "data"

    def run(*args: str, data_dir: Path | None = data) -> tuple[int, str, str]:
        argv = list(args) + (["--data-dir", str(data_dir)] if data_dir else [])
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        out, err = capsys.readouterr()
        return exit_info.value.code, out, err

    return run


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_console_script_answers_from_the_sample_on_a_fresh_store(tmp_path: Path):
    env = {**os.environ, "CITEBOT_DATA_DIR": str(tmp_path / "fresh")}
    proc = subprocess.run(
        [sys.executable, "-m", "citebot", "ask", "What did Pompeo demand?"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert POMPEO in proc.stdout
    assert "[1]" in proc.stdout and "Iran Rebuffs Russian Demand" in proc.stdout
    assert "ingested the bundled sample" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ask_json_contract(cli):
    code, out, _ = cli("ask", "What did Pompeo demand?", "--json")
    assert code == 0
    [obj] = lines(out)
    assert set(obj) == {"question", "answer", "abstained", "citations", "timings_ms"}
    assert obj["abstained"] is False
    for c in obj["citations"]:
        assert set(c) == {
            *("n", "id", "doc_id", "title", "url", "paragraph", "start", "end", "quote", "answer_span", "published")
        }
        span = c["answer_span"]
        assert span is None or 0 <= span["start"] < span["end"] <= len(c["quote"])
    assert any(POMPEO in c["quote"] for c in obj["citations"])
    assert obj["timings_ms"]["total"] > 0


def test_batch_ask_and_search_keep_order(cli, tmp_path: Path):
    questions = tmp_path / "q.txt"
    questions.write_text(
        "What did Pompeo demand?\n\nWho is the spokesman for Iran's Foreign Ministry?\nWhat is the capital of Peru?\n"
    )
    code, out, _ = cli("ask", "--questions", str(questions), "--json")
    assert code == 0
    objs = lines(out)
    assert [o["question"] for o in objs] == [
        "What did Pompeo demand?",
        "Who is the spokesman for Iran's Foreign Ministry?",
        "What is the capital of Peru?",
    ]
    assert [o["abstained"] for o in objs] == [False, False, True]
    code, out, _ = cli("search", "--questions", str(questions), "--json", "-k", "2")
    assert [len(o["results"]) for o in lines(out)][:2] == [2, 2]


def test_search_json_contract(cli):
    cli("ingest", str(Path(__file__).parent.parent / "retrieval" / "samples"))
    code, out, _ = cli("search", "Houthis in Yemen", "-k", "3", "--json")
    assert code == 0
    [obj] = lines(out)
    assert obj["query"] == "Houthis in Yemen" and len(obj["results"]) == 3
    for rank, r in enumerate(obj["results"], start=1):
        assert set(r) == {"rank", "id", "doc_id", "title", "paragraph", "start", "end", "text", "score"}
        assert r["rank"] == rank
    assert "Houthi" in obj["results"][0]["text"] and "Yemen" in obj["results"][0]["text"]
    assert any("support for\xa0the Houthis in\xa0Yemen" in r["text"] for r in obj["results"])


def test_cite_by_id_and_by_quote(cli):
    _, out, _ = cli("ask", "What did Pompeo demand?", "--json")
    citation = lines(out)[0]["citations"][0]
    code, out, _ = cli("cite", citation["id"], "--json")
    assert code == 0
    [obj] = lines(out)
    assert set(obj) == {"id", "doc_id", "title", "url", "start", "end", "quote", "context", "exact"}
    assert obj["quote"] == citation["quote"] and obj["quote"] in obj["context"] and obj["exact"] is True
    code, out, _ = cli("cite", "--quote", "no one can force iran to do anything", "--json")
    assert code == 0 and "No one can force Iran" in lines(out)[0]["quote"]
    code, _, err = cli("cite", "--quote", "Giraffes voted in the Syrian election")
    assert code == 1 and "does not occur" in err
    code, _, err = cli("cite")
    assert code == 2 and "one of them" in err
    code, _, err = cli("cite", "deadbeef-1-2")
    assert code == 1 and "no document with id prefix 'deadbeef' in this namespace" in err


def test_ingest_sources_forget(cli, tmp_path: Path):
    good = tmp_path / "good.md"
    good.write_text("# River Report\n\nThe river rose two meters overnight.")
    (tmp_path / "bad.txt").write_bytes(b"\x00\x00binary")
    code, out, err = cli("ingest", str(good), str(tmp_path / "bad.txt"), str(tmp_path / "nope.pdf"))
    assert code == 1
    assert "1 added, 0 unchanged, 0 replaced, 2 failed" in out
    assert "binary" in err and "no such file" in err
    code, out, _ = cli("ingest", str(good), "--json")
    assert code == 0 and lines(out)[0]["unchanged"] == 1
    code, out, _ = cli("sources", "--json")
    [doc] = lines(out)[0]["documents"]
    assert doc["title"] == "River Report"
    code, out, _ = cli("forget", doc["id"])
    assert code == 0 and "Forgot" in out
    code, out, _ = cli("sources")
    assert "No documents yet" in out
    code, _, err = cli("forget", doc["id"])
    assert code == 1 and "no document" in err


def test_namespaces_are_separate(cli, tmp_path: Path):
    story = tmp_path / "s.txt"
    story.write_text(article("Lighthouse Restored", ["Volunteers restored the lighthouse on Gull Island in 2021."]))
    cli("ingest", str(story), "--namespace", "guild-1")
    _, out, _ = cli("sources", "--namespace", "guild-2", "--json")
    assert lines(out)[0]["documents"] == []
    code, out, _ = cli("ask", "Who restored the lighthouse?", "--namespace", "guild-2", "--json")
    assert code == 0 and lines(out)[0]["abstained"] is True
    code, out, _ = cli("ask", "Who restored the lighthouse?", "--namespace", "guild-1", "--json")
    assert "Volunteers" in lines(out)[0]["citations"][0]["quote"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ask", ""), "the question is empty"),
        (("ask", "   "), "the question is empty"),
        (("ask", "x" * 1001), "limit is 1,000"),
        (("search", " "), "the query is empty"),
    ],
)
def test_bad_questions_exit_2_with_one_line(cli, args, message):
    code, _, err = cli(*args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_corrupt_data_dir_is_a_clear_error(cli, tmp_path: Path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "catalog.sqlite3").write_bytes(b"garbage" * 1000)
    code, _, err = cli("sources", data_dir=bad)
    assert code == 1 and "unreadable or corrupt" in err and "Traceback" not in err


def test_run_without_a_token_is_refused(cli, monkeypatch):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    code, _, err = cli("run")
    assert code == 2 and "DISCORD_TOKEN is not set" in err


# -- --since and --source ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ask", "What did Russia demand?", "--since", "abc"), "since 'abc' is not a time window"),
        (("search", "Russia", "--since", "7x"), "since '7x' is not a time window"),
        (("ask", "What did Russia demand?", "--source", "not a site"), "is not a site"),
        (("ask", "What did Russia demand?", "--source", ""), "--source needs a value, like --source reuters.com"),
        (("search", "Russia", "--since", "  "), "--since needs a value, like --since 7d"),
    ],
)
def test_bad_scope_exits_2_with_one_line(cli, args, message):
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_scoped_ask_and_search(cli, tmp_path: Path, real_embedder):
    from config import load_settings
    from retrieval.loaders import content_id
    from retrieval.models import Document
    from retrieval.service import CitebotService

    text = "The Marlow council voted in March 2019 to build a new bridge over the river Tane."
    svc = CitebotService.from_settings(load_settings(data_dir=tmp_path / "data"), embedder=real_embedder)
    url = "https://www.reuters.com/old-bridge"
    doc = Document(content_id(text), text, url, "Marlow bridge", url=url, published="2019-03-14T09:00:00Z")
    svc.ingest_document(doc, "news")
    del svc

    question = "When did the Marlow council vote for the bridge?"
    code, out, err = cli("ask", question, "-n", "news", "--source", "reuters.com")
    assert code == 0, err
    assert "reuters.com · 2019-03-14" in out  # the citation's outlet and date
    code, out, _ = cli("ask", question, "-n", "news", "--source", "apnews.com")
    assert code == 0 and "No documents match the filter (from apnews.com)." in out
    code, out, _ = cli("ask", question, "-n", "news", "--since", "30d", "--json")
    [obj] = lines(out)
    assert obj["abstained"] and obj["answer"].startswith("No documents match the filter (since ")
    code, out, _ = cli("search", "Marlow bridge", "-n", "news", "--since", "2019-01-01", "--json")
    assert code == 0 and [r["doc_id"] for r in lines(out)[0]["results"]] == [doc.id]
    code, out, _ = cli("search", "Marlow bridge", "-n", "news", "--since", "2020-01-01")
    assert code == 0 and "No passages found." in out
    # A question naming its own time: answered from that year, the article's date said.
    code, out, _ = cli("ask", "When did the Marlow council vote for the bridge in 2019?", "-n", "news", "--json")
    [obj] = lines(out)
    assert obj["note"] == "From 2019-03-14: the most recent matching article for “in 2019”"
    code, out, _ = cli("ask", "When did the Marlow council vote for the bridge in 2019?", "-n", "news")
    assert "(From 2019-03-14: the most recent matching article for “in 2019”)" in " ".join(out.split())
