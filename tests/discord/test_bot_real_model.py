"""End to end with the real embedding model: correct answers, and 50 users asking at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from retrieval.service import CitebotService, sample_path
from tests.discord.bot_fixtures import SAMPLE_QUESTION, Harness, bot_settings, custom_ids, running_bot
from tests.discord.emulator import DiscordEmulator


async def test_real_model_answers_and_cites_correctly(emu: DiscordEmulator, real_service: CitebotService, tmp_path):
    real_service.ingest([sample_path()], str(emu.guild_id))
    settings = bot_settings(tmp_path / "unused", emu)
    async with running_bot(emu, settings, real_service) as bot:
        h = Harness(emu, bot, real_service, settings)
        _, answer = await h.run("ask", {"question": "Will Iran withdraw its troops from Syria?"})
        embed = answer["embeds"][0]
        assert "as long as necessary" in embed["description"] or "remain in Syria" in embed["description"]
        _, opened = await h.click(answer, custom_ids(answer, "cb:cite:")[0])
        assert "**" in opened["embeds"][0]["description"]
        _, abstained = await h.run("ask", {"question": "What is the recipe for sourdough bread?"})
        assert "couldn't find" in abstained["embeds"][0]["description"]
        asked = await emu.send_message(f"<@{emu.bot_user['id']}> Who is Bahram Ghasemi?")
        reply = await emu.wait_for_bot_message(
            predicate=lambda m: (m.get("message_reference") or {}).get("message_id") == asked["id"], timeout=15
        )
        assert "spokesman" in reply["embeds"][0]["description"]
        h.assert_clean()


@pytest.mark.slow
async def test_fifty_concurrent_asks_are_all_acknowledged_in_time_and_answered(
    emu: DiscordEmulator, real_service: CitebotService, tmp_path
):
    real_service.ingest([sample_path()], str(emu.guild_id))
    settings = bot_settings(tmp_path / "unused", emu, cooldown_seconds=5.0, cooldown_rate=3)
    users = [emu.add_user(f"user{i}") for i in range(50)]
    questions = [
        SAMPLE_QUESTION,
        "Will Iran withdraw from Syria?",
        "Who is Bahram Ghasemi?",
        "What did the Treasury do?",
    ]
    async with running_bot(emu, settings, real_service) as bot:
        started = time.monotonic()
        handles = await asyncio.gather(
            *(
                emu.send_slash_command("ask", {"question": questions[i % len(questions)]}, user=user)
                for i, user in enumerate(users)
            )
        )
        finals = await asyncio.gather(*(handle.wait_final(60) for handle in handles))
        elapsed = time.monotonic() - started
        assert all(handle.response_type == 5 for handle in handles)
        latencies = [handle.ack_latency for handle in handles]
        assert max(latencies) < 3.0, latencies
        assert all(final["embeds"] and final["embeds"][0]["title"].startswith("Q: ") for final in finals)
        assert len({final["id"] for final in finals}) == 50
        # The event loop kept heart-beating (interval 1 s) while the model worked in threads.
        assert emu.max_heartbeat_gap() < 2.5
        Harness(emu, bot, real_service, settings).assert_clean()
    print(f"50 answers in {elapsed:.1f}s; slowest acknowledgement {max(latencies) * 1000:.0f} ms")
