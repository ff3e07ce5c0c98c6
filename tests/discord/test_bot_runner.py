"""``citebot run``'s machinery: serve() against a Discord-compatible server, tokens, intents, logging."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys

import discord
import discord.gateway
import discord.http
import pytest
import yarl

from bot import runner
from bot.app import Citebot
from bot.runner import DISCORD_API_BASE
from bot.tree import CitebotTree
from retrieval.errors import CitebotError
from tests.discord.bot_fixtures import FAKE_TOKEN, assert_clean, bot_settings, sampled_service
from tests.discord.emulator import DiscordEmulator


@pytest.fixture
def discord_defaults():
    """Start from discord.py's real endpoints, so the bot must find the emulator itself."""
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = DISCORD_API_BASE
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL("wss://gateway.discord.gg/")
    yield
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


async def test_serve_finds_the_gateway_of_a_compatible_server_and_syncs_to_one_guild(
    emu: DiscordEmulator, tmp_path, discord_defaults
):
    settings = bot_settings(tmp_path / "data", emu)
    task = asyncio.create_task(runner.serve(settings, FAKE_TOKEN, sync_guild=emu.guild_id))
    try:
        await emu.wait_until(lambda: emu.commands(emu.guild_id), timeout=60)
        assert emu.requests_to("GET", r"^/gateway/bot$")
        assert emu.commands() == []  # nothing global while developing
        assert {c["name"] for c in emu.commands(emu.guild_id)} >= {"ask", "ingest", "Find source"}
        await emu.wait_until(lambda: emu.identify_payload, timeout=30)
        assert emu.intents & (1 << 15)  # message content asked for
        handle = await emu.send_slash_command("help")
        assert (await handle.wait_final(10))["embeds"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert_clean(emu)


async def serve_until_ready(emu: DiscordEmulator, settings, **options) -> asyncio.Task:
    task = asyncio.create_task(runner.serve(settings, FAKE_TOKEN, **options))
    # The commands, if pushed at all, are pushed before the bot identifies on the gateway.
    await emu.wait_until(lambda: emu.identify_payload, timeout=60)
    return task


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_serve_pushes_no_commands_unless_asked(emu: DiscordEmulator, tmp_path, discord_defaults):
    """Discord rate-limits command syncs and takes a while to show global ones: not on every start."""
    task = await serve_until_ready(emu, bot_settings(tmp_path / "data", emu))
    try:
        handle = await emu.send_slash_command("help")  # the commands Discord already has still work
        assert (await handle.wait_final(10))["embeds"]
        assert emu.requests_to("PUT", r"/commands$") == []
        assert emu.commands() == [] and emu.commands(emu.guild_id) == []
    finally:
        await stop(task)
    assert_clean(emu)


async def test_serve_with_sync_global_pushes_the_commands_globally(emu: DiscordEmulator, tmp_path, discord_defaults):
    task = await serve_until_ready(emu, bot_settings(tmp_path / "data", emu), sync_global=True)
    try:
        await emu.wait_until(lambda: emu.commands(), timeout=30)
        assert {c["name"] for c in emu.commands()} >= {"ask", "ingest", "Find source"}
        assert emu.commands(emu.guild_id) == []
    finally:
        await stop(task)
    assert_clean(emu)


async def test_the_bot_leaves_discord_py_globals_alone(emu: DiscordEmulator, tmp_path, discord_defaults):
    """Which API and gateway discord.py talks to is the runner's to set, not the bot's constructor's."""
    bot = Citebot(bot_settings(tmp_path / "data", emu), sampled_service(bot_settings(tmp_path / "data", emu)))
    try:
        assert discord.http.Route.BASE == DISCORD_API_BASE
        assert yarl.URL("wss://gateway.discord.gg/") == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        assert isinstance(bot.tree, CitebotTree)  # errors are the tree's to handle, not a patched attribute
        assert "on_error" not in vars(bot.tree)
    finally:
        await bot.close()


def test_citebot_run_refuses_both_sync_options(tmp_path):
    env = {**os.environ, "DISCORD_TOKEN": FAKE_TOKEN, "CITEBOT_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-m", "citebot", "run", "--sync", "--sync-guild", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: use --sync or --sync-guild, not both"


async def test_a_rejected_token_is_a_clear_error(emu: DiscordEmulator, tmp_path, discord_defaults):
    settings = bot_settings(tmp_path / "data", emu)
    with pytest.raises(CitebotError, match="Discord rejected the token"):
        await runner.serve(settings, "not-the-token")


def test_run_bot_needs_a_token(emu: DiscordEmulator, tmp_path):
    settings = bot_settings(tmp_path / "data", emu, discord_token="  ")
    with pytest.raises(CitebotError, match="DISCORD_TOKEN is not set"):
        runner.run_bot(settings)


async def test_without_the_privileged_intent_the_bot_starts_without_it(
    emu: DiscordEmulator, tmp_path, monkeypatch, caplog
):
    starts: list[bool] = []
    real_start = Citebot.start

    async def start(self, token, *, reconnect=True):
        starts.append(self.intents.message_content)
        if self.intents.message_content:
            raise discord.PrivilegedIntentsRequired(0)
        return await real_start(self, token, reconnect=reconnect)

    monkeypatch.setattr(Citebot, "start", start)
    settings = bot_settings(tmp_path / "data", emu)
    restore = emu.point_discord_py()
    task = asyncio.create_task(runner.serve(settings, FAKE_TOKEN))
    try:
        await emu.wait_until(lambda: emu.identify_payload, timeout=60)
        assert starts == [True, False] and not emu.intents & (1 << 15)
        assert any("MESSAGE CONTENT intent is not enabled" in r.getMessage() for r in caplog.records)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        restore()


def test_setup_logging_redacts_the_token(capfd):
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        runner.setup_logging(FAKE_TOKEN, "INFO")
        logging.getLogger("discord.http").warning("sent Authorization: Bot %s", FAKE_TOKEN)
        try:
            raise ValueError(FAKE_TOKEN)
        except ValueError:
            logging.getLogger("bot").exception("failed with the token in the exception")
        err = capfd.readouterr().err
        assert FAKE_TOKEN not in err and err.count(runner.REDACTED) >= 2
    finally:
        for handler in root.handlers:
            if handler not in before:
                root.removeHandler(handler)


@pytest.mark.slow
async def test_citebot_run_end_to_end(emu: DiscordEmulator, tmp_path):
    """The real command, in its own process, configured only through the environment."""
    env = {
        **os.environ,
        "DISCORD_TOKEN": FAKE_TOKEN,
        "CITEBOT_DISCORD_API_BASE": emu.base_url,
        "CITEBOT_DATA_DIR": str(tmp_path / "data"),
        "CITEBOT_LOG_LEVEL": "DEBUG",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "citebot", "run", "--sync-guild", str(emu.guild_id),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await emu.wait_until(lambda: emu.commands(emu.guild_id) and emu.identify_payload, timeout=120)
        handle = await emu.send_slash_command("help")
        assert (await handle.wait_final(10))["embeds"]
        handle = await emu.send_slash_command("ask", {"question": "anything?"})
        assert "couldn't find" in (await handle.wait_final(30))["embeds"][0]["description"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode(errors="replace")
    synced = re.search(r"synced (\d+) commands to guild", text)
    assert synced and int(synced.group(1)) == len(emu.commands(emu.guild_id)) and "has connected to Gateway" in text
    assert "DEBUG" in text and FAKE_TOKEN not in text
    assert proc.returncode == 0
    assert_clean(emu)
