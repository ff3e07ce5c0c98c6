"""Fixtures for the Discord emulator (see ``tests/discord/emulator.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.discord.emulator import DiscordEmulator, point_discord_py_at


@pytest.fixture
async def emulator_factory() -> AsyncIterator[Callable[..., Awaitable[DiscordEmulator]]]:
    """``await emulator_factory(**kwargs)`` -> a started emulator that discord.py points at.

    Everything created is stopped, and discord.py's endpoints restored, at teardown.
    """
    started: list[tuple[DiscordEmulator, Callable[[], None]]] = []

    async def make(**kwargs: Any) -> DiscordEmulator:
        emu = DiscordEmulator(**kwargs)
        await emu.start()
        started.append((emu, point_discord_py_at(emu.base_url, emu.gateway_url)))
        return emu

    yield make
    for emu, restore in reversed(started):
        restore()
        await emu.stop()


@pytest.fixture
async def emulator(emulator_factory: Callable[..., Awaitable[DiscordEmulator]]) -> DiscordEmulator:
    """A started emulator with default settings; discord.py is pointed at it for the test."""
    return await emulator_factory()
