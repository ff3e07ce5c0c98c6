"""The evaluation library and ``citebot eval``, on a tiny SQuAD-format file made here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config import load_settings
from evaluation.harness import (
    Article,
    _Tally,
    answer_hit,
    covers,
    evaluate,
    first_hit_rank,
    fold,
    goals_met,
    load_squad,
    make_plan,
    markdown,
    split_articles,
)
from retrieval.errors import CitebotError
from tests.builders import write_squad
from tests.doubles import HashingEmbedder


@pytest.fixture
def squad(tmp_path: Path) -> Path:
    return write_squad(tmp_path / "tiny-squad.json")


# -- metrics ----------------------------------------------------------------------------
def test_fold_matches_squad_normalisation() -> None:
    assert fold("The  Eiffel-Tower!") == "eiffeltower"
    assert fold("an Apple, a day") == "apple day"


def test_answer_hit_needs_whole_words() -> None:
    assert answer_hit(["the Eiffel Tower"], "They climbed Eiffel Tower in May.")
    assert answer_hit(["nope", "1754"], "The war began in 1754.")
    assert not answer_hit(["1754"], "The war began in 17545.")
    assert not answer_hit(["Paris"], "")
    assert not answer_hit([""], "anything at all")


def test_answer_hit_reads_through_possessives() -> None:
    assert answer_hit(["Finland"], "Finland\u2019s president said so.")
    assert answer_hit(["NATO"], "It was NATO's decision.")
    assert answer_hit(["McDonald's"], "McDonald\u2019s raised prices.")  # the answer keeps its own 's
    assert not answer_hit(["Finland"], "Finlands is no word.")
    assert not answer_hit(["Finland"], "Finlandia\u2019s hall.")


def test_evidence_ranks() -> None:
    gold = [(100, 110), (300, 305)]
    assert covers((90, 120), gold)
    assert not covers((105, 200), gold)  # cuts the span
    assert covers((300, 305), gold)
    ranked = [("a", 0, 99), ("b", 90, 120), ("a", 95, 115), ("a", 290, 400)]
    assert first_hit_rank(ranked, "a", gold) == 3  # the "b" chunk has the offsets but is another document
    assert first_hit_rank(ranked[:2], "a", gold) is None


def test_tally_computes_the_reported_metrics() -> None:
    tally = _Tally(
        ranks=[1, 3, None, 12],
        hits=[True, False, False, True],
        lengths=[100, 200, 300],
        wrong_abstained=[False, False, True, False],
        abstained_unanswerable=[True, True, False],
        latencies=[1.0, 2.0, 3.0, 4.0, 5.0],
        citations=4,
        valid_citations=3,
    )
    r = tally.result("x", ingest_seconds=2.0, chunks=10, docs=4)
    assert r.questions == 4
    assert r.recall_at_1 == 0.25
    assert r.recall_at_5 == 0.5
    assert r.mrr_at_10 == pytest.approx((1 + 1 / 3) / 4)
    assert r.hit_at_1 == 0.5
    assert r.answer_chars == 200
    assert r.citation_validity == 0.75
    assert r.wrong_abstain == 0.25
    assert r.abstain_unanswerable == pytest.approx(2 / 3)
    assert r.latency_p50_ms == 3.0
    assert r.chunks_per_second == 5.0
    assert r.docs_per_second == 2.0


# -- data and plan ----------------------------------------------------------------------
def test_load_squad_joins_paragraphs_and_keeps_exact_offsets(squad: Path) -> None:
    articles = load_squad(squad)
    assert [a.title for a in articles] == ["Volcano Island", "Chess Club", "River Barges"]
    volcano = articles[0]
    assert volcano.text.count("\n\n") == 1
    assert len(volcano.questions) == 3
    for article in articles:
        for q in article.questions:
            start, end = q.spans[0]
            assert article.text[start:end] == q.answers[0]
    bergen = volcano.questions[2]
    assert bergen.question == "Where is the saffron shipped?"
    assert bergen.spans[0][0] > volcano.text.index("\n\n")  # offset shifted into the second paragraph


def test_load_squad_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}', encoding="utf-8")
    with pytest.raises(CitebotError, match="SQuAD"):
        load_squad(bad)
    with pytest.raises(CitebotError, match="cannot read"):
        load_squad(tmp_path / "missing.json")


def test_plan_is_seeded_and_holds_out_whole_articles() -> None:
    articles = [Article(f"a{i}", f"text {i}", tuple()) for i in range(10)]
    plan = make_plan(articles, seed=3, holdout=0.2)
    assert len(plan.held_out) == 2 and len(plan.ingested) == 8
    assert set(plan.held_out).isdisjoint(plan.ingested)
    assert make_plan(articles, seed=3, holdout=0.2) == plan
    assert {make_plan(articles, seed=s, holdout=0.2).held_out for s in range(6)} != {plan.held_out}
    tune, test = split_articles(10, 0)
    assert len(tune) == len(test) == 5 and set(tune).isdisjoint(test)
    assert set(make_plan(articles, seed=0, holdout=0, split="test").ingested) == set(test)
    with pytest.raises(CitebotError):
        make_plan(articles, holdout=1.0)
    with pytest.raises(CitebotError):
        make_plan(articles, split="train")


def test_plan_samples_questions(squad: Path) -> None:
    articles = load_squad(squad)
    plan = make_plan(articles, seed=1, holdout=1 / 3)
    assert len(plan.held_out) == 1
    held = plan.held_out[0]
    assert all(q.article == held for q in plan.unanswerable)
    assert len(plan.unanswerable) == len(articles[held].questions)
    assert len(plan.answerable) + len(plan.unanswerable) == 7
    sampled = make_plan(articles, sample=4, seed=1, holdout=1 / 3)
    assert len(sampled.answerable) + len(sampled.unanswerable) == 4
    assert sampled == make_plan(articles, sample=4, seed=1, holdout=1 / 3)


# -- the whole run ----------------------------------------------------------------------
def test_evaluate_runs_citebot_and_both_baselines(squad: Path) -> None:
    report = evaluate(squad, seed=1, holdout=1 / 3, embedder=HashingEmbedder())
    systems = {s["name"]: s for s in report["systems"]}
    assert list(systems) == ["Citebot", "Citebot, reranker off", "BM25", "LangChain naive"]
    assert report["answerable_questions"] + report["unanswerable_questions"] == 7
    citebot, bm25, naive = systems["Citebot"], systems["BM25"], systems["LangChain naive"]
    assert systems["Citebot, reranker off"]["ingest_chunks"] == citebot["ingest_chunks"]  # the same store
    for s in systems.values():
        assert s["questions"] == report["answerable_questions"]
        assert s["citation_validity"] == 1.0
        assert s["ingest_docs"] == 2
    # Every article is one short chunk, so retrieving the right document is enough here.
    assert citebot["recall_at_5"] == 1.0
    assert bm25["recall_at_1"] == 1.0
    assert citebot["citations"] > 0
    # Questions about the held-out article share no terms with what was ingested.
    assert citebot["abstain_unanswerable"] == 1.0
    assert naive["abstain_unanswerable"] == 0.0
    assert citebot["answer_chars"] < naive["answer_chars"]
    assert citebot["extra"]["settings"]["chunk_size"] == load_settings().chunk_size
    table = markdown(report)
    assert "| evidence recall@1 |" in table and "Citebot ÷ BM25" in table
    met = goals_met(report)
    assert met["citation_validity"] is True
    assert ("✓" if met["recall_at_5"] else "✗") in table.split("| evidence recall@5 |")[1].split("\n")[0]


def test_evaluate_is_deterministic_without_baselines(squad: Path) -> None:
    runs = [evaluate(squad, seed=2, holdout=1 / 3, baselines=False, embedder=HashingEmbedder()) for _ in range(2)]
    keys = ["recall_at_1", "recall_at_5", "mrr_at_10", "hit_at_1", "answer_chars", "abstain_unanswerable"]
    assert [[s[k] for k in keys] for s in runs[0]["systems"]] == [[s[k] for k in keys] for s in runs[1]["systems"]]
    assert [s["name"] for s in runs[0]["systems"]] == ["Citebot"]


# -- the command ------------------------------------------------------------------------
def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from citebot.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def test_cli_eval_json_with_the_real_model(squad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["eval", str(squad), "--seed", "1", "--holdout", "0.34", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    names = [s["name"] for s in report["systems"]]
    assert names == ["Citebot", "Citebot, reranker off", "BM25", "LangChain naive"]
    citebot = report["systems"][0]
    assert citebot["citation_validity"] == 1.0
    assert citebot["recall_at_5"] == 1.0
    assert citebot["hit_at_1"] >= 0.5
    assert report["held_out_articles"] == 1


def test_cli_eval_markdown_and_errors(squad: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(["eval", str(squad), "--sample", "5", "--no-baselines"], capsys)
    assert code == 0
    assert "| metric | Citebot | goal |" in out
    assert "BM25" not in out
    code, _, err = run_cli(["eval", str(tmp_path / "missing.json")], capsys)
    assert code == 2 and "cannot read" in err
    code, _, err = run_cli(["eval", str(squad), "--split", "train"], capsys)
    assert code == 2 and "unknown split" in err
