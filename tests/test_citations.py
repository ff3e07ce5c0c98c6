import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.citations import Folded, citation_id, context_window, find_in_text, parse_citation_id
from retrieval.loaders import content_id
from retrieval.models import Document

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)

WORD = st.sampled_from(
    "Iran Russia Syria troops withdraw Pompeo demanded said the of minister \u201cnever\u201d Mr. U.S. 2018 "
    "caf\u00e9 @everyone **bold** `code` war peace".split()
)
SENTENCE = st.lists(WORD, min_size=2, max_size=18).map(lambda ws: " ".join(ws) + ".")
DOCUMENT = st.lists(st.lists(SENTENCE, min_size=1, max_size=5).map(" ".join), min_size=1, max_size=6).map("\n\n".join)
QUESTION = st.lists(WORD, min_size=1, max_size=8).map(lambda ws: " ".join(ws) + "?")

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.slow
@PROPERTY
@given(st.lists(DOCUMENT, min_size=1, max_size=3), st.lists(QUESTION, min_size=1, max_size=3))
def test_every_citation_quotes_the_stored_text_at_its_offsets(fast_service, texts, questions):
    ns = uuid.uuid4().hex
    docs = {}
    for i, text in enumerate(texts):
        doc = Document(id=content_id(text), text=text, source=f"doc-{i}", title=f"Doc {i}")
        fast_service.ingest_document(doc, ns)
        docs[doc.id] = text
    for question in questions:
        answer = fast_service.ask(question, ns)
        for c in answer.citations:
            assert c.quote == docs[c.doc_id][c.start : c.end]
            assert f"[{c.n}]" in answer.text
            opened = fast_service.cite(c.id, ns)
            assert opened.quote == c.quote
            assert c.quote in opened.context
        for hit in fast_service.search(question, ns, 5):
            assert hit.chunk.text == docs[hit.chunk.doc_id][hit.chunk.start : hit.chunk.end]


@settings(max_examples=300, deadline=None)
@given(DOCUMENT, st.data())
def test_find_in_text_exact_and_folded(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    quote = text[start:end]
    if not quote.strip():
        return
    found = find_in_text(quote, text)
    assert found is not None and found[2] is True
    assert text[found[0] : found[1]] == quote.strip()
    # Different quote marks, case and spacing still find a span that folds to the same text.
    mangled = " ".join(quote.replace("\u201c", '"').replace("\u201d", '"').upper().split())
    found = find_in_text(mangled, text)
    if mangled:
        assert found is not None
        assert Folded.of(text[found[0] : found[1]]).text == Folded.of(mangled).text


def test_near_match_and_absent_quote():
    text = "\u201cNo one can force Iran to do anything,\u201d Ghasemi reportedly said. Other words follow here."
    start, end, exact = find_in_text("No one can force Iran to do everything, Ghasemi reportedly said", text)
    assert not exact and "force Iran" in text[start:end]
    assert find_in_text("The moon is made of green cheese entirely", text) is None
    assert find_in_text("   ", text) is None


def test_citation_ids_round_trip():
    cid = citation_id("6f75d72fd57cafb0", 1923, 2021)
    assert cid == "6f75d72f-1923-2021"
    assert parse_citation_id(cid) == ("6f75d72f", 1923, 2021)
    assert parse_citation_id(f"[{cid.upper()}]") == ("6f75d72f", 1923, 2021)
    for bad in ("", "hello", "6f75d72f-10-5", "6f75d72f-1-", "zzzzzzzz-1-2"):
        assert parse_citation_id(bad) is None


def test_context_window_covers_paragraphs_around_the_quote():
    paras = [f"Paragraph {i} " + "word " * 20 for i in range(6)]
    text = "\n\n".join(p.strip() for p in paras)
    at = text.index("Paragraph 3")
    c_start, c_end, number = context_window(text, at, at + 11)
    assert number == 4
    assert text[c_start:c_end].startswith("Paragraph 2") and text[c_start:c_end].endswith("word")
    assert "Paragraph 4" in text[c_start:c_end] and "Paragraph 5" not in text[c_start:c_end]
