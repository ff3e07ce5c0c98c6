"""Scoped questions: ``since`` and ``source`` parsed, and applied before the candidate cut."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from retrieval.errors import InvalidQuestion, InvalidScope
from retrieval.loaders import content_id
from retrieval.models import Document
from retrieval.scoping import Scope, host_of, parse_published, parse_since, parse_source, published_day
from retrieval.service import CitebotService

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
NS = "scoped"
VOTE_QUESTION = "When did the Marlow council vote to build the bridge over the river Tane?"


def test_since_grammar():
    assert parse_since("12h", NOW) == NOW - timedelta(hours=12)
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since(" 2W ", NOW) == NOW - timedelta(weeks=2)
    assert parse_since("3m", NOW) == NOW - timedelta(days=90)
    assert parse_since("1y", NOW) == NOW - timedelta(days=365)
    assert parse_since("2024-05-01", NOW) == datetime(2024, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["abc", "7", "d7", "7x", "-3d", "2024-13-01", "2024-5-1", "99999999999d"])
def test_bad_since_is_one_clear_line(bad):
    with pytest.raises(InvalidScope) as err:
        Scope.parse(bad, None, now=NOW)
    message = str(err.value)
    assert "\n" not in message and "since" in message and "7d" in message
    assert isinstance(err.value, InvalidQuestion)  # the CLI exits 2 on it, the bot words it as the user's


def test_source_is_a_domain_or_a_url():
    assert parse_source("reuters.com") == "reuters.com"
    assert parse_source("https://www.Reuters.com/world/europe?x=1") == "reuters.com"
    assert parse_source("uk.reuters.com:443") == "uk.reuters.com"
    for bad in ["not a site", "localhost", "https://", "re uters.com"]:
        with pytest.raises(InvalidScope, match="source"):
            parse_source(bad)


def test_blank_words_are_no_scope():
    assert Scope.parse(None, None) is None
    assert Scope.parse("  ", "") is None
    assert Scope.parse("7d", None, now=NOW) == Scope(NOW - timedelta(days=7), None)


def test_source_matches_the_host_and_its_subdomains_only():
    scope = Scope(source="reuters.com")
    assert scope.allows("https://reuters.com/a", None, None)
    assert scope.allows("https://www.reuters.com/a", None, None)
    assert scope.allows("https://uk.reuters.com/a", None, None)
    assert not scope.allows("https://notreuters.com/a", None, None)
    assert not scope.allows("https://reuters.com.evil.example/a", None, None)
    assert not scope.allows(None, None, None)


def test_since_uses_the_published_date_else_the_ingest_time():
    scope = Scope(since=NOW - timedelta(days=7))
    recent, old = (NOW - timedelta(days=1)).timestamp(), (NOW - timedelta(days=30)).timestamp()
    assert scope.allows(None, "2024-05-30", old)  # published wins over an old ingest
    assert not scope.allows(None, "2024-01-01T00:00:00Z", recent)
    assert scope.allows(None, "garbled date", recent)  # unparsable: the ingest time
    assert not scope.allows(None, None, old)
    assert not scope.allows(None, None, None)


def test_published_dates_parse_leniently():
    assert parse_published("Fri, 31 May 2024 10:00:00 GMT") == datetime(2024, 5, 31, 10, tzinfo=UTC)
    assert parse_published("2024-05-31T12:00:00+02:00") == datetime(2024, 5, 31, 10, tzinfo=UTC)
    assert parse_published("2024-05-31") == datetime(2024, 5, 31, tzinfo=UTC)
    assert parse_published("yesterday-ish") is None and parse_published("") is None
    assert published_day("Fri, 31 May 2024 10:00:00 GMT") == "2024-05-31"
    assert host_of("https://www.apnews.com/x") == "apnews.com" and host_of("not a url") is None


# -- search and answers over one namespace with dated documents from several sites -------------
def _doc(text: str, title: str, url: str, published: str | None) -> Document:
    return Document(id=content_id(text), text=text, source=url, title=title, url=url, published=published)


@pytest.fixture
def scoped(fresh_real_service: CitebotService) -> tuple[CitebotService, dict[str, str]]:
    svc = fresh_real_service
    recent = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    docs = {
        "old": _doc(
            "The Marlow council voted in March 2019 to build a new bridge over the river Tane. "
            "Councillors approved the bridge by eleven votes to four.",
            "Marlow votes for a Tane bridge",
            "https://www.reuters.com/old-bridge",
            "2019-03-14",
        ),
        "new": _doc(
            "The bridge over the river Tane in Marlow will now open in 2026, the council said. "
            "Steel prices pushed its cost to 55 million euros.",
            "Tane bridge delayed",
            "https://apnews.com/tane-bridge",
            recent,
        ),
        "sub": _doc(
            "Heavy rain flooded the lower town of Marlow on Tuesday. The river Tane rose two metres overnight.",
            "Floods in Marlow",
            "https://uk.reuters.com/floods",
            recent,
        ),
        "undated": _doc(
            "The Marlow summer festival drew twelve thousand visitors to the banks of the Tane.",
            "Marlow festival",
            "https://news.example.org/festival",
            None,
        ),
    }
    for d in docs.values():
        assert svc.ingest_document(d, NS).status == "added"
    return svc, {name: d.id for name, d in docs.items()}


def test_since_answers_from_the_in_window_document(scoped):
    svc, ids = scoped
    unscoped = svc.ask(VOTE_QUESTION, NS)
    assert unscoped.citations[0].doc_id == ids["old"]  # the best answer overall is the 2019 article
    assert unscoped.citations[0].published == "2019-03-14"
    scope = Scope.parse("7d", None)
    hits = svc.search(VOTE_QUESTION, NS, scope=scope)
    assert hits and ids["old"] not in {h.chunk.doc_id for h in hits}
    assert hits[0].chunk.doc_id == ids["new"]
    answer = svc.ask(VOTE_QUESTION, NS, scope=scope)
    assert not answer.citations or {c.doc_id for c in answer.citations} <= {ids["new"], ids["sub"], ids["undated"]}
    # The undated document counts by its ingest time (just now); an older window keeps the 2019 one.
    assert ids["undated"] in {h.chunk.doc_id for h in svc.search("festival visitors", NS, scope=scope)}
    assert ids["old"] in {h.chunk.doc_id for h in svc.search(VOTE_QUESTION, NS, scope=Scope.parse("2019-01-01"))}


def test_source_returns_only_that_sites_documents(scoped):
    svc, ids = scoped
    hits = svc.search("the river Tane", NS, scope=Scope.parse(None, "https://www.reuters.com/world"))
    assert {h.chunk.doc_id for h in hits} == {ids["old"], ids["sub"]}
    hits = svc.search("the river Tane", NS, scope=Scope.parse(None, "apnews.com"))
    assert {h.chunk.doc_id for h in hits} == {ids["new"]}


def test_a_filter_matching_nothing_abstains_and_says_so(scoped):
    svc, _ = scoped
    answer = svc.ask(VOTE_QUESTION, NS, scope=Scope.parse("30d", "bbc.co.uk"))
    assert answer.abstained and not answer.citations
    assert answer.text.startswith("No documents match the filter") and "bbc.co.uk" in answer.text
    assert svc.search(VOTE_QUESTION, NS, scope=Scope.parse(None, "bbc.co.uk")) == []


@pytest.mark.parametrize("memory_dense_chunks", [0, 2])
def test_store_path_filters_before_the_cut(scoped, memory_dense_chunks):
    """Past ``memory_dense_chunks``: 0 asks the store for more and filters; 2 (two reuters
    chunks allowed) scores the allowed chunks from their stored sentence vectors."""
    svc, ids = scoped
    searcher = svc.searcher
    searcher.fusion = replace(searcher.fusion, memory_dense_chunks=memory_dense_chunks, candidate_k=1)
    hits = svc.search("the river Tane", NS, scope=Scope.parse(None, "reuters.com"))
    assert hits and {h.chunk.doc_id for h in hits} <= {ids["old"], ids["sub"]}
    assert all(h.dense_score is None or h.dense_score > 0 for h in hits)
    hits = svc.search(VOTE_QUESTION, NS, scope=Scope.parse("7d"))
    assert hits and hits[0].chunk.doc_id == ids["new"]
