"""``citebot run``'s shard options: what a process owns, and one-line refusals (exit 2)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import runner
from bot.runner import shard_options
from bot.shards import ShardOptionError, ShardPlan, plan_shards, shard_of
from tests.discord.bot_fixtures import FAKE_TOKEN, bot_settings
from tests.discord.emulator import DiscordEmulator


@pytest.mark.parametrize(
    ("count", "ids", "plan"),
    [
        (None, None, ShardPlan()),  # automatic: Discord's recommended count, all here
        (4, None, ShardPlan(count=4)),  # every shard of 4 in this process
        (4, "2,3", ShardPlan(count=4, ids=(2, 3))),
        (8, "4-6, 0", ShardPlan(count=8, ids=(0, 4, 5, 6))),
        (1, "0", ShardPlan(count=1, ids=(0,))),
    ],
)
def test_valid_shard_options(count: int | None, ids: str | None, plan: ShardPlan) -> None:
    assert plan_shards(count, ids) == plan


def test_discord_py_gets_exactly_the_options_given() -> None:
    assert shard_options(ShardPlan()) == {}
    assert shard_options(ShardPlan(count=4)) == {"shard_count": 4}
    assert shard_options(ShardPlan(count=4, ids=(1, 3))) == {"shard_count": 4, "shard_ids": [1, 3]}


@pytest.mark.parametrize(
    ("count", "ids", "message"),
    [
        (None, "0", "--shard-ids needs --shard-count (the same total in every process)"),
        (2, "2", "--shard-ids: shard 2 is not below --shard-count 2"),
        (2, "0-999999999", "--shard-ids: shard 999999999 is not below --shard-count 2"),
        (4, "1,1", "--shard-ids: shard 1 is listed twice"),
        (4, "0-2,2", "--shard-ids: shard 2 is listed twice"),
        (4, "3-1", "--shard-ids: the range '3-1' runs backwards"),
        (4, "a", "--shard-ids: 'a' is not a shard id or a range such as 0-3"),
        (4, "", "--shard-ids: '' is not a shard id or a range such as 0-3"),
        (4, "-1", "--shard-ids: '-1' is not a shard id or a range such as 0-3"),
        (0, None, "--shard-count must be between 1 and 4096 (got 0)"),
        (5000, None, "--shard-count must be between 1 and 4096 (got 5000)"),
    ],
)
def test_invalid_shard_options(count: int | None, ids: str | None, message: str) -> None:
    with pytest.raises(ShardOptionError) as caught:
        plan_shards(count, ids)
    assert str(caught.value) == message


def test_shard_of_is_discords_formula() -> None:
    assert shard_of(175928847299117063, 1) == 0
    assert shard_of(175928847299117063, 2) == (175928847299117063 >> 22) % 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard-ids", "0"], "error: --shard-ids needs --shard-count (the same total in every process)"),
        (["--shard-count", "2", "--shard-ids", "0,2"], "error: --shard-ids: shard 2 is not below --shard-count 2"),
        (["--shard-count", "-3"], "error: --shard-count must be between 1 and 4096 (got -3)"),
    ],
)
def test_citebot_run_refuses_bad_shard_options_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    # The token is set and the API unreachable: only the options can stop it, before any connection.
    env = {**os.environ, "DISCORD_TOKEN": "x", "CITEBOT_DATA_DIR": str(tmp_path / "data"),
           "CITEBOT_DISCORD_API_BASE": "http://127.0.0.1:9/api/v10"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "citebot", "run", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == message
    assert not (tmp_path / "data").exists()  # refused before anything was opened


async def test_without_shard_options_one_process_runs_every_recommended_shard(tmp_path: Path) -> None:
    """The default: discord.py asks GET /gateway/bot for the count and opens a session per shard."""
    emu = DiscordEmulator(heartbeat_interval_ms=1000, recommended_shards=2)
    emu.bot_token = FAKE_TOKEN
    guilds = [emu.add_guild(f"g{i}", shard=(i, 2)) for i in (0, 1)]
    await emu.start()
    restore = emu.point_discord_py()
    task = asyncio.create_task(runner.serve(bot_settings(tmp_path / "data", emu), FAKE_TOKEN))
    try:
        await emu.wait_until(lambda: sorted(emu.session_shards()) == [(0, 2), (1, 2)], timeout=90)
        for guild in guilds:
            handle = await emu.send_slash_command("help", guild_id=int(guild["id"]))
            assert (await handle.wait_final(10))["embeds"]
            assert [s for s, d in emu.events_by_shard("INTERACTION_CREATE") if int(d["id"]) == handle.id] == [
                (guilds.index(guild), 2)
            ]
        assert emu.violations == [] and emu.unknown_routes == []
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        restore()
        await emu.stop()
