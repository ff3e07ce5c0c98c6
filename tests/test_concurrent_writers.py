"""Two writer processes on one store, one SIGKILLed at a random moment, in both configurations.

Real processes (``tests/store_worker.py``), the hashing embedder, and real stores: embedded
(Chroma's PersistentClient and the SQLite catalog with its data-dir writer lock) and server
(``chroma run`` and PostgreSQL with its advisory lock; a fresh database on each per run).
Each run: two writers ingest their own articles one at a time (reporting each as it lands),
one is killed at a random point of its work, the other finishes; then a fresh
process opens the store (which runs ``recover()``). After every run:

* the journal is empty and the catalog's chunks are exactly Chroma's vectors;
* every article a writer reported as added is visible, with all its chunks;
* no source has more than one visible version.
"""

from __future__ import annotations

import contextlib
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.store_configs import CONFIGS
from tests.store_worker import big_text
from tests.test_store_processes import TIMEOUT, assert_consistent, open_service, worker

RUNS = 30
ARTICLES = 4  # per writer


def reported_added(out: str) -> set[str]:
    import json

    added = set()
    for line in out.splitlines():
        event = json.loads(line)
        if event["event"] == "report":
            added |= {item["source"] for item in event["items"] if item["status"] in ("added", "replaced")}
    return added


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS)
def test_sigkill_of_one_of_two_writers_loses_nothing_reported(tmp_path: Path, config: str, request):
    servers = request.getfixturevalue("store_servers") if config == "server" else None
    rng = random.Random(20261203)
    kills_mid_write = 0
    for run in range(RUNS):
        with contextlib.ExitStack() as stack:
            stores = stack.enter_context(servers.databases()) if servers else {}
            kills_mid_write += one_run(tmp_path / f"run{run}", run, rng, stores)
    print(f"{config}: {kills_mid_write} of {RUNS} victims killed while still working")
    # Most runs must kill a writer while it works, or the test proves little.
    assert kills_mid_write >= RUNS * 2 // 3, kills_mid_write


def one_run(here: Path, run: int, rng: random.Random, stores: dict[str, Any]) -> int:
    """One run; 1 when the victim was killed while still working."""
    killed = 0
    here.mkdir()
    data = here / "data"
    paths = {}
    for w in ("a", "b"):
        paths[w] = []
        for i in range(ARTICLES):
            path = here / f"{w}{i}.txt"
            path.write_text(big_text(rng.randint(40, 160), seed=run * 100 + (w == "b") * 10 + i))
            paths[w].append(path)
    writers = {w: worker("ingest", "--each", "--data-dir", data, *paths[w], settings=stores) for w in ("a", "b")}
    victim, survivor = rng.sample(("a", "b"), 2)
    try:
        # A random point of the victim's work, whatever the machine's speed: after its stores
        # are open and a random number of its articles have landed, a fraction of a second on.
        read = [writers[victim].stdout.readline()]  # "opened"
        for _ in range(rng.randrange(ARTICLES)):
            read.append(writers[victim].stdout.readline())  # one article's report
        time.sleep(rng.uniform(0.0, 0.3))
        if writers[victim].poll() is None:
            writers[victim].send_signal(signal.SIGKILL)
            killed = 1
        victim_out = "".join(read) + writers[victim].communicate(timeout=TIMEOUT)[0]
        survivor_out, survivor_err = writers[survivor].communicate(timeout=TIMEOUT)
    finally:
        for proc in writers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert writers[survivor].returncode == 0, survivor_err
    assert reported_added(survivor_out) == {str(p) for p in paths[survivor]}

    svc = open_service(data, **stores)  # a fresh process's view: open runs recover()
    assert_consistent(svc)
    visible = {d.source: d for d in svc.sources()}
    assert len(visible) == len(svc.sources()), "a source with two visible versions"
    for source in reported_added(victim_out) | reported_added(survivor_out):
        assert source in visible, f"run {run}: {source} was reported added and is gone"
        assert svc.catalog.text("default", visible[source].id) == Path(source).read_text().strip()
    return killed
