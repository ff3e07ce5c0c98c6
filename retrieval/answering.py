"""Answers: the seam, and the default extractive answerer (no LLM, no API key).

The extractive answer quotes the one or two sentences of the top retrieved chunks that
best answer the question, each with its citation. A sentence's score is its contextual
vector's similarity to the question (computed at ingest), plus the IDF-weighted share of
the question's terms it contains, minus how far its chunk ranked below the best chunk, and
minus a small penalty when the question asks for a date, number or name and the sentence
has none (``questions.py``).
Sentence scores come from the retrieval step (``Retrieved.scores``): answering embeds
nothing and reads nothing from the database.

The answerer abstains when its confidence (see ``confidence``) is below
``abstain_threshold``: the best sentence neither resembles the question nor contains
enough of its rarer terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from retrieval.catalog import Catalog
from retrieval.citations import citation_id
from retrieval.models import Answer, Citation, Sentence
from retrieval.questions import can_answer, expected_type
from retrieval.search import Retrieved

ABSTAIN_TEXT = "I couldn't find that in the ingested articles."


class Answerer(Protocol):
    def answer(self, question: str, namespace: str, retrieved: Retrieved) -> Answer: ...


@dataclass(frozen=True)
class AnswerConfig:
    # From the settings (config/defaults.toml holds their values):
    max_sentences: int
    max_chars: int
    abstain_threshold: float
    # Fixed by measurement (BENCHMARKS.md):
    top_chunks: int = 3
    dense_weight: float = 1.0
    lexical_weight: float = 0.5
    rank_weight: float = 1.0  # per unit of retrieval score below the best chunk
    extra_sentence_margin: float = 0.3  # a further sentence scores at most this much below the best
    answer_type_penalty: float = 0.1  # a sentence without the kind of thing asked for (a date for "when")
    confidence_lexical_weight: float = 0.5


@dataclass(frozen=True)
class ScoredSentence:
    sentence: Sentence
    score: float
    dense: float
    lexical: float
    chunk_rank: int


def abstention(question: str, confidence: float = 0.0) -> Answer:
    return Answer(question=question, text=ABSTAIN_TEXT, abstained=True, confidence=confidence)


class ExtractiveAnswerer:
    def __init__(self, catalog: Catalog, config: AnswerConfig) -> None:
        self.catalog = catalog
        self.config = config

    def score_sentences(self, question: str, retrieved: Retrieved) -> list[ScoredSentence]:
        cfg = self.config
        index = retrieved.index
        hits = retrieved.hits[: cfg.top_chunks]
        if not hits:
            return []
        top = hits[0].score
        kind = expected_type(question)
        best: dict[tuple[str, int], ScoredSentence] = {}
        for hit in hits:
            chunk = hit.chunk
            scores = retrieved.scores(chunk)
            text = index.texts[chunk.doc_id]
            for i in range(len(scores.sentences)):
                sentence = scores.sentences.sentence(i, text)
                key = (chunk.doc_id, sentence.index)
                if key in best:  # overlap: the sentence already scored in a better chunk
                    continue
                # A headline or a two-word line (byline, "COMMENTS") is no evidence.
                if sentence.text == index.titles[chunk.doc_id] or len(sentence.text.split()) < 4:
                    continue
                dense, lexical = float(scores.dense[i]), float(scores.lexical[i])
                score = cfg.dense_weight * dense + cfg.lexical_weight * lexical - cfg.rank_weight * (top - hit.score)
                if kind is not None and not can_answer(kind, question, sentence.text):
                    score -= cfg.answer_type_penalty
                best[key] = ScoredSentence(sentence, score, dense, lexical, hit.rank)
        return sorted(best.values(), key=lambda s: (-s.score, s.chunk_rank, s.sentence.start))

    def confidence(self, best: ScoredSentence) -> float:
        return best.dense + self.config.confidence_lexical_weight * best.lexical

    def answer(self, question: str, namespace: str, retrieved: Retrieved) -> Answer:
        cfg = self.config
        scored = self.score_sentences(question, retrieved)
        if not scored:
            return abstention(question)
        best = scored[0]
        confidence = self.confidence(best)
        if confidence < cfg.abstain_threshold:
            return abstention(question, confidence)
        chosen = [best]
        used = len(best.sentence.text)
        for cand in scored[1:]:
            if len(chosen) >= cfg.max_sentences or cand.score < best.score - cfg.extra_sentence_margin:
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
