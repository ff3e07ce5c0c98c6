"""Citations: stable ids, verbatim quotes, context, and finding where a quote occurs."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from retrieval.sentences import paragraphs

# "<first 8 hex digits of the document id>-<start>-<end>": short, typeable, stable for
# as long as that exact document text is in the store. The one statement of the grammar:
# the bot's button custom_ids embed it too.
CITATION_ID_PATTERN = r"(?P<prefix>[0-9a-f]{8})-(?P<start>[0-9]{1,9})-(?P<end>[0-9]{1,9})"
_ID = re.compile(rf"^\s*\[?{CITATION_ID_PATTERN}\]?\s*$")
_FOLD = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...",
}  # fmt: skip


def citation_id(doc_id: str, start: int, end: int) -> str:
    return f"{doc_id[:8]}-{start}-{end}"


def parse_citation_id(text: str) -> tuple[str, int, int] | None:
    """(doc id prefix, start, end) when ``text`` is a citation id, else None."""
    match = _ID.match(text.lower())
    if not match:
        return None
    start, end = int(match["start"]), int(match["end"])
    return (match["prefix"], start, end) if end > start else None


@dataclass(frozen=True)
class Folded:
    """Text folded for matching (case, quotes, dashes, whitespace) with a map back."""

    text: str
    origin: list[int]  # origin[i] = offset in the original of folded char i

    @classmethod
    def of(cls, text: str) -> Folded:
        out: list[str] = []
        origin: list[int] = []
        last_space = True
        for i, ch in enumerate(text):
            if ch.isspace():
                if not last_space:
                    out.append(" ")
                    origin.append(i)
                last_space = True
                continue
            last_space = False
            folded = _FOLD.get(ch)
            if folded is None:
                folded = unicodedata.normalize("NFKD", ch)
                folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold() or ch
            for c in folded:
                out.append(c)
                origin.append(i)
        if out and out[-1] == " ":
            out.pop()
            origin.pop()
        return cls("".join(out), origin)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span covering folded[start:end]."""
        return self.origin[start], self.origin[end - 1] + 1


def find_in_text(quote: str, text: str, min_similarity: float = 90.0) -> tuple[int, int, bool] | None:
    """Where ``quote`` occurs in ``text``: (start, end, exact) or None.

    Exact first; then ignoring case, quote style, dashes and whitespace; then a near
    match (rapidfuzz partial alignment) of at least ``min_similarity`` percent.
    """
    quote = quote.strip()
    if not quote:
        return None
    at = text.find(quote)
    if at >= 0:
        return at, at + len(quote), True
    fq, ft = Folded.of(quote), Folded.of(text)
    if not fq.text or not ft.text:
        return None
    at = ft.text.find(fq.text)
    if at >= 0:
        start, end = ft.span(at, at + len(fq.text))
        return start, end, False
    if len(fq.text) < 12:
        return None  # too short for a near match to mean anything
    from rapidfuzz import fuzz

    alignment = fuzz.partial_ratio_alignment(fq.text, ft.text, score_cutoff=min_similarity)
    if alignment is None or alignment.dest_end <= alignment.dest_start:
        return None
    # Only accept alignments about as long as the quote itself.
    if (alignment.dest_end - alignment.dest_start) < 0.8 * len(fq.text):
        return None
    start, end = ft.span(alignment.dest_start, alignment.dest_end)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end, False


def context_window(text: str, start: int, end: int, max_chars: int = 1500) -> tuple[int, int, int]:
    """(context start, context end, paragraph number) of the paragraph(s) around a span.

    The paragraphs that contain the span, plus one either side while they fit in
    ``max_chars``.
    """
    paras = paragraphs(text)
    if not paras:
        return start, end, 1
    first = next((i for i, (s, e) in enumerate(paras) if e > start), len(paras) - 1)
    last = next((i for i, (s, e) in enumerate(paras) if e >= end), len(paras) - 1)
    last = max(first, last)
    c_start, c_end = paras[first][0], paras[last][1]
    if first > 0 and c_end - paras[first - 1][0] <= max_chars:
        c_start = paras[first - 1][0]
    if last + 1 < len(paras) and paras[last + 1][1] - c_start <= max_chars:
        c_end = paras[last + 1][1]
    if c_end - c_start > max_chars:
        # A huge paragraph: centre a window on the quote, cut at whitespace.
        pad = max(0, (max_chars - (end - start)) // 2)
        c_start = max(paras[first][0], start - pad)
        c_end = min(paras[last][1], max(end, c_start + max_chars))
        while c_start > 0 and c_start < start and not text[c_start - 1].isspace():
            c_start += 1
        while c_end < len(text) and c_end > end and not text[c_end].isspace():
            c_end -= 1
    return c_start, c_end, first + 1
