"""The way people type in Discord never changes the answer.

Over fifty questions on the bundled sample and real saved pages (tests/data/rephrasing.json),
each asked plainly and wrapped as chat: a greeting, a user or @everyone mention, lower case,
no question mark, politeness, thanks. Every form must get the same answer (same citations,
or the same abstention) from the real model and reranker. Also: a thread follow-up that
stands on its own is answered on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config import load_settings
from retrieval.service import CitebotService, sample_path

ROOT = Path(__file__).resolve().parent.parent
REALWEB = ROOT.parent / "shared" / "realweb"
QUESTIONS = json.loads((ROOT / "tests" / "data" / "rephrasing.json").read_text(encoding="utf-8"))["articles"]
NS = "rephrasing"


def _lower_first(q: str) -> str:
    return q[:1].lower() + q[1:]


CHATTY = {
    "greeting": lambda q: f"hey, {_lower_first(q)}",
    "user mention": lambda q: f"<@123456789012345678> {q}",
    "everyone": lambda q: f"@everyone {q}",
    "lower case": lambda q: q.lower(),
    "no question mark": lambda q: q.rstrip("?"),
    "politeness": lambda q: f"Could you please tell me {_lower_first(q).rstrip('?')}? thanks!",
    "hello there": lambda q: f"hi there!! {_lower_first(q)} :)",
}


def _sources() -> list[Path]:
    paths = [sample_path()]
    for name in QUESTIONS:
        if name != "sample":
            paths.append(REALWEB / name)
    return paths


@pytest.fixture(scope="module")
def svc(tmp_path_factory, real_embedder) -> CitebotService:
    missing = [p for p in _sources() if not p.exists()]
    if missing:
        pytest.skip(f"real pages not found: {missing[0]}")
    service = CitebotService.from_settings(
        load_settings(data_dir=tmp_path_factory.mktemp("rephrasing")), embedder=real_embedder
    )
    report = service.ingest(_sources(), NS)
    assert not report.failed, report.to_dict()
    return service


def _outcome(svc: CitebotService, question: str) -> tuple[bool, tuple[str, ...]]:
    answer = svc.ask(question, NS)
    return answer.abstained, tuple(c.id for c in answer.citations)


ALL = [(article, q) for article, questions in QUESTIONS.items() for q in questions]


def test_the_set_is_large_enough():
    assert len(ALL) >= 50
    assert len(QUESTIONS) >= 5


@pytest.mark.parametrize("article, question", ALL, ids=[q for _, q in ALL])
def test_chat_forms_get_the_plain_answer(svc, article, question):
    plain = _outcome(svc, question)
    changed = {form: out for form, wrap in CHATTY.items() if (out := _outcome(svc, wrap(question))) != plain}
    assert changed == {}, f"plain: {plain}"


def test_most_plain_questions_are_answered(svc):
    answered = [q for _, q in ALL if not svc.ask(q, NS).abstained]
    assert len(answered) >= 0.9 * len(ALL), sorted(set(q for _, q in ALL) - set(answered))


def test_the_sample_answers_pompeo_in_every_form(svc):
    for form in ("What did Pompeo demand?", "hey, what did pompeo demand", "@everyone what did Pompeo demand"):
        answer = svc.ask(form, NS)
        assert not answer.abstained, form
        assert any("Iran must withdraw all forces" in c.quote for c in answer.citations), form


def test_a_follow_up_that_stands_alone_is_not_drowned_by_the_thread(svc):
    first = "What did Pompeo demand?"
    answer = svc.ask("and what did Russia want?", NS, history=[first])
    assert not answer.abstained
    assert any("foreign troops" in c.quote and "leave Syria" in c.quote for c in answer.citations), answer.text


def test_a_pronoun_follow_up_takes_the_subject_of_the_thread(svc):
    answer = svc.ask("what did he say about foreign armed forces?", NS, history=["What did Putin say?"])
    assert not answer.abstained
    assert any("foreign armed forces will be withdrawn" in c.quote for c in answer.citations), answer.text
