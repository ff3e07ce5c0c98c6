"""Grounding: a model's answer kept only where its citations support it.

1. The answer is split into sentences (``sentences.py``'s rules; a trailing ``[n]`` that
   the splitter cut off joins its sentence), and each sentence's ``[n]`` markers are read.
2. Citation numbers with no passage are removed; a sentence left citing nothing is dropped.
3. Each cited passage must support the sentence: over the passage's stored sentences, the
   share of the claim's content words (stemmed, stopwords off) that the best one or two
   sentences hold, and the embedding cosine of the claim to the best sentence, weighted into
   one support score that must reach ``support_threshold``; and every number and name in the
   claim (a capitalised word past its first) must occur in the passage; a claim of fewer than
   three content words states nothing to check and is dropped. A passage that fails
   is removed from the sentence; a sentence with no supporting passage left is dropped.
4. Each kept sentence cites the exact stored sentence(s) that support it, as ``Citation``s
   with the same fields and ids as extractive ones (quote = the stored text at its offsets).

The threshold and weight were chosen by measurement on scripted answers built from the
evaluation sets (``llm_evaluation.py``, BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.citations import citation_id
from retrieval.embedding import Embedder
from retrieval.lexical import tokenize
from retrieval.llm_prompt import Passage
from retrieval.models import Citation, EvidenceSentence
from retrieval.sentences import sentences

_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
_MARKERS_ONLY = re.compile(r"^(?:\s*\[\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*\])+\s*[.!?]?\s*$")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"(?<![\w'’])[A-Z][\w'’.-]*")
_SPACES = re.compile(r"\s+")
_DOUBLE_STOP = re.compile(r"([.!?][\"'”’)]+)[.!?]$")  # "….” [1]." without its marker: "….”."
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")


@dataclass(frozen=True)
class GroundingConfig:
    # Chosen by measurement on scripted answers (BENCHMARKS.md, "LLM answers").
    support_threshold: float = 0.55
    lexical_weight: float = 0.6  # the rest is the embedding cosine
    # A second sentence of the passage is cited too when it holds this share of the claim's
    # content words that the best one lacks (a claim that joins two sentences).
    second_sentence_share: float = 0.25
    # A claim states something: "PWNED [1]" or "Yes [2]" quotes a word, not a fact.
    min_content_words: int = 3


@dataclass(frozen=True)
class ClaimSentence:
    """One sentence of the model's answer: its text without markers and the numbers it cites."""

    text: str
    cited: tuple[int, ...]
    raw: str


@dataclass(frozen=True)
class Judged:
    claim: ClaimSentence
    kept: bool
    reason: str  # "supported", "uncited", "unknown citation", "too short", "unsupported", "new detail"
    support: float  # the best cited passage's support score (0 when none was cited)
    spans: tuple[tuple[int, EvidenceSentence], ...] = ()  # (passage n, supporting stored sentence)


@dataclass(frozen=True)
class Grounded:
    """The verified answer: kept sentences (renumbered markers) and their citations."""

    text: str
    citations: tuple[Citation, ...]
    judged: tuple[Judged, ...]

    @property
    def kept(self) -> int:
        return sum(1 for j in self.judged if j.kept)


def _clean(text: str) -> str:
    return _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", text)).strip()


def split_claims(answer: str) -> list[ClaimSentence]:
    """The answer's sentences with the passage numbers each cites."""
    pieces: list[str] = []
    for span in sentences(answer.strip(), max_chars=2000):
        piece = answer.strip()[span.start : span.end]
        if pieces and _MARKERS_ONLY.match(piece):  # "… in 2019. [1]": the marker belongs to it
            pieces[-1] += " " + piece
        else:
            pieces.append(piece)
    claims = []
    for piece in pieces:
        numbers: list[int] = []
        for match in _MARKER.finditer(piece):
            for part in re.split(r"\s*[,;]\s*", match.group(1)):
                if int(part) not in numbers:
                    numbers.append(int(part))
        text = _clean(_MARKER.sub(" ", piece))
        if text.strip(" .!?"):
            claims.append(ClaimSentence(text, tuple(numbers), piece))
    return claims


def _details(claim: str) -> tuple[set[str], set[str]]:
    """Numbers and names (stemmed) in a claim: what a passage must hold word for word."""
    numbers = {n.replace(",", "") for n in _NUMBER.findall(claim)}
    names: set[str] = set()
    for match in _NAME.finditer(claim):
        if match.start() == 0:
            continue  # any first word is capitalised
        names.update(tokenize(match.group(0)))
    return numbers, names


class Verifier:
    def __init__(self, embedder: Embedder, config: GroundingConfig | None = None) -> None:
        self.embedder = embedder
        self.config = config or GroundingConfig()

    def _support(
        self, claim_terms: set[str], claim_vector: np.ndarray, sents: Sequence[EvidenceSentence], vectors: np.ndarray
    ) -> tuple[float, list[int]]:
        """(support score, indices of the supporting sentences, best first) for one passage."""
        if not sents or not claim_terms:
            return 0.0, []
        terms = [set(tokenize(s.sentence.text)) for s in sents]
        cosines = vectors @ claim_vector
        cfg = self.config
        cover = [len(claim_terms & t) / len(claim_terms) for t in terms]
        w = cfg.lexical_weight
        single = [w * c + (1 - w) * float(cos) for c, cos in zip(cover, cosines, strict=True)]
        best = int(np.argmax(single))
        chosen = [best]
        missing = claim_terms - terms[best]
        lexical = cover[best]
        if missing:
            gains = [len(missing & t) / len(claim_terms) if i != best else 0.0 for i, t in enumerate(terms)]
            second = int(np.argmax(gains))
            if gains[second] >= cfg.second_sentence_share:
                chosen.append(second)
                lexical += gains[second]
        score = cfg.lexical_weight * lexical + (1 - cfg.lexical_weight) * float(cosines[best])
        return score, chosen

    def verify(self, answer: str, shown: Sequence[Passage]) -> Grounded:
        return self.verify_claims(split_claims(answer), shown)

    def verify_claims(self, claims: Sequence[ClaimSentence], shown: Sequence[Passage]) -> Grounded:
        by_n = {p.n: p for p in shown}
        wanted = sorted({n for c in claims for n in c.cited if n in by_n})
        texts = [c.text for c in claims] + [s.sentence.text for n in wanted for s in by_n[n].hit.sentences]
        vectors = self.embedder.embed_documents(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        claim_vectors = vectors[: len(claims)]
        sentence_vectors: dict[int, np.ndarray] = {}
        row = len(claims)
        for n in wanted:
            count = len(by_n[n].hit.sentences)
            sentence_vectors[n] = vectors[row : row + count]
            row += count
        judged: list[Judged] = []
        for claim, vector in zip(claims, claim_vectors, strict=True):
            known = [n for n in claim.cited if n in by_n]
            if not claim.cited:
                judged.append(Judged(claim, False, "uncited", 0.0))
                continue
            if not known:
                judged.append(Judged(claim, False, "unknown citation", 0.0))
                continue
            terms = set(tokenize(claim.text))
            if len(terms) < self.config.min_content_words:
                judged.append(Judged(claim, False, "too short", 0.0))
                continue
            numbers, names = _details(claim.text)
            spans: list[tuple[int, EvidenceSentence]] = []
            best_support = 0.0
            new_detail = False
            for n in known:
                sents = by_n[n].hit.sentences
                score, chosen = self._support(terms, vector, sents, sentence_vectors[n])
                best_support = max(best_support, score)
                if score < self.config.support_threshold:
                    continue
                passage_text = by_n[n].text
                passage_terms = set(tokenize(passage_text))
                passage_numbers = {m.replace(",", "") for m in _NUMBER.findall(passage_text)}
                if not numbers <= passage_numbers or not names <= passage_terms:
                    new_detail = True  # a number or name the passage does not hold
                    continue
                spans.extend((n, sents[i]) for i in chosen)
            if spans:
                judged.append(Judged(claim, True, "supported", best_support, tuple(spans)))
            else:
                judged.append(Judged(claim, False, "new detail" if new_detail else "unsupported", best_support))
        return _assemble(judged, by_n)


def _assemble(judged: Sequence[Judged], by_n: dict[int, Passage]) -> Grounded:
    """Kept sentences with markers renumbered to their citations, in order of first use."""
    citations: list[Citation] = []
    numbers: dict[tuple[str, int, int], int] = {}
    parts: list[str] = []
    for j in judged:
        if not j.kept:
            continue
        marks: list[int] = []
        for n, scored in j.spans:
            s = scored.sentence
            key = (s.doc_id, s.start, s.end)
            if key not in numbers:
                numbers[key] = len(citations) + 1
                hit = by_n[n].hit.hit
                citations.append(
                    Citation(
                        n=numbers[key],
                        id=citation_id(s.doc_id, s.start, s.end),
                        doc_id=s.doc_id,
                        title=hit.title,
                        url=hit.url,
                        paragraph=s.paragraph,
                        start=s.start,
                        end=s.end,
                        quote=s.text,
                    )
                )
            if numbers[key] not in marks:
                marks.append(numbers[key])
        text, end = _DOUBLE_STOP.sub(r"\1", j.claim.text), ""
        if text[-1] in ".!?":  # "… in 2019 [1]."; a closing quote keeps its stop inside: "….” [1]"
            text, end = text[:-1].rstrip(), text[-1]
        parts.append(f"{text} {''.join(f'[{m}]' for m in marks)}{end}")
    return Grounded(" ".join(parts), tuple(citations), tuple(judged))
