"""Ingest's compute stage: a document chunked, embedded and tokenized, ready to write."""

from __future__ import annotations

import numpy as np

from retrieval.chunking import ChunkerConfig, segment
from retrieval.embedding import Embedder
from retrieval.errors import IngestError
from retrieval.indexing import PreparedDocument
from retrieval.lexical import tokenize
from retrieval.models import Document


def prepare(doc: Document, chunker: ChunkerConfig, embedder: Embedder) -> PreparedDocument:
    """Chunks with their vectors, and each sentence's vector (pooled from its chunk's token
    states) and search terms, so that questions read them instead of computing them."""
    segmented = segment(doc.id, doc.text, chunker)
    if not segmented.chunks:
        raise IngestError(f"{doc.source}: the document has no text to index")
    chunks, sents = segmented.chunks, segmented.sentences
    spans = [
        [(sents[i].start - c.start, sents[i].end - c.start) for i in members]
        for c, members in zip(chunks, segmented.members, strict=True)
    ]
    chunk_vectors, span_vectors = embedder.embed_chunks([c.text for c in chunks], spans)
    # Each sentence keeps the vector from the first chunk that holds it.
    sentence_vectors = np.zeros((len(sents), embedder.dimension), dtype=np.float32)
    for members, vectors in zip(reversed(segmented.members), reversed(span_vectors), strict=True):
        sentence_vectors[list(members)] = vectors
    sentence_terms = [" ".join(tokenize(s.text)) for s in sents]
    return PreparedDocument(doc, chunks, sents, chunk_vectors, sentence_vectors, sentence_terms)
