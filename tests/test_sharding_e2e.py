"""Scale-out, end to end: two ``citebot run`` processes owning different shards and one
``citebot ingest`` process, sharing one real PostgreSQL catalog and one real ``chroma run``
server, against the Discord emulator (which routes each guild's events to its shard only)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.service import sample_path
from tests.chroma_server import chroma_server
from tests.discord.bot_fixtures import FAKE_TOKEN, custom_ids, embed_text
from tests.discord.emulator import DiscordEmulator, InteractionHandle
from tests.postgres_server import PostgresServer, free_port, postgres_server, postgres_url  # noqa: F401

pytestmark = [pytest.mark.server, pytest.mark.postgres, pytest.mark.slow]  # processes: ~35 s

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What did Russia demand from Iran?"
QUOTE = "Iran reportedly rejected Russia"


@pytest.fixture
def chroma_port(tmp_path: Path) -> Iterator[int]:
    with chroma_server(tmp_path / "chroma") as port:
        yield port


class Bot:
    """One ``citebot run --shard-count 2 --shard-ids N`` process."""

    def __init__(self, shard: int, env: dict[str, str], cwd: Path) -> None:
        self.shard, self.env, self.cwd = shard, env, cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.logs: list[str] = []

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "citebot", "run", "--shard-count", "2", "--shard-ids", str(self.shard),
            cwd=self.cwd, env=self.env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(self.proc.communicate(), 30)
        self.logs.append(err.decode(errors="replace"))
        return self.proc.returncode or 0


def live_shards(emu: DiscordEmulator) -> list[tuple[int, int]]:
    return sorted(emu.session_shards())


async def ask(emu: DiscordEmulator, guild: dict, question: str = QUESTION) -> InteractionHandle:
    channel = int(guild["channels"][0]["id"])
    return await emu.send_slash_command("ask", {"question": question}, guild_id=int(guild["id"]), channel_id=channel)


def shards_that_got(emu: DiscordEmulator, handle: InteractionHandle) -> list[tuple[int, int]]:
    return [shard for shard, d in emu.events_by_shard("INTERACTION_CREATE") if int(d["id"]) == handle.id]


async def test_two_shard_processes_share_one_catalog_and_chroma_server(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
    chroma_port: int,
) -> None:
    emu = DiscordEmulator(heartbeat_interval_ms=1000, recommended_shards=2)
    emu.bot_token = FAKE_TOKEN
    guilds = [emu.add_guild(f"guild on shard {i}", shard=(i, 2)) for i in (0, 1)]
    await emu.start()
    shared = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": FAKE_TOKEN,
        "CITEBOT_DISCORD_API_BASE": emu.base_url,
        "CITEBOT_CATALOG_URL": postgres_url,
        "CITEBOT_CHROMA_MODE": "server",
        "CITEBOT_CHROMA_HOST": "127.0.0.1",
        "CITEBOT_CHROMA_PORT": str(chroma_port),
        "CITEBOT_COOLDOWN_SECONDS": "0",
    }
    # Each process its own data dir: everything they share goes through PostgreSQL and Chroma.
    bots = [Bot(i, {**shared, "CITEBOT_DATA_DIR": str(tmp_path / f"bot{i}")}, tmp_path) for i in (0, 1)]
    try:
        for bot in bots:
            await bot.start()
        await emu.wait_until(lambda: live_shards(emu) == [(0, 2), (1, 2)], timeout=180)

        before = await ask(emu, guilds[0])
        assert "couldn't find" in embed_text(await before.wait_final(30))

        # A document ingested by another process is answered at once, without a restart.
        for guild in guilds:
            ingest = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "citebot", "ingest", str(sample_path()), "--namespace", guild["id"],
                cwd=tmp_path, env={**shared, "CITEBOT_DATA_DIR": str(tmp_path / "cli")},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _out, err = await asyncio.wait_for(ingest.communicate(), 180)
            assert ingest.returncode == 0, err.decode()

        answers = {}
        for i, guild in enumerate(guilds):
            handle = await ask(emu, guild)
            answers[i] = await handle.wait_final(30)
            assert QUOTE in embed_text(answers[i])
            assert shards_that_got(emu, handle) == [(i, 2)]  # one process saw it, and it answered
        assert shards_that_got(emu, before) == [(0, 2)]

        # Shard 1's process goes away: its guild is answered by no one (not by shard 0's) ...
        assert await bots[1].stop() == 0
        await emu.wait_until(lambda: live_shards(emu) == [(0, 2)], timeout=10)
        orphan = await ask(emu, guilds[1])
        await asyncio.sleep(emu.ack_deadline + 0.5)
        assert orphan.response is None and shards_that_got(emu, orphan) == []
        still = await ask(emu, guilds[0])
        assert QUOTE in embed_text(await still.wait_final(30))

        # ... and once it is back, a cite button on an answer it gave before still works.
        await bots[1].start()
        await emu.wait_until(lambda: live_shards(emu) == [(0, 2), (1, 2)], timeout=180)
        cite = custom_ids(answers[1], "cb:cite:")[0]
        click = await emu.click_button(int(answers[1]["id"]), cite)
        shown = await click.wait_final(30)
        assert QUOTE in embed_text(shown)
        assert shards_that_got(emu, click) == [(1, 2)]
        assert emu.violations == [] and emu.unknown_routes == []
    finally:
        for bot in bots:
            if bot.proc is not None and bot.proc.returncode is None:
                with contextlib.suppress(Exception):
                    await bot.stop()
        await emu.stop()
    for bot in bots:
        assert all("Traceback" not in log for log in bot.logs), bot.logs
    assert "shards 1 of 2" in bots[1].logs[0] and "has connected to Gateway" in bots[1].logs[0]
