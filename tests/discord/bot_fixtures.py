"""Fixtures for the bot's end-to-end tests: the real bot, connected to the Discord emulator.

Import what a test module needs (``from tests.discord.bot_fixtures import harness, ...``).
``harness`` runs a fresh emulator and the bot over a fast service (hashing embedder) with
the sample article ingested in the emulator's guild; ``real_service`` is one service with
the real embedding model, shared by the whole session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.app import Citebot
from config import Settings, load_settings
from retrieval.service import CitebotService, sample_path
from tests.discord.emulator import MANAGE_GUILD, DiscordEmulator, InteractionHandle, Outgoing
from tests.doubles import FAKE_TOKEN, HashingEmbedder

SAMPLE_QUESTION = "What did Russia demand from Iran?"
NO_PERMISSIONS = 1 << 10 | 1 << 11 | 1 << 31  # view, send, use application commands
MANAGER_PERMISSIONS = NO_PERMISSIONS | MANAGE_GUILD


def bot_settings(data_dir: Path, emu: DiscordEmulator, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "discord_api_base": emu.base_url,
        "discord_token": emu.bot_token,
        "cooldown_seconds": 0.0,
        "dm_namespace": "dm-test",
    }
    values.update(overrides)
    return load_settings(**values)


@contextlib.asynccontextmanager
async def running_bot(
    emu: DiscordEmulator, settings: Settings, service: CitebotService, **bot_options: Any
) -> AsyncIterator[Citebot]:
    """The real bot connected to ``emu``; closed (and discord.py pointed back) on exit."""
    restore = emu.point_discord_py()
    bot_options.setdefault("guild_ready_timeout", 0.05)
    bot_options.setdefault("progress_interval", 0.2)
    bot_options.setdefault("sync_global", True)  # the tests read the registered commands from the emulator
    bot = Citebot(settings, service, **bot_options)
    task = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
    try:
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait({ready, task}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if task in done:
                task.result()  # raises what stopped the bot
            raise TimeoutError("the bot did not become ready")
        yield bot
    finally:
        await bot.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        restore()


@dataclass
class Harness:
    emu: DiscordEmulator
    bot: Citebot
    service: CitebotService
    settings: Settings
    handles: list[InteractionHandle] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return str(self.emu.guild_id)

    async def slash(self, name: str, options: dict[str, Any] | None = None, **kwargs: Any) -> InteractionHandle:
        handle = await self.emu.send_slash_command(name, options or {}, **kwargs)
        self.handles.append(handle)
        return handle

    async def run(self, name: str, options: dict[str, Any] | None = None, timeout: float = 10, **kwargs: Any):
        """Run a slash command; (handle, what the user finally sees)."""
        handle = await self.slash(name, options, **kwargs)
        return handle, await handle.wait_final(timeout)

    async def click(self, message: dict, custom_id: str, timeout: float = 10, **kwargs: Any):
        handle = await self.emu.click_button(int(message["id"]), custom_id, **kwargs)
        self.handles.append(handle)
        return handle, await handle.wait_final(timeout)

    async def menu(self, name: str, target: dict, timeout: float = 10, **kwargs: Any):
        handle = await self.emu.send_message_command(name, int(target["id"]), **kwargs)
        self.handles.append(handle)
        return handle, await handle.wait_final(timeout)

    def assert_clean(self) -> None:
        assert_clean(self.emu)


def assert_clean(emu: DiscordEmulator) -> None:
    """No invalid payloads, unknown routes, late acknowledgements, or payloads that could mention anyone."""
    assert emu.violations == []
    assert emu.unknown_routes == []
    assert emu.unsafe_mentions() == []
    for out in emu.outgoing():
        assert_no_mentions(out)
    for handle in emu.interactions.values():
        assert handle.response is not None, handle  # every interaction was acknowledged
        assert handle.ack_latency < 3.0, handle


def assert_no_mentions(out: Outgoing) -> None:
    """Every payload that carries a message says, explicitly, that it may mention no one."""
    if out.kind == "interaction_response" and out.payload.get("type") in (5, 6, 8, 9):
        return  # deferrals and autocomplete carry no message
    mentions = out.allowed_mentions
    assert mentions is not None, out
    assert mentions.get("parse") == [], out
    assert not mentions.get("users") and not mentions.get("roles") and not mentions.get("replied_user"), out


def sampled_service(settings: Settings, *sample_namespaces: str) -> CitebotService:
    """A service with the hashing embedder; the sample article ingested in each namespace given."""
    service = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    for namespace in sample_namespaces:
        service.ingest([sample_path()], namespace)
    return service


def components_of(message: dict) -> list[dict]:
    return [c for row in message.get("components") or [] for c in row.get("components") or []]


def custom_ids(message: dict, prefix: str = "") -> list[str]:
    return [c["custom_id"] for c in components_of(message) if c.get("custom_id", "").startswith(prefix)]


def embed_text(message: dict) -> str:
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields") or []]
        parts.append((embed.get("footer") or {}).get("text") or "")
        parts.append((embed.get("author") or {}).get("name") or "")
    return "\n".join(parts)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    """A started emulator with a recognisable fake bot token (not yet pointed at: see ``running_bot``)."""
    emu = DiscordEmulator(heartbeat_interval_ms=1000)
    emu.bot_token = FAKE_TOKEN
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def harness(emu: DiscordEmulator, tmp_path: Path) -> AsyncIterator[Harness]:
    settings = bot_settings(tmp_path / "data", emu)
    service = sampled_service(settings, str(emu.guild_id))
    async with running_bot(emu, settings, service) as bot:
        h = Harness(emu, bot, service, settings)
        yield h
    h.assert_clean()


@pytest.fixture(scope="session")
def real_service(tmp_path_factory: pytest.TempPathFactory) -> CitebotService:
    """One service with the real embedding model for the session (loading takes seconds)."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("real-bot-data"))
    service = CitebotService.from_settings(settings)
    _ = service.searcher  # load the model once, here
    return service
