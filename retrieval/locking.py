"""The data dir's writer lock: one writer at a time across processes and threads.

An OS lock (``fcntl.flock``) on ``<data dir>/write.lock``: the kernel releases it when its
holder exits or is killed, so "the lock is free" means "no live writer". The journal
protocol relies on that: every journal row is written and removed by a writer holding
this lock, so a row seen by someone who holds the lock belongs to a dead (or finished)
writer and may be recovered; a row seen while someone else holds it is a live ingest.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retrieval.errors import StoreBusy, StoreWriteError

log = logging.getLogger(__name__)


class WriterLock:
    """Re-entrant within a thread; other threads of this process and other processes wait."""

    def __init__(self, path: Path, wait_seconds: float = 120.0) -> None:
        self.path = path
        self.wait_seconds = wait_seconds
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def hold(self, wait: float | None = None) -> Iterator[None]:
        """Hold the lock, waiting up to ``wait`` seconds (default ``wait_seconds``) for
        another writer; raise ``StoreBusy`` with who holds it when the wait runs out."""
        if not self.acquire(self.wait_seconds if wait is None else wait):
            raise StoreBusy(self._busy_message(self.wait_seconds if wait is None else wait))
        try:
            yield
        finally:
            self.release()

    def acquire(self, wait: float) -> bool:
        """True once held; False when another writer still holds it after ``wait`` seconds."""
        deadline = time.monotonic() + max(0.0, wait)
        if not self._thread_lock.acquire(timeout=max(0.0, wait)):
            return False
        try:
            if self._depth == 0:
                fd = self._open()
                delay = 0.005
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if delay == 0.005 and wait > 0:
                            log.warning("%s; waiting up to %g s", self._holder_message(), wait)
                        if time.monotonic() >= deadline:
                            os.close(fd)
                            self._thread_lock.release()
                            return False
                        time.sleep(delay)
                        delay = min(0.1, delay * 2)
                self._fd = fd
                # Who holds it, for the "busy" message of a waiting writer (informational:
                # a full disk may refuse it, and the write that follows will say so).
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, str(os.getpid()).encode(), 0)
            self._depth += 1
            return True
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor releases the flock
        self._thread_lock.release()

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno == errno.EROFS:
                raise StoreWriteError(f"the data dir {self.path.parent} is read-only") from exc
            raise StoreWriteError(f"cannot create the lock file {self.path}: {exc.strerror}") from exc

    def _holder_message(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        who = f"process {pid}" if pid.isdigit() else "another process"
        return f"{who} is writing to the data dir {self.path.parent}"

    def _busy_message(self, wait: float) -> str:
        return f"{self._holder_message()} and still was after {wait:g} s; try again when it has finished"
