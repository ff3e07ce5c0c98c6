"""Ranking features and the data they read: answer types, phrase matches, sentence rows
read per candidate chunk, and search terms stored at ingest."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.lexical import tokenize
from retrieval.loaders import content_id
from retrieval.questions import AnswerType, can_answer, expected_type
from retrieval.search import NamespaceIndex, Retrieved
from retrieval.service import CitebotService
from tests.builders import article, doc
from tests.doubles import HashingEmbedder

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)

NS = "ranking"


# -- answer types ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many people died in the fire?", AnswerType.NUMBER),
        ("What percentage of voters turned out?", AnswerType.NUMBER),
        ("When did the bridge reopen?", AnswerType.DATE),
        ("In what year was the treaty signed?", AnswerType.DATE),
        ("What treaty was signed that year?", None),  # "what year" needs the words together
        ("Who cut the ribbon?", AnswerType.PERSON),
        ("Whose plan was adopted?", AnswerType.PERSON),
        ("What did Pompeo demand?", None),
        ("Why did the talks fail?", None),
    ],
)
def test_expected_answer_type(question, kind):
    assert expected_type(question) is kind


@pytest.mark.parametrize(
    ("kind", "question", "sentence", "expected"),
    [
        (AnswerType.NUMBER, "How many died?", "Three people died in the fire.", True),
        (AnswerType.NUMBER, "How many died?", "The toll rose to 42 on Monday.", True),
        (AnswerType.NUMBER, "How many died?", "The fire spread quickly through the old town.", False),
        (AnswerType.DATE, "When did it open?", "It opened in 1998 after a long delay.", True),
        (AnswerType.DATE, "When did it open?", "It opened on Tuesday after a long delay.", True),
        (AnswerType.DATE, "When did it open?", "It opened after a long delay.", False),
        (AnswerType.PERSON, "Who met Putin?", "Putin met Rouhani in Tehran.", True),
        # Only names the question already holds (and the sentence's first word) do not count.
        (AnswerType.PERSON, "Who met Putin?", "Putin met the delegation in the capital.", False),
        (AnswerType.PERSON, "Who met Putin?", "Later that day the delegation arrived.", False),
    ],
)
def test_can_answer(kind, question, sentence, expected):
    assert can_answer(kind, question, sentence) is expected


@pytest.mark.parametrize("penalty", [0.0, 0.1])
def test_a_when_question_prefers_the_sentence_with_a_date(make_settings, penalty):
    """Two sentences repeat the question's words; only the second holds a date. Without
    the answer-type penalty the first (closer in wording) would be the best sentence.
    (The reranker is off: it alone would prefer the dated sentence.)"""
    from retrieval.answering import ExtractiveAnswerer

    svc = CitebotService.from_settings(make_settings(reranker_model="none"), embedder=HashingEmbedder())
    text = article(
        "Harbor Bridge",
        [
            "The Harbor Bridge reopened to traffic after the long repair work.",
            "The Harbor Bridge reopened to traffic after the repair work in March 2024.",
        ],
    )
    svc.ingest_document(doc(text, "bridge"), NS)
    question = "When did the Harbor Bridge reopen to traffic after the repair work?"
    retrieved = svc.searcher.retrieve(NS, question, 3)
    answerer = ExtractiveAnswerer(replace(svc.answerer.config, answer_type_penalty=penalty))  # no reranker
    best = answerer.candidates(retrieved.evidence(question, 3))[0].sentence.text
    assert ("2024" in best) is (penalty > 0)


# -- phrase matches -------------------------------------------------------------------
def test_adjacent_question_terms_rank_a_chunk_first(make_settings):
    """Both documents hold every term of the question; one holds "Von Miller" as a name."""
    svc = CitebotService.from_settings(make_settings(), embedder=HashingEmbedder())
    scattered = article(
        "Game notes",
        ["Miller, the kicker, was named in the report by Von, a reporter who covered every game of the season."],
    )
    phrase = article(
        "Game report",
        ["Linebacker Von Miller was named in the report on every game of the season, a reporter said."],
    )
    svc.ingest_document(doc(scattered, "a"), NS)
    svc.ingest_document(doc(phrase, "b"), NS)
    hits = svc.search("Von Miller named report", NS, k=2)
    assert hits[0].chunk.doc_id == content_id(phrase)


def test_phrase_share_counts_adjacent_terms_only(make_settings):
    svc = CitebotService.from_settings(make_settings(), embedder=HashingEmbedder())
    text = article("Notes", ["Super Bowl tickets sold out quickly.", "The bowl was super full of soup."])
    svc.ingest_document(doc(text, "notes"), NS)
    index = svc.searcher.index(NS)
    question = "Super Bowl tickets"
    retrieved = Retrieved([], svc.embedder.embed_query(question), tokenize(question), index)
    scores = [retrieved.scores(chunk) for chunk in index.chunks]
    phrase = {
        s.sentences.sentence(i, index.texts[s.sentences.doc_id]).text: float(s.phrase[i])
        for s in scores
        for i in range(len(s.sentences))
    }
    assert phrase["Super Bowl tickets sold out quickly."] == 1.0  # both pairs: super-bowl, bowl-ticket
    assert phrase["The bowl was super full of soup."] == 0.0


# -- sentence rows and stored terms ---------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 900), st.integers(0, 900)), min_size=1, max_size=12))
def test_one_read_for_many_spans_equals_one_read_per_span(fast_catalog_service, spans):
    svc, docs = fast_catalog_service
    dim = svc.embedder.dimension
    asked = [(docs[d].id, min(a, b), max(a, b)) for d, a, b in spans]
    together = svc.catalog.sentence_rows(NS, asked, dim)
    for span, rows in zip(asked, together, strict=True):
        (alone,) = svc.catalog.sentence_rows(NS, [span], dim)
        text = docs[[d.id for d in docs].index(span[0])].text
        assert list(rows.starts) == list(alone.starts)
        assert np.array_equal(rows.vectors, alone.vectors)
        # Every sentence of the document inside the span, and nothing else, in text order.
        expected = [(s, e) for s, e in _sentence_spans(svc, span[0]) if s >= span[1] and e <= span[2]]
        assert [(int(s), int(e)) for s, e in zip(rows.starts, rows.ends, strict=True)] == expected
        assert all(text[s:e].strip() for s, e in expected)


def _sentence_spans(svc: CitebotService, doc_id: str) -> list[tuple[int, int]]:
    with sqlite3.connect(svc.catalog.path) as db:
        return db.execute(
            'SELECT start, "end" FROM sentences WHERE namespace=? AND doc_id=? ORDER BY start', (NS, doc_id)
        ).fetchall()


@pytest.fixture(scope="module")
def fast_catalog_service(tmp_path_factory):
    from config import load_settings

    svc = CitebotService.from_settings(
        load_settings(data_dir=tmp_path_factory.mktemp("rows")), embedder=HashingEmbedder()
    )
    docs = [
        doc(article(f"Story {n}", [f"Sentence {i} of story {n} says something new." for i in range(30)]), f"s{n}")
        for n in range(3)
    ]
    for d in docs:
        svc.ingest_document(d, NS)
    return svc, docs


@pytest.mark.embedded_only  # reads the SQLite file itself
def test_sentence_terms_are_stored_at_ingest(fast_service):
    text = article("Votes", ["The council voted on Monday to close the harbour.", "Fishermen protested."])
    fast_service.ingest_document(doc(text, "votes"), NS)
    with sqlite3.connect(fast_service.catalog.path) as db:
        rows = db.execute('SELECT start, "end", terms FROM sentences WHERE namespace=?', (NS,)).fetchall()
    assert rows and all(terms == " ".join(tokenize(text[s:e])) for s, e, terms in rows)


@pytest.mark.embedded_only  # reads the SQLite file itself
def test_a_catalog_from_before_stored_terms_is_migrated_and_still_answers(make_settings):
    settings = make_settings()
    svc = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    text = article("Votes", ["The council voted on Monday to close the harbour.", "Fishermen protested loudly."])
    svc.ingest_document(doc(text, "votes"), NS)
    expected = svc.ask("When did the council vote to close the harbour?", NS)
    # Make it an old catalog: the sentences table without the terms column.
    with sqlite3.connect(svc.catalog.path) as db:
        db.execute("ALTER TABLE sentences DROP COLUMN terms")
    reopened = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    with sqlite3.connect(reopened.catalog.path) as db:
        assert db.execute("SELECT COUNT(*) FROM sentences WHERE terms IS NULL").fetchone()[0] > 0
    answer = reopened.ask("When did the council vote to close the harbour?", NS)
    assert answer.text == expected.text and answer.citations == expected.citations


def test_candidates_sentences_are_read_in_one_query_and_cached(make_settings, monkeypatch):
    svc = CitebotService.from_settings(make_settings(), embedder=HashingEmbedder())
    for n in range(4):
        body = [f"Report {n} line {i}: the harbour council met about the ferry timetable." for i in range(40)]
        svc.ingest_document(doc(article(f"Report {n}", body), f"r{n}"), NS)
    index: NamespaceIndex = svc.searcher.index(NS)
    assert len(index.chunks) > 10
    calls = []
    real = svc.catalog.sentence_rows

    def counted(ns, spans, dim):
        calls.append(len(spans))
        return real(ns, spans, dim)

    monkeypatch.setattr(svc.catalog, "sentence_rows", counted)
    # Past memory_dense_chunks the namespace is not read whole: only the candidates are.
    monkeypatch.setattr(svc.searcher, "fusion", replace(svc.searcher.fusion, memory_dense_chunks=0))
    svc.ask("When did the harbour council meet about the ferry timetable?", NS)
    assert len(calls) == 1 and 1 < calls[0] <= 2 * svc.config.fusion.candidate_k
    svc.ask("When did the harbour council meet about the ferry timetable?", NS)
    assert len(calls) == 1  # cached for this index generation


@pytest.mark.embedded_only  # reads the SQLite file itself
def test_bm25_terms_built_from_stored_sentence_terms_equal_tokenizing_each_chunk(make_settings, tmp_path):
    """An index build reads the sentences' stored terms instead of tokenizing every chunk;
    the terms are the same (and an old catalog without stored terms gets them tokenized)."""
    from retrieval.search import chunk_terms
    from retrieval.service import sample_path

    settings = make_settings()
    svc = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    svc.ingest([sample_path()], NS)
    long_paragraphs = [" ".join(f"word{i}-{j}, clause {j}; and more" for j in range(60)) for i in range(3)]
    svc.ingest_document(doc(article("Long lines", long_paragraphs), "long"), NS)
    index = svc.searcher.index(NS)
    expected = [tokenize(index.titles[c.doc_id] + "\n" + c.text) for c in index.chunks]
    stored = [row[5] for row in svc.catalog.snapshot(NS).chunks]
    assert None not in stored
    assert chunk_terms(index.chunks, index.titles, stored) == expected
    with sqlite3.connect(svc.catalog.path) as db:
        db.execute("UPDATE sentences SET terms=NULL WHERE idx % 2 = 0")
    stored = [row[5] for row in svc.catalog.snapshot(NS).chunks]
    assert None in stored
    assert chunk_terms(index.chunks, index.titles, stored) == expected
