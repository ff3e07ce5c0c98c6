"""Citebot benchmarks, each row beside its baseline measured in the same run.

    python benchmarks/run.py [--sizes 10000,100000] [--questions 200] [--json out.json]

Rows:
- ingest throughput (chunks/s, documents/s) against sentence-transformers ``encode`` on the
  same chunk texts, and re-ingest of unchanged documents (embeddings computed, speed-up);
- ask latency p50/p95 (warm) at each namespace size, against the naive LangChain pipeline's
  ``similarity_search`` over a Chroma collection of the same size;
- cold start: process start to first answer (``citebot ask``), against the naive pipeline's;
- peak RSS of the serving process at each size;
- throughput of concurrent asks through the service API (1, 8, 32 threads).

Text: the SQuAD dev articles (``--dataset``). The first size is ingested for real (model and
all). Larger sizes recombine the same real paragraphs into new documents and store seeded
random vectors instead of model embeddings (building 100k chunks with the model would take
about an hour on 2 cores); the question is still embedded by the real model, so the
latency is what a user waits for. Each serving measurement runs in a fresh process, twice
per system, alternating; concurrency runs three rounds. The best round counts: on a shared
machine other work only ever makes a round slower.

    python benchmarks/run.py --keep DIR [--reuse]   # keep the built sizes; reuse them next time
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.harness import percentile

ROOT = Path(__file__).resolve().parent.parent
# shared/ lies beside the clone (CI) or at /work/shared (development machines).
_SQUAD = "shared/eval/squad-v1.1-dev-even.json"
DEFAULT_DATASET = next((p for p in (ROOT.parent / _SQUAD, Path("/work") / _SQUAD) if p.exists()), ROOT.parent / _SQUAD)
NS = "bench"
NAIVE_COLLECTION = "naive"


# -- helpers ------------------------------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec,
    so a child would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def questions_of(dataset: Path, n: int, seed: int = 0) -> list[str]:
    from evaluation.harness import load_squad

    qs = [q.question for a in load_squad(dataset) for q in a.questions]
    return random.Random(seed).sample(qs, min(n, len(qs)))


def recombined_documents(dataset: Path, chars: int, seed: int) -> list[tuple[str, str]]:
    """(title, text) documents of about 50 real paragraphs each, recombined until ``chars``."""
    from evaluation.harness import load_squad

    paragraphs = [p for a in load_squad(dataset) for p in a.text.split("\n\n")]
    rng = random.Random(seed)
    docs: list[tuple[str, str]] = []
    total = 0
    while total < chars:
        picked = rng.sample(paragraphs, min(50, len(paragraphs)))
        text = "\n\n".join(picked)
        docs.append((f"Recombined article {len(docs) + 1}", text))
        total += len(text)
    return docs


class SyntheticEmbedder:
    """Seeded random unit vectors for stored texts; the real model for questions.

    Named like the real model so a serving process with the real model opens the data dir.
    """

    def __init__(self, dimension: int = 384, name: str = "all-MiniLM-L6-v2") -> None:
        self.name = name
        self.dimension = dimension
        self.texts_embedded = 0

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            out[i] = np.random.default_rng(seed).standard_normal(self.dimension)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vectors([text])[0]

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.texts_embedded += len(texts)
        return self._vectors(texts)

    def embed_chunks(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]):
        chunk_vectors = self.embed_documents(texts)
        span_vectors = [self._vectors([t[s:e] for s, e in sp]) for t, sp in zip(texts, spans, strict=True)]
        return chunk_vectors, span_vectors


def open_service(data_dir: Path, embedder: Any = None, **overrides: Any):
    from config import load_settings
    from retrieval.service import CitebotService

    return CitebotService.from_settings(load_settings(data_dir=data_dir, **overrides), embedder=embedder)


def naive_store(path: Path, embeddings: Any):
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma

    client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    return Chroma(client=client, collection_name=NAIVE_COLLECTION, embedding_function=embeddings)


def naive_chunks(texts: Sequence[str]) -> list[str]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    return [c for t in texts for c in splitter.split_text(t)]


def real_embeddings():
    from config import load_settings
    from retrieval.embedding import load_embedder
    from retrieval.langchain_adapters import LangChainEmbeddings

    s = load_settings()
    embedder = load_embedder(s.embedding_model, s.embedding_device, s.embedding_batch_size, s.embedding_backend)
    return embedder, LangChainEmbeddings(embedder)


# -- stage 1: ingest with the real model -------------------------------------------------
def stage_ingest(dataset: Path, workdir: Path, limit: int | None = None) -> dict[str, Any]:
    """Ingest the dataset's articles for real; the raw encode rate on the same chunk texts."""
    from evaluation.harness import load_squad
    from retrieval.models import Document

    articles = load_squad(dataset)[:limit]
    docs = [Document(a.doc_id, a.text, f"bench:{i}", a.title) for i, a in enumerate(articles)]
    for stale in ("citebot-real", "naive-real"):  # a kept workdir: measure a first ingest again
        shutil.rmtree(workdir / stale, ignore_errors=True)
    svc = open_service(workdir / "citebot-real")
    embedder = svc.embedder
    embedder.embed_query("warm up")
    svc.searcher  # noqa: B018 - model loaded and checked before the clock starts
    # The baseline: sentence-transformers' own encode on exactly the chunk texts Citebot
    # embeds, at its fastest of a few batch sizes (Citebot's, 8, and its default 32).
    from sentence_transformers import SentenceTransformer

    from retrieval.chunking import segment
    from retrieval.embedding import resolve_model

    model = SentenceTransformer(resolve_model(svc.config.embedding.model), device="cpu")
    model.encode(["warm up"])
    batch_sizes = sorted({svc.config.embedding.batch_size, 8, 32})
    raw_by_batch = dict.fromkeys(batch_sizes, 0.0)
    before = embedder.texts_embedded
    first = 0.0
    chunks = 0
    # Document by document, Citebot's ingest and then the raw encodes of the same texts, so
    # that a busy spell on a shared machine slows both sides alike.
    for d in docs:
        t0 = time.perf_counter()
        chunks += svc.ingest_document(d, NS, refresh=False).chunks
        first += time.perf_counter() - t0
        texts = [c.text for c in segment(d.id, d.text, svc.config.chunker).chunks]
        for batch_size in batch_sizes:
            t0 = time.perf_counter()
            model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
            raw_by_batch[batch_size] += time.perf_counter() - t0
    t0 = time.perf_counter()
    svc.searcher.index(NS)  # the search index, once for the batch (as `citebot ingest` does)
    first += time.perf_counter() - t0
    raw = min(raw_by_batch.values())
    del model
    embedded_first = embedder.texts_embedded - before
    before = embedder.texts_embedded
    t0 = time.perf_counter()
    statuses = [svc.ingest_document(d, NS).status for d in docs]
    again = time.perf_counter() - t0
    embedded_again = embedder.texts_embedded - before
    assert set(statuses) == {"unchanged"}, statuses

    # The naive pipeline's index over the same articles (for the latency rows).
    _, lc_embeddings = real_embeddings()
    t0 = time.perf_counter()
    n_texts = naive_chunks([d.text for d in docs])
    store = naive_store(workdir / "naive-real", lc_embeddings)
    store.add_texts(n_texts, ids=[str(i) for i in range(len(n_texts))])
    naive_seconds = time.perf_counter() - t0
    return {
        "documents": len(docs),
        "chunks": chunks,
        "embedder": type(embedder).__name__,
        "ingest_seconds": first,
        "chunks_per_second": chunks / first,
        "docs_per_second": len(docs) / first,
        "texts_embedded": embedded_first,
        "raw_encode_seconds": raw,
        "raw_encode_seconds_by_batch_size": raw_by_batch,
        "raw_chunks_per_second": chunks / raw,
        "reingest_seconds": again,
        "reingest_texts_embedded": embedded_again,
        "naive_chunks": len(n_texts),
        "naive_ingest_seconds": naive_seconds,
        "naive_chunks_per_second": len(n_texts) / naive_seconds,
    }


# -- stage 2: synthetic namespaces of a given size ---------------------------------------
def build_synthetic(dataset: Path, target_chunks: int, citebot_dir: Path, naive_dir: Path) -> dict[str, Any]:
    """Real recombined text, seeded random vectors: Citebot's data dir and the naive collection."""
    from retrieval.langchain_adapters import LangChainEmbeddings
    from retrieval.loaders import content_id
    from retrieval.models import Document

    embedder = SyntheticEmbedder()
    svc = open_service(citebot_dir, embedder)
    docs = recombined_documents(dataset, int(target_chunks * 880), seed=target_chunks)
    t0 = time.perf_counter()
    # The search index is built at the first question ("open and first answer" rows).
    chunks = 0
    for i, (title, text) in enumerate(docs):
        doc = Document(content_id(text), text, f"synthetic:{i}", title)
        chunks += svc.ingest_document(doc, NS, refresh=False).chunks
        if chunks >= target_chunks:
            docs = docs[: i + 1]
            break
    citebot_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    texts = naive_chunks([t for _, t in docs])
    store = naive_store(naive_dir, LangChainEmbeddings(embedder))
    batch = 4000
    for i in range(0, len(texts), batch):
        store.add_texts(texts[i : i + batch], ids=[str(n) for n in range(i, min(i + batch, len(texts)))])
    naive_seconds = time.perf_counter() - t0
    return {
        "documents": len(docs),
        "chunks": chunks,
        "naive_chunks": len(texts),
        "build_seconds": citebot_seconds,
        "naive_build_seconds": naive_seconds,
    }


# -- serving (each in a fresh process) ---------------------------------------------------
def serve(system: str, data_dir: Path, questions: list[str]) -> dict[str, Any]:
    """Warm latency of ``questions`` and the process's peak RSS."""
    t_start = time.perf_counter()
    if system.startswith("citebot"):
        # "citebot-off": the same store with the learned reranking step switched off.
        svc = open_service(data_dir, **({"reranker_model": "none"} if system == "citebot-off" else {}))
        ask = lambda q: svc.ask(q, NS)  # noqa: E731
    else:
        _, lc_embeddings = real_embeddings()
        store = naive_store(data_dir, lc_embeddings)
        ask = lambda q: store.similarity_search(q, k=4)  # noqa: E731
    ask(questions[0])
    first_answer = time.perf_counter() - t_start
    for q in questions[1:6]:
        ask(q)
    latencies = []
    for q in questions:
        t0 = time.perf_counter()
        ask(q)
        latencies.append((time.perf_counter() - t0) * 1000)
    return {
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "open_and_first_answer_seconds": first_answer,
        "peak_rss_mb": peak_rss_mb(),
    }


def serve_pair(citebot_dir: Path, naive_dir: Path, qfile: Path, rounds: int = 2) -> dict[str, Any]:
    """Each system served ``rounds`` times in fresh processes (see ``best_round``)."""
    paths = {"citebot": citebot_dir, "citebot-off": citebot_dir, "naive": naive_dir}
    return best_round(
        {name: partial(run_child, ["_serve", name, str(path), str(qfile)]) for name, path in paths.items()}, rounds
    )


def best_round(serve: dict[str, Callable[[], dict[str, Any]]], rounds: int = 2) -> dict[str, dict[str, Any]]:
    """Each row served ``rounds`` times, alternating the order; the round with the lower p50
    counts for each (a shared machine only ever makes a round slower)."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in serve}
    for r in range(rounds):
        for name in list(serve) if r % 2 == 0 else list(serve)[::-1]:
            runs[name].append(serve[name]())
    return {name: min(results, key=lambda x: x["p50_ms"]) for name, results in runs.items()}


def run_child(args: list[str], script: Path = Path(__file__)) -> dict[str, Any]:
    """``script`` (this one by default) run with ``args`` in a fresh process; its last line's JSON."""
    out = subprocess.run(
        [sys.executable, str(script.resolve()), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- cold start ---------------------------------------------------------------------------
NAIVE_COLD = """
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from benchmarks.run import naive_store, real_embeddings
_, emb = real_embeddings()
store = naive_store(__import__("pathlib").Path({path!r}), emb)
store.similarity_search({question!r}, k=4)
"""


def cold_start(real_dir: Path, naive_dir: Path, question: str, runs: int = 3) -> dict[str, Any]:
    """Wall time from process start to the first answer (best and median of ``runs``)."""
    env = {**os.environ, "CITEBOT_DATA_DIR": str(real_dir)}
    citebot_cmd = [str(Path(sys.executable).with_name("citebot")), "ask", question, "-n", NS]
    naive_cmd = [sys.executable, "-c", NAIVE_COLD.format(root=str(ROOT), path=str(naive_dir), question=question)]
    off_env = {**env, "CITEBOT_RERANKER_MODEL": "none"}
    times: dict[str, list[float]] = {"citebot": [], "citebot-off": [], "naive": []}
    for _ in range(runs):
        for name, cmd in (("citebot", citebot_cmd), ("citebot-off", citebot_cmd), ("naive", naive_cmd)):
            t0 = time.perf_counter()
            run_env = off_env if name == "citebot-off" else env
            out = subprocess.run(cmd, env=run_env, capture_output=True, text=True, check=False, cwd=ROOT)
            times[name].append(time.perf_counter() - t0)
            if out.returncode != 0:
                raise RuntimeError(f"cold start of {name} failed:\n{out.stderr[-2000:]}")
    return {name: {"median_s": float(np.median(t)), "best_s": min(t), "runs": t} for name, t in times.items()}


# -- hostile and awkward input ----------------------------------------------------------------
UNBOUNDED_JOIN = (
    "SELECT c.doc_id, c.idx, count(s.idx) FROM chunks c LEFT JOIN sentences s ON s.namespace = c.namespace "
    'AND s.doc_id = c.doc_id AND s.start >= c.start AND s."end" <= c."end" WHERE c.namespace=? '
    "GROUP BY c.doc_id, c.idx"
)


def stage_bounds(
    dataset: Path, workdir: Path, paragraphs_count: int = 36_000, html_bytes: int = 5_000_000, cap_seconds: float = 60.0
) -> dict[str, Any]:
    """A 1.5 MB document of short paragraphs (index build and asks) beside the sentence join
    as it was before it was bounded per chunk; a 5 MB tag-soup page beside a page of real
    paragraphs as large as a document may be (parsed normally)."""
    import sqlite3

    from evaluation.harness import load_squad
    from retrieval.errors import CitebotError
    from retrieval.loaders import Limits, load_bytes

    svc = open_service(workdir / "bounds", embedder=SyntheticEmbedder(), reranker_model="none")
    paragraphs = "\n\n".join(f"Item {i} is short. It holds two sentences." for i in range(paragraphs_count))
    t0 = time.perf_counter()
    svc.ingest_bytes(paragraphs.encode(), "short-paragraphs.txt", NS)
    ingest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    svc.ask(f"What does item {paragraphs_count // 2} hold?", NS)
    first_ask_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    svc.ask(f"What does item {paragraphs_count // 3} hold?", NS)
    warm_ask_s = time.perf_counter() - t0
    # The join as it was, on the same catalog, stopped at ``cap_seconds``.
    conn = sqlite3.connect(svc.catalog.path)
    deadline = time.perf_counter() + cap_seconds
    conn.set_progress_handler(lambda: int(time.perf_counter() > deadline), 100_000)
    t0 = time.perf_counter()
    try:
        conn.execute(UNBOUNDED_JOIN, (NS,)).fetchall()
        unbounded_s: float | None = time.perf_counter() - t0
    except sqlite3.OperationalError:  # interrupted at the cap
        unbounded_s = None
    conn.close()
    t0 = time.perf_counter()
    svc.catalog.snapshot(NS)
    bounded_s = time.perf_counter() - t0

    limits = Limits.shipped()
    soup = b"<html><body>" + b"<p>x</p><b><i><u>" * (html_bytes // 17) + b"</body></html>"
    t0 = time.perf_counter()
    try:
        load_bytes(soup, "soup.html", limits=limits)
        soup_result = "accepted"
    except CitebotError as exc:
        soup_result = f"refused: {exc}"
    soup_s = time.perf_counter() - t0
    real = [p for a in load_squad(dataset) for p in a.text.split("\n\n")]
    body, size = [], 0
    while size < min(len(soup), int(0.9 * limits.max_chars)):  # as large as a page may be
        para = f"<p>{real[len(body) % len(real)]}</p>\n"
        body.append(para)
        size += len(para)
    page = "<html><head><title>Long page</title></head><body><article>" + "".join(body) + "</article></body></html>"
    t0 = time.perf_counter()
    try:
        load_bytes(page.encode(), "long.html", limits=limits)
        page_result = "accepted"
    except CitebotError as exc:
        page_result = f"refused: {exc}"
    page_s = time.perf_counter() - t0
    return {
        "short_paragraphs": {
            "bytes": len(paragraphs),
            "ingest_s": ingest_s,
            "first_ask_s": first_ask_s,
            "warm_ask_s": warm_ask_s,
            "bounded_join_s": bounded_s,
            "unbounded_join_s": unbounded_s,
            "cap_s": cap_seconds,
        },
        "soup": {"bytes": len(soup), "seconds": soup_s, "result": soup_result},
        "real_page": {"bytes": len(page), "seconds": page_s, "result": page_result},
    }


# -- concurrency --------------------------------------------------------------------------
def concurrency(
    real_dir: Path, naive_dir: Path, questions: list[str], levels=(1, 8, 32), rounds: int = 3
) -> dict[str, Any]:
    """Questions per second with N threads asking at once, through the service API.

    Each level runs ``rounds`` times, the two systems alternating who goes first; the best
    round counts (a shared machine only ever makes a round slower)."""
    svc = open_service(real_dir)
    _, lc_embeddings = real_embeddings()
    store = naive_store(naive_dir, lc_embeddings)
    systems = {
        "citebot": lambda q: svc.ask(q, NS),
        "naive": lambda q: store.similarity_search(q, k=4),
    }
    for ask in systems.values():
        for q in questions[:5]:
            ask(q)
    out: dict[str, Any] = {}
    for level, round_ in ((level, r) for level in levels for r in range(rounds)):
        order = list(systems.items()) if round_ % 2 == 0 else list(systems.items())[::-1]
        for name, ask in order:
            errors: list[BaseException] = []

            def one(q: str, ask=ask, errors=errors) -> None:
                try:
                    ask(q)
                except Exception as exc:  # counted and reported
                    errors.append(exc)  # list.append is atomic

            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=level) as pool:
                list(pool.map(one, questions))
            seconds = time.perf_counter() - t0
            key = f"{name}@{level}"
            best = out.get(key, {"asks_per_second": 0.0, "errors": 0})
            out[key] = {
                "asks_per_second": max(best["asks_per_second"], len(questions) / seconds),
                "errors": best["errors"] + len(errors),
            }
    return out


# -- the report ---------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def table(report: dict[str, Any]) -> str:
    ing = report["ingest"]
    rows = [
        (
            "ingest chunks/s (first ingest, real model)",
            f"{ing['chunks_per_second']:.1f}",
            f"{ing['raw_chunks_per_second']:.1f} (sentence-transformers encode, same texts, fastest batch size)",
            f"{ing['chunks_per_second'] / ing['raw_chunks_per_second']:.2f}x",
            "≥ 0.9x",
        ),
        (
            "ingest documents/s",
            f"{ing['docs_per_second']:.2f}",
            f"{ing['documents'] / ing['raw_encode_seconds']:.2f} (encode only)",
            "",
            "",
        ),
        (
            "naive pipeline ingest chunks/s",
            f"{ing['chunks_per_second']:.1f}",
            f"{ing['naive_chunks_per_second']:.1f} (LangChain naive, {ing['naive_chunks']} chunks)",
            f"{ing['chunks_per_second'] / ing['naive_chunks_per_second']:.2f}x",
            "",
        ),
        (
            "re-ingest unchanged: texts embedded",
            f"{ing['reingest_texts_embedded']}",
            f"{ing['texts_embedded']} (first ingest)",
            "",
            "0",
        ),
        (
            "re-ingest unchanged: seconds",
            f"{ing['reingest_seconds']:.3f}",
            f"{ing['ingest_seconds']:.1f} (first ingest)",
            f"{ing['ingest_seconds'] / max(ing['reingest_seconds'], 1e-9):.0f}x faster",
            "≥ 50x",
        ),
    ]
    for size in report["sizes"]:
        c, n = size["citebot"], size["naive"]
        label = f"{size['chunks']:,} chunks ({size['kind']})"
        off = size.get("citebot-off")
        if off:
            rows.append(
                (
                    f"ask p50 ms @ {label}, reranker on vs off",
                    f"{c['p50_ms']:.1f}",
                    f"{off['p50_ms']:.1f} (Citebot, reranker off)",
                    f"{c['p50_ms'] / off['p50_ms']:.2f}x",
                    "≤ 100 ms" if size["chunks"] >= 10_000 else "",
                )
            )
        rows.append(
            (
                f"ask p50 ms @ {label}",
                f"{c['p50_ms']:.1f}",
                f"{n['p50_ms']:.1f} (naive similarity_search)",
                f"{c['p50_ms'] / n['p50_ms']:.2f}x",
                "",
            )
        )
        rows.append(
            (
                f"ask p95 ms @ {label}",
                f"{c['p95_ms']:.1f}",
                f"{n['p95_ms']:.1f}",
                f"{c['p95_ms'] / n['p95_ms']:.2f}x",
                "",
            )
        )
        rows.append(
            (
                f"open and first answer s @ {label}",
                f"{c['open_and_first_answer_seconds']:.1f}",
                f"{n['open_and_first_answer_seconds']:.1f}",
                f"{c['open_and_first_answer_seconds'] / n['open_and_first_answer_seconds']:.2f}x",
                "",
            )
        )
        rows.append(
            (
                f"peak RSS MB @ {label}",
                f"{c['peak_rss_mb']:.0f}",
                f"{n['peak_rss_mb']:.0f}",
                f"{c['peak_rss_mb'] / n['peak_rss_mb']:.2f}x",
                "",
            )
        )
    cold = report["cold_start"]
    rows.append(
        (
            "cold start: process start to first answer (s)",
            f"{cold['citebot']['median_s']:.2f}",
            f"{cold['naive']['median_s']:.2f} (naive script)",
            f"{cold['citebot']['median_s'] / cold['naive']['median_s']:.2f}x",
            "≤ 3 s",
        )
    )
    if "citebot-off" in cold:
        rows.append(
            (
                "cold start: what the reranker adds (s)",
                f"{cold['citebot']['median_s']:.2f}",
                f"{cold['citebot-off']['median_s']:.2f} (Citebot, reranker off)",
                f"+{cold['citebot']['median_s'] - cold['citebot-off']['median_s']:.2f} s",
                "≤ +1 s",
            )
        )
    for level in (1, 8, 32):
        c = report["concurrency"].get(f"citebot@{level}")
        n = report["concurrency"].get(f"naive@{level}")
        if c and n:
            rows.append(
                (
                    f"asks/s with {level} concurrent",
                    f"{c['asks_per_second']:.1f}",
                    f"{n['asks_per_second']:.1f} (naive)",
                    f"{c['asks_per_second'] / n['asks_per_second']:.2f}x",
                    f"errors: {c['errors']}",
                )
            )
    bounds = report.get("bounds")
    if bounds:
        sp, soup, page = bounds["short_paragraphs"], bounds["soup"], bounds["real_page"]
        old = sp["unbounded_join_s"]
        rows.append(
            (
                "1.5 MB of short paragraphs: sentence join of the index build (s)",
                f"{sp['bounded_join_s']:.2f}",
                f"{old:.1f} (the join as it was)" if old is not None else f"> {sp['cap_s']:.0f} (the join as it was)",
                f"{(old if old is not None else sp['cap_s']) / max(sp['bounded_join_s'], 1e-9):.0f}x faster",
                "bounded",
            )
        )
        rows.append(
            (
                f"{sp['bytes'] / 1e6:.1f} MB of short paragraphs: first ask / warm ask (s)",
                f"{sp['first_ask_s']:.2f} / {sp['warm_ask_s']:.3f}",
                f"{sp['ingest_s']:.1f} (its ingest)",
                "",
                "",
            )
        )
        rows.append(
            (
                f"{soup['bytes'] / 1e6:.1f} MB tag-soup HTML (s to the answer)",
                f"{soup['seconds']:.2f} ({soup['result'][:60]})",
                f"{page['seconds']:.2f} ({page['bytes'] / 1e6:.1f} MB page of real paragraphs, {page['result']})",
                f"{soup['seconds'] / max(page['seconds'], 1e-9):.2f}x",
                "refused, fast",
            )
        )
    lines = ["| measurement | Citebot | baseline (same run) | ratio | goal |", "|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_serve":  # child: serve one system from one data dir
        _, system, data_dir, questions_file = argv
        print(json.dumps(serve(system, Path(data_dir), json.loads(Path(questions_file).read_text()))))
        return
    if argv and argv[0] == "_concurrency":  # child: concurrent asks on the real data dir
        _, real_dir, naive_dir, questions_file, count = argv
        questions = json.loads(Path(questions_file).read_text())[: int(count)]
        print(json.dumps(concurrency(Path(real_dir), Path(naive_dir), questions)))
        return
    if argv and argv[0] == "_build":  # child: build one synthetic size
        _, dataset, size, citebot_dir, naive_dir = argv
        print(json.dumps(build_synthetic(Path(dataset), int(size), Path(citebot_dir), Path(naive_dir))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--sizes", default="10000,100000", help="synthetic-vector sizes beyond the real ingest")
    parser.add_argument("--questions", type=int, default=200, help="questions per latency measurement")
    parser.add_argument("--concurrent-asks", type=int, default=96)
    parser.add_argument("--bounds-paragraphs", type=int, default=36_000, help="short paragraphs (~1.5 MB)")
    parser.add_argument("--bounds-html-bytes", type=int, default=5_000_000, help="size of the tag-soup page")
    parser.add_argument("--articles", type=int, help="ingest only the first N articles for real (a quick run)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--keep", type=Path, help="build in this directory and keep it (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse the synthetic sizes built there")
    args = parser.parse_args(argv)

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="citebot-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    questions = questions_of(args.dataset, args.questions)
    qfile = workdir / "questions.json"
    qfile.write_text(json.dumps(questions))
    report: dict[str, Any] = {"machine": machine(), "sizes": []}
    try:
        say = lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", file=sys.stderr, flush=True)  # noqa: E731
        say("ingest (real model)")
        report["ingest"] = stage_ingest(args.dataset, workdir, args.articles)
        real, naive_real = workdir / "citebot-real", workdir / "naive-real"
        say("latency at the real size")
        report["sizes"].append(
            {
                "chunks": report["ingest"]["chunks"],
                "kind": "real text and vectors",
                **serve_pair(real, naive_real, qfile),
            }
        )
        say("hostile and awkward input")
        report["bounds"] = stage_bounds(args.dataset, workdir, args.bounds_paragraphs, args.bounds_html_bytes)
        say("cold start")
        report["cold_start"] = cold_start(real, naive_real, questions[0])
        say("concurrency")
        report["concurrency"] = run_child(
            ["_concurrency", str(real), str(naive_real), str(qfile), str(args.concurrent_asks)]
        )
        for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
            say(f"build {size} chunks")
            c_dir, n_dir = workdir / f"citebot-{size}", workdir / f"naive-{size}"
            stamp = workdir / f"built-{size}.json"
            if args.reuse and stamp.exists():  # --keep DIR --reuse: the same text and vectors again
                built = json.loads(stamp.read_text())
            else:
                shutil.rmtree(c_dir, ignore_errors=True)
                shutil.rmtree(n_dir, ignore_errors=True)
                built = run_child(["_build", str(args.dataset), str(size), str(c_dir), str(n_dir)])
                stamp.write_text(json.dumps(built))
            say(f"latency at {size} chunks")
            report["sizes"].append(
                {
                    "chunks": built["chunks"],
                    "kind": "real recombined text, random vectors",
                    "build": built,
                    **serve_pair(c_dir, n_dir, qfile),
                }
            )
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{report['machine']['date']}, {report['machine']['cpu']}, {report['machine']['cores']} cores\n")
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
