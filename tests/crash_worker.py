"""The process that ``test_crash_safety.py`` kills with SIGKILL.

Run as ``python -m tests.crash_worker --data-dir D --docs DIR --op OP --seed N``. One run:

1. opens the data dir *without* recovery and reports what a crash left behind (journal,
   catalog, vector ids) and what readers see in that state (search, ask, cite, quotes);
2. runs ``recover()`` and reports the same again;
3. re-runs the ingest of DIR to completion and reports again (``completed``);
4. prepares the operation (``ingest``: forget a random part of DIR first; ``replace``:
   rewrite every file of DIR as the next revision; ``forget``: forget every document in
   a random order; ``none``: nothing), prints ``ready`` (with how many documents the op
   will write);
5. runs the operation with short random sleeps around every step of the write path
   (``store.upsert``/``delete``, ``catalog.journal_begin``/``commit_document``/
   ``delete_document``/``journal_end``, in this process only), so that a kill at a random
   moment lands at every stage, printing a ``stage`` line before and after each step.
   The test kills it at a random moment after ``ready``.

Every line on stdout is one JSON object. The test, not this script, judges the facts.
``--serve`` runs it as a fork server instead (see ``serve``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

_T0 = time.perf_counter()
NAMESPACE = "crash"
WORDS = (
    "river valley council budget harbor bridge school railway station market farmers tunnel"
    " reservoir library museum hospital clinic airport runway festival orchestra stadium"
    " committee inspector engineer survey drought harvest ferry lighthouse quarry timber"
).split()
KEYWORDS = ("Zandor", "Quillet", "Marbeck", "Orvinne", "Tessaly", "Brunhart", "Calvisto", "Deverin")


def emit(event: str, **data: Any) -> None:
    """One JSON line, written straight to the pipe so a kill cannot lose it."""
    os.write(1, (json.dumps({"event": event, "t": round(time.perf_counter() - _T0, 4), **data}) + "\n").encode())


def article(i: int, revision: int = 0) -> str:
    """A deterministic multi-chunk article about ``KEYWORDS[i]``; each revision differs."""
    rng = random.Random(i)
    key = KEYWORDS[i % len(KEYWORDS)]
    paragraphs = [f"This is revision {revision} of the {key} report, number {i}."]
    for p in range(7):
        sentences = []
        for s in range(3):
            words = " ".join(rng.choice(WORDS) for _ in range(9))
            sentences.append(f"The {key} {words} was noted in section {p}.{s}.")
        paragraphs.append(" ".join(sentences))
    return f"The {key} Report\n\nBy Staff Writer\n\n" + "\n\n".join(paragraphs) + "\n"


def probes(texts: list[str]) -> list[str]:
    """Questions that hit each document: one verbatim sentence of each, plus generic ones."""
    out = []
    for text in texts:
        match = re.search(r"The \w+ [a-z ]+ was noted in section 3\.1\.", text)
        if match:
            out.append(match.group(0))
    return [*out, "What was noted in the report?", "Which revision of the report is this?"]


def doc_texts(docs: Path) -> list[str]:
    from retrieval.errors import IngestError
    from retrieval.loaders import expand_paths, load_path

    texts = []
    for path in expand_paths(docs):
        with contextlib.suppress(IngestError):
            texts.append(load_path(path).text)
    return texts


def reads(svc, questions: list[str]) -> dict[str, Any]:
    """What a reader sees: doc ids of search hits and citations, and any wrong quote."""
    hits: set[str] = set()
    cited: set[str] = set()
    bad: list[str] = []
    answered = 0
    for q in questions:
        for hit in svc.search(q, NAMESPACE, 5):
            hits.add(hit.chunk.doc_id)
            if svc.catalog.text(NAMESPACE, hit.chunk.doc_id) is None:
                bad.append(f"search hit {hit.id} has no catalog row")
        answer = svc.ask(q, NAMESPACE)
        answered += not answer.abstained
        for c in answer.citations:
            cited.add(c.doc_id)
            text = svc.catalog.text(NAMESPACE, c.doc_id)
            if text is None or text[c.start : c.end] != c.quote:
                bad.append(f"citation {c.id} does not quote its document")
            elif svc.cite(c.id, NAMESPACE).quote != c.quote:
                bad.append(f"cite({c.id}) gives another quote")
        found = svc.find_quote(q, NAMESPACE)
        if found is not None:
            cited.add(found.doc_id)
            text = svc.catalog.text(NAMESPACE, found.doc_id)
            if text is None or text[found.start : found.end] != found.quote:
                bad.append(f"find_quote {found.id} does not quote its document")
    return {"hits": sorted(hits), "cited": sorted(cited), "bad": bad, "answered": answered}


def facts(svc, questions: list[str]) -> dict[str, Any]:
    return {
        "docs": [[d.id, d.source, d.chunks] for d in svc.sources(NAMESPACE)],
        "ids": sorted(svc.store.all_ids(NAMESPACE)),
        "count": svc.store.count(NAMESPACE),
        "journal": [[e.op, e.doc_id, e.chunks, [list(s) for s in e.stale]] for e in svc.catalog.journal()],
        "reads": reads(svc, questions) if questions else {"hits": [], "cited": [], "bad": [], "answered": 0},
    }


def chaos(rng: random.Random, max_sleep: float, name: str, fn):
    """``fn`` with a random sleep before and after it and a stage line around the call."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        time.sleep(rng.uniform(0, max_sleep))
        emit("stage", stage=f"{name}:start")
        result = fn(*args, **kwargs)
        emit("stage", stage=f"{name}:done")
        time.sleep(rng.uniform(0, max_sleep))
        return result

    return wrapped


def write_revision(docs: Path, revision: int) -> None:
    """Rewrite the replace chain's files (plain text) as ``revision``."""
    for i in range(4):
        (docs / f"report-{i}.txt").write_text(article(i, revision))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--docs", type=Path, required=True)
    parser.add_argument("--op", choices=["ingest", "replace", "forget", "none"], required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--revision", type=int, default=0, help="replace: the revision to write")
    parser.add_argument("--max-sleep", type=float, default=0.01)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    from config import load_settings
    from retrieval.service import CitebotService
    from tests.doubles import HashingEmbedder

    class DeferredRecovery(CitebotService):
        """Opens without recovering, so the test sees exactly what the crash left."""

        deferred = True

        def recover(self) -> int:
            return 0 if self.deferred else super().recover()

    started = time.perf_counter()
    svc = DeferredRecovery.from_settings(load_settings(data_dir=args.data_dir), embedder=HashingEmbedder())
    questions = probes(doc_texts(args.docs))
    emit("verify", phase="pre-recovery", opened=time.perf_counter() - started, **facts(svc, questions))
    svc.deferred = False
    fixed = svc.recover()
    emit("verify", phase="recovered", fixed=fixed, **facts(svc, questions))

    report = svc.ingest([args.docs], NAMESPACE)
    emit(
        "verify",
        phase="completed",
        statuses=[[i.source, i.status, i.doc_id] for i in report.items],
        **facts(svc, []),  # the readers were checked above; here the structure is what matters
    )

    if args.op == "ingest":
        present = svc.sources(NAMESPACE)
        for info in rng.sample(present, rng.randint(max(1, len(present) // 2), len(present))):
            svc.forget(info.id, NAMESPACE)
    elif args.op == "replace":
        write_revision(args.docs, args.revision)
    targets = [d.id for d in svc.sources(NAMESPACE)]
    rng.shuffle(targets)
    # How many documents the op will write: lets the test spread its kills over the op.
    work = {"ingest": len(doc_texts(args.docs)) - len(targets), "replace": len(targets), "forget": len(targets)}

    for obj, name in (
        (svc.store, "upsert"),
        (svc.store, "delete"),
        (svc.catalog, "journal_begin"),
        (svc.catalog, "commit_document"),
        (svc.catalog, "delete_document"),
        (svc.catalog, "journal_end"),
    ):
        setattr(obj, name, chaos(rng, args.max_sleep, name, getattr(obj, name)))
    emit("ready", present=sorted(targets), work=work.get(args.op, 0))
    began = time.perf_counter()
    if args.op in ("ingest", "replace"):
        report = svc.ingest([args.docs], NAMESPACE)
        statuses = [[i.source, i.status, i.doc_id] for i in report.items]
    elif args.op == "forget":
        statuses = [[svc.forget(doc_id, NAMESPACE).source, "forgotten", doc_id] for doc_id in targets]
    else:
        statuses = []
    emit("done", seconds=time.perf_counter() - began, statuses=statuses)
    return 0


def serve() -> int:
    """A fork server: import everything once, then fork one child per ``run`` command.

    Importing Chroma and the service costs ~1.5 s a process; forking a process that has
    only imported them (no client opened, one thread) costs milliseconds, so the test can
    afford many more kills. Commands and replies are JSON lines on stdin/stdout:
    ``{"cmd": "run", "argv": [...], "out": path, "err": path}`` -> ``{"pid": n}``;
    ``{"cmd": "wait", "pid": n}`` -> ``{"pid": n, "signal": s | null, "rc": r | null}``.
    The test kills children itself (they stay unreaped, so their pid cannot be reused
    before ``wait``).
    """
    import chromadb
    import chromadb.api.rust  # noqa: F401

    import config  # noqa: F401
    import retrieval.service
    import retrieval.vectorstore  # noqa: F401

    def reply(**data: Any) -> None:
        os.write(1, (json.dumps(data) + "\n").encode())

    reply(ready=True, threads=len(os.listdir("/proc/self/task")) if Path("/proc/self/task").exists() else None)
    while True:
        line = sys.stdin.readline()
        if not line:
            return 0
        cmd = json.loads(line)
        if cmd["cmd"] == "run":
            pid = os.fork()
            if pid == 0:  # the child: never returns into the server loop
                rc = 1
                try:
                    out = os.open(cmd["out"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                    err = os.open(cmd["err"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                    os.dup2(out, 1)
                    os.dup2(err, 2)
                    global _T0
                    _T0 = time.perf_counter()
                    rc = main(cmd["argv"])
                except BaseException:
                    import traceback

                    traceback.print_exc()
                finally:
                    os._exit(rc)
            reply(pid=pid)
        elif cmd["cmd"] == "wait":
            _, status = os.waitpid(cmd["pid"], 0)
            reply(
                pid=cmd["pid"],
                signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                rc=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            )


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1:] == ["--serve"] else main())
