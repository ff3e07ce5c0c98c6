"""Fixtures for the Discord emulator (see ``tests/discord/emulator.py``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

import pytest

from tests.conftest import SecretCollector

# The bot fixtures, registered here once for every test module of this folder.
from tests.discord.bot_fixtures import emu, harness, real_service  # noqa: F401
from tests.discord.emulator import DiscordEmulator, point_discord_py_at


def _emulator_texts(server: DiscordEmulator) -> Iterable[str]:
    """Everything the bot sent an emulator (payloads, REST bodies) and every message it holds."""
    yield json.dumps([o.payload for o in server.outgoing()], default=str)
    yield json.dumps([r.json for r in server.requests], default=str)
    yield json.dumps(list(server.iter_messages()), default=str)


@pytest.fixture(scope="session", autouse=True)
def _emulators_are_checked_for_secrets(secret_collector: SecretCollector) -> Iterator[None]:
    """The suite-wide secret check (tests/conftest.py) also reads what every emulator was sent, at its stop."""
    emulator_stop = DiscordEmulator.stop

    async def stop(self: DiscordEmulator) -> None:
        secret_collector.check("Discord emulator", *_emulator_texts(self))
        await emulator_stop(self)

    patch = pytest.MonkeyPatch()
    patch.setattr(DiscordEmulator, "stop", stop)
    try:
        yield
    finally:
        patch.undo()


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
