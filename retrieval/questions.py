"""What kind of answer an English question asks for, and whether a sentence can hold one.

A classic question-answering cue: "when" asks for a date, "how many" for a number, "who"
for a name. A sentence without anything of that kind rarely answers the question, however
many of its words it repeats. Only these three types are recognised; any other question
has no expected type and is scored on similarity and terms alone.
"""

from __future__ import annotations

import re
from enum import Enum


class AnswerType(Enum):
    NUMBER = "number"
    DATE = "date"
    PERSON = "person"


_NUMBER_Q = re.compile(
    r"\bhow (many|much|long|far|old|big|large|tall|high|often)\b|\bwhat (percentage|percent|number|amount|proportion)\b"
)
_DATE_Q = re.compile(r"\b(when|what year|which year|what century|what decade|what date|what time)\b")
_PERSON_Q = re.compile(r"\b(who|whom|whose)\b")

_DIGIT = re.compile(r"\d")
_NUMBER_WORD = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen|half|once|twice)\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(1[0-9]{3}|20[0-9]{2})s?\b|\b\d+(st|nd|rd|th) century\b|"
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today|tomorrow)\b",
    re.IGNORECASE,
)
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+")


def expected_type(question: str) -> AnswerType | None:
    q = question.lower()
    if _NUMBER_Q.search(q):
        return AnswerType.NUMBER
    if _DATE_Q.search(q):
        return AnswerType.DATE
    if _PERSON_Q.search(q):
        return AnswerType.PERSON
    return None


def can_answer(kind: AnswerType, question: str, sentence: str) -> bool:
    """Does ``sentence`` contain something of the ``kind`` the question asks for?"""
    if kind is AnswerType.NUMBER:
        return bool(_DIGIT.search(sentence) or _NUMBER_WORD.search(sentence))
    if kind is AnswerType.DATE:
        return bool(_DATE.search(sentence))
    # A name the question does not already contain (a sentence's first word is capitalised anyway).
    asked = question.lower()
    return any(word.lower() not in asked for word in _CAPITALISED.findall(sentence[1:]))
