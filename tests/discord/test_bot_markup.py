"""Mentions and markup, end to end: hostile articles and questions never ping and never format.

An article full of ``@everyone``, ``@here``, role and user mentions, masked links (one of
them cut in two by a sentence boundary) and Markdown is ingested through /ingest, then
reached through /ask, /search, /cite, the buttons, /sources, mention chat and a thread
follow-up, with questions just as hostile. Every payload the bot sends says, explicitly,
that it may mention no one; and in what users read, no mention of a user or role renders
as one (it is shown as text), no masked link hides where it goes, and Markdown from the
article shows as the characters it is made of. The one mention the bot makes on purpose,
"Shared by @user" naming the person who shared an answer, pings nobody either.
"""

from __future__ import annotations

import re

from bot import messages
from tests.discord.bot_fixtures import MANAGER_PERMISSIONS, Harness, custom_ids
from tests.discord.emulator import Outgoing

EVIL = "evil.example"
MENTION = re.compile(r"<@[!&]?\d+>")


def hostile_article(role: str, user: str) -> str:
    return (
        f"Harbour Festival <@&{role}> @here Schedule\n\n"
        f"@everyone the harbour festival opens at dawn, wrote <@{user}> for the <@&{role}> crew.\n\n"
        f"@here the lantern parade follows at dusk, said <@!{user}> on behalf of the council.\n\n"
        f"Tickets are sold at [the official desk](https://{EVIL}/tickets) near the harbour gate.\n\n"
        f"The ferry timetable is posted online. [Festival news. Click here](https://{EVIL}/news) for updates.\n\n"
        f"Visitors should read the map at [map](<https://{EVIL}/map>) before the festival starts.\n\n"
        "The harbour master called the festival **truly** __unmissable__ and ~~cheap~~ ||free||.\n\n"
        "# The festival ends with fireworks\n-# small print about the fireworks\n> quoted fireworks warning\n"
    )


def text_parts(payload: dict) -> list[str]:
    """Every piece of text in a payload that Discord renders as Markdown (titles and fields too)."""
    parts = [payload.get("content") or ""]
    for embed in payload.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f.get('name')}\n{f.get('value')}" for f in embed.get("fields") or []]
        parts += [(embed.get("footer") or {}).get("text") or "", (embed.get("author") or {}).get("name") or ""]
    return [p for p in parts if p]


def escaped_at(text: str, index: int) -> bool:
    """Whether the character at ``index`` follows an odd run of backslashes."""
    run = len(text[:index]) - len(text[:index].rstrip("\\"))
    return run % 2 == 1


def rendered_mentions(text: str) -> list[str]:
    """Mentions Discord would draw as a user or role pill (an escaped ``\\<@…>`` shows as text)."""
    return [m.group() for m in MENTION.finditer(text) if not escaped_at(text, m.start())]


def masked_links(text: str) -> list[str]:
    """Targets of ``[text](url)`` links Discord would render: unescaped brackets, then a parenthesis."""
    targets = []
    for start in (i for i, ch in enumerate(text) if ch == "[" and not escaped_at(text, i)):
        depth, i = 0, start
        while i < len(text):
            if text[i] in "[]" and not escaped_at(text, i):
                depth += 1 if text[i] == "[" else -1
                if depth == 0:
                    break
            i += 1
        if depth == 0 and text[i + 1 : i + 2] == "(" and (end := text.find(")", i)) > 0:
            targets.append(text[i + 2 : end])
    return targets


def assert_neutral(out: Outgoing, sharer_ids: set[str]) -> None:
    for part in text_parts(out.payload):
        mentions = rendered_mentions(part)
        if part.startswith("Shared by "):  # the bot's own line naming who shared: no ping, by allowed_mentions
            assert mentions == [] or (len(mentions) == 1 and mentions[0][2:-1] in sharer_ids), part
            mentions = rendered_mentions(part[part.index(":") :])
        assert mentions == [], (out.kind, part)
        assert not [t for t in masked_links(part) if EVIL in t], (out.kind, part)


async def test_hostile_articles_and_questions_never_ping_and_never_render_as_mentions_or_links(harness: Harness):
    h = harness
    emu = h.emu
    role = emu.add_role(emu.guild_id, "crew", 0)
    victim = emu.owner["id"]
    article = hostile_article(role["id"], victim)
    name = f"@everyone <@&{role['id']}> festival.txt"
    ingest = await h.slash(
        "ingest", {"file": emu.add_attachment(name, article.encode(), "text/plain")}, permissions=MANAGER_PERMISSIONS
    )
    summary = await emu.wait_until(lambda: (ingest.original or {}).get("embeds") and ingest.original, 10)
    assert summary["embeds"][0]["title"] == messages.INGEST_TITLE, summary
    doc = next(d for d in h.service.sources(h.namespace) if "Harbour Festival" in d.title)

    hostile = f"@everyone @here <@&{role['id']}> <@{victim}> [click](https://{EVIL}/q) **now**"
    questions = [
        "When does the harbour festival open at dawn?",
        f"{hostile} when does the harbour festival open?",
        f"{hostile} who called the festival unmissable?",
        f"{hostile} where are tickets sold near the harbour gate?",
        "Where is the ferry timetable posted? Festival news?",
    ]
    answers = []
    for question in questions:
        _, answer = await h.run("ask", {"question": question})
        answers.append(answer)
    quoted = answers[0]["embeds"][0]["description"]
    assert f"@everyone the harbour festival opens at dawn, wrote \\<@{victim}> for the \\<@&{role['id']}>" in quoted
    _, private = await h.run("ask", {"question": questions[2], "private": True})
    for answer in [*answers, private]:
        for custom_id in custom_ids(answer):
            await h.click(answer, custom_id)
    await h.run("search", {"query": f"{hostile} festival tickets ferry news lantern"})
    await h.run("search", {"query": "harbour festival fireworks map"})
    for quote in (
        f"@everyone the harbour festival opens at dawn, wrote <@{victim}> for the <@&{role['id']}> crew.",
        f"Tickets are sold at [the official desk](https://{EVIL}/tickets) near the harbour gate.",
        "The harbour master called the festival **truly** __unmissable__",
        hostile,
    ):
        await h.run("cite", {"id_or_quote": quote})
    _, listed = await h.run("sources")
    assert rendered_mentions(listed["embeds"][0]["description"]) == []
    await h.run("forget", {"document": f"<@&{role['id']}> @everyone"}, permissions=MANAGER_PERMISSIONS)

    posted = await emu.send_message(f"{hostile} the lantern parade follows at dusk", author=emu.owner)
    await h.menu(messages.MENU_FIND, posted)
    await h.menu(messages.MENU_ASK, posted)
    asked = await emu.send_message(f"<@{emu.bot_user['id']}> {questions[1]}", author=emu.user)
    reply = await emu.wait_for_bot_message(
        predicate=lambda m: (m.get("message_reference") or {}).get("message_id") == asked["id"], timeout=10
    )
    thread_id = int((await emu.wait_until(lambda: emu.threads))[0]["id"])
    follow = await emu.send_message(f"and {hostile} when does the lantern parade start?", channel_id=thread_id)
    await emu.wait_for_bot_message(
        channel_id=thread_id,
        predicate=lambda m: (m.get("message_reference") or {}).get("message_id") == follow["id"],
        timeout=10,
    )
    dm = await emu.send_message(questions[3], author=emu.user, dm=True)
    await emu.wait_for_bot_message(
        predicate=lambda m: (m.get("message_reference") or {}).get("message_id") == dm["id"], timeout=10
    )
    assert reply["embeds"] and doc.id

    # Nothing pings: every payload forbids every mention, explicitly.
    assert emu.unsafe_mentions() == []
    h.assert_clean()
    # Nothing renders as a mention or a masked link, and the article's Markdown shows as text.
    sharers = {str(emu.user["id"])}
    outgoing = emu.outgoing()
    assert len(outgoing) > 40
    for out in outgoing:
        assert_neutral(out, sharers)
    shown = "\n".join(part for out in outgoing for part in text_parts(out.payload))
    assert "\\*\\*truly\\*\\* \\_\\_unmissable\\_\\_ and \\~\\~cheap\\~\\~ \\|\\|free\\|\\|" in shown
    assert "\\# The festival ends with fireworks\n\\-# small print" in shown and "\n\\> quoted fireworks" in shown
    assert f"\\[the official desk\\](https://{EVIL}/tickets)" in shown  # the link, shown as text
    assert f"wrote \\<@{victim}> for the \\<@&{role['id']}> crew" in shown  # mentions, shown as text
    assert any(m.startswith("Shared by <@") for m in (o.payload.get("content") or "" for o in outgoing))


async def test_a_masked_link_cut_by_a_citation_boundary_stays_text(harness: Harness):
    """A quoted sentence may start inside a masked link: the text before it and the quote are
    escaped separately, and the halves must not join into a link around the bold quote."""
    h = harness
    article = (
        "Ferry Notice\n\n"
        f"The ferry timetable is posted online. [Festival news. Click here](https://{EVIL}/news) for updates.\n\n"
        f"Another line [Read the notice. Then go](<https://{EVIL}/go>) to the pier.\n"
    )
    report = h.service.ingest_bytes(article.encode(), "ferry.txt", h.namespace)
    doc_id = report.items[0].doc_id
    text = h.service.catalog.text(h.namespace, doc_id)
    for quote in (f"Click here](https://{EVIL}/news) for updates.", f"Then go](<https://{EVIL}/go>) to the pier."):
        start = text.index(quote)
        cid = f"{doc_id[:8]}-{start}-{start + len(quote)}"
        _, found = await h.run("cite", {"id_or_quote": cid})
        assert "**" in found["embeds"][0]["description"], found  # the quote, in bold, inside its context
        _, answer = await h.run("ask", {"question": quote})
        for custom_id in custom_ids(answer):
            await h.click(answer, custom_id)
    await h.run("search", {"query": "festival news click here read the notice"})
    for out in h.emu.outgoing():
        assert_neutral(out, set())
    h.assert_clean()
