"""Answers: the seam, and the default extractive answerer (no LLM, no API key).

The extractive answer quotes the one to three sentences of the retrieved chunks that
best answer the question, each with its citation. Sentences are ranked by their
contextual vectors (computed at ingest) against the question vector, by how much of the
question's IDF-weighted terms they contain, and by their chunk's rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from retrieval.catalog import Catalog
from retrieval.citations import citation_id
from retrieval.lexical import tokenize
from retrieval.models import Answer, Citation, Sentence
from retrieval.search import Retrieved

ABSTAIN_TEXT = "I couldn't find that in the ingested articles."


class Answerer(Protocol):
    def answer(self, question: str, namespace: str, retrieved: Retrieved) -> Answer: ...


@dataclass(frozen=True)
class AnswerConfig:
    max_sentences: int = 3
    max_chars: int = 300
    abstain_threshold: float = 0.45
    top_chunks: int = 3
    dense_weight: float = 0.5
    lexical_weight: float = 0.4
    rank_weight: float = 0.1
    extra_sentence_ratio: float = 0.85


@dataclass(frozen=True)
class ScoredSentence:
    sentence: Sentence
    score: float
    dense: float
    lexical: float
    chunk_rank: int


def abstention(question: str) -> Answer:
    return Answer(question=question, text=ABSTAIN_TEXT, abstained=True)


class ExtractiveAnswerer:
    def __init__(self, catalog: Catalog, config: AnswerConfig) -> None:
        self.catalog = catalog
        self.config = config

    def score_sentences(self, namespace: str, retrieved: Retrieved) -> list[ScoredSentence]:
        cfg = self.config
        index = retrieved.index
        q_weights = {t: index.bm25.weight(t) for t in set(retrieved.query_tokens)}
        total = sum(q_weights.values()) or 1.0
        seen: set[tuple[str, int]] = set()
        scored: list[ScoredSentence] = []
        for hit in retrieved.hits[: cfg.top_chunks]:
            chunk = hit.chunk
            text = index.texts[chunk.doc_id]
            for sentence, vector in self.catalog.sentences_in(namespace, chunk.doc_id, text, chunk.start, chunk.end):
                if (sentence.doc_id, sentence.index) in seen:
                    continue
                seen.add((sentence.doc_id, sentence.index))
                # A headline or a two-word line (byline, "COMMENTS") is no evidence.
                if sentence.text == index.titles[sentence.doc_id] or len(sentence.text.split()) < 4:
                    continue
                dense = float(np.dot(retrieved.query_vector, vector)) if vector is not None else 0.0
                tokens = set(tokenize(sentence.text))
                lexical = sum(w for t, w in q_weights.items() if t in tokens) / total
                score = cfg.dense_weight * dense + cfg.lexical_weight * lexical + cfg.rank_weight / hit.rank
                scored.append(ScoredSentence(sentence, score, dense, lexical, hit.rank))
        scored.sort(key=lambda s: -s.score)
        return scored

    def confidence(self, best: ScoredSentence) -> float:
        return 0.6 * best.dense + 0.4 * best.lexical

    def answer(self, question: str, namespace: str, retrieved: Retrieved) -> Answer:
        cfg = self.config
        scored = self.score_sentences(namespace, retrieved)
        if not scored:
            return abstention(question)
        best = scored[0]
        confidence = self.confidence(best)
        if confidence < cfg.abstain_threshold:
            return Answer(question=question, text=ABSTAIN_TEXT, abstained=True, confidence=confidence)
        chosen = [best]
        used = len(best.sentence.text)
        for cand in scored[1:]:
            if len(chosen) >= cfg.max_sentences:
                break
            if cand.score < cfg.extra_sentence_ratio * best.score:
                break
            if used + len(cand.sentence.text) > cfg.max_chars:
                continue
            chosen.append(cand)
            used += len(cand.sentence.text)
        # Quote in reading order: same document first, by position.
        chosen.sort(key=lambda s: (s.chunk_rank, s.sentence.doc_id, s.sentence.start))
        citations = []
        parts = []
        for n, item in enumerate(chosen, start=1):
            s = item.sentence
            citations.append(
                Citation(
                    n=n,
                    id=citation_id(s.doc_id, s.start, s.end),
                    doc_id=s.doc_id,
                    title=retrieved.index.titles[s.doc_id],
                    url=retrieved.index.urls[s.doc_id],
                    paragraph=s.paragraph,
                    start=s.start,
                    end=s.end,
                    quote=s.text,
                )
            )
            parts.append(f"\u201c{s.text}\u201d [{n}]")
        return Answer(
            question=question, text=" ".join(parts), abstained=False, citations=tuple(citations), confidence=confidence
        )
