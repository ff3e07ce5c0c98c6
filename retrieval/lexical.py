"""Lexical side of retrieval: one tokenizer (stemmed, stopword-free) and a BM25 index."""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_TOKEN = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(STOPWORDS_EN) | {"did", "does", "do", "what", "who", "whom", "which", "when", "where", "why", "how"}
_stemmer_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    # PyStemmer objects are not thread-safe; one per thread.
    stemmer = getattr(_stemmer_local, "stemmer", None)
    if stemmer is None:
        stemmer = _stemmer_local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def tokenize(text: str) -> list[str]:
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOP and (len(w) > 1 or w.isdigit())]
    return _stemmer().stemWords(words) if words else []


class BM25Index:
    """BM25 over a fixed list of texts (rebuilt when the namespace changes, never per query)."""

    def __init__(self, token_lists: Sequence[list[str]]) -> None:
        self.size = len(token_lists)
        doc_freq: Counter[str] = Counter()
        for tokens in token_lists:
            doc_freq.update(set(tokens))
        # The same IDF bm25s uses (Lucene), kept for scoring sentences against a question.
        self.idf = {t: math.log(1 + (self.size - df + 0.5) / (df + 0.5)) for t, df in doc_freq.items()}
        self.default_idf = math.log(1 + (self.size + 0.5) / 0.5) if self.size else 1.0
        self._bm25 = bm25s.BM25()
        if self.size:
            self._bm25.index([t or [""] for t in token_lists], show_progress=False)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        known = [t for t in query_tokens if t in self.idf]
        if not self.size or not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def top(self, query_tokens: list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` best-scoring texts; ``allowed`` (a mask over them): the best allowed ones."""
        scores = self.scores(query_tokens)
        if allowed is not None:
            scores = np.where(allowed, scores, np.float32(0))
        if not len(scores):
            return []
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(i), float(scores[i])) for i in best if scores[i] > 0]

    def weight(self, token: str) -> float:
        return self.idf.get(token, self.default_idf)
