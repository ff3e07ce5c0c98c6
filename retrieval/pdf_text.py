"""PDF to text with pypdf, bounded by characters as it goes, and cleaned for quoting.

Runs inside an extraction worker (``extraction.py``), which bounds the time. The cleaning
happens here, before the text is fixed (its hash is the document id): ligatures become
letters (ﬁ -> fi), words hyphenated across a line break are rejoined ("adip-" + "iscing"),
page-number lines are dropped, and lines are reflowed into paragraphs.
"""

from __future__ import annotations

import io
import re
import statistics
from typing import TYPE_CHECKING

from retrieval.errors import IngestError, SourceTooLarge, UnsupportedSource
from retrieval.extraction import Extracted

if TYPE_CHECKING:  # pypdf loads in the extraction worker only
    from pypdf import PdfReader

LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
# A header or footer line that is only a page number: "7", "- 7 -", "Page 7", "7 of 12", "vii".
_PAGE_NUMBER = re.compile(
    r"^[\s\-–—]*(?:[Pp]age\s+)?(?:\d{1,4}|(?=[ivxlc])c{0,3}(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3}))"
    r"(?:\s*(?:/|of)\s*\d{1,4})?[\s\-–—]*$"
)
_HYPHENATED = re.compile(r"[^\W\d_]-$")  # a letter, then a hyphen at the end of the line
_TERMINAL = (".", "?", "!", ":", "\u201d", '"')


class _TooLong(Exception):
    pass


def extract(data: bytes, name: str, max_chars: int) -> Extracted:
    """The PDF's text and metadata. Refuses (``SourceTooLarge``) as soon as the text passes
    ``max_chars`` non-space characters, inside a page if need be: pages can share one huge
    content stream, so a small file can hold a great deal of text."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnsupportedSource(f"{name}: the PDF is encrypted")
        seen = 0

        def count(text: str, *_: object) -> None:
            nonlocal seen
            seen += len(text) - text.count(" ")
            if seen > max_chars:
                raise _TooLong

        pages = [page.extract_text(visitor_text=count) or "" for page in reader.pages]
        title, author, date = _metadata(reader)
    except _TooLong:
        raise SourceTooLarge(f"{name}: the PDF's text is over the limit of {max_chars:,} characters") from None
    except IngestError:
        raise
    except Exception as exc:  # pypdf raises many types on corrupt input (PdfReadError, LimitReachedError,
        # NotImplementedError for unknown filters, ValueError, KeyError, RecursionError, ...)
        raise UnsupportedSource(f"{name}: not a readable PDF ({type(exc).__name__})") from exc
    return Extracted(reflow(pages), title, author, date)


def _metadata(reader: PdfReader) -> tuple[str | None, str | None, str | None]:
    try:  # metadata resolves objects too, so it can fail like the pages; the text is what matters
        meta = reader.metadata
        if meta is None:
            return None, None, None
        title = (meta.title or None) if isinstance(meta.title, str) else None
        author = (meta.author or None) if isinstance(meta.author, str) else None
        date = None
        raw_date = meta.get("/CreationDate")
        if isinstance(raw_date, str) and len(raw_date) >= 10 and raw_date.startswith("D:"):
            date = f"{raw_date[2:6]}-{raw_date[6:8]}-{raw_date[8:10]}"
        return title, author, date
    except Exception:
        return None, None, None


def _page_lines(page: str) -> list[str]:
    """A page's lines, trimmed, ligatures replaced, page-number headers and footers dropped."""
    lines = [line.translate(LIGATURES).strip() for line in page.splitlines()]
    content = [i for i, line in enumerate(lines) if line]
    # Only the first and last two lines can be a running header or footer; a number alone
    # in the middle of a page (a table cell) stays.
    drop = {i for i in content[:2] + content[-2:] if _PAGE_NUMBER.match(lines[i])}
    return [line for i, line in enumerate(lines) if i not in drop]  # gone, not a paragraph break


def reflow(pages: list[str]) -> str:
    """Join the pages' lines into paragraphs separated by blank lines.

    pypdf gives lines, not paragraphs: a paragraph ends at a blank line, or at a line clearly
    shorter than the page's full lines (a paragraph's last line, a heading). A paragraph
    that runs off the bottom of a page continues on the next one.
    """
    paragraphs: list[str] = []
    current = ""
    for page in pages:
        lines = _page_lines(page)
        lengths = sorted(len(line) for line in lines if line)
        full = statistics.quantiles(lengths, n=10)[7] if len(lengths) >= 4 else 0.0
        for line in lines:
            if not line:
                if current:
                    paragraphs.append(current)
                    current = ""
                continue
            if not current:
                current = line
            elif _HYPHENATED.search(current) and line[0].islower():
                current = current[:-1] + line  # "adip-" + "iscing"
            else:
                current = f"{current} {line}"
            short = len(line) < 0.75 * full if full else len(line) < 60 and line.endswith(_TERMINAL)
            if short and not _HYPHENATED.search(line):
                paragraphs.append(current)
                current = ""
        # A paragraph whose sentence is cut at the bottom of the page goes on overleaf.
        if current and current.endswith(_TERMINAL):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs)
