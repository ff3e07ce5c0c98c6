"""The time a question names itself: "this week", "yesterday", "in 2019", "recently".

``time_words(question, now)`` finds the first such phrase and turns it into a window over
publication dates (documents without one count by their ingest time, as with ``since``).
Windows are rolling where news readers mean "lately" ("this week": the last 7 days, "last
week": the 7 days before those) and calendar ones where the words name a calendar unit
("this month", "last year", "in May 2019"). "Recently" and "the latest" name no window:
they only ask for the newest matching article.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MONTHS = "january february march april may june july august september october november december".split()
_MONTH = "|".join(_MONTHS + [m[:3] for m in _MONTHS if len(m) > 3] + ["sept"])


@dataclass(frozen=True)
class TimeWords:
    phrase: str  # the words as the question has them
    since: datetime | None  # aware, UTC; None: no window, newest first only
    until: datetime | None


def _day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _month(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def _year(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


Window = tuple[datetime | None, datetime | None]
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str], datetime], Window]]] = [
    (re.compile(r"\btoday\b|\bthis morning\b|\btonight\b"), lambda m, now: (_day(now), None)),
    (re.compile(r"\byesterday\b"), lambda m, now: (_day(now) - timedelta(days=1), _day(now))),
    (
        re.compile(r"\b(?:this|the past|the last|in the past|in the last) week\b|\bthis weekend\b"),
        lambda m, now: (now - timedelta(days=7), None),
    ),
    (re.compile(r"\blast week\b"), lambda m, now: (now - timedelta(days=14), now - timedelta(days=7))),
    (re.compile(r"\bthis month\b"), lambda m, now: (_month(now.year, now.month), None)),
    (
        re.compile(r"\blast month\b"),
        lambda m, now: (_month(now.year, now.month - 1), _month(now.year, now.month)),
    ),
    (re.compile(r"\bthis year\b"), lambda m, now: (_year(now.year)[0], None)),
    (re.compile(r"\blast year\b"), lambda m, now: _year(now.year - 1)),
    (
        re.compile(rf"\b(?:in|during|of|from) ({_MONTH})\.? (19\d\d|20\d\d)\b"),
        lambda m, now: (
            _month(int(m[2]), _month_number(m[1])),
            _month(int(m[2]), _month_number(m[1]) + 1),
        ),
    ),
    (
        # "in 2019"; not "of 2,000 people" (a count), and so not "of"/"from" at all.
        re.compile(r"\b(?:in|during) (19\d\d|20\d\d)\b(?!\s*(?:%|percent))"),
        lambda m, now: _year(int(m[1])),
    ),
    (
        re.compile(r"\b(?:recently|lately|latest|newest|most recent|these days|right now|currently)\b"),
        lambda m, now: (None, None),
    ),
]


def _month_number(word: str) -> int:
    word = word.lower().rstrip(".")
    return next(i for i, m in enumerate(_MONTHS, start=1) if m.startswith(word[:3]))


def time_words(question: str, now: datetime | None = None) -> TimeWords | None:
    """The question's own time words and the window they name, or None."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    text = question.lower()
    found: list[tuple[int, TimeWords]] = []
    for pattern, window in _RULES:
        match = pattern.search(text)
        if match:
            since, until = window(match, now)
            found.append((match.start(), TimeWords(question[match.start() : match.end()], since, until)))
    # The earliest phrase; at the same place, the first rule (the more specific one).
    return min(found, key=lambda item: item[0])[1] if found else None
