"""Questions about the article itself: who wrote it, where it was published, when.

These are answered from the document's own metadata (byline, date, address), not from its
sentences, which rarely say "this article was written by". Where the byline or date occurs
in the stored text, the answer quotes that line and marks the value in it, like any other
citation; where it does not, the answer says it comes from the page's metadata and quotes
nothing.
"""

from __future__ import annotations

import re
from enum import Enum
from urllib.parse import urlsplit

from retrieval.citations import citation_id, context_window
from retrieval.models import Answer, Citation, EvidenceHit

_ARTICLE = (
    r"(?:this |the |that )?(?:[\w'’-]+ ){0,4}?(?:article|story|piece|report|post|text|news|document|op-?ed|column)"
)
_OUTLET = r"(?:outlet|publication|newspaper|paper|site|website|magazine|news ?(?:site|outlet|agency))"


class AboutField(Enum):
    AUTHOR = "by"
    PUBLISHED = "published"
    OUTLET = "from"


_ASKS = [
    (
        AboutField.AUTHOR,
        re.compile(
            rf"\bwho (?:wrote|authored|penned|reported|filed) (?:{_ARTICLE}|it)\b"
            rf"|\b(?:who is|who's|name) the (?:author|writer|reporter|journalist)\b|\bwhose byline\b",
            re.IGNORECASE,
        ),
    ),
    (
        AboutField.PUBLISHED,
        re.compile(
            rf"\bwhen (?:was|is|did) (?:{_ARTICLE}|it) (?:published|written|posted|come out|released|dated)\b"
            rf"|\b(?:what|which) (?:date|day) (?:was|is) {_ARTICLE} (?:published|from|dated)\b"
            rf"|\bpublication date\b",
            re.IGNORECASE,
        ),
    ),
    (
        AboutField.OUTLET,
        re.compile(
            rf"\b(?:which|what) {_OUTLET} (?:published|ran|wrote|is|was|carried)\b"
            rf"|\bwhere (?:was|is) {_ARTICLE} (?:published|from)\b"
            rf"|\bwhat is the source of {_ARTICLE}\b",
            re.IGNORECASE,
        ),
    ),
]


def asked_about(question: str) -> AboutField | None:
    """What a question asks about the article itself, if it does."""
    for field, pattern in _ASKS:
        if pattern.search(question):
            return field
    return None


def _value(field: AboutField, hit: EvidenceHit) -> str | None:
    if field is AboutField.AUTHOR:
        return hit.author
    if field is AboutField.PUBLISHED:
        return hit.published
    host = urlsplit(hit.hit.url or "").hostname
    return host.removeprefix("www.") if host else None


def _line_around(text: str, start: int, end: int, limit: int = 300) -> tuple[int, int]:
    """The line (paragraph) holding [start, end), at most ``limit`` characters around it."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    line_start = max(line_start, end - limit)
    line_end = min(line_end, line_start + limit)
    while line_start < start and text[line_start].isspace():
        line_start += 1
    while line_end > end and text[line_end - 1].isspace():
        line_end -= 1
    return line_start, line_end


def answer_about(question: str, field: AboutField, hit: EvidenceHit) -> Answer | None:
    """The answer from the document of ``hit`` (the best match for the question), or None
    when its metadata does not hold that field."""
    value = _value(field, hit)
    if not value:
        return None
    text = hit.document_text
    at = text.lower().find(value.lower())
    title = hit.hit.title
    if at < 0:
        return Answer(
            question=question,
            text=f"“{title}”: {field.value} {value} (from the page's metadata; the text does not say).",
            abstained=False,
            confidence=1.0,
        )
    start, end = _line_around(text, at, at + len(value))
    doc_id = hit.hit.chunk.doc_id
    citation = Citation(
        n=1,
        id=citation_id(doc_id, start, end),
        doc_id=doc_id,
        title=title,
        url=hit.hit.url,
        paragraph=context_window(text, start, end)[2],
        start=start,
        end=end,
        quote=text[start:end],
        answer_span=(at - start, at - start + len(value)),
    )
    return Answer(
        question=question,
        text=f"\u201c{citation.quote}\u201d [1]",
        abstained=False,
        citations=(citation,),
        confidence=1.0,
    )
