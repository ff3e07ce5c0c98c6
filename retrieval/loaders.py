"""Turn files, bytes and fetched pages into ``Document`` values.

Supported: plain text, Markdown, HTML (article extraction with trafilatura, see
``html_text.py``) and PDF (pypdf, see ``pdf_text.py``). Size limits are checked before any
parsing; HTML and PDF are parsed in a worker process stopped at a time limit
(``extraction.py``). All cleaning happens here, before the text is fixed: its hash is the
document id, and citations quote it verbatim.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import astuple, dataclass, replace
from pathlib import Path
from typing import Any

from config import shipped_defaults
from retrieval import html_text, pdf_text
from retrieval.decoding import declared_charset, decode
from retrieval.errors import EmptyDocument, IngestError, SourceTooLarge, UnsupportedSource
from retrieval.extraction import Extracted, run_bounded
from retrieval.models import Document

SUFFIX_TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}
SUPPORTED_SUFFIXES = tuple(SUFFIX_TYPES)  # what a file name may end with (the bot checks before downloading)
CONTENT_TYPES = {
    "text/plain": "text/plain",
    "text/markdown": "text/markdown",
    "text/x-markdown": "text/markdown",
    "text/html": "text/html",
    "application/xhtml+xml": "text/html",
    "application/pdf": "application/pdf",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BYLINE = re.compile(r"^\s*by\s+(?P<name>[^\n]{2,80})$", re.IGNORECASE)


@dataclass(frozen=True)
class Limits:
    max_bytes: int  # from the settings
    max_chars: int
    # HTML and PDF extraction: wall time and address space of the worker. A 2 MB-character
    # PDF takes pypdf ~10-40 s here; real article pages take well under a second.
    max_seconds: float = 60.0
    max_memory: int = 4_000_000_000

    @classmethod
    def shipped(cls, **overrides: Any) -> Limits:
        """The shipped defaults (``config/defaults.toml``), with ``overrides``."""
        s = shipped_defaults()
        return replace(cls(s.max_file_bytes, s.max_document_chars), **overrides)


def content_id(text: str) -> str:
    """Stable document id: the first 16 hex digits of the text's SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def media_type_for(name: str, declared: str | None = None) -> str:
    """Media type from a declared Content-Type, else from the file name's suffix."""
    if declared:
        base = declared.split(";", 1)[0].strip().lower()
        if base in CONTENT_TYPES:
            return CONTENT_TYPES[base]
    suffix = Path(name.split("?", 1)[0]).suffix.lower()
    if suffix in SUFFIX_TYPES:
        return SUFFIX_TYPES[suffix]
    raise UnsupportedSource(
        f"{name}: unsupported type (use .txt, .md, .html or .pdf)"
        + (f"; the server said {declared!r}" if declared else "")
    )


def normalise(text: str) -> str:
    """The stored form of a text: NFC, Unix newlines, no control characters, trimmed."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", text).strip()


def _headline(text: str) -> tuple[str | None, str | None]:
    """Title and byline of a plain-text article, when its first lines look like them."""
    lines = [line.strip() for line in text.split("\n", 12)[:12]]
    first = lines[0] if lines else ""
    title = None
    if 0 < len(first) <= 200 and not first.endswith((".", ",", ";", ":")) and len(first.split()) <= 30:
        title = first
    author = None
    for line in lines[1:8]:
        match = _BYLINE.match(line)
        if match:
            author = match.group("name").strip()
            break
    if author is None and title is not None:
        # News wires put the byline alone on a short line right under the headline.
        following = [line for line in lines[1:6] if line]
        if following:
            cand = following[0]
            words = cand.split()
            if (
                1 <= len(words) <= 6
                and not cand.endswith((".", "?", "!", ":"))
                and all(w[0].isupper() or w.lower() in {"and", "of", "the", "de", "van"} for w in words)
            ):
                author = cand
    return title, author


def _markdown_meta(text: str) -> tuple[str | None, str | None, str | None]:
    title = author = date = None
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end > 0:
            for line in text[4:end].splitlines():
                key, _, value = line.partition(":")
                value = value.strip().strip("\"'")
                if key.strip() == "title" and value:
                    title = value
                elif key.strip() == "author" and value:
                    author = value
                elif key.strip() == "date" and value:
                    date = value
    if title is None:
        match = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
        if match:
            title = match.group(1)
    return title, author, date


def _html(data: bytes, name: str, url: str | None, content_type: str | None, limits: Limits) -> Extracted:
    html = decode(data, name, declared_charset(content_type, data, html=True))
    html_text.check_markup(html, name)
    return run_bounded(
        html_text.extract,
        (html, url, name),
        name=name,
        what="HTML page",
        seconds=limits.max_seconds,
        max_memory=limits.max_memory,
    )


def _pdf(data: bytes, name: str, limits: Limits) -> Extracted:
    return run_bounded(
        pdf_text.extract,
        (data, name, limits.max_chars),
        name=name,
        what="PDF",
        seconds=limits.max_seconds,
        max_memory=limits.max_memory,
    )


def load_bytes(
    data: bytes,
    name: str,
    *,
    source: str | None = None,
    url: str | None = None,
    content_type: str | None = None,
    limits: Limits | None = None,
) -> Document:
    """Parse ``data`` (a file's bytes) into a Document. Raises ``IngestError`` subclasses.
    ``limits``: default the shipped ones."""
    limits = limits or Limits.shipped()
    if len(data) > limits.max_bytes:
        raise SourceTooLarge(f"{name}: {len(data):,} bytes is over the limit of {limits.max_bytes:,}")
    media_type = media_type_for(name, content_type)
    title = author = date = None
    if media_type == "application/pdf":
        if not data.startswith(b"%PDF"):
            raise UnsupportedSource(f"{name}: not a PDF file")
        raw, title, author, date = astuple(_pdf(data, name, limits))
    elif media_type == "text/html":
        raw, title, author, date = astuple(_html(data, name, url, content_type, limits))
    else:
        raw = decode(data, name, declared_charset(content_type, data, html=False))
    text = normalise(raw)
    if not text:
        raise EmptyDocument(f"{name}: the document is empty")
    if len(text) > limits.max_chars:
        raise SourceTooLarge(f"{name}: {len(text):,} characters is over the limit of {limits.max_chars:,}")
    if media_type == "text/markdown":
        title, author, date = _markdown_meta(text)
    elif media_type == "text/plain":
        title, author = _headline(text)
    if not title:
        title = Path(name.split("?", 1)[0]).stem or name
    return Document(
        id=content_id(text),
        text=text,
        source=source or url or name,
        title=normalise(title)[:300],
        url=url,
        author=normalise(author)[:200] if author else None,
        published=date,
        media_type=media_type,
    )


def load_path(path: Path, limits: Limits | None = None) -> Document:
    """Load one local file. The source key is its resolved path."""
    limits = limits or Limits.shipped()
    if not path.exists():
        raise IngestError(f"{path}: no such file or directory")
    if not path.is_file():
        raise UnsupportedSource(f"{path}: not a regular file")
    media_type_for(path.name)
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise SourceTooLarge(f"{path}: {size:,} bytes is over the limit of {limits.max_bytes:,}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot read the file ({exc.strerror})") from exc
    resolved = str(path.resolve())
    return load_bytes(data, path.name, source=resolved, url=None, limits=limits)


def expand_paths(path: Path) -> list[Path]:
    """A file as is; a directory as its supported files, recursively, in a stable order."""
    if path.is_dir():
        # Hidden files and folders (.git, .venv, editor state) are skipped, as shells' globs do.
        return sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in SUFFIX_TYPES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    return [path]
