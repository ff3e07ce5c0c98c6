"""Answers: the seam, and the default extractive answerer (no LLM, no API key).

An answerer gets ``Evidence`` — the question and the retrieved chunks' sentences with the
scores search computed — and nothing else. The extractive answerer quotes the one or two
sentences that best answer the question, each with its citation:

1. Candidates: the sentences of the top chunks, minus page furniture (``noise.py``).
2. Each is scored on what search measured: its contextual vector's similarity to the
   question, plus the IDF-weighted share of the question's terms it holds, minus how far its
   chunk ranked below the best one, minus a penalty when the question asks for a kind of
   thing (a date, a number, a name, a place …) that the sentence does not hold; plus, for
   the sentences the cross-encoder read (``search.py``, ``reranking.py``), its logit: it
   tells the sentence that answers from the one that merely repeats the question's words.
3. The answer is the best sentence (and, close behind it, a second one), with the part that
   answers a typed question marked (``answer_span``) — for "what does XYZ stand for", the
   long form the text defines. Below a calibrated confidence it abstains instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from retrieval.about import answer_about, asked_about
from retrieval.citations import citation_id
from retrieval.definitions import asked_acronym, expansion
from retrieval.models import Answer, Citation, Evidence, Sentence
from retrieval.noise import is_noise
from retrieval.questions import answer_span, can_answer, expected_type

ABSTAIN_TEXT = "I couldn't find that in the ingested articles."


class Answerer(Protocol):
    def answer(self, evidence: Evidence) -> Answer: ...


@dataclass(frozen=True)
class AnswerConfig:
    # From the settings (config/defaults.toml holds their values):
    max_sentences: int
    max_chars: int
    abstain_threshold: float
    dense_weight: float
    lexical_weight: float
    # Fixed by measurement (BENCHMARKS.md):
    top_chunks: int = 3
    rank_weight: float = 1.0  # per unit of retrieval score below the best chunk
    # A further sentence scores at most this much below the best: a second sentence nearly
    # always, since the answer to a news question is often the one beside the best match.
    extra_sentence_margin: float = 1.0
    answer_type_penalty: float = 0.1  # a sentence without the kind of thing asked for (a date for "when")
    confidence_lexical_weight: float = 0.5
    # When the cross-encoder read the sentences (per unit of logit; a sentence it did not
    # read counts as its lowest logit):
    rerank_weight: float = 0.05
    rerank_confidence_weight: float = 0.05
    # Without the cross-encoder (switched off) confidence lacks its part; this threshold was
    # calibrated for that (the first wave's measurement, BENCHMARKS.md).
    abstain_threshold_without_reranker: float = 0.6
    definition_bonus: float = 0.5  # a sentence that spells out the acronym asked about


@dataclass(frozen=True)
class Candidate:
    sentence: Sentence
    title: str
    url: str | None
    score: float
    confidence: float
    chunk_rank: int
    span: tuple[int, int] | None  # where the answer is inside the sentence


def abstention(question: str, confidence: float = 0.0) -> Answer:
    return Answer(question=question, text=ABSTAIN_TEXT, abstained=True, confidence=confidence)


class ExtractiveAnswerer:
    def __init__(self, config: AnswerConfig) -> None:
        self.config = config

    def candidates(self, evidence: Evidence) -> list[Candidate]:
        """The top chunks' sentences scored on search's measurements, best first."""
        cfg = self.config
        hits = evidence.hits[: cfg.top_chunks]
        if not hits:
            return []
        top = hits[0].hit.score
        question = evidence.question
        kind = expected_type(question)
        acronym = asked_acronym(question)
        read = [s.rerank for h in hits for s in h.sentences if s.rerank is not None]
        floor = min(read) if read else 0.0
        best: dict[tuple[str, int], Candidate] = {}
        for hit in hits:
            rank_gap = cfg.rank_weight * (top - hit.hit.score)
            for scored in hit.sentences:
                sentence = scored.sentence
                key = (sentence.doc_id, sentence.index)
                if key in best or is_noise(sentence.text, hit.hit.title):
                    continue  # overlap: already scored in a better chunk; or page furniture
                logit = floor if scored.rerank is None else scored.rerank
                confidence = (
                    scored.dense + cfg.confidence_lexical_weight * scored.lexical + cfg.rerank_confidence_weight * logit
                )
                score = (
                    cfg.dense_weight * scored.dense
                    + cfg.lexical_weight * scored.lexical
                    + cfg.rerank_weight * logit
                    - rank_gap
                )
                span = None
                if acronym:
                    span = expansion(acronym, sentence.text)
                    score += cfg.definition_bonus if span else 0.0
                elif kind is not None:
                    if can_answer(kind, question, sentence.text):
                        span = answer_span(kind, question, sentence.text)
                    else:
                        score -= cfg.answer_type_penalty
                best[key] = Candidate(sentence, hit.hit.title, hit.hit.url, score, confidence, hit.hit.rank, span)
        return sorted(best.values(), key=lambda c: (-c.score, c.chunk_rank, c.sentence.start))

    def answer(self, evidence: Evidence) -> Answer:
        cfg = self.config
        question = evidence.question
        about = asked_about(question)
        if about is not None and evidence.hits:  # "who wrote the article about …": its byline
            found = answer_about(question, about, evidence.hits[0])
            if found is not None:
                return found
        scored = self.candidates(evidence)
        if not scored:
            return abstention(question)
        best = scored[0]
        # Confidence: how well the evidence supports any answer (its most convincing sentence).
        confidence = max(c.confidence for c in scored)
        reranked = any(s.rerank is not None for h in evidence.hits for s in h.sentences)
        if confidence < (cfg.abstain_threshold if reranked else cfg.abstain_threshold_without_reranker):
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
        chosen.sort(key=lambda c: (c.chunk_rank, c.sentence.doc_id, c.sentence.start))
        citations = []
        parts = []
        for n, item in enumerate(chosen, start=1):
            s = item.sentence
            citations.append(
                Citation(
                    n=n,
                    id=citation_id(s.doc_id, s.start, s.end),
                    doc_id=s.doc_id,
                    title=item.title,
                    url=item.url,
                    paragraph=s.paragraph,
                    start=s.start,
                    end=s.end,
                    quote=s.text,
                    answer_span=item.span if item is best else None,
                )
            )
            parts.append(f"\u201c{s.text}\u201d [{n}]")
        return Answer(
            question=question,
            text=" ".join(parts),
            abstained=False,
            citations=tuple(citations),
            confidence=confidence,
        )
