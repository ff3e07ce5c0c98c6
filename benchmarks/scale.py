"""Scale-out: the server configuration beside the embedded one, in the same run.

    python benchmarks/scale.py [--sizes 10000,100000] [--questions 100] [--namespaces 1000] [--json FILE]

Starts its own PostgreSQL cluster (``initdb``/``pg_ctl``) and ``chroma run`` on 127.0.0.1,
then measures, each row beside its baseline:

- ingest throughput at each size: embedded (SQLite + PersistentClient, the baseline) and server
  (PostgreSQL + Chroma server), the same documents (real recombined SQuAD text, seeded random
  vectors, as ``benchmarks/run.py`` builds its large sizes);
- warm ``ask`` p50/p95 at each size in both configurations, each served by a fresh process
  (the real model embeds the questions), two rounds alternating, the lower p50 kept; that
  process's peak RSS (the index cache bound at its default);
- two writer processes against one (``tests/store_worker.py``, the hashing embedder): the same
  articles, split between two processes or all in one, wall time from start to the last
  report, in both configurations;
- namespaces (embedded): a warm ask in a store holding one namespace (the baseline) and in
  one holding ``--namespaces`` of the same size; asks that visit every namespace in turn with
  the index cache bound (``--cache-mb``) and unbounded, with each process's peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import (
    DEFAULT_DATASET,
    NS,
    SyntheticEmbedder,
    best_round,
    machine,
    open_service,
    peak_rss_mb,
    questions_of,
    recombined_documents,
    run_child,
)
from evaluation.harness import percentile


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def servers(work: Path) -> Iterator[Any]:
    """A PostgreSQL cluster and a Chroma server of this run's own (the test suite's helpers)."""
    from tests.chroma_server import chroma_server
    from tests.postgres_server import PostgresServer, find_bin_dir
    from tests.store_configs import StoreServers

    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("no PostgreSQL binaries (initdb, pg_ctl): install postgresql")
    postgres = PostgresServer(bin_dir, work / "postgres")
    try:
        postgres.init()
        postgres.start()
        with chroma_server(work / "chroma-server") as port:
            yield StoreServers(postgres, port)
    finally:
        postgres.cleanup()


# -- building ------------------------------------------------------------------------------
def build(docs: list[tuple[str, str]], target: int, data_dir: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """Ingest documents until ``target`` chunks; chunks per second."""
    from retrieval.loaders import content_id
    from retrieval.models import Document

    svc = open_service(data_dir, SyntheticEmbedder(), **overrides)
    chunks = used = 0
    t0 = time.perf_counter()
    for i, (title, text) in enumerate(docs):
        chunks += svc.ingest_document(
            Document(content_id(text), text, f"synthetic:{i}", title), NS, refresh=False
        ).chunks
        used = i + 1
        if chunks >= target:
            break
    seconds = time.perf_counter() - t0
    return {"documents": used, "chunks": chunks, "seconds": seconds, "chunks_per_s": chunks / seconds}


def build_namespaces(docs: list[tuple[str, str]], count: int, data_dir: Path) -> dict[str, Any]:
    """``count`` namespaces, each holding one of ``docs`` (cycled)."""
    from retrieval.loaders import content_id
    from retrieval.models import Document

    svc = open_service(data_dir, SyntheticEmbedder())
    chunks = 0
    for n in range(count):
        title, text = docs[n % len(docs)]
        doc = Document(content_id(text), text, "synthetic", title)
        chunks += svc.ingest_document(doc, f"ns{n}", refresh=False).chunks
    return {"namespaces": count, "chunks": chunks}


# -- serving (each in a fresh process) ---------------------------------------------------
def serve(data_dir: Path, overrides: dict[str, Any], questions: list[str], namespaces: list[str]) -> dict[str, Any]:
    """Warm asks, question i in namespace i mod len(namespaces); the process's peak RSS."""
    svc = open_service(data_dir, **overrides)
    for q in questions[:5]:
        svc.ask(q, namespaces[0])
    latencies = []
    for i, q in enumerate(questions):
        t0 = time.perf_counter()
        svc.ask(q, namespaces[i % len(namespaces)])
        latencies.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95), "peak_rss_mb": peak_rss_mb()}


def served(data_dir: Path, overrides: dict[str, Any], qfile: Path, namespaces: list[str]) -> dict[str, Any]:
    args = ["_serve", str(data_dir), json.dumps(overrides), str(qfile), json.dumps(namespaces)]
    return run_child(args, Path(__file__))


def serve_both(rows: dict[str, tuple[Path, dict[str, Any]]], qfile: Path, ns: list[str]) -> dict[str, Any]:
    """Each row served twice, alternating; the round with the lower p50 counts."""
    return best_round({name: partial(served, *row, qfile, ns) for name, row in rows.items()})


# -- writers -----------------------------------------------------------------------------
def writers(work: Path, stores: Callable[[], dict[str, Any]], articles: int, sentences: int) -> dict[str, float]:
    """Wall seconds for ``articles`` articles by one process, and split between two."""
    from tests.store_worker import big_text
    from tests.test_store_processes import worker

    paths = []
    for i in range(articles):
        path = work / f"article{i}.txt"
        path.write_text(big_text(sentences, seed=i))
        paths.append(path)
    out: dict[str, float] = {}
    for name, groups in (("one writer", [paths]), ("two writers", [paths[0::2], paths[1::2]])):
        data = work / name.replace(" ", "-")
        settings = stores()
        t0 = time.perf_counter()
        procs = [worker("ingest", "--each", "--data-dir", data, *group, settings=settings) for group in groups]
        for proc in procs:
            _, err = proc.communicate(timeout=1800)
            if proc.returncode != 0:
                raise RuntimeError(err[-3000:])
        out[name] = time.perf_counter() - t0
    return out


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_serve":
        _, data_dir, overrides, questions_file, namespaces = argv
        questions = json.loads(Path(questions_file).read_text())
        print(json.dumps(serve(Path(data_dir), json.loads(overrides), questions, json.loads(namespaces))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--namespaces", type=int, default=1000)
    parser.add_argument("--cache-mb", type=int, default=64, help="the index cache bound for the namespace rows")
    parser.add_argument("--writer-articles", type=int, default=16)
    parser.add_argument("--writer-sentences", type=int, default=150, help="chunks per writer article")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="citebot-scale-"))
    questions = questions_of(args.dataset, args.questions)
    qfile = work / "questions.json"
    qfile.write_text(json.dumps(questions))
    report: dict[str, Any] = {"machine": machine(), "sizes": []}
    try:
        with servers(work) as srv, contextlib.ExitStack() as keep:
            # Each measurement on stores of its own: the data dir's, or new databases on the servers.
            configs: dict[str, Callable[[], dict[str, Any]]] = {
                "embedded": dict,
                "server": lambda: keep.enter_context(srv.databases()),
            }
            for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
                docs = recombined_documents(args.dataset, int(size * 880), seed=size)
                row: dict[str, Any] = {"chunks": size, "ingest": {}, "ask": {}}
                dirs = {}
                for name, stores in configs.items():
                    say(f"build {size} chunks, {name}")
                    dirs[name] = (work / f"{name}-{size}", stores())
                    row["ingest"][name] = build(docs, size, *dirs[name])
                say(f"asks at {size} chunks")
                row["ask"] = serve_both(dirs, qfile, [NS])
                report["sizes"].append(row)
            report["writers"] = {}
            for name, stores in configs.items():
                say(f"writers, {name}")
                here = work / f"writers-{name}"
                here.mkdir()
                report["writers"][name] = writers(here, stores, args.writer_articles, args.writer_sentences)
        say(f"{args.namespaces} namespaces")
        small = recombined_documents(args.dataset, 40 * 880, seed=7)  # ~40 chunks a namespace
        one, many = work / "one-namespace", work / "many-namespaces"
        report["namespaces"] = {"built": build_namespaces(small, args.namespaces, many)}
        build_namespaces(small, 1, one)
        ns = [f"ns{n}" for n in range(args.namespaces)]
        rows: dict[str, tuple[Path, dict[str, Any]]] = {
            "one namespace in the store": (one, {}),
            f"one of {args.namespaces} namespaces": (many, {}),
        }
        report["namespaces"]["ask"] = serve_both(rows, qfile, ["ns0"])
        say("visiting every namespace")
        report["namespaces"]["visit"] = {
            f"cache bound {args.cache_mb} MB": served(many, {"index_cache_mb": args.cache_mb}, qfile, ns),
            "cache unbounded": served(many, {"index_cache_mb": 0}, qfile, ns),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def table(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"{m['date']}, {m['cpu']}, {m['cores']} cores, Python {m['python']}", ""]
    lines += ["| row | embedded (baseline) | server | server ÷ embedded |", "|---|---:|---:|---:|"]
    for size in report["sizes"]:
        e, s = size["ingest"]["embedded"], size["ingest"]["server"]
        lines.append(
            f"| ingest, {size['chunks']:,} chunks (chunks/s) | {e['chunks_per_s']:.0f} | {s['chunks_per_s']:.0f} |"
            f" {s['chunks_per_s'] / e['chunks_per_s']:.2f}x |"
        )
        for stat in ("p50_ms", "p95_ms", "peak_rss_mb"):
            e, s = size["ask"]["embedded"][stat], size["ask"]["server"][stat]
            label = {"p50_ms": "ask p50 (ms)", "p95_ms": "ask p95 (ms)", "peak_rss_mb": "serving peak RSS (MB)"}[stat]
            lines.append(f"| {label}, {size['chunks']:,} chunks | {e:.1f} | {s:.1f} | {s / e:.2f}x |")
    lines += [
        "",
        "| writers, same articles | one process (baseline) s | two processes s | two ÷ one |",
        "|---|---:|---:|---:|",
    ]
    for name, w in report["writers"].items():
        one, two = w["one writer"], w["two writers"]
        lines.append(f"| {name} | {one:.1f} | {two:.1f} | {two / one:.2f}x |")
    ns = report["namespaces"]
    lines += ["", "| namespaces row | p50 ms | p95 ms | peak RSS MB | p50 x baseline |", "|---|---:|---:|---:|---:|"]
    base = next(iter(ns["ask"].values()))["p50_ms"]
    for name, r in {**ns["ask"], **ns["visit"]}.items():
        lines.append(
            f"| {name} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['peak_rss_mb']:.0f} | {r['p50_ms'] / base:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
