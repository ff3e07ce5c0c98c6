"""A second (or third) process on a data dir, for ``test_store_processes.py``.

Real processes, the real service, Chroma and catalog, with the hashing embedder (no model).
Every line on stdout is one JSON object; the test, not this script, judges the facts.

``python -m tests.store_worker ingest --data-dir D --namespace NS PATH...``
    prints ``{"event": "opened"}`` once its stores are open, then
    ingests PATHs in one batch and prints ``{"event": "report", ...}`` (``--each``: one
    ingest and one report per PATH, in order). With
    ``--signal FILE`` it creates FILE after its first vector upsert (vectors written, the
    document not yet committed), and with ``--hold FILE`` it then waits (at most
    ``--hold-seconds``) for FILE to exist before going on: the test opens the data dir from
    other processes in exactly that window.
``python -m tests.store_worker serve --data-dir D``
    a long-running reader: reads JSON commands on stdin (``query``, ``search``, ``sources``)
    and answers each with one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

WORDS = (
    "river valley council budget harbor bridge school railway station market farmers tunnel reservoir library museum"
    " hospital clinic airport runway festival orchestra stadium committee inspector engineer survey drought harvest"
    " ferry lighthouse quarry timber"
).split()


def big_text(sentences: int, seed: int) -> str:
    """A document of ``sentences`` distinct sentences of ~80 characters (one chunk each
    at ``chunk_size`` 100 without overlap), in paragraphs of ten."""
    import random

    rng = random.Random(seed)
    lines = []
    for i in range(sentences):
        words = " ".join(rng.choice(WORDS) for _ in range(7))
        lines.append(f"Item {seed}-{i} notes {words}.")
    paragraphs = [" ".join(lines[i : i + 10]) for i in range(0, len(lines), 10)]
    return f"Report {seed}\n\n" + "\n\n".join(paragraphs) + "\n"


def emit(event: str, **data: Any) -> None:
    os.write(1, (json.dumps({"event": event, **data}) + "\n").encode())


def service(data_dir: Path):
    from config import load_settings
    from retrieval.service import CitebotService
    from tests.doubles import HashingEmbedder

    return CitebotService.from_settings(load_settings(data_dir=data_dir), embedder=HashingEmbedder())


def wait_for(path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def ingest(args: argparse.Namespace) -> int:
    svc = service(args.data_dir)
    emit("opened")
    if args.signal or args.hold:
        upsert = svc.store.upsert
        held = []

        def upsert_then_hold(*a: Any, **kw: Any) -> None:
            upsert(*a, **kw)
            if not held:  # the first document only
                held.append(True)
                if args.signal:
                    args.signal.touch()
                emit("upserted")
                if args.hold:
                    emit("held", released=wait_for(args.hold, args.hold_seconds))

        svc.store.upsert = upsert_then_hold  # type: ignore[method-assign]
    if args.each:  # one report per path, as each lands (what a killed writer had reported)
        for path in args.paths:
            emit("report", **svc.ingest([path], args.namespace).to_dict())
        return 0
    report = svc.ingest(args.paths, args.namespace)
    emit("report", **report.to_dict())
    return 0


def serve(args: argparse.Namespace) -> int:
    svc = service(args.data_dir)
    emit("ready")
    for line in sys.stdin:
        cmd = json.loads(line)
        ns = cmd.get("namespace", "default")
        if cmd["cmd"] == "query":
            vector = svc.embedder.embed_query(cmd["text"])
            emit("query", ids=[i for i, _ in svc.store.query(ns, vector, cmd.get("k", 5))])
        elif cmd["cmd"] == "search":
            emit("search", docs=[h.chunk.doc_id for h in svc.search(cmd["text"], ns, cmd.get("k", 5))])
        elif cmd["cmd"] == "sources":
            emit("sources", docs=[[d.id, d.source, d.chunks] for d in svc.sources(ns)])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest")
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--namespace", default="default")
    p.add_argument("--signal", type=Path)
    p.add_argument("--hold", type=Path)
    p.add_argument("--hold-seconds", type=float, default=60.0)
    p.add_argument("--each", action="store_true", help="ingest and report the paths one at a time")
    p.add_argument("paths", nargs="+")
    p.set_defaults(run=ingest)
    s = sub.add_parser("serve")
    s.add_argument("--data-dir", type=Path, required=True)
    s.set_defaults(run=serve)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
