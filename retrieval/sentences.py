"""Paragraph and sentence segmentation with exact character offsets.

Rule-based on purpose: it is fast, needs no model download, and never alters the text,
so every span it returns can be quoted verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
# Terminal punctuation, optional closing quotes/brackets, then whitespace.
_BOUNDARY = re.compile(r"([.!?\u2026]+)([\"'\u201d\u2019\u00bb)\]]*)(\s+)")
_NEWLINE = re.compile(r"[ \t]*\n\s*")
_LIST_START = re.compile(r"(?:[-*+\u2022>#]|\d{1,3}[.)])\s")
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st vs etc e.g i.e eg ie inc ltd co corp gen gov sen rep lt col
    sgt capt cmdr adm maj rev hon pres supt jan feb mar apr jun jul aug sep sept oct nov dec
    no nos vol fig figs pp p ed eds al approx dept est mt ft u.s u.k u.n u.s.a d.c a.m p.m
    ph.d b.a m.a cf ca""".split()
)


@dataclass(frozen=True)
class TextSpan:
    start: int
    end: int
    paragraph: int  # 1-based


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Non-blank paragraphs as (start, end), separated by blank lines, whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        spans.extend(_trimmed(text, pos, match.start()))
        pos = match.end()
    spans.extend(_trimmed(text, pos, len(text)))
    return spans


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield (start, end)


def _is_abbreviation(text: str, dot: int) -> bool:
    """Is the single '.' at ``dot`` the end of an abbreviation or an initial?"""
    word_start = dot
    while word_start > 0 and not text[word_start - 1].isspace() and text[word_start - 1] not in "(\"'\u201c":
        word_start -= 1
    word = text[word_start:dot].lower()
    if not word:
        return False
    if len(word) == 1 and word.isalpha():
        return True  # an initial: "J. K. Rowling"
    return word in _ABBREVIATIONS


def _starts_sentence(text: str, pos: int) -> bool:
    if pos >= len(text):
        return True
    ch = text[pos]
    return ch.isupper() or ch.isdigit() or ch in "\"'\u201c\u2018([\u00ab*-#>\u2022" or not ch.isalpha()


def _sentence_ends(text: str, start: int, end: int) -> Iterator[int]:
    """Offsets (exclusive) where sentences end inside text[start:end]."""
    for match in _BOUNDARY.finditer(text, start, end):
        punct_start, punct_end = match.span(1)
        if not _starts_sentence(text, match.end()):
            continue
        if text[punct_start:punct_end] == "." and _is_abbreviation(text, punct_start):
            continue
        if (
            punct_start > start
            and text[punct_start - 1].isdigit()
            and match.end() < end
            and text[match.end()].isdigit()
        ):
            continue  # "3. 5" inside numbered text is not worth splitting
        yield match.end(2)
    for match in _NEWLINE.finditer(text, start, end):
        # A single newline ends a sentence before a list item or after a short line
        # (heading, byline); otherwise it is a wrapped line.
        line_start = text.rfind("\n", start, match.start()) + 1
        line_start = max(line_start, start)
        short_line = match.start() - line_start < 60
        if _LIST_START.match(text, match.end()) or short_line:
            yield match.start()


def split_long(text: str, start: int, end: int, limit: int) -> Iterator[tuple[int, int]]:
    """Split an over-long span at clause, then word, boundaries so no piece exceeds ``limit``."""
    while end - start > limit:
        window = text[start : start + limit]
        cut = -1
        for sep in ("; ", ": ", ", ", " "):
            idx = window.rfind(sep, limit // 3)
            if idx > 0:
                cut = start + idx + len(sep.rstrip())
                break
        if cut <= start:
            cut = start + limit
        yield from _trimmed(text, start, cut)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    yield from _trimmed(text, start, end)


def sentences(text: str, max_chars: int = 1000) -> list[TextSpan]:
    """Sentences of ``text`` with offsets and 1-based paragraph numbers.

    A sentence never spans two paragraphs; one longer than ``max_chars`` is split at a
    clause or word boundary (the only case where a "sentence" is cut).
    """
    result: list[TextSpan] = []
    for number, (p_start, p_end) in enumerate(paragraphs(text), start=1):
        ends = sorted(set(_sentence_ends(text, p_start, p_end)))
        pos = p_start
        for cut in [*ends, p_end]:
            if cut <= pos:
                continue
            for s, e in split_long(text, pos, cut, max_chars):
                result.append(TextSpan(s, e, number))
            pos = cut
    return result
