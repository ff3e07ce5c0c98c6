"""The ``citebot`` command as users run it: a real ``python -m citebot`` process each time.

Error paths (usage, settings, undecodable input, Ctrl-C, unreachable services, a mistyped
model) must end in one clear line and the documented exit code, never a traceback; the
smaller behaviours (batch text output, namespaces, ingest order, hidden folders, ...) are
checked on a temporary data dir. Network traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.builders import article
from tests.http_server import free_port, serve

ROOT = Path(__file__).resolve().parents[1]
POMPEO = "Iran must withdraw all forces under Iranian command throughout the entirety Syria"
SAMPLE_TITLE = "Iran Rebuffs Russian Demand to Withdraw from Syria"


def env_for(data_dir: Path, **extra: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(
        PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        CITEBOT_DATA_DIR=str(data_dir),
        COLUMNS="200",
    )
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def citebot(
    *args: str, data_dir: Path, cwd: Path | None = None, timeout: float = 240, **env: str | None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m citebot ARGS``; output stays bytes so tests can check it is valid UTF-8."""
    return subprocess.run(
        [sys.executable, "-m", "citebot", *args],
        capture_output=True,
        env=env_for(data_dir, **env),
        cwd=cwd or data_dir.parent,
        timeout=timeout,
    )


def text(data: bytes) -> str:
    return data.decode("utf-8")  # strict: invalid UTF-8 fails the test


def one_error_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = text(proc.stderr)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:"), err
    return lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory) -> Path:
    """A data dir holding the bundled sample (ingested by a first ``ask``), for read-only tests."""
    data = tmp_path_factory.mktemp("sample") / "data"
    proc = citebot("ask", "What did Pompeo demand?", data_dir=data)
    assert proc.returncode == 0 and POMPEO in text(proc.stdout), proc.stderr
    return data


# -- 13: undecodable input ----------------------------------------------------------------
@pytest.mark.parametrize(
    "command", [["sources"], ["ask", "What did Pompeo demand?"], ["search", "Pompeo", "--json"], ["ingest", "."]]
)
def test_an_undecodable_namespace_is_refused_in_one_line(data: Path, command: list[str]):
    proc = citebot(*command, "-n", "ns\udcff", data_dir=data)  # the argv bytes b"ns\xff"
    assert proc.returncode == 2
    assert "namespace is not valid UTF-8" in one_error_line(proc)


@pytest.mark.slow
def test_json_output_is_valid_utf8_with_undecodable_bytes_in_the_input(sample_store: Path, data: Path, tmp_path: Path):
    proc = citebot("search", "Pompeo\udcff", "--json", data_dir=sample_store)
    assert proc.returncode == 0, proc.stderr
    [obj] = [json.loads(line) for line in text(proc.stdout).splitlines()]
    assert obj["query"] == "Pompeo\ufffd" and obj["results"]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "caf\udce9.txt").write_text("The caf\u00e9 opened at dawn on the harbour front.")  # name b"caf\xe9.txt"
    proc = citebot("ingest", str(folder), "--json", data_dir=data)
    assert proc.returncode == 0, proc.stderr
    [report] = [json.loads(line) for line in text(proc.stdout).splitlines()]
    assert report["added"] == 1 and report["items"][0]["source"].endswith("caf\ufffd.txt")


# -- 14: usage errors, settings, Ctrl-C, unreachable services ------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no command given (one of: ingest, ask"),
        (("bogus",), "No such command 'bogus'"),
        (("ask", "--bogus"), "No such option: --bogus"),
        (("forget",), "Missing argument 'DOC_ID'"),
        (("search", "x", "-k", "0"), "Invalid value for '-k'"),
        (("run", "--sync-guild", "abc"), "Invalid value for '--sync-guild'"),
        (("sources", "--data-dir"), "'--data-dir' requires an argument"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(data: Path, args: tuple[str, ...], message: str):
    proc = citebot(*args, data_dir=data)
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert message in line and "--help" in line


@pytest.mark.slow
def test_an_unusable_data_dir_is_one_line(tmp_path: Path):
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    for data_dir in (afile, afile / "below"):
        proc = citebot("sources", data_dir=data_dir, cwd=tmp_path)
        assert proc.returncode == 1
        assert str(afile) in one_error_line(proc)


@pytest.mark.parametrize(
    ("env", "config", "message"),
    [
        ({"CITEBOT_CHUNK_SIZE": "abc"}, None, "invalid setting chunk_size (env CITEBOT_CHUNK_SIZE)"),
        ({"CITEBOT_SEARCH_K": "0"}, None, "search_k (env CITEBOT_SEARCH_K): Input should be greater than"),
        ({}, "chunk_size = [\n", "not valid TOML"),
        ({}, "missing", "no such file"),
    ],
)
def test_invalid_settings_are_one_line_with_exit_2(data: Path, tmp_path: Path, env, config, message):
    if config is not None:
        path = tmp_path / "citebot.toml"
        if config != "missing":
            path.write_text(config)
        env = {**env, "CITEBOT_CONFIG": str(path)}
    started = time.monotonic()
    proc = citebot("sources", data_dir=data, **env)
    assert time.monotonic() - started < 30
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert message in line
    if config is not None:
        assert str(tmp_path / "citebot.toml") in line


@pytest.mark.slow
def test_ctrl_c_during_ingest_says_aborted_and_exits_130(data: Path, tmp_path: Path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        sentences = [f"Report {i} says the river number {i} rose by {j} meters on day {j}." for j in range(12)]
        (folder / f"r{i:03}.txt").write_text(article(f"River Report {i}", sentences))
    proc = subprocess.Popen(
        [sys.executable, "-m", "citebot", "ingest", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_for(data),
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # interrupt once documents are going in
            time.sleep(0.1)
            try:
                with sqlite3.connect(f"file:{data / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=1) as db:
                    if db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] >= 1:
                        break
            except sqlite3.Error:
                continue
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert text(err).strip().splitlines()[-1] == "Aborted"
    assert "Traceback" not in text(err)
    # Nothing half-done stays visible: running the ingest again completes it.
    again = citebot("ingest", str(folder), "--json", data_dir=data)
    assert again.returncode == 0, again.stderr
    report = json.loads(text(again.stdout))
    assert report["added"] + report["unchanged"] == 40 and report["unchanged"] >= 1 and report["added"] >= 1


@pytest.mark.slow
def test_an_unreachable_discord_api_is_one_line(data: Path):
    base = f"http://127.0.0.1:{free_port()}/api/v10"  # nothing listens there
    proc = citebot("run", data_dir=data, CITEBOT_DISCORD_API_BASE=base, CITEBOT_LOG_LEVEL="ERROR", timeout=120)
    assert proc.returncode == 1
    err = text(proc.stderr)
    # discord.py logs its own start-up warnings (no voice support); the failure itself is one line.
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot reach the Discord API at {base}: Cannot connect"), err


def _no_such_model(proc: subprocess.CompletedProcess[bytes], seconds: float) -> str:
    assert proc.returncode == 1
    assert seconds < 20, seconds  # sentence-transformers alone retried the hub for 80 s
    line = one_error_line(proc)
    assert "embedding model 'all-MiniLM-L6-v3': no such local path" in line
    return line


@pytest.mark.slow
def test_a_mistyped_model_name_fails_fast_in_one_line(data: Path):
    model: dict[str, Any] = {"CITEBOT_EMBEDDING_MODEL": "all-MiniLM-L6-v3"}
    started = time.monotonic()
    proc = citebot("ask", "anything", data_dir=data, **model)
    assert "not in the Hugging Face cache" in _no_such_model(proc, time.monotonic() - started)
    # Online, but the hub is unreachable (refused) or does not know the name (404).
    online: dict[str, Any] = {**model, "HF_HUB_OFFLINE": None, "HF_HOME": str(data.parent / "hf")}
    started = time.monotonic()
    proc = citebot("ask", "anything", data_dir=data, HF_ENDPOINT=f"http://127.0.0.1:{free_port()}", **online)
    assert "cannot be reached" in _no_such_model(proc, time.monotonic() - started)
    with serve({}) as base:
        started = time.monotonic()
        proc = citebot("ask", "anything", data_dir=data, HF_ENDPOINT=base, **online)
    assert "no such model on the Hugging Face hub" in _no_such_model(proc, time.monotonic() - started)


# -- 15: the smaller ones -----------------------------------------------------------------
def test_help_shows_the_data_dir_environment_variable(data: Path):
    proc = citebot("sources", "--help", data_dir=data)
    assert proc.returncode == 0
    assert "CITEBOT_DATA_DIR" in text(proc.stdout)


NAMESPACED = {"ingest", "ask", "search", "cite", "sources", "forget"}
WITH_DATA_DIR = NAMESPACED | {"namespaces", "run"}


@pytest.mark.slow
def test_readme_and_cli_agree_on_which_commands_take_namespace_and_data_dir(data: Path):
    section = (ROOT / "README.md").read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    assert "All commands take" not in section
    claim = re.search(r"^(.*?) take `--namespace NAME`.*?take `--data-dir DIR`", section, re.MULTILINE | re.DOTALL)
    assert claim is not None
    assert set(re.findall(r"`(\w+)`", claim.group(1))) == NAMESPACED
    for command in sorted(WITH_DATA_DIR | {"eval"}):
        assert f"`{command}`" in section
        helptext = text(citebot(command, "--help", data_dir=data).stdout)
        assert ("--namespace" in helptext) == (command in NAMESPACED), command
        assert ("--data-dir" in helptext) == (command in WITH_DATA_DIR), command


@pytest.mark.slow
def test_batch_text_mode_labels_answers_and_reports_bad_questions_on_stderr(sample_store: Path, tmp_path: Path):
    questions = tmp_path / "q.txt"
    questions.write_text(f"What did Pompeo demand?\n{'x' * 1001}\nWho is the spokesman for Iran's Foreign Ministry?\n")
    proc = citebot("ask", "--questions", str(questions), data_dir=sample_store)
    assert proc.returncode == 0, proc.stderr
    out, err = text(proc.stdout), text(proc.stderr)
    assert "{" not in out  # no raw JSON objects among the answers
    assert re.search(r"^Q1: What did Pompeo demand\?$", out, re.MULTILINE)
    assert re.search(r"^Q3: Who is the spokesman for Iran's Foreign Ministry\?$", out, re.MULTILINE)
    assert "Q2" not in out and out.index("Q1:") < out.index(POMPEO) < out.index("Q3:")
    assert "error: question 2: the question is 1,001 characters; the limit is 1,000" in err
    proc = citebot("search", "--questions", str(questions), "-k", "1", data_dir=sample_store)
    out = text(proc.stdout)
    assert re.search(r"^Query 1: What did Pompeo demand\?$", out, re.MULTILINE) and "{" not in out


def test_cite_of_an_unknown_id_says_there_is_no_such_document(sample_store: Path):
    proc = citebot("cite", "deadbeef-1-2", data_dir=sample_store)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert "no document with id prefix 'deadbeef' in this namespace" in line
    assert "never ingested here" in line  # not only "no longer in the store": it may never have been


@pytest.mark.slow
def test_the_first_run_says_one_line_while_preparing_the_model(data: Path, tmp_path: Path):
    proc = citebot("search", "harbour", data_dir=data, CITEBOT_MODEL_CACHE_DIR=str(tmp_path / "models"))
    assert proc.returncode == 0, proc.stderr
    err = text(proc.stderr)
    assert list((tmp_path / "models" / "onnx").glob("*.onnx"))  # the export did happen
    assert err.count("preparing the embedding model, once") == 1
    assert "Warning" not in err and "Loading weights" not in err and "%|" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 2, err  # that line and the empty-store note


@pytest.mark.slow
def test_directory_ingest_skips_hidden_folders_and_files(data: Path, tmp_path: Path):
    folder = tmp_path / "repo"
    for name in (".git/notes.md", ".venv/lib/readme.txt", "docs/.draft.md", "docs/guide.md"):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article(name, [f"The file {name} is about harbour cranes."]))
    proc = citebot("ingest", str(folder), "--json", data_dir=data)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(text(proc.stdout))
    assert [item["source"] for item in report["items"]] == [str(folder / "docs" / "guide.md")]


@pytest.mark.slow
def test_forgetting_the_last_document_does_not_bring_the_sample_back(data: Path):
    first = citebot("ask", "What did Pompeo demand?", "--json", data_dir=data)
    assert "ingested the bundled sample" in text(first.stderr)
    doc_id = json.loads(text(first.stdout))["citations"][0]["doc_id"]
    assert citebot("forget", doc_id, data_dir=data).returncode == 0
    again = citebot("ask", "What did Pompeo demand?", "--json", data_dir=data)
    assert again.returncode == 0
    assert json.loads(text(again.stdout))["abstained"] is True
    assert "ingested the bundled sample" not in text(again.stderr)
    assert "namespace 'default' has no documents" in text(again.stderr)  # the empty-namespace hint


@pytest.mark.slow
def test_an_empty_namespace_hints_and_namespaces_lists_them_with_counts(data: Path, tmp_path: Path):
    story = tmp_path / "story.txt"
    story.write_text(article("Lighthouse Restored", ["Volunteers restored the lighthouse on Gull Island in 2021."]))
    other = tmp_path / "other.md"
    other.write_text("# Ferry Times\n\nThe ferry leaves at nine.")
    assert citebot("ingest", str(story), str(other), "-n", "guild-1", data_dir=data).returncode == 0
    proc = citebot("search", "lighthouse", "-n", "guild-2", data_dir=data)
    assert "namespace 'guild-2' has no documents" in text(proc.stderr) and "citebot namespaces" in text(proc.stderr)
    proc = citebot("sources", "-n", "guild-2", data_dir=data)
    assert "No documents yet in namespace 'guild-2'" in text(proc.stdout)
    proc = citebot("namespaces", "--json", data_dir=data)
    assert proc.returncode == 0
    [obj] = [json.loads(line) for line in text(proc.stdout).splitlines()]
    assert [(n["namespace"], n["documents"]) for n in obj["namespaces"]] == [("guild-1", 2)]
    assert obj["namespaces"][0]["chunks"] >= 2
    proc = citebot("namespaces", data_dir=data)
    assert text(proc.stdout).strip() == f"guild-1  (2 documents, {obj['namespaces'][0]['chunks']} chunks)"


@pytest.mark.slow
def test_an_unchanged_reingest_does_not_claim_zero_chunks(data: Path, tmp_path: Path):
    good = tmp_path / "good.md"
    good.write_text("# River Report\n\nThe river rose two meters overnight.")
    first = citebot("ingest", str(good), data_dir=data)
    assert "(1 chunks)" in text(first.stdout)
    proc = citebot("ingest", str(good), data_dir=data)
    assert proc.returncode == 0
    out = text(proc.stdout)
    assert out.startswith("unchanged") and "(already in the store)" in out and "0 chunks)" not in out


def test_a_multi_source_ingest_reports_items_in_input_order(data: Path, tmp_path: Path):
    good = tmp_path / "good.md"
    good.write_text("# River Report\n\nThe river rose two meters overnight.")
    (tmp_path / "bad.txt").write_bytes(b"\x00\x00binary")
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "other.txt"
    other.write_text("The ferry leaves at nine every morning.")
    sources = [str(tmp_path / "nope.pdf"), str(good), str(empty), str(tmp_path / "bad.txt"), str(other)]
    proc = citebot("ingest", *sources, "--json", data_dir=data)
    assert proc.returncode == 1
    items = json.loads(text(proc.stdout))["items"]
    assert [item["source"] for item in items] == sources
    assert [item["status"] for item in items] == ["failed", "added", "failed", "failed", "added"]


@pytest.mark.slow
def test_cite_quote_json_says_whether_the_match_is_exact(sample_store: Path):
    proc = citebot("cite", "--quote", "No one can force Iran to do anything", "--json", data_dir=sample_store)
    exact = json.loads(text(proc.stdout))
    proc = citebot("cite", "--quote", "no one can force iran to do anything", "--json", data_dir=sample_store)
    near = json.loads(text(proc.stdout))
    assert (exact["exact"], near["exact"]) == (True, False)
    assert near["quote"] == exact["quote"]
