"""Values that cross the service boundary. Frozen, plain, serialisable."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """A source text as stored. ``id`` is derived from ``text``; offsets index ``text``."""

    id: str
    text: str
    source: str
    title: str
    url: str | None = None
    author: str | None = None
    published: str | None = None
    media_type: str = "text/plain"


def chunk_key(doc_id: str, index: int) -> str:
    """The store's id of a document's ``index``-th chunk (one format for the store and the search)."""
    return f"{doc_id}:{index}"


@dataclass(frozen=True)
class Span:
    """A sentence or a chunk: ``text == document.text[start:end]``."""

    doc_id: str
    index: int
    start: int
    end: int
    paragraph: int
    text: str

    @property
    def key(self) -> str:
        return chunk_key(self.doc_id, self.index)


Chunk = Span
Sentence = Span


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    namespace: str
    source: str
    title: str
    url: str | None
    author: str | None
    published: str | None
    content_hash: str
    chars: int
    chunks: int
    ingested_at: float
    sets: tuple[str, ...] = ()  # the document sets it is in (none: unfiled)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sets"] = list(self.sets)
        return data


@dataclass(frozen=True)
class SearchHit:
    rank: int
    id: str
    chunk: Chunk
    title: str
    url: str | None
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "id": self.id,
            "doc_id": self.chunk.doc_id,
            "title": self.title,
            "paragraph": self.chunk.paragraph,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "text": self.chunk.text,
            "score": round(self.score, 6),
        }


@dataclass(frozen=True)
class Citation:
    """A verbatim quote: ``quote == document.text[start:end]`` always. ``answer_span``: where
    in the quote the answer itself is (start, end within ``quote``), when it is a part of it."""

    n: int
    id: str
    doc_id: str
    title: str
    url: str | None
    paragraph: int
    start: int
    end: int
    quote: str
    answer_span: tuple[int, int] | None = None
    published: str | None = None  # the document's publication date as given, when known

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        span = self.answer_span
        data["answer_span"] = None if span is None else {"start": span[0], "end": span[1]}
        return data


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    confidence: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    # LLM mode (``retrieval/llm_answering.py``): "llm" when the text is the model's verified
    # sentences, each ending in its [n]; "extractive" otherwise. ``note``: one line for the
    # reader, e.g. why the extractive answer stands in for the model's.
    mode: str = "extractive"
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }
        if self.mode != "extractive" or self.note is not None:  # extractive answers keep their contract
            data["mode"] = self.mode
            data["note"] = self.note
        return data


@dataclass(frozen=True)
class CitationContext:
    """A cited passage with the paragraph(s) around it, for checking it in place."""

    id: str
    doc_id: str
    title: str
    url: str | None
    start: int
    end: int
    quote: str
    context: str
    context_start: int
    paragraph: int
    exact: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "doc_id": self.doc_id,
            "title": self.title,
            "url": self.url,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "context": self.context,
        }


@dataclass(frozen=True)
class IngestItem:
    source: str
    status: str  # "added" | "unchanged" | "replaced" | "failed"
    doc_id: str | None = None
    title: str | None = None
    chunks: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IngestReport:
    items: tuple[IngestItem, ...]
    seconds: float

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    @property
    def chunks(self) -> int:
        return sum(item.chunks for item in self.items if item.status in ("added", "replaced"))

    @property
    def failed(self) -> bool:
        return any(item.status == "failed" for item in self.items)

    def summary(self) -> str:
        return (
            f"{self.count('added')} added, {self.count('unchanged')} unchanged, "
            f"{self.count('replaced')} replaced, {self.count('failed')} failed; "
            f"{self.chunks} chunks in {self.seconds:.1f}s"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.count("added"),
            "unchanged": self.count("unchanged"),
            "replaced": self.count("replaced"),
            "failed": self.count("failed"),
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "items": [item.to_dict() for item in self.items],
        }


@dataclass(frozen=True)
class EvidenceSentence:
    """A sentence of a retrieved chunk with the scores search already computed for it."""

    sentence: Sentence
    dense: float  # cosine similarity of its contextual vector to the question's
    lexical: float  # IDF-weighted share of the question's terms it holds
    rerank: float | None = None  # the cross-encoder's logit, for the sentences it read


@dataclass(frozen=True)
class EvidenceHit:
    """A retrieved chunk, its sentences, and what is known of its document (title and
    address in ``hit``; byline and date; the document's text, for questions about it)."""

    hit: SearchHit
    sentences: tuple[EvidenceSentence, ...]
    author: str | None = None
    published: str | None = None
    document_text: str = ""


@dataclass(frozen=True)
class Evidence:
    """What an answerer gets: the question and the retrieved evidence, as plain values.

    An answerer (extractive, reader model, LLM) needs nothing else — no index, store or
    catalog — so a new one can be written without knowing how search works."""

    question: str
    hits: tuple[EvidenceHit, ...]
