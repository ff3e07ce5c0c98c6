"""Evaluation: Citebot against two baselines over the same documents and questions.

A SQuAD v1.1-format file is read as an article corpus: each article's paragraphs, joined
by blank lines, become one document titled by the article's title; each question's gold
answers become character spans of that document. A seeded share of the articles is held
out (not ingested): their questions measure abstention. The rest are asked to

- Citebot, through the service API, in a fresh temporary data dir;
- BM25 alone (``retrieval.lexical``) over the very chunks Citebot made, top chunk as answer;
- the naive LangChain pipeline: RecursiveCharacterTextSplitter(1000, 200), the same
  embedding model, Chroma ``similarity_search`` (LangChain's default k), top chunk as answer.

Latency is the user's wait: Citebot's ``ask`` and the naive ``similarity_search``; the
evidence ranks (top 10) come from a second, untimed search made after the timed one.

Metrics (answerable questions unless noted):

- recall@1, recall@5, MRR@10: a retrieved chunk covers a gold answer span;
- hit@1: a gold answer string occurs (case, punctuation and articles folded, as SQuAD's
  own scorer folds them) inside the quoted text of the answer; and the mean quoted length;
- citation validity: the share of citations whose quote equals the document's text at
  its offsets;
- abstention on questions about held-out articles, and wrong abstentions on answerable ones;
- latency per question (p50/p95, warm), ingest throughput.

Everything but the timings is deterministic given the seed.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import string
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from retrieval.embedding import Embedder
from retrieval.errors import CitebotError
from retrieval.langchain_adapters import LangChainEmbeddings
from retrieval.lexical import BM25Index, tokenize
from retrieval.loaders import content_id
from retrieval.models import Document

NAMESPACE = "eval"
WARMUP_QUESTIONS = 5
Progress = Callable[[str], None]


# -- data -------------------------------------------------------------------------------
@dataclass(frozen=True)
class GoldQuestion:
    id: str
    question: str
    article: int  # index into the article list
    answers: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]  # gold answer spans in the article's document text


@dataclass(frozen=True)
class Article:
    title: str
    text: str
    questions: tuple[GoldQuestion, ...]

    @property
    def doc_id(self) -> str:
        return content_id(self.text)

    def document(self, source: str) -> Document:
        return Document(id=self.doc_id, text=self.text, source=source, title=self.title)


def load_squad(path: Path | str) -> list[Article]:
    """Articles of a SQuAD v1.1-format file, each one document (paragraphs joined by blank lines)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        raw_articles = data["data"]
    except (OSError, UnicodeDecodeError) as exc:
        raise CitebotError(f"{path}: cannot read the dataset ({exc})") from exc
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CitebotError(f"{path}: not a SQuAD v1.1-format file ({exc})") from exc
    articles: list[Article] = []
    for number, raw in enumerate(raw_articles):
        parts: list[str] = []
        questions: list[GoldQuestion] = []
        offset = 0
        for paragraph in raw.get("paragraphs", []):
            context = paragraph["context"]
            for qa in paragraph.get("qas", []):
                answers = tuple(a["text"] for a in qa.get("answers", []))
                spans = tuple(
                    (offset + a["answer_start"], offset + a["answer_start"] + len(a["text"]))
                    for a in qa.get("answers", [])
                    if context[a["answer_start"] : a["answer_start"] + len(a["text"])] == a["text"]
                )
                if answers and spans:
                    questions.append(GoldQuestion(str(qa["id"]), qa["question"].strip(), number, answers, spans))
            parts.append(context)
            offset += len(context) + 2
        text = "\n\n".join(parts)
        title = str(raw.get("title") or f"article {number}").replace("_", " ")
        if text.strip():
            articles.append(Article(title, text, tuple(questions)))
    # Renumber in case empty articles were skipped.
    return [
        Article(a.title, a.text, tuple(GoldQuestion(q.id, q.question, i, q.answers, q.spans) for q in a.questions))
        for i, a in enumerate(articles)
    ]


@dataclass(frozen=True)
class EvalPlan:
    ingested: tuple[int, ...]  # article indices
    held_out: tuple[int, ...]
    answerable: tuple[GoldQuestion, ...]
    unanswerable: tuple[GoldQuestion, ...]


def split_articles(count: int, seed: int) -> tuple[list[int], list[int]]:
    """A seeded half/half split of article indices: (tune, test)."""
    order = list(range(count))
    random.Random(f"split-{seed}").shuffle(order)
    half = count // 2
    return sorted(order[:half]), sorted(order[half:])


def make_plan(
    articles: Sequence[Article],
    *,
    sample: int | None = None,
    seed: int = 0,
    holdout: float = 0.2,
    split: str = "all",
) -> EvalPlan:
    """Which articles are ingested, which held out, and which questions are asked (seeded)."""
    if not 0 <= holdout < 1:
        raise CitebotError("the held-out share is at least 0 and below 1")
    if split == "all":
        pool = list(range(len(articles)))
    elif split in ("tune", "test"):
        tune, test = split_articles(len(articles), seed)
        pool = tune if split == "tune" else test
    else:
        raise CitebotError(f"unknown split {split!r} (use all, tune or test)")
    rng = random.Random(seed)
    shuffled = pool[:]
    rng.shuffle(shuffled)
    n_out = round(len(pool) * holdout)
    if holdout > 0 and n_out == 0 and len(pool) > 1:
        n_out = 1
    held_out = sorted(shuffled[:n_out])
    ingested = sorted(shuffled[n_out:])
    if not ingested:
        raise CitebotError("no article is left to ingest; lower the held-out share")
    questions = [q for i in sorted(pool) for q in articles[i].questions]
    if sample is not None and sample < len(questions):
        questions = rng.sample(questions, sample)
    out = set(held_out)
    return EvalPlan(
        ingested=tuple(ingested),
        held_out=tuple(held_out),
        answerable=tuple(q for q in questions if q.article not in out),
        unanswerable=tuple(q for q in questions if q.article in out),
    )


# -- metrics ----------------------------------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = frozenset(string.punctuation) | set("\u2018\u2019\u201c\u201d\u2013\u2014")
# English possessives: folding would glue "Finland’s" into "finlands", which hides "Finland".
_POSSESSIVE = re.compile(r"(?<=\w)['\u2019]s\b")


def fold(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation or articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_hit(answers: Sequence[str], quoted: str) -> bool:
    """Does a gold answer occur inside the quoted text (as whole words, folded)? The text is
    also read with its possessive 's dropped ("Finland’s" holds "Finland"); read as is too, for
    answers that end in one ("McDonald's")."""
    haystacks = {f" {fold(quoted)} ", f" {fold(_POSSESSIVE.sub('', quoted))} "}
    return any(f" {fold(a)} " in h for a in answers if fold(a) for h in haystacks)


def covers(span: tuple[int, int], gold: Sequence[tuple[int, int]]) -> bool:
    """Does the chunk [start, end) contain a whole gold answer span?"""
    start, end = span
    return any(start <= s and e <= end for s, e in gold)


def first_hit_rank(ranked: Sequence[tuple[str, int, int]], doc_id: str, gold: Sequence[tuple[int, int]]) -> int | None:
    """1-based rank of the first (doc_id, start, end) chunk that covers a gold span."""
    for rank, (d, start, end) in enumerate(ranked, start=1):
        if d == doc_id and covers((start, end), gold):
            return rank
    return None


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else 0.0


@dataclass
class SystemResult:
    name: str
    questions: int = 0
    unanswerable_questions: int = 0
    recall_at_1: float = 0.0
    recall_at_5: float = 0.0
    mrr_at_10: float = 0.0
    hit_at_1: float = 0.0
    answer_chars: float = 0.0
    citations: int = 0
    citation_validity: float = 1.0
    abstain_unanswerable: float = 0.0
    absent_right: float = 0.0
    wrong_abstain: float = 0.0
    span_share: float = 0.0
    span_hit: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    ingest_seconds: float = 0.0
    ingest_chunks: int = 0
    ingest_docs: int = 0
    chunks_per_second: float = 0.0
    docs_per_second: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Tally:
    """Accumulates per-question outcomes into a ``SystemResult``."""

    ranks: list[int | None] = field(default_factory=list)
    hits: list[bool] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    wrong_abstained: list[bool] = field(default_factory=list)
    abstained_unanswerable: list[bool] = field(default_factory=list)
    right_unanswerable: list[bool] = field(default_factory=list)
    spans: list[bool] = field(default_factory=list)  # per answer with an answer span: it holds a gold answer
    latencies: list[float] = field(default_factory=list)
    citations: int = 0
    valid_citations: int = 0

    def result(self, name: str, ingest_seconds: float, chunks: int, docs: int, **extra: Any) -> SystemResult:
        n = len(self.ranks)
        ranks = self.ranks

        def share(pred: Callable[[int | None], bool]) -> float:
            return sum(1 for r in ranks if pred(r)) / n if n else 0.0

        return SystemResult(
            name=name,
            questions=n,
            unanswerable_questions=len(self.abstained_unanswerable),
            recall_at_1=share(lambda r: r is not None and r <= 1),
            recall_at_5=share(lambda r: r is not None and r <= 5),
            mrr_at_10=sum(1.0 / r for r in ranks if r is not None and r <= 10) / n if n else 0.0,
            hit_at_1=sum(self.hits) / n if n else 0.0,
            answer_chars=float(np.mean(self.lengths)) if self.lengths else 0.0,
            citations=self.citations,
            citation_validity=self.valid_citations / self.citations if self.citations else 1.0,
            abstain_unanswerable=(
                sum(self.abstained_unanswerable) / len(self.abstained_unanswerable)
                if self.abstained_unanswerable
                else 0.0
            ),
            absent_right=(
                sum(self.right_unanswerable) / len(self.right_unanswerable) if self.right_unanswerable else 0.0
            ),
            wrong_abstain=sum(self.wrong_abstained) / n if n else 0.0,
            span_share=len(self.spans) / (n - sum(self.wrong_abstained)) if n > sum(self.wrong_abstained) else 0.0,
            span_hit=sum(self.spans) / len(self.spans) if self.spans else 0.0,
            latency_p50_ms=percentile(self.latencies, 50),
            latency_p95_ms=percentile(self.latencies, 95),
            ingest_seconds=ingest_seconds,
            ingest_chunks=chunks,
            ingest_docs=docs,
            chunks_per_second=chunks / ingest_seconds if ingest_seconds > 0 else 0.0,
            docs_per_second=docs / ingest_seconds if ingest_seconds > 0 else 0.0,
            extra=extra,
        )


# -- systems ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """One system's reply to one question."""

    ranked: list[tuple[str, int, int]]  # (doc_id, start, end) of the retrieved chunks, best first
    quotes: list[tuple[str, int, int, str]]  # (doc_id, start, end, text) the answer quotes
    abstained: bool
    milliseconds: float  # the timed part: what a user waits for
    spans: list[str] = field(default_factory=list)  # the answer spans the answer marks (extractive only)


class CitebotSystem:
    """Citebot through the service API, in its own data dir."""

    name = "Citebot"

    def __init__(self, workdir: Path, embedder: Embedder | None, overrides: dict[str, Any]) -> None:
        from config import load_settings
        from retrieval.service import CitebotService

        self.settings = load_settings(data_dir=workdir / "citebot", **overrides)
        self.svc = CitebotService.from_settings(self.settings, embedder=embedder)
        self.embedder = self.svc.embedder  # loaded before any clock starts

    def ingest(self, docs: Sequence[Document]) -> int:
        chunks = sum(self.svc.ingest_document(doc, NAMESPACE, refresh=False).chunks for doc in docs)
        self.svc.searcher.index(NAMESPACE)  # the search index, once for the batch
        return chunks

    def ask(self, question: str) -> Outcome:
        t0 = time.perf_counter()
        answer = self.svc.ask(question, NAMESPACE)
        ms = (time.perf_counter() - t0) * 1000
        # Evidence ranks, after the timed ask so that it warms nothing for it.
        hits = self.svc.search(question, NAMESPACE, k=10)
        return Outcome(
            [(h.chunk.doc_id, h.chunk.start, h.chunk.end) for h in hits],
            [(c.doc_id, c.start, c.end, c.quote) for c in answer.citations],
            answer.abstained,
            ms,
            [c.quote[c.answer_span[0] : c.answer_span[1]] for c in answer.citations if c.answer_span],
        )

    def config(self) -> dict[str, Any]:
        s = self.settings
        keys = (
            "chunk_size chunk_overlap_sentences search_k candidate_k rrf_k dense_weight lexical_weight "
            "answer_max_sentences answer_max_chars abstain_threshold"
        ).split()
        return {k: getattr(s, k) for k in keys}


class RerankerOffSystem(CitebotSystem):
    """Citebot over the same store with the learned reranking step switched off."""

    name = "Citebot, reranker off"

    def __init__(self, citebot: CitebotSystem) -> None:
        from retrieval.service import CitebotService

        self.settings = citebot.settings.model_copy(update={"reranker_model": "none"})
        self.svc = CitebotService.from_settings(self.settings, embedder=citebot.embedder, store=citebot.svc.store)
        self.embedder = citebot.embedder

    def ingest(self, docs: Sequence[Document]) -> int:
        return len(self.svc.searcher.index(NAMESPACE).chunks)  # the same store: nothing to ingest


class BM25System:
    """BM25 alone over Citebot's chunks (same tokenizer), the top chunk as the answer."""

    name = "BM25"

    def __init__(self, citebot: CitebotSystem) -> None:
        self.citebot = citebot
        self.chunks: list = []
        self.index: BM25Index | None = None

    def ingest(self, docs: Sequence[Document]) -> int:
        self.chunks = self.citebot.svc.searcher.index(NAMESPACE).chunks
        self.index = BM25Index([tokenize(c.text) for c in self.chunks])
        return len(self.chunks)

    def ask(self, question: str) -> Outcome:
        assert self.index is not None
        t0 = time.perf_counter()
        top = self.index.top(tokenize(question), 10)
        ms = (time.perf_counter() - t0) * 1000
        ranked = [(self.chunks[row].doc_id, self.chunks[row].start, self.chunks[row].end) for row, _ in top]
        quotes = [(*ranked[0], self.chunks[top[0][0]].text)] if top else []
        return Outcome(ranked, quotes, not top, ms)  # it "abstains" only when no term matches


class NaiveLangChainSystem:
    """RecursiveCharacterTextSplitter(1000, 200) + the same model + Chroma similarity_search."""

    name = "LangChain naive"

    def __init__(self, workdir: Path, embedder: Embedder) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.embedder = embedder
        self.client = chromadb.PersistentClient(
            path=str(workdir / "naive"), settings=ChromaSettings(anonymized_telemetry=False)
        )
        self.store: Any = None

    def ingest(self, docs: Sequence[Document]) -> int:
        from langchain_chroma import Chroma
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        chunks = splitter.create_documents([d.text for d in docs], metadatas=[{"doc_id": d.id} for d in docs])
        self.store = Chroma.from_documents(
            chunks,
            LangChainEmbeddings(self.embedder),
            client=self.client,
            collection_name="naive",
            ids=[str(n) for n in range(len(chunks))],
        )
        return len(chunks)

    def ask(self, question: str) -> Outcome:
        t0 = time.perf_counter()
        answer = self.store.similarity_search(question)  # LangChain's default k (4), as the pipeline would
        ms = (time.perf_counter() - t0) * 1000
        found = self.store.similarity_search(question, k=10)  # evidence ranks (not timed)
        ranked = [
            (d.metadata["doc_id"], d.metadata["start_index"], d.metadata["start_index"] + len(d.page_content))
            for d in found
        ]
        # Its answer, and its "citation", is the top chunk at its start_index.
        top = answer[0] if answer else None
        quotes = (
            [
                (
                    top.metadata["doc_id"],
                    top.metadata["start_index"],
                    top.metadata["start_index"] + len(top.page_content),
                    top.page_content,
                )
            ]
            if top
            else []
        )
        return Outcome(ranked, quotes, top is None, ms)


def _tally_answerable(tally: _Tally, q: GoldQuestion, doc_id: str, outcome: Outcome, texts: dict[str, str]) -> None:
    tally.ranks.append(first_hit_rank(outcome.ranked, doc_id, q.spans))
    quoted = " ".join(text for *_, text in outcome.quotes)
    tally.hits.append(not outcome.abstained and answer_hit(q.answers, quoted))
    tally.wrong_abstained.append(outcome.abstained)
    if not outcome.abstained:
        tally.lengths.append(sum(len(text) for *_, text in outcome.quotes))
        if outcome.spans:
            tally.spans.append(
                any(answer_hit(q.answers, span) or answer_hit([span], " ".join(q.answers)) for span in outcome.spans)
            )
    _tally_citations(tally, outcome, texts)
    tally.latencies.append(outcome.milliseconds)


def _tally_citations(tally: _Tally, outcome: Outcome, texts: dict[str, str]) -> None:
    for doc_id, start, end, text in outcome.quotes:
        tally.citations += 1
        tally.valid_citations += bool(text) and start >= 0 and texts.get(doc_id, "")[start:end] == text


# -- the whole run ----------------------------------------------------------------------
def load_plan(
    dataset: Path | str, *, sample: int | None, seed: int, holdout: float, split: str
) -> tuple[list[Article], EvalPlan]:
    """The dataset's articles and the seeded plan of what to ingest and ask."""
    articles = load_squad(dataset)
    if not articles:
        raise CitebotError(f"{dataset}: no articles in the dataset")
    plan = make_plan(articles, sample=sample, seed=seed, holdout=holdout, split=split)
    if not plan.answerable:
        raise CitebotError("no answerable question was sampled; raise --sample or lower --holdout")
    return articles, plan


def evaluate(
    dataset: Path | str,
    *,
    sample: int | None = None,
    seed: int = 0,
    holdout: float = 0.2,
    split: str = "all",
    baselines: bool = True,
    embedder: Embedder | None = None,
    settings_overrides: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run Citebot (and the baselines) over one dataset; a JSON-ready report.

    The systems answer each question in turn (rotating who goes first), so a slow spell
    of a shared machine falls on all of them alike and their latencies stay comparable.
    """
    articles, plan = load_plan(dataset, sample=sample, seed=seed, holdout=holdout, split=split)
    say = progress or (lambda _: None)
    docs = [articles[i].document(f"eval:{i}") for i in plan.ingested]
    texts = {d.id: d.text for d in docs}
    workdir = Path(tempfile.mkdtemp(prefix="citebot-eval-"))
    try:
        citebot = CitebotSystem(workdir, embedder, settings_overrides or {})
        systems: list[Any] = [citebot]
        if baselines:
            systems += [
                RerankerOffSystem(citebot),
                BM25System(citebot),
                NaiveLangChainSystem(workdir, citebot.embedder),
            ]
        ingest: dict[str, tuple[float, int]] = {}
        for system in systems:
            started = time.perf_counter()
            chunks = system.ingest(docs)
            ingest[system.name] = (time.perf_counter() - started, chunks)
            say(f"{system.name}: ingested {len(docs)} documents, {chunks} chunks in {ingest[system.name][0]:.1f}s")
        for system in systems:  # a warm process: the first questions pay for lazy loading
            for q in plan.answerable[:WARMUP_QUESTIONS]:
                system.ask(q.question)
        tallies = {system.name: _Tally() for system in systems}
        for n, q in enumerate(plan.answerable):
            doc_id = articles[q.article].doc_id
            for j in range(len(systems)):
                system = systems[(n + j) % len(systems)]
                _tally_answerable(tallies[system.name], q, doc_id, system.ask(q.question), texts)
            if (n + 1) % 250 == 0:
                say(f"{n + 1}/{len(plan.answerable)} answerable questions")
        for n, q in enumerate(plan.unanswerable):
            for j in range(len(systems)):
                system = systems[(n + j) % len(systems)]
                outcome = system.ask(q.question)
                tally = tallies[system.name]
                tally.abstained_unanswerable.append(outcome.abstained)
                # Right when it abstains, or when another article holds the answer and it quotes it
                # (news of one week is often in several quizzes).
                quoted = " ".join(text for *_, text in outcome.quotes)
                tally.right_unanswerable.append(outcome.abstained or answer_hit(q.answers, quoted))
                tally.latencies.append(outcome.milliseconds)
                _tally_citations(tally, outcome, texts)
        results = [
            tallies[s.name].result(
                s.name, *ingest[s.name], len(docs), **({"settings": citebot.config()} if s is citebot else {})
            )
            for s in systems
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "dataset": str(dataset),
        "seed": seed,
        "sample": sample,
        "holdout": holdout,
        "split": split,
        "articles": len(articles),
        "ingested_articles": len(plan.ingested),
        "held_out_articles": len(plan.held_out),
        "answerable_questions": len(plan.answerable),
        "unanswerable_questions": len(plan.unanswerable),
        "systems": [asdict(r) for r in results],
    }


# -- output -----------------------------------------------------------------------------
class Goal(NamedTuple):
    """A goal for Citebot's value of a metric: ``op`` is "≥", "≤" or "=" ."""

    op: str
    value: float
    shown: str

    def met(self, value: float) -> bool:
        if self.op == "≥":
            return value >= self.value
        if self.op == "≤":
            return value <= self.value
        return value == self.value


# One table drives both the report's rows and the goal checks: (label, key, format, goal).
# The goals are the product's (news-grade answers); BENCHMARKS.md says which set meets which.
ROWS: list[tuple[str, str, str, Goal | None]] = [
    ("evidence recall@1", "recall_at_1", "{:.3f}", Goal("≥", 0.80, "≥ 0.80")),
    ("evidence recall@5", "recall_at_5", "{:.3f}", Goal("≥", 0.95, "≥ 0.95")),
    ("evidence MRR@10", "mrr_at_10", "{:.3f}", None),
    ("answer hit@1", "hit_at_1", "{:.3f}", Goal("≥", 0.85, "≥ 0.85")),
    ("mean answer length (chars)", "answer_chars", "{:.0f}", Goal("≤", 300, "≤ 300")),
    ("answers with an answer span", "span_share", "{:.3f}", None),
    ("answer span overlaps the gold answer", "span_hit", "{:.3f}", None),
    ("citation validity", "citation_validity", "{:.1%}", Goal("=", 1.0, "100%")),
    ("abstains when the article is absent", "abstain_unanswerable", "{:.3f}", Goal("≥", 0.90, "≥ 0.90")),
    ("right when the article is absent (abstains, or quotes the answer from another)", "absent_right", "{:.3f}", None),
    ("wrong abstentions (answerable)", "wrong_abstain", "{:.3f}", Goal("≤", 0.05, "≤ 0.05")),
    ("latency p50 (ms)", "latency_p50_ms", "{:.1f}", Goal("≤", 100, "≤ 100 ms")),
    ("latency p95 (ms)", "latency_p95_ms", "{:.1f}", None),
    ("ingest chunks/s", "chunks_per_second", "{:.1f}", None),
    ("ingest documents/s", "docs_per_second", "{:.2f}", None),
    ("chunks", "ingest_chunks", "{:d}", None),
]


def goals_met(report: dict[str, Any]) -> dict[str, bool]:
    """Which goals Citebot's run meets (abstention only when articles were held out)."""
    citebot = report["systems"][0]
    return {
        key: goal.met(citebot[key])
        for _, key, _, goal in ROWS
        if goal is not None and not (key == "abstain_unanswerable" and not citebot["unanswerable_questions"])
    }


def _ratio(a: float, b: float) -> str:
    if b == 0:
        return "–" if a == 0 else "∞"
    return f"{a / b:.2f}x"


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table: Citebot, then each baseline with Citebot's ratio to it."""
    systems = report["systems"]
    citebot = systems[0]
    others = systems[1:]
    met = goals_met(report)
    header = ["metric", "Citebot"]
    for other in others:
        header += [other["name"], f"Citebot ÷ {other['name']}"]
    header.append("goal")
    lines = [
        f"Dataset `{Path(report['dataset']).name}` (split: {report['split']}), seed {report['seed']}: "
        f"{report['ingested_articles']} articles ingested, {report['held_out_articles']} held out; "
        f"{report['answerable_questions']} answerable and {report['unanswerable_questions']} unanswerable questions.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 2) + [":---:"]) + "|",
    ]
    for label, key, fmt, goal in ROWS:
        row = [label, fmt.format(citebot[key])]
        for other in others:
            row += [fmt.format(other[key]), _ratio(citebot[key], other[key])]
        mark = ""
        if goal is not None:
            mark = f"{goal.shown} {'✓' if met[key] else '✗'}" if key in met else goal.shown
        row.append(mark)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
