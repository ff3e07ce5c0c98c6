"""Load: 200 users run /ask at once, against the real embedding model, through the emulator.

Every interaction must be acknowledged within Discord's 3 seconds and answered (an answer
with citations, or an abstention), and the gateway heartbeat (every second here) must never
miss a beat while the model works. Prints one line with the times to acknowledge and to
answer (``pytest -s`` shows it).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bot import messages
from retrieval.service import CitebotService, sample_path
from tests.discord.bot_fixtures import SAMPLE_QUESTION, Harness, bot_settings, running_bot
from tests.discord.emulator import DiscordEmulator

USERS = 200
ACK_DEADLINE = 3.0
ON_TOPIC = [
    SAMPLE_QUESTION,
    "Will Iran withdraw its troops from Syria?",
    "Who is Bahram Ghasemi?",
    "What did the Treasury Department do?",
    "How long will Iran stay in Syria?",
    "Which nation supports Assad more?",
    "What did Mike Pompeo say about Iran?",
    "Who forced Iran to leave Syria?",
    "What sanctions were announced?",
    "Why did Russia ask Iran to leave?",
    "Did Iran reject Russia's demands?",
    "Who is the spokesman of Iran's foreign ministry?",
    "Is Iran competing with Russia in Syria?",
    "Who invited Iran to Syria?",
    "What did Iran say about its presence in Syria?",
    "Which Iranian officials were sanctioned?",
    "What did the United States demand from Iran?",
    "Does Russia want foreign forces out of Syria?",
    "Who is Vladimir Putin?",
    "What does Iran say about independence?",
]
OFF_TOPIC = [  # the article does not say: these should be abstentions
    "What is the recipe for sourdough bread?",
    "How tall is the Eiffel Tower?",
    "Who won the 1998 football world cup?",
    "How do volcanoes form?",
    "What is the boiling point of water on Everest?",
    "How many moons does Jupiter have?",
    "Which language is spoken in Brazil?",
    "When was the printing press invented?",
]
QUESTIONS = ON_TOPIC + OFF_TOPIC


def question(i: int) -> str:
    return QUESTIONS[i % len(QUESTIONS)]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@pytest.mark.slow
async def test_two_hundred_concurrent_asks_are_acknowledged_in_time_and_answered(
    emu: DiscordEmulator, real_service: CitebotService, tmp_path
):
    assert emu.heartbeat_interval_ms == 1000
    real_service.ingest([sample_path()], str(emu.guild_id))
    settings = bot_settings(tmp_path / "unused", emu, cooldown_seconds=5.0, cooldown_rate=3)
    users = [emu.add_user(f"load{i}") for i in range(USERS)]
    async with running_bot(emu, settings, real_service) as bot:
        beats_before = len(emu.heartbeats)
        started = time.monotonic()
        handles = await asyncio.gather(
            *(emu.send_slash_command("ask", {"question": question(i)}, user=user) for i, user in enumerate(users))
        )
        # Answers wait their turn for two cores (the reranker reads each question): all must come.
        finals = await asyncio.gather(*(handle.wait_final(240) for handle in handles))
        elapsed = time.monotonic() - started
        beats = len(emu.heartbeats) - beats_before

        acks = [handle.ack_latency for handle in handles]
        answers = [handle.edits[0].at - handle.created_at for handle in handles]
        assert all(handle.response_type == 5 for handle in handles)  # deferred at once, none refused
        assert max(acks) < ACK_DEADLINE, sorted(acks)[-5:]
        assert len({final["id"] for final in finals}) == USERS
        abstained = 0
        for i, final in enumerate(finals):
            embed = final["embeds"][0]
            assert embed["title"] == messages.ANSWER_TITLE_PREFIX + question(i)
            if embed["footer"]["text"].endswith(messages.FOOTER_ABSTAINED):
                abstained += 1
            else:
                assert embed["fields"] and "[1]" in embed["description"], embed
        assert finals[0]["embeds"][0]["fields"]  # the sample question is answered, with citations
        # The event loop kept heart-beating (interval 1 s) while the model worked in threads.
        gap = emu.max_heartbeat_gap()
        assert gap < 2 * emu.heartbeat_interval_ms / 1000, gap
        assert beats >= int(elapsed) - 1
        Harness(emu, bot, real_service, settings).assert_clean()
    print(
        f"\nload: {USERS} concurrent /ask in {elapsed:.1f} s; "
        f"ack p50 {percentile(acks, 50) * 1000:.0f} ms, p99 {percentile(acks, 99) * 1000:.0f} ms, "
        f"max {max(acks) * 1000:.0f} ms; "
        f"answer p50 {percentile(answers, 50) * 1000:.0f} ms, p99 {percentile(answers, 99) * 1000:.0f} ms; "
        f"{USERS - abstained} answered, {abstained} abstained; max heartbeat gap {gap * 1000:.0f} ms"
    )
