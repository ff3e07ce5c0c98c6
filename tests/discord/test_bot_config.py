"""``/config answer-mode``, end to end: the real bot through the Discord emulator, a scripted
model on 127.0.0.1. Only Manage Server may change it; the choice holds for that server
only, survives a restart (it is in the catalog), and ``default`` returns to the settings'."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import messages, streaming
from tests.discord.bot_fixtures import (
    MANAGER_PERMISSIONS,
    NO_PERMISSIONS,
    SAMPLE_QUESTION,
    Harness,
    assert_clean,
    bot_settings,
    running_bot,
    sampled_service,
)
from tests.discord.emulator import DiscordEmulator, InteractionHandle
from tests.discord.test_bot_llm import REJECTED, slow_quoting
from tests.openai_server import ScriptedModel

QUOTED = "\u201cIran reportedly rejected"  # the extractive answer opens with the quote


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    yield ScriptedModel(responder=slow_quoting)


async def set_mode(h: Harness, mode: str | None, permissions: int = MANAGER_PERMISSIONS, **where) -> dict:
    options = {"mode": mode} if mode is not None else {}
    handle = await h.slash("config", options, subcommand="answer-mode", permissions=permissions, **where)
    reply = await handle.wait_final(15)
    assert handle.ephemeral, reply
    return reply


async def ask_final(h: Harness, **where) -> InteractionHandle:
    handle = await h.slash("ask", {"question": SAMPLE_QUESTION}, **where)
    await h.emu.wait_until(lambda: handle.edits and handle.edits[-1].payload.get("components"), timeout=30)
    return handle


def final_reply(emu: DiscordEmulator, asked: dict) -> dict | None:
    for m in emu.bot_messages(emu.channel_id):
        if (m.get("message_reference") or {}).get("message_id") == asked["id"] and m.get("components"):
            return m
    return None


def streamed(handle: InteractionHandle) -> bool:
    return any(e.payload["embeds"][0].get("footer", {}).get("text") == streaming.STREAM_FOOTER for e in handle.edits)


def final_text(handle: InteractionHandle) -> str:
    return handle.edits[-1].payload["embeds"][0]["description"]


async def test_an_admin_switches_one_server_to_llm_and_back(emu: DiscordEmulator, tmp_path: Path, model) -> None:
    with model.serve() as origin:
        settings = bot_settings(tmp_path / "data", emu, llm_model="openai:scripted", llm_base_url=origin + "/v1")
        here = str(emu.guild_id)
        other = emu.add_guild("Other Guild", channel_names=["lobby"])
        there = {"channel_id": int(other["channels"][0]["id"])}
        service = sampled_service(settings, here, str(other["id"]))
        async with running_bot(emu, settings, service) as bot:
            h = Harness(emu, bot, service, settings)
            await emu.wait_until(lambda: bot.get_guild(int(other["id"])))
            # A member without Manage Server is refused, and nothing changes.
            reply = await set_mode(h, "llm", permissions=NO_PERMISSIONS)
            assert reply["content"] == messages.NEEDS_MANAGE_GUILD
            assert service.answer_mode_override(here) is None
            reply = await set_mode(h, None)  # no mode: shows the one in effect
            assert "**extractive**" in reply["content"] and messages.ANSWER_MODE_DEFAULT in reply["content"]

            reply = await set_mode(h, "llm")
            assert "**llm**" in reply["content"] and "`openai:scripted`" in reply["content"]
            assert "returns to the bot's default (extractive)" in reply["content"]
            asked = await ask_final(h)  # this server: the model's answer streams in
            assert streamed(asked) and final_text(asked).startswith(REJECTED)
            # A mention in this server streams too (the chat path asks the same service).
            asked_message = await emu.send_message(f"<@{emu.bot_user['id']}> {SAMPLE_QUESTION}", author=emu.user)
            reply = await emu.wait_until(lambda: final_reply(emu, asked_message), timeout=30)
            assert reply["embeds"][0]["description"].startswith(REJECTED)
            calls = len(model.requests)
            assert calls >= 2
            elsewhere = await ask_final(h, **there)  # the other server: still quotes, no model call
            assert len(elsewhere.edits) == 1 and not streamed(elsewhere)
            assert final_text(elsewhere).startswith(QUOTED) and len(model.requests) == calls
        # A new process: the choice was in the catalog, not in memory.
        service = sampled_service(settings)
        async with running_bot(emu, settings, service) as bot:
            h = Harness(emu, bot, service, settings)
            reply = await set_mode(h, None)
            assert "**llm**" in reply["content"]
            asked = await ask_final(h)
            assert streamed(asked) and final_text(asked).startswith(REJECTED) and len(model.requests) > calls
            calls = len(model.requests)

            reply = await set_mode(h, "default")
            assert "**extractive**" in reply["content"] and messages.ANSWER_MODE_DEFAULT in reply["content"]
            asked = await ask_final(h)
            assert len(asked.edits) == 1 and final_text(asked).startswith(QUOTED) and len(model.requests) == calls
    assert_clean(emu)


async def test_llm_is_refused_in_one_line_when_the_model_cannot_be_made(emu: DiscordEmulator, tmp_path: Path) -> None:
    settings = bot_settings(tmp_path / "data", emu, llm_model="nosuchprovider:model")
    service = sampled_service(settings, str(emu.guild_id))
    async with running_bot(emu, settings, service) as bot:
        h = Harness(emu, bot, service, settings)
        reply = await set_mode(h, "llm")
        assert "nosuchprovider" in reply["content"] and "\n" not in reply["content"]
        assert service.answer_mode_override(h.namespace) is None
        reply = await set_mode(h, "llm", dm=True)
        assert reply["content"] == messages.GUILD_ONLY
    h.assert_clean()
