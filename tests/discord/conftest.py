"""Fixtures for the Discord emulator (see ``tests/discord/emulator.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

# The bot fixtures, registered here once for every test module of this folder.
from tests.discord.bot_fixtures import emu, harness, real_service  # noqa: F401
from tests.discord.emulator import DiscordEmulator, point_discord_py_at


@pytest.fixture
async def emulator_factory() -> AsyncIterator[Callable[..., Awaitable[DiscordEmulator]]]:
    """``await emulator_factory(**kwargs)`` -> a started emulator that discord.py points at.

    Everything created is stopped, and discord.py's endpoints restored, at teardown.
    """
    started: list[tuple[DiscordEmulator, Callable[[], None]]] = []

    async def make(**kwargs: Any) -> DiscordEmulator:
        emulator = DiscordEmulator(**kwargs)
        await emulator.start()
        started.append((emulator, point_discord_py_at(emulator.base_url, emulator.gateway_url)))
        return emulator

    yield make
    for emulator, restore in reversed(started):
        restore()
        await emulator.stop()


@pytest.fixture
async def emulator(emulator_factory: Callable[..., Awaitable[DiscordEmulator]]) -> DiscordEmulator:
    """A started emulator with default settings; discord.py is pointed at it for the test."""
    return await emulator_factory()
