"""Crash safety: SIGKILL the writer at random moments, reopen, check the store agrees.

``tests/crash_worker.py`` does the writing (multi-document ingest, replacing changed
documents, forgetting) with short random sleeps around every step of the write path, so
that a kill after a random, seeded delay lands at every stage: before the journal row,
between it and the vector upsert, during the upsert, before/after the catalog switch,
before the stale vectors are deleted, before the journal row is removed. After each kill
the next run reopens the data dir and reports (a) the state exactly as the crash left it,
read through the service with recovery deferred, (b) the state after ``recover()`` and
(c) the state after re-running the ingest to completion. This test checks, every time:

* no document is ever visible without all of its chunks, not even before recovery, and
  every vector the catalog does not account for is named by a journal row (recoverable);
* after recovery: the journal is empty and Chroma's ids are exactly the chunk ids of the
  catalog's documents (no orphan chunks, no duplicates); recovery changes no visibility;
* readers (search, ask, cite, find_quote) never return a document without a catalog row,
  and every quote is the exact text of its document, before and after recovery;
* ingest only adds, a replacement shows the old or the new version of a source (never
  neither, never both), forget only removes;
* re-running the ingest completes it: every document present, exactly once.

Children are forked by a fork server (``crash_worker.py --serve``) that has imported
Chroma and the service once, so a run costs a fraction of a second, not ~2 s; each child is a real
process killed by a real SIGKILL.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from retrieval.catalog import chunk_ids
from retrieval.errors import IngestError
from retrieval.loaders import expand_paths, load_path
from tests.builders import make_pdf
from tests.crash_worker import NAMESPACE, article, probes, write_revision

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
INGEST_KILLS = int(os.environ.get("CITEBOT_CRASH_INGEST_KILLS", "60"))
REPLACE_KILLS = int(os.environ.get("CITEBOT_CRASH_REPLACE_KILLS", "30"))
FORGET_KILLS = int(os.environ.get("CITEBOT_CRASH_FORGET_KILLS", "30"))
SEED = int(os.environ.get("CITEBOT_CRASH_SEED", "20240611"))
WAIT = 60.0  # seconds for a child to become ready: generous, only hit when something hangs


class ForkServer:
    """``python -m tests.crash_worker --serve`` and its JSON-lines protocol."""

    def __init__(self, workdir: Path) -> None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.err_path = workdir / "server.err"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_worker", "--serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err_path.open("wb"),
            text=True,
            bufsize=1,
        )
        hello = self._read()
        assert hello.get("ready"), hello
        assert hello.get("threads") in (None, 1), f"the fork server must be single-threaded: {hello}"

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the fork server died: {self.err_path.read_text()[-3000:]}")
        return json.loads(line)

    def _send(self, **cmd: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def run(self, argv: list[str], out: Path, err: Path) -> int:
        return int(self._send(cmd="run", argv=argv, out=str(out), err=str(err))["pid"])

    def wait(self, pid: int) -> dict[str, Any]:
        return self._send(cmd="wait", pid=pid)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Run:
    events: list[dict[str, Any]]
    killed: bool
    stage: str  # the last stage line the child printed ("-" when none)
    err: str

    def verify(self, phase: str) -> dict[str, Any]:
        return next(e for e in self.events if e["event"] == "verify" and e["phase"] == phase)

    def event(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == name), None)


@dataclass
class Chain:
    """One data dir, one docs dir, and a sequence of runs, each killed or not."""

    name: str
    workdir: Path
    seed: int
    runs: int = 0
    kills: Counter = field(default_factory=Counter)  # op -> kills
    missed: Counter = field(default_factory=Counter)  # op -> runs that finished before the kill
    stages: Counter = field(default_factory=Counter)  # "op: last stage" at kill time
    found: Counter = field(default_factory=Counter)  # what the reopening found
    fixed: int = 0  # journal entries finished or rolled back by recover()

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def docs(self) -> Path:
        return self.workdir / "docs"


@dataclass(frozen=True)
class Kill:
    """When to SIGKILL a child, as a ``fraction`` of its op. ``jitter`` None: after
    ``fraction`` of the op's expected duration from 'ready'; else ``jitter`` seconds after
    the stage line at ``fraction`` of the expected stage lines. Expectations scale with the
    number of documents the op writes (the child's 'ready' says), from the unkilled run."""

    fraction: float
    jitter: float | None
    seconds_per_doc: float
    lines_per_doc: float


def run_child(server: ForkServer, chain: Chain, op: str, kill: Kill | None, **extra: Any) -> Run:
    chain.runs += 1
    out = chain.workdir / f"run-{chain.runs:03d}.jsonl"
    err = chain.workdir / f"run-{chain.runs:03d}.err"
    argv = [
        "--data-dir",
        str(chain.data),
        "--docs",
        str(chain.docs),
        "--op",
        op,
        "--seed",
        str(chain.seed + chain.runs),
    ]
    for key, value in extra.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    pid = server.run(argv, out, err)
    deadline = time.monotonic() + WAIT
    ready_at = ready = None
    while ready_at is None:
        text = out.read_text() if out.exists() else ""
        # Only a newline-terminated line: the child may be in the middle of writing it.
        ready = next((json.loads(line) for line in text.split("\n")[:-1] if '"event": "ready"' in line), None)
        if ready is not None:
            ready_at = time.monotonic()
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            server.wait(pid)
            raise AssertionError(
                f"{chain.name} run {chain.runs}: no 'ready' in {WAIT}s\n{text[-2000:]}\n{err.read_text()}"
            )
        else:
            time.sleep(0.002)
    if kill is not None:
        assert ready is not None
        work = max(1, ready["work"])
        anchor, delay = ready_at, kill.fraction * kill.seconds_per_doc * work
        if kill.jitter is not None:
            after_stages = 1 + int(kill.fraction * kill.lines_per_doc * work)
            delay = kill.jitter
            while True:
                text = out.read_text()
                if text.count('"event": "stage"') >= after_stages or '"event": "done"' in text:
                    anchor = time.monotonic()
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"{chain.name} run {chain.runs}: stalled\n{text[-2000:]}")
                time.sleep(0.001)
        time.sleep(max(0.0, delay - (time.monotonic() - anchor)))
        os.kill(pid, signal.SIGKILL)  # the child is ours until waited for: a zombie at worst
    status = server.wait(pid)
    killed = status["signal"] == signal.SIGKILL
    # Only newline-terminated lines: a kill can land in the middle of the child's last write.
    events = [json.loads(line) for line in out.read_text().split("\n")[:-1] if line.strip()]
    stages = [e["stage"] for e in events if e["event"] == "stage"]
    run = Run(events, killed, stages[-1] if stages else "-", err.read_text())
    if not killed:
        assert status["rc"] == 0 and run.event("done"), f"{chain.name} run {chain.runs} failed: {status}\n{run.err}"
    return run


def expected_docs(docs: Path) -> dict[str, str]:
    """source -> doc id of every loadable file in ``docs`` (what a full ingest yields)."""
    out = {}
    for path in expand_paths(docs):
        try:
            doc = load_path(path)
        except IngestError:
            continue
        out[doc.source] = doc.id
    return out


def label_recovery(state: dict[str, Any]) -> str:
    """What a reopening found, e.g. 'add: not committed, 7 orphan vectors'."""
    docs = {d[0] for d in state["docs"]}
    ids = set(state["ids"])
    if not state["journal"]:
        return "clean"
    labels = []
    for op, doc_id, chunks, stale in state["journal"]:
        stale_left = sum(len(ids & set(chunk_ids(d, n))) for d, n in stale if d not in docs)
        if op == "add" and doc_id not in docs:
            new = len(ids & set(chunk_ids(doc_id, chunks)))
            labels.append(f"add before the switch ({'all' if new == chunks else new or 'no'} new vectors written)")
        elif op == "add":
            labels.append(
                "add after the switch, " + ("stale vectors left" if stale_left else "only the journal row left")
            )
        elif doc_id in docs:
            labels.append("forget before the catalog delete")
        else:
            labels.append(
                "forget after the catalog delete, " + ("vectors left" if stale_left else "only the journal row left")
            )
    return "; ".join(sorted(labels))


def check_consistent(state: dict[str, Any], where: str, *, recovered: bool) -> None:
    docs = state["docs"]
    doc_ids = [d[0] for d in docs]
    sources = [d[1] for d in docs]
    assert len(set(doc_ids)) == len(doc_ids), f"{where}: duplicate documents {docs}"
    assert len(set(sources)) == len(sources), f"{where}: a source with two documents {docs}"
    expected_ids = {cid for d in docs for cid in chunk_ids(d[0], d[2])}
    ids = set(state["ids"])
    assert len(ids) == len(state["ids"]) == state["count"], f"{where}: duplicate vector ids or a count mismatch"
    missing = expected_ids - ids
    assert not missing, f"{where}: visible documents without their chunks: {sorted(missing)[:5]}"
    extra = ids - expected_ids
    if recovered:
        assert state["journal"] == [], f"{where}: journal left after recovery: {state['journal']}"
        assert not extra, f"{where}: orphan chunks after recovery: {sorted(extra)[:5]}"
    else:
        journaled = set()
        for _op, doc_id, chunks, stale in state["journal"]:
            journaled |= set(chunk_ids(doc_id, chunks))
            for d, n in stale:
                journaled |= set(chunk_ids(d, n))
        assert extra <= journaled, (
            f"{where}: orphan chunks no journal row accounts for: {sorted(extra - journaled)[:5]}"
        )
    reads = state["reads"]
    assert reads["bad"] == [], f"{where}: {reads['bad']}"
    assert set(reads["hits"]) <= set(doc_ids), f"{where}: a search hit of a document not in the catalog"
    assert set(reads["cited"]) <= set(doc_ids), f"{where}: an answer cites a document not in the catalog"


def check_run(
    chain: Chain, run: Run, previous_op: str, before: dict[str, str], during: dict[str, str], files: dict[str, str]
) -> None:
    """Check one reopening after ``previous_op`` was killed (or finished). ``before``: source
    -> doc id when that op started; ``during``: the content it wrote; ``files``: the docs
    dir's content (what a complete ingest gives)."""
    where = f"{chain.name} run {chain.runs}"
    pre, rec, done = run.verify("pre-recovery"), run.verify("recovered"), run.verify("completed")
    check_consistent(pre, f"{where} (before recovery)", recovered=False)
    check_consistent(rec, f"{where} (after recovery)", recovered=True)
    assert rec["docs"] == pre["docs"], f"{where}: recovery changed what is visible"
    assert rec["fixed"] == len(pre["journal"])
    chain.fixed += rec["fixed"]
    chain.found[f"{previous_op}: {label_recovery(pre)}"] += 1
    visible = {d[1]: d[0] for d in pre["docs"]}
    if previous_op == "ingest":  # ingest only adds; what it adds is the current content
        assert set(before.items()) <= set(visible.items()), f"{where}: the crashed ingest lost documents"
        assert set(visible.items()) <= set(during.items()), f"{where}: unexpected documents {visible}"
    elif previous_op == "replace":  # each source: the old or the new version, exactly one
        assert set(visible) == set(before), f"{where}: a source vanished or appeared during a replace {visible}"
        for source, doc_id in visible.items():
            assert doc_id in (before[source], during[source]), f"{where}: {source} has an unknown version"
    elif previous_op == "forget":  # forget only removes, never alters
        assert set(visible.items()) <= set(before.items()), f"{where}: forget added or changed documents"
    # Re-running the ingest completes it: everything present, once, consistent.
    check_consistent(done, f"{where} (re-ingested)", recovered=True)
    completed = {d[1]: d[0] for d in done["docs"]}
    assert completed == files, f"{where}: re-running the ingest did not complete it"


def check_final(chain: Chain) -> None:
    """Open the data dir in this process (never opened here before) and check everything."""
    from config import load_settings
    from retrieval.service import CitebotService
    from tests.doubles import HashingEmbedder

    svc = CitebotService.from_settings(load_settings(data_dir=chain.data), embedder=HashingEmbedder())
    assert svc.catalog.journal() == []
    docs = svc.sources(NAMESPACE)
    assert {d.source: d.id for d in docs} == expected_docs(chain.docs)
    assert sorted(svc.store.all_ids(NAMESPACE)) == sorted(c for d in docs for c in chunk_ids(d.id, d.chunks))
    ids = {d.id for d in docs}
    for d in docs:
        (question,) = probes([svc.catalog.text(NAMESPACE, d.id)])[:1]
        answer = svc.ask(question, NAMESPACE)
        assert not answer.abstained and d.id in {c.doc_id for c in answer.citations}
        assert {c.doc_id for c in answer.citations} <= ids
        assert all(svc.catalog.text(NAMESPACE, c.doc_id)[c.start : c.end] == c.quote for c in answer.citations)
    again = svc.ingest([chain.docs], NAMESPACE)
    assert {i.status for i in again.items} <= {"unchanged", "failed"} and again.count("unchanged") == len(docs)


def drive(chain: Chain, next_op) -> Chain:
    """Run children until ``next_op(kills)`` says stop (None). Each child first checks what
    the previous one left, then runs its own op and is killed in turn. The first child of
    each op runs unkilled, to time the op and count its stage lines. Then half the kills
    come after a random delay in [0, the op's duration] from 'ready'; the other half after
    a random delay of 0-30 ms from a random stage line, so that every stage of the write
    path is hit however fast or loaded the machine is."""
    rng = random.Random(chain.seed)
    server = ForkServer(chain.workdir)
    per_doc: dict[str, tuple[float, float]] = {}  # op -> (seconds, stage lines) per document written
    previous: tuple[str, dict[str, str], dict[str, str], dict[str, str]] | None = None
    revision = 0
    try:
        while True:
            assert chain.runs < 4 * (sum(chain.kills.values()) + 10), "too many runs finished before their kill"
            op = next_op(chain.kills)
            if op == "replace":
                revision += 1
            kill = None
            if op in per_doc:
                jitter = rng.uniform(0, 0.03) if rng.random() < 0.5 else None
                kill = Kill(rng.uniform(0, 1.05), jitter, *per_doc[op])
            run = run_child(server, chain, op or "none", kill, revision=revision)
            if previous is not None:
                check_run(chain, run, *previous)
            if op is None:
                break
            done = run.event("done")
            if op not in per_doc:
                assert done is not None
                work = max(1, run.event("ready")["work"])
                per_doc[op] = (done["seconds"] / work, sum(e["event"] == "stage" for e in run.events) / work)
            elif run.killed:
                chain.kills[op] += 1
                chain.stages[f"{op}: {'finished' if done else run.stage}"] += 1
            else:
                chain.missed[op] += 1
                work = max(1, run.event("ready")["work"])  # a loaded machine: slower ops
                per_doc[op] = (max(per_doc[op][0], done["seconds"] / work), per_doc[op][1])
            present = set(run.event("ready")["present"])
            before = {d[1]: d[0] for d in run.verify("completed")["docs"] if d[0] in present}
            files = expected_docs(chain.docs)  # before the next child changes them
            previous = (op, before, files if op != "forget" else before, files)
        check_final(chain)
    finally:
        server.close()
    return chain


def ingest_chain(chain: Chain, kills: int) -> Chain:
    """Kill multi-document ingests; a random part of the corpus is forgotten before each."""
    docs = chain.docs
    docs.mkdir(parents=True)
    (docs / "report-0.txt").write_text(article(0))
    (docs / "report-1.txt").write_text(article(1))
    (docs / "report-2.md").write_text("# " + article(2).replace("\n\nBy Staff Writer", "", 1))
    paragraphs = article(3).split("\n\n")
    body = "".join(f"<p>{p}</p>" for p in paragraphs[1:])
    (docs / "report-3.html").write_text(
        f"<html><head><title>{paragraphs[0]}</title></head><body><article><h1>{paragraphs[0]}</h1>{body}"
        "</article></body></html>"
    )
    make_pdf(docs / "report-4.pdf", article(4).split("\n\n")[2:], title="The Orvinne Report")
    (docs / "report-5.txt").write_text(article(5))
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a PDF")
    (docs / "empty.txt").write_text("   \n")
    assert len(expected_docs(docs)) == 6
    return drive(chain, lambda k: "ingest" if k["ingest"] < kills else None)


def replace_forget_chain(chain: Chain, replace_kills: int, forget_kills: int) -> Chain:
    """Kill replacements of changed documents and forgets, alternately, on one data dir."""
    chain.docs.mkdir(parents=True)
    write_revision(chain.docs, 0)
    turn = Counter()

    def next_op(kills: Counter) -> str | None:
        wanted = [op for op, n in (("replace", replace_kills), ("forget", forget_kills)) if kills[op] < n]
        if not wanted:
            return None
        turn["n"] += 1
        return wanted[turn["n"] % len(wanted)]

    return drive(chain, next_op)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork server needs os.fork")
@pytest.mark.timeout(900)  # ~2 minutes idle; each run now also takes the data dir's writer lock
def test_sigkill_at_random_points_never_breaks_the_store(tmp_path: Path):
    started = time.perf_counter()
    a = Chain("ingest", tmp_path / "ingest", SEED)
    b = Chain("replace/forget", tmp_path / "replace", SEED + 1)
    a.workdir.mkdir()
    b.workdir.mkdir()
    with ThreadPoolExecutor(2) as pool:  # two independent data dirs, one per core
        fa = pool.submit(ingest_chain, a, INGEST_KILLS)
        fb = pool.submit(replace_forget_chain, b, REPLACE_KILLS, FORGET_KILLS)
        chains = [fa.result(), fb.result()]
    elapsed = time.perf_counter() - started
    for chain in chains:
        missed = dict(chain.missed)
        print(f"\n[{chain.name}] {chain.runs} runs, kills {dict(chain.kills)}, finished before the kill {missed}")
        print(f"  recover() fixed {chain.fixed} journal entries")
        for stage, n in sorted(chain.stages.items()):
            print(f"  killed at {stage}: {n}")
        for found, n in sorted(chain.found.items()):
            print(f"  reopening found {found}: {n}")
    print(f"  {elapsed:.1f}s")
    assert a.kills["ingest"] >= INGEST_KILLS
    assert b.kills["replace"] >= REPLACE_KILLS and b.kills["forget"] >= FORGET_KILLS
    # The kills must have landed on both sides of the visibility switch, not just anywhere.
    found = Counter()
    for chain in chains:
        for label, n in chain.found.items():
            found["before the switch" if "before the switch" in label else label.split(": ", 1)[1]] += n
    assert found["before the switch"] > 0, dict(found)
    assert any("after the switch" in k for k in found), dict(found)
