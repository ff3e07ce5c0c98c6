"""LLM mode end to end: the real bot, through the Discord emulator, asks a scripted model on
127.0.0.1 through langchain-openai (and langchain-ollama); the answer streams into the message
with edits at least a second apart, and the final edit holds only the verified sentences."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import streaming
from retrieval.llm_answering import NOTE_UNREACHABLE
from tests.discord.bot_fixtures import (
    SAMPLE_QUESTION,
    Harness,
    bot_settings,
    custom_ids,
    running_bot,
    sampled_service,
)
from tests.discord.emulator import DiscordEmulator, Outgoing
from tests.http_server import closed_port
from tests.openai_server import Reply, ScriptedModel, quoting_answer

INVENTED = "Iran also controls the Suez Canal, officials said [1]."
REJECTED = "Iran reportedly rejected Russia’s demands that foreign troops"


def slow_quoting(body: dict[str, Any]) -> Reply:
    """An invented sentence, then the faithful answer, a word every 0.08 s (a stream of ~3 s)."""
    text = quoting_answer(body)
    if "<passage" in str(body.get("messages")):
        text = INVENTED + " " + text
    return Reply(text, chunk_delay=0.08)


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    yield ScriptedModel(responder=slow_quoting)


async def llm_harness(emu: DiscordEmulator, tmp_path: Path, base_url: str, provider: str = "openai"):
    settings = bot_settings(
        tmp_path / "data", emu, answer_mode="llm", llm_model=f"{provider}:scripted", llm_base_url=base_url
    )
    service = sampled_service(settings, str(emu.guild_id))
    _ = service.llm  # the client loaded before the clock of the first question starts
    return settings, service


@pytest.fixture
async def harness_llm(emu: DiscordEmulator, tmp_path: Path, model: ScriptedModel) -> AsyncIterator[Harness]:
    with model.serve() as origin:
        settings, service = await llm_harness(emu, tmp_path, origin + "/v1")
        async with running_bot(emu, settings, service) as bot:
            h = Harness(emu, bot, service, settings)
            yield h
        h.assert_clean()


def gaps(sends: list[Outgoing]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(sends)]


def description(out: Outgoing) -> str:
    return out.payload["embeds"][0]["description"]


async def test_ask_streams_with_paced_edits_and_ends_with_the_verified_answer(harness_llm: Harness) -> None:
    h = harness_llm
    handle = await h.slash("ask", {"question": SAMPLE_QUESTION})
    await h.emu.wait_until(lambda: handle.edits and handle.edits[-1].payload.get("components"), timeout=30)
    edits = handle.edits
    streamed, final = edits[:-1], edits[-1]
    assert len(streamed) >= 2  # the words appeared while the model wrote them
    assert all(g >= streaming.MIN_EDIT_INTERVAL for g in gaps(edits)), gaps(edits)
    assert all(e.payload["embeds"][0]["footer"]["text"] == streaming.STREAM_FOOTER for e in streamed)
    assert any("Suez" in description(e) for e in streamed)  # shown while unverified …
    text = description(final)
    assert "Suez" not in text and text.startswith(REJECTED)  # … gone from the final edit
    embed = final.payload["embeds"][0]
    assert embed["title"] == f"Q: {SAMPLE_QUESTION}"
    assert [f["name"] for f in embed["fields"]] == ["[1]"]
    assert "1 sentence(s) of the model's answer were removed" in embed["footer"]["text"]
    shown = handle.original
    assert shown is not None and shown["embeds"][0]["description"] == text
    ids = custom_ids(shown, "cb:cite:")
    assert ids and ids[0].startswith(f"cb:cite:{h.emu.guild_id}:1:6f75d72f-")
    _, opened = await h.click(shown, ids[0])  # the citation opens the exact stored sentence
    assert "**Iran reportedly rejected Russia’s demands" in opened["embeds"][0]["description"]


async def test_a_mention_streams_into_its_reply_and_opens_a_thread(harness_llm: Harness) -> None:
    h = harness_llm
    asked = await h.emu.send_message(f"<@{h.emu.bot_user['id']}> {SAMPLE_QUESTION}", author=h.emu.user)

    def final_reply() -> dict | None:
        for m in h.emu.bot_messages(h.emu.channel_id):
            if (m.get("message_reference") or {}).get("message_id") == asked["id"] and m.get("components"):
                return m
        return None

    reply = await h.emu.wait_until(final_reply, timeout=30)
    sends = [
        o for o in h.emu.outgoing() if o.kind in ("message_create", "message_edit") and o.message_id == int(reply["id"])
    ]
    assert sends[0].kind == "message_create" and len(sends) >= 3
    assert all(g >= streaming.MIN_EDIT_INTERVAL for g in gaps(sends)), gaps(sends)
    assert reply["embeds"][0]["description"].startswith(REJECTED) and "Suez" not in reply["embeds"][0]["description"]
    assert custom_ids(reply, "cb:vote:")
    await h.emu.wait_until(lambda: h.emu.threads, timeout=10)


async def test_an_unreachable_model_shows_the_quoted_answer_with_a_note(emu: DiscordEmulator, tmp_path: Path) -> None:
    settings, service = await llm_harness(emu, tmp_path, f"http://127.0.0.1:{closed_port()}/v1")
    async with running_bot(emu, settings, service) as bot:
        h = Harness(emu, bot, service, settings)
        handle = await h.slash("ask", {"question": SAMPLE_QUESTION})
        await emu.wait_until(lambda: handle.edits and handle.edits[-1].payload.get("components"), timeout=30)
        (final,) = handle.edits  # nothing streamed: one edit, the answer
        embed = final.payload["embeds"][0]
        assert embed["description"].startswith("\u201cIran reportedly rejected")
        assert embed["footer"]["text"].startswith(NOTE_UNREACHABLE)
    h.assert_clean()


async def test_ollama_streams_into_discord_too(emu: DiscordEmulator, tmp_path: Path, model: ScriptedModel) -> None:
    with model.serve() as origin:
        settings, service = await llm_harness(emu, tmp_path, origin, provider="ollama")
        async with running_bot(emu, settings, service) as bot:
            h = Harness(emu, bot, service, settings)
            handle = await h.slash("ask", {"question": SAMPLE_QUESTION})
            await emu.wait_until(lambda: handle.edits and handle.edits[-1].payload.get("components"), timeout=30)
            assert len(handle.edits) >= 3
            assert description(handle.edits[-1]).startswith(REJECTED)
        h.assert_clean()
    assert model.requests[-1]["stream"] is True
