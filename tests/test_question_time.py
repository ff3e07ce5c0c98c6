"""Questions that name their own time: the window they mean, and answers from it, dated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from retrieval.loaders import content_id
from retrieval.models import Document
from retrieval.question_time import time_words
from retrieval.scoping import Scope

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)

NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
DAY = datetime(2026, 12, 2, tzinfo=UTC)


def utc(year: int, month: int = 1) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("question", "phrase", "since", "until"),
    [
        ("what happened today?", "today", DAY, None),
        ("Who resigned yesterday", "yesterday", DAY - timedelta(days=1), DAY),
        ("who won the vote THIS WEEK?", "THIS WEEK", NOW - timedelta(days=7), None),
        ("what did the council decide in the past week", "in the past week", NOW - timedelta(days=7), None),
        ("what did they say last week?", "last week", NOW - timedelta(days=14), NOW - timedelta(days=7)),
        ("any news this month", "this month", utc(2026, 12), None),
        ("what about last month", "last month", utc(2026, 11), DAY - timedelta(days=1)),
        ("who was elected this year?", "this year", utc(2026), None),
        ("who was elected last year?", "last year", utc(2025), utc(2026)),
        ("who won the election in 2019?", "in 2019", utc(2019), utc(2020)),
        ("what happened in May 2019", "in May 2019", utc(2019, 5), utc(2019, 6)),
        ("what happened during Dec. 2025", "during Dec. 2025", utc(2025, 12), utc(2026)),
        ("who recently left the board?", "recently", None, None),
        ("what's the latest on the strike", "latest", None, None),
    ],
)
def test_time_words_name_a_window(question, phrase, since, until):
    words = time_words(question, NOW)
    assert words is not None and words.phrase == phrase
    assert (words.since, words.until) == (since, until)


@pytest.mark.parametrize(
    "question",
    [
        "What did Pompeo demand?",
        "how many of 2000 people voted",  # a count, not a year
        "what share fell in 2019 percent terms",
        "who weeknight cooks",
        "Which company makes the iPhone?",
    ],
)
def test_questions_without_time_words(question):
    assert time_words(question, NOW) is None


def test_the_earliest_phrase_wins():
    words = time_words("what happened yesterday, the latest news", NOW)
    assert words is not None and words.phrase == "yesterday"


def test_a_scope_narrowed_to_a_window_keeps_both_limits():
    scope = Scope(since=NOW - timedelta(days=30), source="reuters.com").within(NOW - timedelta(days=7), None)
    assert scope == Scope(since=NOW - timedelta(days=7), source="reuters.com")
    wider = Scope(since=NOW - timedelta(days=1)).within(NOW - timedelta(days=7), NOW)
    assert wider == Scope(since=NOW - timedelta(days=1), until=NOW)
    assert not wider.allows(None, NOW.isoformat(), None)  # the window ends before ``until``
    assert wider.allows(None, (NOW - timedelta(hours=1)).isoformat(), None)


# -- the service ---------------------------------------------------------------------------
STORY = "The city council elected {name} as mayor of Riverton on Monday, after a long count."
ARTICLES = [
    ("Maria Lopez", "2024-03-04"),
    ("Tom Baker", "2026-11-30"),
    ("Ana Silva", "2019-06-10"),
]


def dated(name: str, published: str) -> Document:
    text = f"Riverton has a new mayor\n\n{STORY.format(name=name)}\n\nThe vote was close.\n"
    return Document(content_id(text), text, f"mayor-{published}", f"Mayor ({published[:4]})", published=published)


@pytest.fixture
def mayors(fast_service):
    for name, published in ARTICLES:
        fast_service.ingest_document(dated(name, published), "ns")
    return fast_service


def quoted(answer) -> str:
    return " ".join(c.quote for c in answer.citations)


def test_this_week_answers_from_the_newest_article_and_says_its_date(mayors):
    answer = mayors.ask("who did the city council elect as mayor this week?", "ns", asked_at=NOW)
    assert "Tom Baker" in quoted(answer)
    assert answer.note == "From 2026-11-30: the most recent matching article for “this week”"
    assert answer.citations[0].published == "2026-11-30"


def test_a_year_answers_from_that_year(mayors):
    answer = mayors.ask("Who did the city council elect as mayor in 2019?", "ns", asked_at=NOW)
    assert "Ana Silva" in quoted(answer) and "Tom Baker" not in quoted(answer)
    assert answer.note == "From 2019-06-10: the most recent matching article for “in 2019”"


def test_recently_prefers_the_newest_of_equal_matches(mayors):
    answer = mayors.ask("who did the city council recently elect as mayor", "ns", asked_at=NOW)
    assert "Tom Baker" in quoted(answer)
    assert answer.note == "From 2026-11-30: the most recent matching article for “recently”"


def test_an_empty_window_answers_from_any_time_and_says_so(mayors):
    answer = mayors.ask("who did the city council elect as mayor yesterday?", "ns", asked_at=NOW)
    assert not answer.abstained and "Tom Baker" in quoted(answer)  # newest of the equal matches
    assert answer.note == ("Nothing published “yesterday” answers this; the newest matching article is from 2026-11-30")


def test_a_question_without_time_words_has_no_note_and_no_date_preference(mayors):
    plain = mayors.ask("who did the city council elect as mayor?", "ns", asked_at=NOW)
    assert plain.note is None and not plain.abstained


def test_an_explicit_scope_still_holds_with_time_words(mayors):
    scope = Scope(until=utc(2025))
    answer = mayors.ask("who did the city council recently elect as mayor", "ns", asked_at=NOW, scope=scope)
    assert "Maria Lopez" in quoted(answer)  # the newest before 2025


def test_undated_articles_are_dated_by_their_ingest_day(fast_service):
    text = "Riverton has a new mayor\n\n" + STORY.format(name="Lee Chan") + "\n"
    fast_service.ingest_document(Document(content_id(text), text, "undated", "Mayor"), "ns")
    answer = fast_service.ask("who did the city council elect as mayor in 2019?", "ns", asked_at=NOW)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert answer.note == (
        f"Nothing published “in 2019” answers this; the newest matching article is from {today} (ingested)"
    )
