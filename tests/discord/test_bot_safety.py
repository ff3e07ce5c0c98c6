"""End to end through the emulator: adversarial text, no pings, errors with ids, 429s, no token leaks."""

from __future__ import annotations

import json
import logging
import re

import pytest

from bot.runner import REDACTED, install_redaction
from tests.discord.bot_fixtures import FAKE_TOKEN, MANAGER_PERMISSIONS, SAMPLE_QUESTION, Harness, custom_ids, embed_text
from tests.discord.emulator import EPHEMERAL

ZALGO = "Z̴̢̛̗̈́a̷̦̓l̸̰̾g̶̱̏o̵͖͊"


def nasty_article(role_id: str, user_id: str) -> str:
    return (
        "Emergency Broadcast Drill Planned\n\n"
        f"@everyone the broadcast drill starts at noon, said the <@&{role_id}> coordinators and <@{user_id}>.\n\n"
        "The drill script contains ```rm -rf /``` and **bold claims** and [a link](https://evil.example/x).\n\n"
        f"Officials called the drill {ZALGO} important ||secret|| for the broadcast network.\n\n"
        "> Quoted heading\n# Not a heading\n- not a list\n"
    )


async def test_adversarial_articles_and_questions_never_ping_or_break_payloads(harness: Harness):
    h = harness
    role = h.emu.add_role(h.emu.guild_id, "moderators", 0)
    article = nasty_article(role["id"], h.emu.owner["id"])
    file = h.emu.add_attachment("drill.txt", article.encode(), "text/plain")
    handle = await h.slash("ingest", {"file": file}, permissions=MANAGER_PERMISSIONS)
    await h.emu.wait_until(lambda: (handle.original and handle.original.get("embeds")) or None, 10)

    question = f"@everyone <@&{role['id']}> ```py {ZALGO}``` when does the broadcast drill start?"
    _, answer = await h.run("ask", {"question": question})
    text = embed_text(answer)
    assert "@everyone the broadcast drill starts at noon" in text  # quoted verbatim, yet pings no one
    assert "```" not in text.replace("\\`", "") and "\\`\\`\\`" in text
    for cid in custom_ids(answer, "cb:cite:"):
        await h.click(answer, cid)
    await h.click(answer, f"cb:sources:{h.emu.guild_id}")
    await h.run("search", {"query": "drill script bold claims link"})
    await h.run("cite", {"id_or_quote": "The drill script contains ```rm -rf /``` and **bold claims**"})
    opened = h.handles[-1].original
    assert "\\*\\*bold claims\\*\\*" in embed_text(opened)
    asked = await h.emu.send_message(f"<@{h.emu.bot_user['id']}> @everyone {question}")
    await h.emu.wait_for_bot_message(
        predicate=lambda m: (m.get("message_reference") or {}).get("message_id") == asked["id"]
    )
    _, listed = await h.run("sources")
    assert "Emergency Broadcast Drill Planned" in embed_text(listed)
    # Nothing the bot sent may mention anyone (the harness also checks every payload at teardown).
    h.assert_clean()


@pytest.mark.parametrize(
    "command, option, what",
    [("ask", "question", "question"), ("search", "query", "query"), ("cite", "id_or_quote", "quote")],
)
async def test_a_6000_character_input_is_refused_politely(harness: Harness, command: str, option: str, what: str):
    text = ((ZALGO + " @everyone <@&1> ```py") * 400)[:5999] + "?"
    assert len(text) == 6000
    handle, refusal = await harness.run(command, {option: text})
    assert handle.response_type == 4 and handle.ephemeral
    assert refusal["content"] == f"The {what} is 6,000 characters; the limit is 1,000."


async def test_near_limit_zalgo_and_astral_text_fits_every_limit(harness: Harness):
    h = harness
    question = ("😀" + ZALGO + "`*_~|> ") * 40
    question = question[:990] + " Russia?"
    _, answer = await h.run("ask", {"question": question})
    assert len(answer["embeds"][0]["title"]) <= 256
    h.service.ingest_bytes(
        (("Long sentence about Russia and Iran " * 60 + ". ") * 30).encode(), "long.txt", h.namespace
    )
    _, found = await h.run("search", {"query": "Long sentence about Russia and Iran"})
    assert found["embeds"]


async def test_unexpected_failures_give_an_ephemeral_error_id_and_a_logged_traceback(harness: Harness, caplog):
    h = harness
    caplog.set_level(logging.INFO)

    def broken(*args, **kwargs):
        raise RuntimeError("the index fell over")

    h.service.search = broken  # type: ignore[method-assign]
    h.service.cite = broken  # type: ignore[method-assign]
    handle = await h.slash("search", {"query": "anything"})
    await h.emu.wait_until(lambda: handle.followups, 5)
    error = handle.followups[-1]
    assert error["flags"] & EPHEMERAL and handle.original is None
    error_id = re.search(r"error id `([0-9a-f]{8})`", error["content"]).group(1)
    assert "the index fell over" not in error["content"]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].levelno == logging.ERROR and logged[0].exc_info[0] is RuntimeError

    _, answer = await h.run("ask", {"question": SAMPLE_QUESTION})
    click, shown = await h.click(answer, custom_ids(answer, "cb:cite:")[0])
    assert click.ephemeral and re.search(r"error id `[0-9a-f]{8}`", shown["content"])

    h.service.ask = broken  # type: ignore[method-assign]
    asked = await h.emu.send_message(f"<@{h.emu.bot_user['id']}> {SAMPLE_QUESTION}")
    reply = await h.emu.wait_for_bot_message(
        predicate=lambda m: (m.get("message_reference") or {}).get("message_id") == asked["id"]
    )
    assert re.search(r"error id `[0-9a-f]{8}`", reply["content"])


async def test_user_errors_are_plain_sentences_without_an_error_id(harness: Harness, caplog):
    caplog.set_level(logging.INFO)
    handle = await harness.slash("cite", {"id_or_quote": "deadbeef-1-5"})
    await harness.emu.wait_until(lambda: handle.followups, 5)
    assert "error id" not in handle.followups[-1]["content"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_rate_limits_are_left_to_discord_py_and_never_retried_in_a_tight_loop(harness: Harness):
    h = harness
    limited = h.emu.inject_rate_limit("POST", r"^/channels/\d+/messages$", times=2, retry_after=0.3)
    asked = await h.emu.send_message(f"<@{h.emu.bot_user['id']}> {SAMPLE_QUESTION}")
    reply = await h.emu.wait_for_bot_message(
        predicate=lambda m: (m.get("message_reference") or {}).get("message_id") == asked["id"], timeout=10
    )
    assert reply["embeds"] and limited.hits == 2
    assert all(gap >= 0.25 for gap in limited.gaps()[:2])
    edits = h.emu.inject_rate_limit("PATCH", r"^/webhooks/\d+/[^/]+/messages/@original$", times=1, retry_after=0.3)
    _, answer = await h.run("ask", {"question": SAMPLE_QUESTION})
    assert answer["embeds"] and edits.hits == 1 and edits.gaps()[0] >= 0.25


async def test_the_token_appears_in_no_log_line_and_no_message(harness: Harness, caplog):
    h = harness
    assert h.settings.discord_token.get_secret_value() == FAKE_TOKEN
    install_redaction(FAKE_TOKEN)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("bot").warning("if a token were logged it would read %s", FAKE_TOKEN)
    try:
        raise RuntimeError(f"a library put the token {FAKE_TOKEN} in an error")
    except RuntimeError:
        logging.getLogger("discord.client").exception("failure")

    def broken(*args, **kwargs):
        raise RuntimeError(f"boom {FAKE_TOKEN}")

    _, answer = await h.run("ask", {"question": SAMPLE_QUESTION})
    await h.click(answer, f"cb:vote:{h.emu.guild_id}:up")
    h.service.search = broken  # type: ignore[method-assign]
    handle = await h.slash("search", {"query": "x"})
    await h.emu.wait_until(lambda: handle.followups, 5)
    asked = await h.emu.send_message(f"<@{h.emu.bot_user['id']}> {SAMPLE_QUESTION}")
    await h.emu.wait_for_bot_message(
        predicate=lambda m: (m.get("message_reference") or {}).get("message_id") == asked["id"]
    )

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(r) for r in caplog.records]
    assert any(REDACTED in line for line in lines)
    assert len(caplog.records) > 20  # discord.py's debug lines were captured too
    assert not [line for line in lines if FAKE_TOKEN in line]
    # Nor in anything the bot sent or stored.
    sent = json.dumps([o.payload for o in h.emu.outgoing()] + [r.json for r in h.emu.requests], default=str)
    assert FAKE_TOKEN not in sent
    assert not [m for m in h.emu.iter_messages() if FAKE_TOKEN in json.dumps(m)]


async def test_store_failures_say_why_and_carry_an_error_id(harness: Harness, caplog):
    from retrieval.errors import StoreError

    def unreachable(*args, **kwargs):
        raise StoreError("the vector store at 127.0.0.1:8000 is unreachable")

    harness.service.ask = unreachable  # type: ignore[method-assign]
    handle = await harness.slash("ask", {"question": SAMPLE_QUESTION, "private": True})
    shown = await harness.emu.wait_until(lambda: (handle.original or {}).get("content"), 5)
    assert handle.ephemeral
    assert re.fullmatch(r"The vector store at 127\.0\.0\.1:8000 is unreachable\. \(error id `[0-9a-f]{8}`\)", shown)
    assert [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
