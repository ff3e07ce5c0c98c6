"""``citebot ask --mode llm`` and ``citebot eval --mode llm`` as real processes, against a
scripted OpenAI-compatible server on 127.0.0.1 (through langchain-openai)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http_server import closed_port
from tests.openai_server import Reply, ScriptedModel, quoting_answer, quoting_responder
from tests.test_cli_process import citebot, text
from tests.test_evaluation import write_squad

pytestmark = pytest.mark.slow  # real citebot processes: ~40 s

QUESTION = "What did Russia demand from Iran?"
REJECTED = "Iran reportedly rejected Russia’s demands that foreign troops"
API_KEY = "sk-citebot-test-key-never-printed-42"


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel(responder=quoting_responder)


@pytest.fixture
def server(model: ScriptedModel) -> Iterator[str]:
    with model.serve() as origin:
        yield origin + "/v1"


def llm_env(base_url: str) -> dict[str, str]:
    return {
        "CITEBOT_LLM_MODEL": "openai:scripted",
        "CITEBOT_LLM_BASE_URL": base_url,
        "CITEBOT_LLM_API_KEY": API_KEY,
    }


def test_ask_mode_llm_streams_then_prints_the_verified_answer(
    tmp_path: Path, model: ScriptedModel, server: str
) -> None:
    invented = "Russia also demanded Iranian oil for Moscow [1]."

    def responder(body):
        return Reply(quoting_answer(body) + " " + invented)

    model.responder = responder
    proc = citebot("ask", "--mode", "llm", QUESTION, data_dir=tmp_path / "data", **llm_env(server))
    out, err = text(proc.stdout), text(proc.stderr)
    assert proc.returncode == 0, err
    assert "(unverified, as the model writes it)" in err and "Moscow" in err  # the raw stream, on stderr
    assert out.startswith(REJECTED) and "Moscow" not in out  # stdout: only what was verified
    assert "[1] Iran Rebuffs Russian Demand to Withdraw from Syria, paragraph 3" in out
    assert "id: 6f75d72f-" in out and "1 sentence(s) of the model's answer were removed" in out
    assert API_KEY not in out + err and model.authorizations[-1] == f"Bearer {API_KEY}"


def test_ask_mode_llm_json_carries_mode_and_note(tmp_path: Path, server: str) -> None:
    proc = citebot("ask", "--mode", "llm", "--json", QUESTION, data_dir=tmp_path / "data", **llm_env(server))
    assert proc.returncode == 0, text(proc.stderr)
    answer = json.loads(text(proc.stdout).strip().splitlines()[-1])
    assert answer["mode"] == "llm" and answer["note"] is None and answer["answer"].startswith(REJECTED)
    assert "unverified" not in text(proc.stderr)  # no raw stream beside JSON


def test_ask_mode_llm_with_no_model_server_falls_back_in_one_line(tmp_path: Path) -> None:
    env = llm_env(f"http://127.0.0.1:{closed_port()}/v1")
    proc = citebot("ask", "--mode", "llm", QUESTION, data_dir=tmp_path / "data", **env)
    out, err = text(proc.stdout), text(proc.stderr)
    assert proc.returncode == 0 and "Traceback" not in out + err
    assert out.startswith("\u201cIran reportedly rejected")
    assert "(The model could not be reached; showing the quoted answer instead.)" in out


def test_an_unknown_mode_or_provider_is_one_line(tmp_path: Path, server: str) -> None:
    bad = citebot("ask", "--mode", "chatty", QUESTION, data_dir=tmp_path / "data")
    assert bad.returncode == 2 and "'chatty' is not a mode" in text(bad.stderr)
    env = {**llm_env(server), "CITEBOT_LLM_MODEL": "nosuchprovider:model"}
    proc = citebot("ask", "--mode", "llm", QUESTION, data_dir=tmp_path / "data", **env)
    err = text(proc.stderr)
    assert proc.returncode == 1 and "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert "nosuchprovider" in err


def test_eval_mode_llm_reports_both_modes_and_the_verifier(tmp_path: Path, model: ScriptedModel, server: str) -> None:
    squad = write_squad(tmp_path / "tiny-squad.json")
    proc = citebot(
        "eval", str(squad), "--mode", "llm", "--holdout", "0.34", "--json", data_dir=tmp_path / "d", **llm_env(server)
    )
    assert proc.returncode == 0, text(proc.stderr)
    report = json.loads(text(proc.stdout).strip().splitlines()[-1])
    assert set(report["modes"]) == {"extractive", "llm"} and report["model"] == "openai:scripted"
    llm = report["llm"]
    assert llm["sentences"] > 0 and 0 < llm["kept_share"] <= 1
    assert report["modes"]["llm"]["hit_at_1"] > 0 and report["modes"]["llm"]["latency_p50_ms"] > 0
    verifier = report["verifier"]
    assert verifier["sentences"] >= 4 and verifier["unsupported"] >= 2
    assert 0 <= verifier["precision"] <= 1 and 0 <= verifier["recall"] <= 1
    assert len(verifier["sweep"]) == 11
    assert any("<passage" in str(r["messages"]) for r in model.requests)  # the model really answered
