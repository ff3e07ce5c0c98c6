"""``citebot config answer-mode`` as real processes: show, set, back to the default; the
choice is in the data dir, so the next process (and ``citebot ask``) sees it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli_process import citebot, one_error_line, text
from tests.test_llm_cli import QUESTION, REJECTED, llm_env, model, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # real citebot processes, each loading the model: ~50 s


def answer_mode(data_dir: Path, *args: str, **env: str) -> dict:
    proc = citebot("config", "answer-mode", *args, "--json", data_dir=data_dir, **env)
    assert proc.returncode == 0, text(proc.stderr)
    return json.loads(text(proc.stdout))


def test_config_answer_mode_shows_sets_and_resets(tmp_path: Path, server: str) -> None:  # noqa: F811
    data, env = tmp_path / "data", llm_env(server)
    shown = answer_mode(data, "-n", "1234", **env)
    assert shown == {"namespace": "1234", "answer_mode": "extractive", "override": None, "default": "extractive"}
    assert answer_mode(data, "llm", "-n", "1234", **env)["override"] == "llm"
    assert answer_mode(data, "-n", "1234", **env)["answer_mode"] == "llm"  # another process sees it
    assert answer_mode(data, "-n", "other", **env)["answer_mode"] == "extractive"
    proc = citebot("config", "answer-mode", "-n", "1234", data_dir=data, **env)
    shown_text = "answer mode of namespace '1234': llm (set for this namespace; the default is extractive)"
    assert text(proc.stdout).strip() == shown_text
    assert answer_mode(data, "default", "-n", "1234", **env)["override"] is None
    assert answer_mode(data, "-n", "1234", **env)["answer_mode"] == "extractive"


def test_citebot_ask_answers_in_the_namespaces_mode_unless_told(tmp_path: Path, server: str) -> None:  # noqa: F811
    data, env = tmp_path / "data", llm_env(server)
    answer_mode(data, "llm", **env)  # the default namespace (where the sample article goes)
    proc = citebot("ask", "--json", QUESTION, data_dir=data, **env)
    assert proc.returncode == 0, text(proc.stderr)
    answer = json.loads(text(proc.stdout))
    assert answer["mode"] == "llm" and answer["answer"].startswith(REJECTED)
    proc = citebot("ask", QUESTION, data_dir=data, **env)  # the terminal shows the stream, as with --mode llm
    assert proc.returncode == 0 and "(unverified, as the model writes it)" in text(proc.stderr)
    assert text(proc.stdout).startswith(REJECTED)
    proc = citebot("ask", "--json", "--mode", "extractive", QUESTION, data_dir=data, **env)
    assert proc.returncode == 0 and "mode" not in json.loads(text(proc.stdout))  # extractive: the plain contract


def test_config_answer_mode_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = citebot("config", "answer-mode", "fast", data_dir=data)
    assert proc.returncode == 2 and "'fast' is not a mode" in one_error_line(proc)
    proc = citebot("config", "answer-mode", "llm", data_dir=data, CITEBOT_LLM_MODEL="nosuchprovider:model")
    assert proc.returncode == 1 and "nosuchprovider" in one_error_line(proc)
    assert answer_mode(data)["override"] is None
