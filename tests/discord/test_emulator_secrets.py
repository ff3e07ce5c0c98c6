"""The suite-wide secret check (tests/conftest.py) reads what the bot sent to a Discord emulator."""

from __future__ import annotations

from tests.conftest import SecretCollector
from tests.discord.emulator import DiscordEmulator
from tests.doubles import FAKE_TOKEN


async def test_what_the_bot_sent_to_an_emulator_is_checked(secret_collector: SecretCollector):
    leaks_before = list(secret_collector.leaks)
    emu = DiscordEmulator()
    await emu.start()
    await emu.send_message(f"pasted by mistake: {FAKE_TOKEN}")
    with secret_collector.redirect(secret_collector.fork()) as probe:
        await emu.stop()
    assert [where for where, _ in probe.leaks] == ["Discord emulator"]
    assert secret_collector.leaks == leaks_before
