"""Acronyms: "what does IRGC stand for?" is answered by the text's own "Islamic Revolutionary
Guard Corps (IRGC)" — the long form, defined where the acronym first appears.
"""

from __future__ import annotations

import re

_ASKED = re.compile(
    r"\b(?:what|which)\b.*?\b(?:does|do|did|is|was)\s+(?:the\s+)?(?:acronym\s+|abbreviation\s+)?"
    r"[\"“']?(?P<acronym>[A-Za-z][A-Za-z0-9&.]{1,9})[\"”']?\s+"
    r"(?:stand for|short for|mean|an? (?:acronym|abbreviation) for)\b",
    re.IGNORECASE,
)
_SMALL = frozenset("of the and for in on at to de du la le des a an".split())


def asked_acronym(question: str) -> str | None:
    """The acronym a question asks to expand, if it asks that."""
    m = _ASKED.search(question)
    return m.group("acronym").replace(".", "") if m else None


def _initials(words: list[str]) -> str:
    return "".join(w[0] for w in words if w and w.lower() not in _SMALL)


def expansion(acronym: str, text: str) -> tuple[int, int] | None:
    """Where ``text`` spells out ``acronym``: the long form before "(ACRONYM)" or inside
    "ACRONYM (…)", its initials matching the acronym's letters. (start, end) or None."""
    letters = acronym.upper()
    for m in re.finditer(rf"\(\s*{re.escape(acronym)}\s*\)", text, re.IGNORECASE):
        before = text[: m.start()].rstrip()
        words = before.split()
        # Take words back from the parenthesis until their initials spell the acronym.
        for n in range(1, min(len(words), 2 * len(letters) + 4) + 1):
            chosen = [w.strip(",;:\"“”'’") for w in words[-n:]]
            if _initials(chosen).upper() == letters and chosen[0][:1].isalpha():
                start = len(before) - len(" ".join(words[-n:]))
                return start + (len(words[-n]) - len(words[-n].lstrip("\"“'"))), len(before)
    for m in re.finditer(rf"\b{re.escape(acronym)}\s*\((?P<long>[^()]{{3,120}})\)", text, re.IGNORECASE):
        long = m.group("long")
        if _initials(long.split()).upper() == letters:
            return m.start("long"), m.end("long")
    return None
