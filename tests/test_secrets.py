"""The suite-wide secret check of ``tests/conftest.py`` really sees a leaked token.

The session runs with ``FAKE_TOKEN`` in ``DISCORD_TOKEN``; the ``secret_collector`` session
fixture fails the run if the token shows up in a log line, a subprocess's output, anything
sent to a Discord emulator, or a test report. These tests leak the token on purpose into a
*fork* of the collector (or with its checks redirected to one), so the session's own check
stays clean, and finally run a tiny pytest session that leaks it for real and must fail.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

import tests.conftest as suite
from bot.runner import REDACTED
from config import load_settings
from tests.conftest import SECRET_MASK, SecretCollector
from tests.doubles import FAKE_TOKEN

ROOT = Path(__file__).resolve().parent.parent
SIGNATURE = FAKE_TOKEN.rsplit(".", 1)[-1]


def test_the_session_runs_with_the_fake_token_and_records_every_level(secret_collector: SecretCollector, tmp_path):
    assert load_settings(data_dir=tmp_path).discord_token.get_secret_value() == FAKE_TOKEN
    root = logging.getLogger()
    assert secret_collector in root.handlers and root.level == logging.DEBUG
    seen = secret_collector.lines
    logging.getLogger("some.library.deep.down").debug("a debug line from a library")
    assert secret_collector.lines == seen + 1


def test_the_collector_sees_the_token_in_any_logger_level_and_traceback(secret_collector: SecretCollector):
    probe = secret_collector.fork()
    logger = logging.getLogger("tests.secret-probe")
    logger.propagate = False  # the session's collector (on the root) never hears of these
    logger.setLevel(logging.DEBUG)
    logger.addHandler(probe)
    # Earlier tests install the bot's redaction as a log record factory, which would hide the
    # token before any handler sees it; records made here are the plain, unredacted kind.
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    leaks_before = list(secret_collector.leaks)
    try:
        logger.debug("identifying with %s", FAKE_TOKEN)
        logging.getLogger("tests.secret-probe.child").warning("signature %s", SIGNATURE)
        try:
            raise RuntimeError(f"the gateway rejected {FAKE_TOKEN}")
        except RuntimeError:
            logger.exception("login failed")  # the token is only in the traceback
        logger.info("connected with %s", REDACTED)  # a redacted line is no leak
    finally:
        logging.setLogRecordFactory(factory)
        logger.removeHandler(probe)
        logger.propagate = True
    assert probe.lines == 4
    probe_log, child_log = "log tests.secret-probe", "log tests.secret-probe.child"
    assert [where for where, _ in probe.leaks] == [probe_log, child_log, probe_log]
    assert "RuntimeError: the gateway rejected " + SECRET_MASK in probe.leaks[2][1]
    assert all(FAKE_TOKEN not in text and SIGNATURE not in text for _, text in probe.leaks)
    assert "appeared 3 time(s)" in probe.report() and FAKE_TOKEN not in probe.report()
    assert secret_collector.leaks == leaks_before


async def test_subprocess_output_is_checked(secret_collector: SecretCollector):
    leaks_before = list(secret_collector.leaks)
    script = "import os, sys; token = os.environ['DISCORD_TOKEN']; print(token); print('x' + token, file=sys.stderr)"
    with secret_collector.redirect(secret_collector.fork()) as probe:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        await proc.communicate()
    assert FAKE_TOKEN in done.stdout  # subprocesses inherit the fake token
    assert len(probe.leaks) == 4 and all(where.startswith("subprocess") for where, _ in probe.leaks)
    assert secret_collector.leaks == leaks_before


def test_test_reports_are_checked(secret_collector: SecretCollector):
    leaks_before = list(secret_collector.leaks)
    report = SimpleNamespace(
        nodeid="tests/test_x.py::test_y",
        when="call",
        longreprtext=f"AssertionError: {FAKE_TOKEN}",
        sections=[("Captured stderr call", f"Authorization: Bot {FAKE_TOKEN}"), ("Captured log call", "fine")],
    )
    with secret_collector.redirect(secret_collector.fork()) as probe:
        suite.pytest_runtest_logreport(report)  # type: ignore[arg-type]
    assert [where for where, _ in probe.leaks] == [
        "report of tests/test_x.py::test_y (call)",
        "Captured stderr call of tests/test_x.py::test_y",
    ]
    assert secret_collector.leaks == leaks_before


@pytest.mark.slow
def test_a_session_that_leaks_the_token_fails(secret_collector: SecretCollector, tmp_path):
    """End to end: a pytest session with this conftest whose only test logs the token fails."""
    (tmp_path / "test_leak.py").write_text(
        textwrap.dedent(
            """
            import logging, os

            def test_a_library_logs_the_token():
                logging.getLogger("some.library").debug("headers: Bot %s", os.environ["DISCORD_TOKEN"])
            """
        )
    )
    command = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q", str(tmp_path)]
    with secret_collector.redirect(secret_collector.fork()):  # its output quotes what it logged
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    output = secret_collector.mask(done.stdout + done.stderr)
    assert done.returncode == 1, output
    assert "ERROR at teardown of test_a_library_logs_the_token" in output and "1 error" in output
    assert "the fake Discord token appeared 2 time(s)" in output  # the log line, and the test's captured log
    assert "log some.library: " in output and f"DEBUG some.library MainThread headers: Bot {SECRET_MASK}" in output
