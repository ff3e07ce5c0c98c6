"""Sentence-aware chunking with exact offsets.

Chunks are runs of whole sentences (see ``sentences.py``), packed up to ``chunk_size``
characters, overlapping by whole sentences, and preferring to end at paragraph breaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_text_splitters import TextSplitter

from retrieval.models import Chunk, Sentence
from retrieval.sentences import TextSpan, sentences


@dataclass(frozen=True)
class ChunkerConfig:
    chunk_size: int
    overlap_sentences: int


@dataclass(frozen=True)
class Segmented:
    """A document cut into sentences and chunks (both exact spans of ``text``)."""

    sentences: tuple[Sentence, ...]
    chunks: tuple[Chunk, ...]
    members: tuple[range, ...]  # members[i]: indices of the sentences inside chunks[i]


def _pack(spans: list[TextSpan], size: int, overlap: int) -> list[tuple[int, int]]:
    """Group sentence indices into [first, last) runs."""
    groups: list[tuple[int, int]] = []
    first = 0
    n = len(spans)
    while first < n:
        last = first + 1
        while last < n:
            para_break = spans[last].paragraph != spans[last - 1].paragraph
            length = spans[last - 1].end - spans[first].start
            # Stop at a paragraph break once the chunk is half full: topics change there.
            if para_break and length >= size // 2:
                break
            if spans[last].end - spans[first].start > size:
                break
            last += 1
        groups.append((first, last))
        if last >= n:
            break
        ends_at_paragraph = spans[last].paragraph != spans[last - 1].paragraph
        step_back = 0 if ends_at_paragraph else min(overlap, last - first - 1)
        first = last - step_back
    return groups


def segment(doc_id: str, text: str, config: ChunkerConfig) -> Segmented:
    spans = sentences(text, max_chars=config.chunk_size)
    sents = tuple(Sentence(doc_id, i, s.start, s.end, s.paragraph, text[s.start : s.end]) for i, s in enumerate(spans))
    chunks = []
    members = []
    for index, (first, last) in enumerate(_pack(spans, config.chunk_size, config.overlap_sentences)):
        start, end = spans[first].start, spans[last - 1].end
        chunks.append(Chunk(doc_id, index, start, end, spans[first].paragraph, text[start:end]))
        members.append(range(first, last))
    return Segmented(sents, tuple(chunks), tuple(members))


class SentenceChunker(TextSplitter):
    """The same chunker behind LangChain's ``TextSplitter`` interface.

    ``create_documents`` records ``start_index`` like LangChain's own splitters do, plus
    the paragraph number, so LangChain pipelines keep exact offsets too.
    """

    def __init__(self, chunk_size: int = 600, overlap_sentences: int = 1, **kwargs: Any) -> None:
        super().__init__(chunk_size=chunk_size, chunk_overlap=0, **kwargs)
        self._config = ChunkerConfig(chunk_size, overlap_sentences)

    def split_text(self, text: str) -> list[str]:
        return [c.text for c in segment("", text, self._config).chunks]

    def create_documents(self, texts: list[str], metadatas: list[dict] | None = None) -> list:
        from langchain_core.documents import Document as LCDocument

        docs = []
        for i, text in enumerate(texts):
            meta = (metadatas or [{}] * len(texts))[i]
            for chunk in segment("", text, self._config).chunks:
                docs.append(
                    LCDocument(
                        page_content=chunk.text,
                        metadata={**meta, "start_index": chunk.start, "paragraph": chunk.paragraph},
                    )
                )
        return docs
