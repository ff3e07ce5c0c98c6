"""Run a parser in a worker process that is stopped at a time limit.

pypdf and trafilatura/lxml can spend unbounded CPU and memory on hostile input (a PDF whose
pages share one huge content stream, HTML tag soup), and a thread cannot be stopped, so
HTML and PDF extraction runs in a child process that is killed when its time is up.

Workers are plain ``python -c`` subprocesses (not multiprocessing children: those re-import
the parent's ``__main__``, the whole bot or CLI, and a fork would inherit Chroma's and the
bot's threads) talking over a socket pair, and are kept for reuse, so a normal extraction
costs a round trip rather than a process start. A worker that timed out, ran out of memory
or died is discarded; the next call starts a fresh one.

The parsers' log records (pypdf's "Invalid parent xref" and the like, trafilatura's
"discarding data") are collected in the worker and logged here at debug level, not printed
to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from retrieval.errors import IngestError, UnsupportedSource

log = logging.getLogger(__name__)

MAX_IDLE_WORKERS = 2
_WORKER_CODE = "import sys; from retrieval.extraction import serve; serve(int(sys.argv[1]))"


@dataclass(frozen=True)
class Extracted:
    """What a parser found: the text (paragraphs separated by blank lines) and metadata."""

    text: str
    title: str | None = None
    author: str | None = None
    date: str | None = None


class _Collector(logging.Handler):
    """Keeps a worker's log records of level WARNING and up, to send back with the result."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a record that cannot be formatted is not worth a crash
            self.records.append((record.name, record.getMessage()[:500]))


def serve(fd: int) -> None:
    """The worker's loop: receive (function, args, seconds, memory limit), send (status,
    value, log records). Ends when the parent closes its end."""
    conn = Connection(fd)
    collector = _Collector()
    root = logging.getLogger()
    root.handlers[:] = [collector]  # nothing reaches stderr (logging's last resort) from here
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)  # warnings.warn (e.g. pypdf's) becomes a record too
    warnings.simplefilter("default")
    while True:
        try:
            func, args, seconds, max_memory = conn.recv()
        except (EOFError, OSError):
            return
        _limit(seconds, max_memory)
        collector.records = []
        try:
            reply: tuple[str, Any, list] = ("ok", func(*args), collector.records)
        except IngestError as exc:
            reply = ("error", exc, collector.records)
        except MemoryError:
            conn.send(("memory", None, collector.records))
            return  # the heap may be left fragmented and large: start afresh next time
        except Exception as exc:  # a parser bug on odd input: a clean refusal, not a traceback
            reply = ("crash", type(exc).__name__, collector.records)
        conn.send(reply)


def _limit(seconds: float, max_memory: int) -> None:
    """Address space for this job and, should the parent be gone and unable to kill the
    worker, CPU time: the kernel stops a job that runs well past its time."""
    try:
        import resource

        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        soft = max_memory if max_memory > 0 else hard
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        cpu = int(used.ru_utime + used.ru_stime + seconds) + 10
        if cpu_hard == resource.RLIM_INFINITY or cpu <= cpu_hard:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu_hard))
    except (ImportError, ValueError, OSError):  # not on this platform: the parent's kill still holds
        pass


class _Worker:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        # The worker imports this package from wherever the parent does.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_CODE, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
            )
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait(timeout=10)
        self.conn.close()


_lock = threading.Lock()
_idle: list[_Worker] = []


def _checkout() -> _Worker:
    with _lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive():
                return worker
            worker.stop()
    try:
        return _Worker()
    except OSError as exc:
        raise IngestError(f"cannot start a worker to read the file ({exc.strerror or exc})") from exc


def _checkin(worker: _Worker) -> None:
    with _lock:
        if len(_idle) < MAX_IDLE_WORKERS:
            _idle.append(worker)
            return
    worker.stop()


def run_bounded(
    func: Callable[..., Extracted], args: tuple, *, name: str, what: str, seconds: float, max_memory: int
) -> Extracted:
    """``func(*args)`` in a worker process, stopped after ``seconds``. ``func`` must be a
    module-level function (it is sent by reference). ``what`` names the input in messages
    ("PDF", "HTML page"). Raises ``IngestError`` subclasses only."""
    worker = _checkout()
    done = False
    try:
        worker.conn.send((func, args, seconds, max_memory))
        if not worker.conn.poll(seconds):
            raise UnsupportedSource(
                f"{name}: reading the {what} took longer than {seconds:g} seconds, so it was refused "
                "(it may be built to be slow to parse)"
            )
        status, value, records = worker.conn.recv()
        done = status in ("ok", "error", "crash")
    except (EOFError, OSError) as exc:  # the worker died (killed, out of memory, a crash in C code)
        raise UnsupportedSource(f"{name}: the {what} reader stopped unexpectedly; the file was refused") from exc
    finally:
        if done:
            _checkin(worker)
        else:
            worker.stop()
    for logger_name, message in records:
        log.debug("%s (%s): %s", name, logger_name, message)
    if status == "ok":
        return value
    if status == "error":
        raise value
    if status == "memory":
        raise UnsupportedSource(f"{name}: reading the {what} needed too much memory, so it was refused")
    raise UnsupportedSource(f"{name}: not a readable {what} ({value})")
