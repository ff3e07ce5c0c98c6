"""Document-set filters: what a set costs a question, beside its baselines in the same run.

    python benchmarks/sets.py [--chunks 100000] [--sets 10] [--questions 100] [--keep DIR]

Builds one namespace of ``--chunks`` chunks (real SQuAD paragraphs recombined, seeded random
vectors, as ``benchmarks/run.py`` does for its large sizes), each document in one of
``--sets`` sets. Then, in one serving process with the real model embedding each question,
questions interleaved across the rows:

- ``ask`` with no filter (the baseline);
- ``ask`` narrowed to one set (``Access(narrow=...)``: ~1/``--sets`` of the chunks): Citebot's
  layout — each document's sets in the namespace index, a per-chunk document ordinal, so a
  filter is decided per document and expanded to a chunk mask by one gather, applied before
  the candidate cut (BM25 and dense);
- ``ask`` as a reader without the role of one restricted set (~90% of the chunks visible);
- Chroma alone, one collection holding the same vectors with a ``set`` metadata field:
  ``query`` without and with ``where={"set": ...}`` (the layout the README measured ~20x
  slower, rather than one collection per namespace).

Each latency is the median (p50) and p95 over the questions; the filter's own cost (building
the mask) is reported too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import (
    DEFAULT_DATASET,
    NS,
    SyntheticEmbedder,
    machine,
    open_service,
    questions_of,
    recombined_documents,
)
from evaluation.harness import percentile


def build(dataset: Path, target: int, sets: int, data_dir: Path) -> dict[str, Any]:
    from retrieval.loaders import content_id
    from retrieval.models import Document

    svc = open_service(data_dir, SyntheticEmbedder())
    docs = recombined_documents(dataset, int(target * 880), seed=target)
    t0 = time.perf_counter()
    chunks = 0
    used = 0
    for i, (title, text) in enumerate(docs):
        doc = Document(content_id(text), text, f"synthetic:{i}", title)
        chunks += svc.ingest_document(doc, NS, refresh=False, sets=[f"s{i % sets}"]).chunks
        used = i + 1
        if chunks >= target:
            break
    svc.restrict_set(NS, "s0", ["1"])
    return {"documents": used, "chunks": chunks, "build_seconds": time.perf_counter() - t0}


def chroma_where(data_dir: Path, where_dir: Path, vectors_of: Any) -> Any:
    """One collection with every chunk's vector and its document's set as metadata."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from retrieval.vectorstore import collection_name

    source = chromadb.PersistentClient(
        path=str(data_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    chunks = source.get_collection(collection_name(NS))
    client = chromadb.PersistentClient(path=str(where_dir), settings=ChromaSettings(anonymized_telemetry=False))
    coll = client.get_or_create_collection("shared", metadata={"hnsw:space": "cosine"})
    if coll.count() != chunks.count():
        page = 4000  # one get of 100k rows passes SQLite's limit on bound variables
        for offset in range(0, chunks.count(), page):
            got = chunks.get(include=["embeddings", "metadatas"], limit=page, offset=offset)
            coll.upsert(
                ids=got["ids"],
                embeddings=got["embeddings"],
                metadatas=[{"set": vectors_of[m["doc_id"]]} for m in got["metadatas"]],
            )
    return coll


def stats(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(ms, 50), 2), "p95_ms": round(percentile(ms, 95), 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--sets", type=int, default=10)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--keep", type=Path, default=None, help="build here, and reuse what is there")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from retrieval.access import Access

    work = args.keep or Path(tempfile.mkdtemp(prefix="citebot-sets-"))
    data_dir = work / f"citebot-{args.chunks}"
    report: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if not (data_dir / "built.json").exists():
        built = build(args.dataset, args.chunks, args.sets, data_dir)
        (data_dir / "built.json").write_text(json.dumps(built))
    report["built"] = json.loads((data_dir / "built.json").read_text())

    svc = open_service(data_dir)  # the real model embeds the questions
    t0 = time.perf_counter()
    index = svc.searcher.index(NS)
    report["index_build_seconds"] = time.perf_counter() - t0
    set_of = {d: next(iter(s)) for d, s in index.doc_sets.items()}
    coll = chroma_where(data_dir, work / f"where-{args.chunks}", set_of)
    questions = questions_of(args.dataset, args.questions)
    probe = f"s{min(3, args.sets - 1)}"  # an unrestricted set (s0 is the restricted one when there are several)
    rows: dict[str, Any] = {
        "ask, no filter": lambda q: svc.ask(q, NS),
        "ask, one set (Access narrow)": lambda q: svc.ask(q, NS, access=Access.of(narrow=[probe])),
        "ask, a reader without one restricted set's role": lambda q: svc.ask(q, NS, access=Access()),
    }
    vectors = {q: svc.embedder.embed_query(q).tolist() for q in questions}
    rows["chroma query, one collection, no filter"] = lambda q: coll.query(query_embeddings=[vectors[q]], n_results=20)
    rows["chroma query, one collection, where set"] = lambda q: coll.query(
        query_embeddings=[vectors[q]], n_results=20, where={"set": probe}
    )
    for run in rows.values():  # warm every path (caches, Chroma's index load)
        for q in questions[:5]:
            run(q)
    times: dict[str, list[float]] = {name: [] for name in rows}
    for q in questions:  # interleaved: a busy moment on the shared machine hits every row alike
        for name, run in rows.items():
            t = time.perf_counter()
            run(q)
            times[name].append((time.perf_counter() - t) * 1000)
    mask_ms = []
    for _ in range(50):
        t = time.perf_counter()
        docs = svc.searcher.allowed_docs(NS, index, None, Access.of(narrow=[probe]))
        assert docs is not None
        index.chunk_mask(docs)
        mask_ms.append((time.perf_counter() - t) * 1000)
    report["rows"] = {name: stats(ms) for name, ms in times.items()}
    report["set mask build (per question) ms"] = round(statistics.median(mask_ms), 3)
    report["allowed chunks, one set"] = int(np.count_nonzero(index.chunk_mask(docs)))
    base = report["rows"]["ask, no filter"]["p50_ms"]
    chroma = report["rows"]["chroma query, one collection, no filter"]["p50_ms"]
    for name, row in report["rows"].items():
        row["x_baseline"] = round(row["p50_ms"] / (chroma if name.startswith("chroma") else base), 2)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
