"""A namespace's question statistics (``/stats``, ``citebot stats``): the value and how it is read.

The question log (``Catalog.log_question``) holds what the bot was asked in the namespace
and whether it answered; these are its numbers over the last ``days`` UTC days, today
included. ``normalize`` decides which questions count as the same one: case, punctuation,
spacing and chat wrapping (greetings, mentions) do not make a question new.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import asdict, dataclass
from typing import Any

from retrieval.catalog import Catalog, QuestionEntry
from retrieval.models import Answer
from retrieval.phrasing import question_text

DAY_SECONDS = 86400
MAX_DAYS = 90  # the retention of the question log, and the longest window /stats shows
TOP = 5  # questions and documents listed
_WORD = re.compile(r"\w+")


def normalize(question: str) -> str:
    """The key that groups one question's rewordings: its words, lowercased, single-spaced."""
    return " ".join(_WORD.findall(question_text(question).lower()))[:500]


def entry_for(answer: Answer, at: float | None = None) -> QuestionEntry:
    """What the log keeps of an answer: the question, whether it was answered, the cited documents."""
    answered = not answer.abstained and bool(answer.citations)
    doc_ids = tuple(dict.fromkeys(c.doc_id for c in answer.citations)) if answered else ()
    asked_at = time.time() if at is None else at
    return QuestionEntry(asked_at, answer.question, normalize(answer.question), answered, doc_ids)


@dataclass(frozen=True)
class DayCount:
    day: str  # ISO date, UTC
    answered: int
    abstained: int


@dataclass(frozen=True)
class QuestionCount:
    question: str  # normalized (see ``normalize``)
    count: int


@dataclass(frozen=True)
class CitedDocument:
    doc_id: str
    title: str | None  # None: the document was forgotten or replaced since
    answers: int  # answers that cited it


@dataclass(frozen=True)
class FailingFeed:
    url: str
    failures: int  # consecutive failed polls
    last_error: str | None


@dataclass(frozen=True)
class FeedHealth:
    feeds: int
    failing: tuple[FailingFeed, ...]  # the feeds whose last poll failed, most failures first
    last_poll_at: float | None  # the latest poll of any of them (Unix time); None: never polled

    def summary(self) -> str:
        """One line for a human: how many feeds, how many failing."""
        if not self.feeds:
            return "no feeds"
        if not self.failing:
            return f"{self.feeds} feed(s), all polled fine"
        worst = self.failing[0]
        return f"{self.feeds} feed(s), {len(self.failing)} failing (worst: {worst.url}, {worst.failures}x)"


def feed_health(catalog: Catalog, namespace: str) -> FeedHealth:
    feeds = catalog.feeds(namespace)
    failing = sorted(
        (FailingFeed(f.url, f.state.failures, f.state.last_error) for f in feeds if f.state.failures),
        key=lambda f: (-f.failures, f.url),
    )
    polls = [f.state.last_poll_at for f in feeds if f.state.last_poll_at is not None]
    return FeedHealth(len(feeds), tuple(failing), max(polls) if polls else None)


@dataclass(frozen=True)
class Stats:
    namespace: str
    days: int
    since: str  # ISO date, UTC: the first day counted
    asked: int
    answered: int
    abstained: int
    per_day: tuple[DayCount, ...]  # every day of the window, oldest first (zero days included)
    unanswered: tuple[QuestionCount, ...]  # the coverage gaps: the most frequent abstentions
    helpful: int  # 👍 in the window
    not_helpful: int  # 👎
    top_cited: tuple[CitedDocument, ...]
    feeds: FeedHealth

    @property
    def helpful_ratio(self) -> float | None:
        """👍 / (👍 + 👎); None without any vote."""
        votes = self.helpful + self.not_helpful
        return self.helpful / votes if votes else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["helpful_ratio"] = self.helpful_ratio
        return out


def window_start(days: int, now: float | None = None) -> float:
    """The start (Unix time) of the first of the last ``days`` UTC days, today included."""
    today = int((time.time() if now is None else now) // DAY_SECONDS)
    return float((today - days + 1) * DAY_SECONDS)


def read_stats(catalog: Catalog, namespace: str, days: int, now: float | None = None) -> Stats:
    since = window_start(days, now)
    first = int(since // DAY_SECONDS)
    counted = {day: (answered, abstained) for day, answered, abstained in catalog.question_days(namespace, since)}
    per_day = tuple(DayCount(_iso_day(first + i), *counted.get(first + i, (0, 0))) for i in range(days))
    answered = sum(d.answered for d in per_day)
    abstained = sum(d.abstained for d in per_day)
    helpful, not_helpful = catalog.feedback_counts_since(namespace, since)
    cited = []
    for doc_id, count in catalog.top_cited(namespace, since, TOP):
        info = catalog.document(namespace, doc_id)
        cited.append(CitedDocument(doc_id, info.title if info else None, count))
    return Stats(
        namespace=namespace,
        days=days,
        since=_iso_day(first),
        asked=answered + abstained,
        answered=answered,
        abstained=abstained,
        per_day=per_day,
        unanswered=tuple(QuestionCount(q, n) for q, n in catalog.top_unanswered(namespace, since, TOP)),
        helpful=helpful,
        not_helpful=not_helpful,
        top_cited=tuple(cited),
        feeds=feed_health(catalog, namespace),
    )


def _iso_day(day: int) -> str:
    return dt.date.fromordinal(dt.date(1970, 1, 1).toordinal() + day).isoformat()
