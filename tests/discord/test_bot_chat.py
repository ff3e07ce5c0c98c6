"""End to end through the emulator: mentions, direct messages, threads and follow-ups."""

from __future__ import annotations

import asyncio

from bot import messages
from retrieval.service import sample_path
from tests.discord.bot_fixtures import (
    SAMPLE_QUESTION,
    Harness,
    assert_clean,
    bot_settings,
    custom_ids,
    running_bot,
    sampled_service,
)
from tests.discord.emulator import CREATE_PUBLIC_THREADS, DEFAULT_EVERYONE_PERMISSIONS


def spy_on_ask(h: Harness) -> list[tuple[str, list[str]]]:
    calls: list[tuple[str, list[str]]] = []
    real = h.service.ask

    def ask(question, namespace=None, history=(), **kwargs):
        calls.append((question, list(history)))
        return real(question, namespace, history, **kwargs)

    h.service.ask = ask  # type: ignore[method-assign]
    return calls


def mention(h: Harness) -> str:
    return f"<@{h.emu.bot_user['id']}>"


async def reply_to(h: Harness, message: dict, channel_id: int | None = None, timeout: float = 10) -> dict:
    return await h.emu.wait_for_bot_message(
        channel_id or int(message["channel_id"]),
        lambda m: (m.get("message_reference") or {}).get("message_id") == message["id"],
        timeout,
    )


async def test_a_mention_is_answered_with_a_reply_and_a_thread(harness: Harness):
    h = harness
    asked = await h.emu.send_message(f"{mention(h)} {SAMPLE_QUESTION}", author=h.emu.user)
    reply = await reply_to(h, asked)
    embed = reply["embeds"][0]
    assert embed["title"] == f"Q: {SAMPLE_QUESTION}" and "[1]" in embed["description"]
    assert custom_ids(reply, "cb:cite:") and custom_ids(reply, "cb:vote:")
    thread = await h.emu.wait_until(lambda: h.emu.threads)
    assert thread[0]["id"] == reply["id"] and thread[0]["name"] == SAMPLE_QUESTION
    # The reply pings nobody, not even the author it replies to.
    sent = [o for o in h.emu.outgoing("message_create") if o.message_id == int(reply["id"])]
    assert sent and sent[0].allowed_mentions == {"parse": [], "replied_user": False}
    # Buttons on chat answers work like on /ask answers.
    _, opened = await h.click(reply, custom_ids(reply, "cb:cite:")[0])
    assert opened["embeds"][0]["author"]["name"] == "[1]"


async def test_follow_ups_in_the_thread_use_the_earlier_questions(harness: Harness):
    h = harness
    calls = spy_on_ask(h)
    asked = await h.emu.send_message(f"{mention(h)} Why did Iran refuse to leave Syria?", author=h.emu.user)
    first = await reply_to(h, asked)
    thread_id = int((await h.emu.wait_until(lambda: h.emu.threads))[0]["id"])
    follow = await h.emu.send_message("and what did Russia want?", author=h.emu.user, channel_id=thread_id)
    second = await reply_to(h, follow)
    assert calls[-1] == ("and what did Russia want?", ["Why did Iran refuse to leave Syria?"])
    assert second["embeds"][0]["title"] == "Q: and what did Russia want?"
    assert len(h.emu.threads) == 1  # no thread inside a thread
    third_q = await h.emu.send_message("and the United States?", author=h.emu.owner, channel_id=thread_id)
    await reply_to(h, third_q)
    assert calls[-1][1] == ["Why did Iran refuse to leave Syria?", "and what did Russia want?"]
    assert first["id"] != second["id"]


async def test_follow_ups_after_a_restart_read_the_thread(emu, tmp_path):
    settings = bot_settings(tmp_path / "data", emu)
    service = sampled_service(settings, str(emu.guild_id))
    async with running_bot(emu, settings, service):
        asked = await emu.send_message(f"<@{emu.bot_user['id']}> Why did Iran refuse to leave Syria?")
        await emu.wait_until(lambda: emu.threads)
    thread_id = int(emu.threads[0]["id"])
    async with running_bot(emu, settings, service) as bot:
        h = Harness(emu, bot, service, settings)
        calls = spy_on_ask(h)
        await emu.wait_until(lambda: bot.get_channel(thread_id) or bot.get_guild(emu.guild_id).get_thread(thread_id))
        follow = await emu.send_message("and what did Russia want?", channel_id=thread_id)
        await reply_to(h, follow)
        assert calls == [("and what did Russia want?", ["Why did Iran refuse to leave Syria?"])]
    assert asked
    assert_clean(emu)


async def test_without_the_message_content_intent_only_mentions_are_answered(emu, tmp_path):
    settings = bot_settings(tmp_path / "data", emu)
    service = sampled_service(settings, str(emu.guild_id))
    async with running_bot(emu, settings, service, message_content=False) as bot:
        assert not emu.intents & (1 << 15)
        h = Harness(emu, bot, service, settings)
        asked = await emu.send_message(f"{mention(h)} {SAMPLE_QUESTION}")
        await reply_to(h, asked)
        thread_id = int((await emu.wait_until(lambda: emu.threads))[0]["id"])
        plain = await emu.send_message("and what did Russia want?", channel_id=thread_id)
        mentioned = await emu.send_message(f"{mention(h)} and what did Russia want?", channel_id=thread_id)
        await reply_to(h, mentioned)
        assert not [
            m
            for m in emu.bot_messages(thread_id)
            if (m.get("message_reference") or {}).get("message_id") == plain["id"]
        ]
        # Slash commands and message menus need no message content intent.
        handle = await emu.send_slash_command("ask", {"question": SAMPLE_QUESTION})
        assert (await handle.wait_final(10))["embeds"]
        handle = await emu.send_message_command("Find source", int(asked["id"]))
        assert await handle.wait_final(10)
    assert_clean(emu)


async def test_direct_messages_are_questions_in_the_dm_namespace(harness: Harness):
    h = harness
    calls = spy_on_ask(h)
    asked = await h.emu.send_message(SAMPLE_QUESTION, dm=True)
    reply = await reply_to(h, asked)
    assert "couldn't find" in reply["embeds"][0]["description"]  # nothing ingested for DMs yet
    h.service.ingest_bytes(
        b"Russia Demands Withdrawal\n\nRussia demanded that Iran withdraw its troops from Syria.",
        "dm.txt",
        "dm-test",
    )
    asked = await h.emu.send_message(SAMPLE_QUESTION, dm=True)
    reply = await reply_to(h, asked)
    assert "Russia demanded that Iran withdraw" in reply["embeds"][0]["description"]
    assert custom_ids(reply, "cb:cite:dm:")
    assert h.emu.threads == []  # no threads in DMs
    _, opened = await h.click(reply, custom_ids(reply, "cb:cite:")[0])
    assert "Russia demanded" in opened["embeds"][0]["description"]
    assert len(calls) == 2


async def test_messages_not_addressed_to_the_bot_are_ignored(harness: Harness):
    h = harness
    await h.emu.send_message("@everyone what did Russia demand from Iran?")
    await h.emu.send_message(f"<@{h.emu.owner['id']}> what did Russia demand?", mentions=[h.emu.owner])
    await h.emu.send_message(f"{mention(h)}")  # a bare mention gets a hint
    hint = await h.emu.wait_for_bot_message(h.emu.channel_id)
    assert hint["content"] == messages.QUESTION_EMPTY
    assert len(h.emu.bot_messages()) == 1


async def test_threads_are_optional_and_need_permission(emu, tmp_path):
    settings = bot_settings(tmp_path / "data", emu, create_threads=False)
    service = sampled_service(settings, str(emu.guild_id))
    async with running_bot(emu, settings, service) as bot:
        h = Harness(emu, bot, service, settings)
        await reply_to(h, await emu.send_message(f"{mention(h)} {SAMPLE_QUESTION}"))
        await asyncio.sleep(0.3)
        assert emu.requests_to("POST", r"/threads$") == [] and emu.threads == []
    settings = bot_settings(tmp_path / "data", emu)
    no_threads = DEFAULT_EVERYONE_PERMISSIONS & ~CREATE_PUBLIC_THREADS
    other = emu.add_guild("No threads", everyone_permissions=no_threads, bot_permissions=no_threads)
    service.ingest([sample_path()], other["id"])
    async with running_bot(emu, settings, service) as bot:
        h = Harness(emu, bot, service, settings)
        asked = await emu.send_message(f"{mention(h)} {SAMPLE_QUESTION}", channel_id=int(other["channels"][0]["id"]))
        reply = await reply_to(h, asked)
        assert custom_ids(reply, f"cb:cite:{other['id']}:")
        await asyncio.sleep(0.3)  # time enough for a thread request, were there one
        assert emu.requests_to("POST", r"/threads$") == [] and emu.threads == []
        # Where it may, it does.
        asked = await emu.send_message(f"{mention(h)} {SAMPLE_QUESTION}")
        await reply_to(h, asked)
        await emu.wait_until(lambda: emu.threads)
    assert_clean(emu)


async def test_chat_cooldown_and_long_questions(emu, tmp_path):
    settings = bot_settings(tmp_path / "data", emu, cooldown_seconds=60, cooldown_rate=1)
    service = sampled_service(settings, str(emu.guild_id))
    async with running_bot(emu, settings, service) as bot:
        h = Harness(emu, bot, service, settings)
        too_long = await emu.send_message(f"{mention(h)} " + "why " * 500)
        refusal = await reply_to(h, too_long)
        assert refusal["content"] == "The question is 1,999 characters; the limit is 1,000."
        first = await emu.send_message(f"{mention(h)} {SAMPLE_QUESTION}", author=emu.owner)
        assert (await reply_to(h, first))["embeds"]
        second = await emu.send_message(f"{mention(h)} {SAMPLE_QUESTION}", author=emu.owner)
        assert (await reply_to(h, second))["content"].startswith("You're going a bit fast")
