"""End to end through the emulator: /ask, its buttons, the ask menu, restarts and forgotten documents."""

from __future__ import annotations

import sqlite3

from bot import messages
from tests.discord.bot_fixtures import (
    SAMPLE_QUESTION,
    Harness,
    assert_clean,
    bot_settings,
    custom_ids,
    running_bot,
    sampled_service,
)
from tests.discord.emulator import EPHEMERAL


async def ask(h: Harness, question: str = SAMPLE_QUESTION, **options):
    handle, message = await h.run("ask", {"question": question, **options})
    return handle, message


async def test_ask_answers_in_the_channel_with_citations_and_buttons(harness: Harness):
    handle, message = await ask(harness)
    assert handle.response_type == 5 and handle.ack_latency < 3
    assert not message["flags"] & EPHEMERAL
    embed = message["embeds"][0]
    assert embed["title"] == f"Q: {SAMPLE_QUESTION}"
    assert "[1]" in embed["description"] and "Iran reportedly rejected Russia’s demands" in embed["description"]
    assert [f["name"] for f in embed["fields"]] == [f"[{i + 1}]" for i in range(len(embed["fields"]))]
    first = embed["fields"][0]["value"]
    assert "Iran Rebuffs Russian Demand to Withdraw from Syria" in first and "paragraph 3" in first
    assert embed["footer"]["text"].startswith("Answered in ")
    ids = custom_ids(message)
    assert ids[0].startswith(f"cb:cite:{harness.emu.guild_id}:1:6f75d72f-")
    assert f"cb:sources:{harness.emu.guild_id}" in ids
    assert f"cb:vote:{harness.emu.guild_id}:up" in ids and f"cb:vote:{harness.emu.guild_id}:down" in ids
    assert not any(i.startswith("cb:share") for i in ids)  # public answers need no Share


async def test_cite_button_opens_the_passage_in_context_for_the_clicker_only(harness: Harness):
    _, answer = await ask(harness)
    cite_id = custom_ids(answer, "cb:cite:")[0]
    handle, shown = await harness.click(answer, cite_id, user=harness.emu.owner)
    assert handle.ephemeral
    embed = shown["embeds"][0]
    assert embed["author"]["name"] == "[1]"
    assert "**Iran reportedly rejected Russia’s demands" in embed["description"]
    assert cite_id.rsplit(":", 1)[1] in embed["footer"]["text"]


async def test_sources_button_lists_every_citation_with_its_passage(harness: Harness):
    _, answer = await ask(harness)
    handle, shown = await harness.click(answer, f"cb:sources:{harness.emu.guild_id}")
    assert handle.ephemeral
    fields = shown["embeds"][0]["fields"]
    assert len(fields) == len(custom_ids(answer, "cb:cite:")) >= 2
    assert all("**" in f["value"] for f in fields)


async def test_private_answer_is_ephemeral_and_share_posts_it(harness: Harness):
    handle, private = await ask(harness, private=True)
    assert handle.ephemeral and private["flags"] & EPHEMERAL
    share = f"cb:share:{harness.emu.guild_id}"
    assert share in custom_ids(private)
    await harness.click(private, share)
    shared = await harness.emu.wait_for_bot_message(
        harness.emu.channel_id, lambda m: m["content"].startswith("Shared by") and not m["flags"] & EPHEMERAL
    )
    assert shared["embeds"][0]["title"] == f"Q: {SAMPLE_QUESTION}"
    assert shared["content"] == f"Shared by <@{harness.emu.user['id']}>:"
    assert share not in custom_ids(shared)
    assert custom_ids(shared, "cb:cite:") == custom_ids(private, "cb:cite:")
    # the private copy lost its Share button
    await harness.emu.wait_until(lambda: share not in custom_ids(harness.emu.get_message(int(private["id"]))))
    # buttons on the shared copy work too
    _, opened = await harness.click(shared, custom_ids(shared, "cb:cite:")[0])
    assert opened["embeds"][0]["author"]["name"] == "[1]"


def feedback_rows(h: Harness) -> list[tuple]:
    with sqlite3.connect(h.settings.data_dir / "catalog.sqlite3") as db:
        return db.execute("SELECT namespace, user_id, question, answer, citations, vote FROM feedback").fetchall()


async def test_feedback_is_stored_once_per_user_and_counted_per_guild(harness: Harness):
    h = harness
    _, answer = await ask(h)
    up, down = f"cb:vote:{h.emu.guild_id}:up", f"cb:vote:{h.emu.guild_id}:down"
    handle, thanks = await h.click(answer, up, user=h.emu.user)
    assert handle.ephemeral and "1 👍, 0 👎" in thanks["content"]
    handle, modal = await h.click(answer, down, user=h.emu.owner)  # 👎: "what was wrong?" first (issue 13)
    assert handle.response_type == 9 and modal["custom_id"] == f"cb:nothelpful:{h.emu.guild_id}:{answer['id']}"
    await h.emu.wait_until(lambda: h.service.feedback_counts(h.namespace) == (1, 1), 5)  # counted at once
    _, again = await h.click(answer, down, user=h.emu.user)
    assert "already rated" in again["content"]
    rows = feedback_rows(h)
    assert len(rows) == 2
    namespace, user_id, question, text, citations, vote = rows[0]
    assert (namespace, user_id, question, vote) == (h.namespace, h.emu.user["id"], SAMPLE_QUESTION, 1)
    assert "Iran reportedly rejected" in text and "6f75d72f-" in citations
    assert h.service.feedback_counts(h.namespace) == (1, 1)
    assert h.service.feedback_counts("some-other-guild") == (0, 0)


async def test_buttons_keep_working_after_a_restart(emu, tmp_path):
    settings = bot_settings(tmp_path / "data", emu)
    service = sampled_service(settings, str(emu.guild_id))
    async with running_bot(emu, settings, service) as bot:
        handle = await emu.send_slash_command("ask", {"question": SAMPLE_QUESTION})
        answer = await handle.wait_final(10)
        assert bot.answers.get(int(answer["id"])) is not None
    # A new process: a new bot, nothing in memory.
    service = sampled_service(settings)
    async with running_bot(emu, settings, service) as bot:
        assert bot.answers.get(int(answer["id"])) is None
        click = await emu.click_button(int(answer["id"]), custom_ids(answer, "cb:cite:")[1])
        opened = await click.wait_final(10)
        assert opened["embeds"][0]["author"]["name"] == "[2]"
        click = await emu.click_button(int(answer["id"]), f"cb:sources:{emu.guild_id}")
        assert len((await click.wait_final(10))["embeds"][0]["fields"]) == 2
        click = await emu.click_button(int(answer["id"]), f"cb:vote:{emu.guild_id}:up")
        assert "1 👍" in (await click.wait_final(10))["content"]
    with sqlite3.connect(settings.data_dir / "catalog.sqlite3") as db:
        question, citations = db.execute("SELECT question, citations FROM feedback").fetchone()
    assert question == SAMPLE_QUESTION and citations.count("6f75d72f-") == 2
    assert_clean(emu)


async def test_buttons_of_a_forgotten_document_say_so(harness: Harness):
    h = harness
    _, answer = await ask(h)
    h.service.forget(h.service.sources(h.namespace)[0].id, h.namespace)
    _, opened = await h.click(answer, custom_ids(answer, "cb:cite:")[0])
    assert opened["content"] == messages.SOURCE_GONE
    _, sources = await h.click(answer, f"cb:sources:{h.emu.guild_id}")
    assert all(f["value"] == messages.SOURCE_GONE for f in sources["embeds"][0]["fields"])


async def test_abstains_when_the_articles_do_not_say(harness: Harness):
    _, message = await ask(harness, "What is the boiling point of liquid nitrogen in kelvin?")
    embed = message["embeds"][0]
    assert ("couldn't find" in embed["description"] and "fields" not in embed) or not embed.get("fields")
    assert custom_ids(message, "cb:cite:") == [] and not custom_ids(message, "cb:sources")
    assert custom_ids(message, "cb:vote:")  # abstentions can be rated too


async def test_ask_about_this_message_menu(harness: Harness):
    h = harness
    posted = await h.emu.send_message(SAMPLE_QUESTION, author=h.emu.owner)
    handle, message = await h.menu("Ask Citebot about this", posted)
    assert not handle.ephemeral
    assert "Iran" in message["embeds"][0]["description"] and custom_ids(message, "cb:cite:")
    empty = await h.emu.send_message("", author=h.emu.owner, embeds=[{"title": "only an embed"}])
    handle, refusal = await h.menu("Ask Citebot about this", empty)
    assert handle.ephemeral and refusal["content"] == messages.NO_TEXT


async def test_too_long_questions_are_refused_plainly(harness: Harness):
    handle, refusal = await ask(harness, "why " * 1500)
    assert handle.response_type == 4 and handle.ephemeral
    assert refusal["content"] == "The question is 5,999 characters; the limit is 1,000."


async def test_cooldown_is_per_user_and_friendly(emu, tmp_path):
    settings = bot_settings(tmp_path / "data", emu, cooldown_seconds=60, cooldown_rate=2)
    service = sampled_service(settings, str(emu.guild_id))
    async with running_bot(emu, settings, service):
        finals = []
        for _ in range(3):
            handle = await emu.send_slash_command("ask", {"question": SAMPLE_QUESTION})
            finals.append((handle, await handle.wait_final(10)))
        assert all(m["embeds"] for _, m in finals[:2])
        handle, refusal = finals[2]
        assert handle.ephemeral and refusal["content"].startswith("You're going a bit fast. Try again in")
        other = await emu.send_slash_command("ask", {"question": SAMPLE_QUESTION}, user=emu.owner)
        assert (await other.wait_final(10))["embeds"]
    assert_clean(emu)
