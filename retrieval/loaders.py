"""Turn files, bytes and fetched pages into ``Document`` values.

Supported: plain text, Markdown, HTML (article extraction with trafilatura) and PDF
(pypdf). Size limits are checked before any parsing.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import EmptyDocument, IngestError, SourceTooLarge, UnsupportedSource
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
    max_bytes: int = 20_000_000
    max_chars: int = 2_000_000


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


def decode(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:8192]:
        raise UnsupportedSource(f"{name}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    if best is None or best.encoding is None:
        raise UnsupportedSource(f"{name}: cannot decode the file as text")
    try:
        return data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise UnsupportedSource(f"{name}: cannot decode the file as text") from exc


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


def _html(data: bytes, name: str, url: str | None) -> tuple[str, str | None, str | None, str | None]:
    import trafilatura
    from trafilatura.settings import Document as Extracted

    html = decode(data, name)
    try:
        result = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=True, favor_precision=True
        )
    except Exception as exc:  # trafilatura, lxml and htmldate raise many types on broken markup
        raise UnsupportedSource(f"{name}: not readable HTML ({type(exc).__name__})") from exc
    if not isinstance(result, Extracted) or not (result.text or "").strip():
        raise EmptyDocument(f"{name}: no article text found in the HTML")
    # trafilatura separates paragraphs by one newline; blank lines mark them here.
    text = re.sub(r"\n+", "\n\n", result.text or "")
    return text, result.title, result.author, result.date


def _pdf(data: bytes, name: str) -> tuple[str, str | None, str | None, str | None]:
    from pypdf import PdfReader

    title = author = date = None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnsupportedSource(f"{name}: the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        try:  # metadata resolves objects too, so it can fail like the pages; the text is what matters
            meta = reader.metadata
            if meta is not None:
                title = (meta.title or None) if isinstance(meta.title, str) else None
                author = (meta.author or None) if isinstance(meta.author, str) else None
                raw_date = meta.get("/CreationDate")
                if isinstance(raw_date, str) and len(raw_date) >= 10 and raw_date.startswith("D:"):
                    date = f"{raw_date[2:6]}-{raw_date[6:8]}-{raw_date[8:10]}"
        except Exception:
            title = author = date = None
    except IngestError:
        raise
    except Exception as exc:  # pypdf raises many types on corrupt input (PdfReadError, LimitReachedError,
        # NotImplementedError for unknown filters, ValueError, KeyError, RecursionError, ...)
        raise UnsupportedSource(f"{name}: not a readable PDF ({type(exc).__name__})") from exc
    # Reflow: a line ending without terminal punctuation continues on the next one.
    paragraphs: list[str] = []
    for page in pages:
        current: list[str] = []
        for line in page.splitlines():
            line = line.strip()
            if not line:
                if current:
                    paragraphs.append(" ".join(current))
                    current = []
                continue
            current.append(line)
            if line.endswith((".", "?", "!", ":", "\u201d", '"')) and len(line) < 60:
                paragraphs.append(" ".join(current))
                current = []
        if current:
            paragraphs.append(" ".join(current))
    text = "\n\n".join(p for p in paragraphs if p)
    return text, title, author, date


def load_bytes(
    data: bytes,
    name: str,
    *,
    source: str | None = None,
    url: str | None = None,
    content_type: str | None = None,
    limits: Limits = Limits(),
) -> Document:
    """Parse ``data`` (a file's bytes) into a Document. Raises ``IngestError`` subclasses."""
    if len(data) > limits.max_bytes:
        raise SourceTooLarge(f"{name}: {len(data):,} bytes is over the limit of {limits.max_bytes:,}")
    media_type = media_type_for(name, content_type)
    title = author = date = None
    if media_type == "application/pdf":
        if not data.startswith(b"%PDF"):
            raise UnsupportedSource(f"{name}: not a PDF file")
        raw, title, author, date = _pdf(data, name)
    elif media_type == "text/html":
        raw, title, author, date = _html(data, name, url)
    else:
        raw = decode(data, name)
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


def load_path(path: Path, limits: Limits = Limits()) -> Document:
    """Load one local file. The source key is its resolved path."""
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
