"""The writer lock: one writer at a time across processes and threads.

``WriteLock`` is what the indexer needs of it; ``WriterLock`` is the embedded catalog's
(a file lock on the data dir) and ``PostgresWriterLock`` the PostgreSQL catalog's (a
session-level advisory lock). Both are dropped by their owner's death, never by a timeout.

The file lock: an OS lock (``fcntl.flock``) on ``<data dir>/write.lock``: the kernel releases it when its
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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from retrieval.errors import StoreBusy, StoreError, StoreWriteError

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)


class WriteLock(Protocol):
    """Re-entrant within a thread; other threads and processes wait. "Free" must mean "no
    live writer": the journal protocol (``indexing.py``) recovers only under the lock."""

    def hold(self, wait: float | None = None) -> AbstractContextManager[None]:
        """Hold it for a block, waiting up to ``wait`` s (default: the lock's own); ``StoreBusy`` after."""
        ...

    def acquire(self, wait: float) -> bool:
        """True once held; False when another writer still holds it after ``wait`` seconds."""
        ...

    def release(self) -> None: ...


class _PolledLock:
    """The part both writer locks share: re-entrant per thread, and a bounded wait that polls
    a non-blocking take with backoff (never a blocking call that cannot be given up)."""

    def __init__(self, wait_seconds: float) -> None:
        self.wait_seconds = wait_seconds
        self._thread_lock = threading.RLock()
        self._depth = 0

    @contextmanager
    def hold(self, wait: float | None = None) -> Iterator[None]:
        """Hold the lock, waiting up to ``wait`` seconds (default ``wait_seconds``) for
        another writer; raise ``StoreBusy`` with who holds it when the wait runs out."""
        wait = self.wait_seconds if wait is None else wait
        if not self.acquire(wait):
            raise StoreBusy(f"{self._holder_message()} and still was after {wait:g} s; try again when it has finished")
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
                delay = 0.005
                while not self._take():
                    if delay == 0.005 and wait > 0:
                        log.warning("%s; waiting up to %g s", self._holder_message(), wait)
                    if time.monotonic() >= deadline:
                        self._give_up()
                        self._thread_lock.release()
                        return False
                    time.sleep(delay)
                    delay = min(0.1, delay * 2)
            self._depth += 1
            return True
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._drop()
        self._thread_lock.release()

    # What each lock does (called holding the thread lock, never re-entered):
    def _take(self) -> bool:
        """One non-blocking attempt; True when held."""
        raise NotImplementedError

    def _give_up(self) -> None:
        """The wait ran out: free what the attempts opened."""

    def _drop(self) -> None:
        """Release what ``_take`` took."""
        raise NotImplementedError

    def _holder_message(self) -> str:
        raise NotImplementedError


class WriterLock(_PolledLock):
    """Re-entrant within a thread; other threads of this process and other processes wait."""

    def __init__(self, path: Path, wait_seconds: float = 120.0) -> None:
        super().__init__(wait_seconds)
        self.path = path
        self._fd: int | None = None  # the lock file, open while held (and while waiting)

    def _take(self) -> bool:
        if self._fd is None:
            self._fd = self._open()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        # Who holds it, for the "busy" message of a waiting writer (informational:
        # a full disk may refuse it, and the write that follows will say so).
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, str(os.getpid()).encode(), 0)
        return True

    def _give_up(self) -> None:
        self._drop()

    def _drop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

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


class PostgresWriterLock(_PolledLock):
    """A session-level advisory lock (``pg_advisory_lock``) on its own connection: the
    server drops it when that connection ends, so a killed writer frees it at once and "free"
    means "no live writer", as with the file lock. Waits poll ``pg_try_advisory_lock`` (a
    bounded wait, never a statement the server may cancel half-way). Re-entrant per thread.
    ``backend_pid()`` is the holding session while held here (the catalog's write fence)."""

    def __init__(
        self, connect: Callable[[], psycopg.Connection], key: tuple[int, int], where: str, wait_seconds: float = 120.0
    ) -> None:
        super().__init__(wait_seconds)
        self._connect = connect
        self.key = key
        self.where = where
        self._conn: psycopg.Connection | None = None
        self._pid: int | None = None

    def _take(self) -> bool:
        if not self._try_lock():
            return False
        assert self._conn is not None
        self._pid = self._conn.info.backend_pid
        return True

    def _drop(self) -> None:
        import psycopg

        self._pid = None
        if self._conn is not None:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", self.key)
            except psycopg.Error:
                self._close()  # a dead session holds nothing: the server dropped its lock

    def _try_lock(self) -> bool:
        """One ``pg_try_advisory_lock``; a session that died while idle (a restarted server)
        is replaced once. ``StoreWriteError`` when the server cannot be reached."""
        import psycopg

        for attempt in range(2):
            reused = self._conn is not None and not self._conn.closed
            try:
                row = self._session().execute("SELECT pg_try_advisory_lock(%s, %s)", self.key).fetchone()
                return bool(row and row[0])
            except (psycopg.Error, StoreError) as exc:
                self._close()
                if attempt == 0 and reused and isinstance(exc, psycopg.Error):
                    continue
                reason = _first_line(exc) if isinstance(exc, psycopg.Error) else str(exc)
                raise StoreWriteError(f"cannot take the writer lock: {reason}") from exc
        return False

    def backend_pid(self) -> int | None:
        """The server session holding the lock for this process, or None when not held."""
        return self._pid

    def close(self) -> None:
        with self._thread_lock:
            self._close()

    def _session(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._close()
            self._conn = self._connect()
        return self._conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _holder_message(self) -> str:
        """Who holds it (the holder's application_name says its pid and host)."""
        who = "another process"
        try:
            row = (
                self._session()
                .execute(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype='advisory' AND l.classid=%s AND l.objid=%s AND l.objsubid=2 AND l.granted",
                    self.key,
                )
                .fetchone()
            )
            if row and row[0]:
                who = row[0].removeprefix("citebot ")
        except Exception:  # informational only
            pass
        return f"{who} is writing to the PostgreSQL catalog at {self.where}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0].strip() if text else type(exc).__name__)[:300]
