"""Shared fixtures: settings on a temporary data dir, a fast service (hashing embedder)
and a real one (the bundled all-MiniLM-L6-v2 model, loaded once per session), and the
suite-wide secret check. What only the Discord tests need is in tests/discord/conftest.py."""

from __future__ import annotations

import asyncio.subprocess
import contextlib
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import Settings, load_settings
from retrieval.embedding import Embedder, load_embedder
from retrieval.service import CitebotService
from tests.doubles import FAKE_TOKEN, HashingEmbedder

pytest_plugins = ["tests.store_configs"]  # the embedded and server store configurations

# Never let a test reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def make_settings(tmp_path: Path, store_config: dict):
    """Settings on this test's data dir, in its store configuration (tests/store_configs.py)."""

    def make(**overrides) -> Settings:
        overrides.setdefault("data_dir", tmp_path / "data")
        return load_settings(**{**store_config, **overrides})

    return make


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


@pytest.fixture
def fast_service(settings: Settings) -> CitebotService:
    """Real Chroma and catalog, deterministic hashing embedder (no model)."""
    return CitebotService.from_settings(settings, embedder=HashingEmbedder())


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    return load_embedder("all-MiniLM-L6-v2")


@pytest.fixture
def fresh_real_service(settings: Settings, real_embedder) -> CitebotService:
    """A service with the real embedding model on this test's own data dir (tests/discord's
    ``real_service`` is one shared by the session)."""
    return CitebotService.from_settings(settings, embedder=real_embedder)


# -- the suite-wide secret check ------------------------------------------------------------
# The whole session runs with a recognisable fake Discord token in DISCORD_TOKEN. Every log
# line (every logger, every level, tracebacks included), the output of every subprocess a
# test reads with communicate() (``citebot run``, the CLI, crash workers), everything the bot
# sent to any Discord emulator (tests/discord/conftest.py), and every test report (captured
# stdout/stderr/log, failure tracebacks) is checked for it; a sighting fails the session.
# tests/test_secrets.py and tests/discord/test_emulator_secrets.py prove that the check sees a leak.
SECRET_MASK = "<FAKE DISCORD TOKEN>"


class SecretCollector(logging.Handler):
    """A root log handler that formats every record and remembers each line holding a secret.

    ``check(source, text)`` does the same for any other text (subprocess output, messages,
    reports). It ignores the filters and formatters other code adds to root handlers (the
    bot's redaction wraps every root handler): it judges what the records themselves hold.
    ``fork()`` makes a fresh, unattached collector with the same secrets, for testing the
    check without touching the session's; ``redirect(other)`` sends this one's ``check``
    calls to ``other`` for a while.
    """

    FORMAT = "%(asctime)s %(levelname)s %(name)s %(threadName)s %(message)s"

    def __init__(self, *secrets: str) -> None:
        super().__init__(logging.NOTSET)
        self.secrets = tuple(s for s in secrets if s)
        self.line_formatter = logging.Formatter(self.FORMAT)
        self.lines = 0  # log lines seen
        self.texts = 0  # other texts seen
        self.leaks: list[tuple[str, str]] = []  # (where, the line or text, secrets masked)
        self.reported = 0  # leaks already reported as a failure
        self._leak_lock = threading.Lock()
        self._redirect: SecretCollector | None = None

    def fork(self) -> SecretCollector:
        return SecretCollector(*self.secrets)

    @contextlib.contextmanager
    def redirect(self, other: SecretCollector) -> Iterator[SecretCollector]:
        previous, self._redirect = self._redirect, other
        try:
            yield other
        finally:
            self._redirect = previous

    def mask(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, SECRET_MASK)
        return text

    def _note(self, where: str, text: str) -> None:
        if any(secret in text for secret in self.secrets):
            with self._leak_lock:
                self.leaks.append((where, self.mask(text)))

    # -- log records ----------------------------------------------------------------------
    def handle(self, record: logging.LogRecord) -> bool:
        self.emit(record)  # no filters: redaction added to root handlers must not hide a leak
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.line_formatter.format(record)
        except Exception:  # a broken format string: judge its raw parts instead
            line = f"{record.name} {record.levelname} {record.msg!r} {record.args!r} {record.exc_text or ''}"
        with self._leak_lock:
            self.lines += 1
        self._note(f"log {record.name}", line)

    # -- any other text -------------------------------------------------------------------
    def check(self, where: str, *texts: str | bytes | None) -> None:
        target = self._redirect or self
        for text in texts:
            if text is None:
                continue
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
            with target._leak_lock:
                target.texts += 1
            target._note(where, text)

    def report(self) -> str:
        shown = [f"{where}: {text[:2000]}" for where, text in self.leaks[:20]]
        return (
            f"the fake Discord token appeared {len(self.leaks)} time(s) "
            f"(in {self.lines} log lines and {self.texts} other texts checked):\n" + "\n".join(shown)
        )


SECRETS = SecretCollector(FAKE_TOKEN, FAKE_TOKEN.rsplit(".", 1)[-1])  # the token, and its signature alone


@pytest.fixture(scope="session", autouse=True)
def secret_collector() -> Iterator[SecretCollector]:
    """Run the session with the fake token set; fail it if the token shows up anywhere."""
    collector = SECRETS
    root = logging.getLogger()
    level = root.level
    patch = pytest.MonkeyPatch()
    patch.setenv("DISCORD_TOKEN", FAKE_TOKEN)

    popen_communicate = subprocess.Popen.communicate

    def communicate(self, *args, **kwargs):
        out, err = popen_communicate(self, *args, **kwargs)
        collector.check(f"subprocess {self.args!r}", out, err)
        return out, err

    aio_communicate = asyncio.subprocess.Process.communicate

    async def aio_communicate_checked(self, *args, **kwargs):
        out, err = await aio_communicate(self, *args, **kwargs)
        collector.check(f"subprocess {self.pid}", out, err)
        return out, err

    patch.setattr(subprocess.Popen, "communicate", communicate)
    patch.setattr(asyncio.subprocess.Process, "communicate", aio_communicate_checked)
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
        root.setLevel(level)
        patch.undo()
    if collector.leaks:
        collector.reported = len(collector.leaks)
        pytest.fail(collector.report(), pytrace=False)


@pytest.fixture(autouse=True)
def _log_every_level(secret_collector: SecretCollector) -> None:
    """Tests that configure logging (``setup_logging``) leave the root at INFO: back to DEBUG."""
    root = logging.getLogger()
    if root.level != logging.DEBUG:
        root.setLevel(logging.DEBUG)
    if secret_collector not in root.handlers:
        root.addHandler(secret_collector)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Failure tracebacks and each test's captured stdout, stderr and log."""
    SECRETS.check(f"report of {report.nodeid} ({report.when})", report.longreprtext)
    for name, content in report.sections:
        SECRETS.check(f"{name} of {report.nodeid}", content)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Leaks seen after the session fixture's check (the last test's teardown report) fail too."""
    if len(SECRETS.leaks) > SECRETS.reported:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("\n" + SECRETS.report(), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
