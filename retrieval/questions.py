"""What kind of answer an English question asks for, whether a sentence can hold one, and
where in the sentence it is.

A classic question-answering cue: "when" asks for a date, "how many" for a number, "who"
for a name, "where" / "which country" for a place, "which company / team / show" for a
named thing, "what did X say" for a quoted statement. A sentence without anything of that
kind rarely answers the question, however many of its words it repeats; and when it does
hold one, that part of it is the answer (``answer_span``), shown in bold inside the quote.
Questions of any other kind have no expected type and are scored on the text alone.
"""

from __future__ import annotations

import re
from enum import Enum


class AnswerType(Enum):
    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    NAME = "name"  # a named thing: a company, team, show, party, agency …
    QUOTE = "quote"


_PLACE_NOUNS = (
    r"country|countries|state|states|city|cities|town|nation|province|region|county|island|islands|continent|"
    r"capital|territory|village|neighbou?rhood|district|port|sea|ocean|river|lake|mountain|border"
)
_NAME_NOUNS = (
    r"company|companies|firm|brand|team|teams|club|show|series|film|movie|book|song|album|band|party|agency|"
    r"organi[sz]ation|network|app|platform|league|group|newspaper|magazine|airline|bank|retailer|automaker|"
    r"carmaker|university|college|school|channel|station|website|court|church|tournament|award|game|"
    r"chain|restaurant|hotel|manufacturer|publisher|studio|ship|rocket|spacecraft|mission|program|programme"
)
_NUMBER_Q = re.compile(
    r"\bhow (many|much|long|far|old|big|large|tall|high|often|fast)\b"
    r"|\bwhat (percentage|percent|number|amount|proportion|share|price|age|score)\b"
)
_DATE_Q = re.compile(
    r"\b(when|what year|which year|what century|what decade|what date|what day|what time|what month)\b"
)
_PERSON_Q = re.compile(r"\b(who|whom|whose)\b")
_PLACE_Q = re.compile(rf"\bwhere\b|\b(which|what) ({_PLACE_NOUNS})\b|\bin (which|what) (\w+ )?({_PLACE_NOUNS})\b")
_NAME_Q = re.compile(rf"\b(which|what) (\w+ )?({_NAME_NOUNS})\b")
_QUOTE_Q = re.compile(r"\bwhat did (?:\w+ ){1,4}(say|said|tell|write|tweet|post|call|announce|warn|claim)\b")

_DIGIT = re.compile(r"\d")
_NUMBER_WORD = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen|half|once|twice)\b",
    re.IGNORECASE,
)
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today|tomorrow"
_MONTH = rf"(?:{_MONTHS}|Jan\.|Feb\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)"
_DAY = f"(?:{_DAYS})"
_DATE = re.compile(
    rf"\b(1[0-9]{{3}}|20[0-9]{{2}})s?\b|\b\d+(st|nd|rd|th) century\b|\b({_MONTHS}|{_DAYS})\b",
    re.IGNORECASE,
)
# The whole date expression, for the answer span: "May 21, 2018", "21 May", "the 1990s", "Monday".
_DATE_SPAN = re.compile(
    rf"\b{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?(?:, \d{{4}})?\b|\b\d{{1,2}} {_MONTH}(?: \d{{4}})?\b|"
    rf"\b{_MONTH} (?:of )?\d{{4}}\b|\b(?:early |late |mid-?)?(?:1[0-9]{{3}}|20[0-9]{{2}})s?\b|"
    rf"\b\d+(?:st|nd|rd|th) century\b|\b(?:last |this |next )?{_DAY}\b|\b{_MONTH}"
)
_NUMBER_SPAN = re.compile(
    r"(?:[$£€¥]\s?)?\b\d[\d,]*(?:\.\d+)?(?:\s?(?:%|percent|per cent|million|billion|trillion|thousand|hundred|"
    r"m|bn|k)\b)?(?:\s(?:million|billion|trillion))?"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"a hundred|hundreds|a thousand|thousands|a million|millions|a dozen|dozens|half|twice)"
    r"(?:\s(?:hundred|thousand|million|billion))?\b",
    re.IGNORECASE,
)
# A proper name: capitalised words, with the small words that join them ("Bank of England").
_NAME_SPAN = re.compile(r"\b[A-Z][\w'’.&-]*(?:\s(?:(?:of|the|de|la|del|van|von|bin|al|and|for|&)\s)?[A-Z][\w'’.&-]*)*")
_QUOTE_SPAN = re.compile(r"[“\"]([^”\"]{8,})[”\"]")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+")
# Words capitalised only because they start a sentence or name a weekday/month, never a name.
_NOT_NAMES = frozenset(
    "The A An In On At By For From To Of And But Or As It He She They We I His Her Their Its This That These Those "
    "There Here When Where While After Before During Since Until If Then So Also However Meanwhile Last Next Earlier "
    "Later According Monday Tuesday Wednesday Thursday Friday Saturday Sunday Mr Mrs Ms Dr".split()
)
_PLACE_LEAD = re.compile(r"\b(?:in|at|from|to|near|across|into|of|outside|inside|off|throughout)\s(?:the\s)?$")


# In this order: "how many" before "when", "who" before "which country" …
_ASKS = [
    (AnswerType.NUMBER, _NUMBER_Q),
    (AnswerType.DATE, _DATE_Q),
    (AnswerType.PERSON, _PERSON_Q),
    (AnswerType.PLACE, _PLACE_Q),
    (AnswerType.NAME, _NAME_Q),
    (AnswerType.QUOTE, _QUOTE_Q),
]


def expected_type(question: str) -> AnswerType | None:
    q = question.lower()
    return next((kind for kind, pattern in _ASKS if pattern.search(q)), None)


def _new_names(question: str, sentence: str) -> list[re.Match[str]]:
    """Proper names in ``sentence`` that the question does not already contain."""
    asked = question.lower()
    found = []
    for m in _NAME_SPAN.finditer(sentence):
        words = [w for w in m.group(0).split() if w not in _NOT_NAMES]
        if not words or all(w.lower().strip(".'’") in asked for w in words if w[:1].isupper()):
            continue
        found.append(m)
    return found


def can_answer(kind: AnswerType, question: str, sentence: str) -> bool:
    """Does ``sentence`` contain something of the ``kind`` the question asks for?"""
    if kind is AnswerType.NUMBER:
        return bool(_DIGIT.search(sentence) or _NUMBER_WORD.search(sentence))
    if kind is AnswerType.DATE:
        return bool(_DATE.search(sentence))
    if kind is AnswerType.QUOTE:
        return bool(_QUOTE_SPAN.search(sentence)) or " said" in sentence or " says" in sentence
    # A name the question does not already contain (a sentence's first word is capitalised anyway).
    asked = question.lower()
    return any(word.lower() not in asked for word in _CAPITALISED.findall(sentence[1:]))


def answer_span(kind: AnswerType | None, question: str, sentence: str) -> tuple[int, int] | None:
    """Where in ``sentence`` the answer of the asked kind is: (start, end), or None."""
    if kind is None:
        return None
    match: re.Match[str] | None = None
    if kind is AnswerType.DATE:
        match = _DATE_SPAN.search(sentence)
    elif kind is AnswerType.NUMBER:
        asked = question.lower()
        match = next((m for m in _NUMBER_SPAN.finditer(sentence) if m.group(0).lower() not in asked), None)
    elif kind is AnswerType.QUOTE:
        quoted = _QUOTE_SPAN.search(sentence)
        if quoted:
            return quoted.start(1), quoted.end(1)
    else:
        names = _new_names(question, sentence)
        if kind is AnswerType.PLACE:
            placed = [m for m in names if _PLACE_LEAD.search(sentence[: m.start()])]
            names = placed or names
        match = names[0] if names else None
    if match is None:
        return None
    return _trim(sentence, match.start(), match.end())


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The span without surrounding spaces, punctuation or small leading words."""
    while start < end and not text[start].isalnum() and text[start] not in "$£€¥":
        start += 1
    while end > start and text[end - 1] in " ,.;:!?'’\"”)":
        end -= 1
    head = text[start:end].split(" ", 1)
    if len(head) == 2 and head[0] in _NOT_NAMES and head[1][:1].isupper():
        start += len(head[0]) + 1
    return (start, end) if end > start else None
