"""End to end through the emulator: /ingest, /forget (with autocomplete), /sources, guild isolation."""

from __future__ import annotations

import time

import pytest

from bot import messages
from tests.discord.bot_fixtures import (
    MANAGER_PERMISSIONS,
    NO_PERMISSIONS,
    Harness,
    assert_clean,
    bot_settings,
    custom_ids,
    running_bot,
    sampled_service,
)
from tests.discord.emulator import ADMINISTRATOR, EPHEMERAL
from tests.http_server import send, serve

ARTICLE = (
    "Volcano Monitoring Expands in Iceland\n\n"
    "The Icelandic Meteorological Office installed forty new seismometers near Grindavik in March.\n\n"
    "Scientists said the magma corridor had refilled faster than expected after the last eruption.\n"
)


async def ingest(h: Harness, *, permissions: int = MANAGER_PERMISSIONS, timeout: float = 15, **options):
    handle = await h.slash("ingest", options, permissions=permissions)
    await h.emu.wait_until(lambda: (handle.original and handle.original.get("embeds")) or None, timeout)
    return handle, handle.original


@pytest.mark.parametrize("action", ["ingest", "forget", "autocomplete"])
async def test_members_without_manage_server_are_refused(harness: Harness, action: str):
    h = harness
    before = h.service.sources(h.namespace)
    if action == "ingest":
        file = h.emu.add_attachment("a.txt", ARTICLE.encode(), "text/plain")
        handle, reply = await h.run("ingest", {"file": file}, permissions=NO_PERMISSIONS)
    elif action == "forget":
        handle, reply = await h.run("forget", {"document": before[0].id}, permissions=NO_PERMISSIONS)
    else:
        handle = await h.emu.send_autocomplete("forget", {"document": "Iran"}, focused="document", permissions=0)
        assert (await handle.wait_final(5))["choices"] == []  # titles are not revealed either
        return
    assert handle.response_type == 4 and handle.ephemeral
    assert reply["content"] == messages.NEEDS_MANAGE_GUILD
    assert h.service.sources(h.namespace) == before


async def test_administrators_may_manage(harness: Harness):
    file = harness.emu.add_attachment("volcano.txt", ARTICLE.encode(), "text/plain")
    _, summary = await ingest(harness, file=file, permissions=ADMINISTRATOR)
    assert summary["embeds"][0]["title"] == messages.INGEST_TITLE


def make_pdf(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    for paragraph in text.split("\n\n"):
        pdf.multi_cell(0, 8, paragraph)
        pdf.ln(4)
    return bytes(pdf.output())


FORMATS = {
    "volcano.txt": ("text/plain; charset=utf-8", ARTICLE.encode()),  # what Discord reports for text files
    "volcano.md": (
        "text/markdown",
        ("# Volcano Monitoring Expands in Iceland\n\n" + ARTICLE.split("\n\n", 1)[1]).encode(),
    ),
    "volcano.html": (
        "text/html",
        (
            "<html><head><title>Volcano Monitoring Expands in Iceland</title></head><body><article>"
            + "".join(f"<p>{p}</p>" for p in ARTICLE.split("\n\n")[1:])
            + "</article></body></html>"
        ).encode(),
    ),
    "volcano.pdf": ("application/pdf", make_pdf(ARTICLE)),
}


@pytest.mark.parametrize("filename", sorted(FORMATS))
async def test_ingest_a_file_then_ask_about_it(harness: Harness, filename: str):
    h = harness
    content_type, data = FORMATS[filename]
    handle, summary = await ingest(h, file=h.emu.add_attachment(filename, data, content_type))
    assert handle.ephemeral
    embed = summary["embeds"][0]
    assert embed["title"] == messages.INGEST_TITLE and embed["description"].startswith("✓ Added")
    assert embed["footer"]["text"].startswith("1 added, 0 replaced, 0 unchanged, 0 failed")
    assert len(h.service.sources(h.namespace)) == 2
    _, answer = await h.run("ask", {"question": "How many seismometers were installed near Grindavik?"})
    # The answer span ("forty", for "how many") is bold inside the quote.
    assert "forty new seismometers" in answer["embeds"][0]["description"].replace("**", "")


async def test_the_same_file_again_is_unchanged(harness: Harness):
    h = harness
    await ingest(h, file=h.emu.add_attachment("v.txt", ARTICLE.encode(), "text/plain"))
    _, summary = await ingest(h, file=h.emu.add_attachment("v.txt", ARTICLE.encode(), "text/plain"))
    assert "already here, unchanged" in summary["embeds"][0]["description"]


async def test_oversize_binary_and_unsupported_attachments_are_refused(emu, tmp_path):
    settings = bot_settings(tmp_path / "data", emu, max_file_bytes=10_000)
    async with running_bot(emu, settings, sampled_service(settings)):
        big = emu.add_attachment("big.txt", b"word " * 5000, "text/plain")
        handle = await emu.send_slash_command("ingest", {"file": big}, permissions=MANAGER_PERMISSIONS)
        reply = await handle.wait_final(5)
        assert handle.response_type == 4 and handle.ephemeral
        assert reply["content"] == "big.txt is 25,000 bytes; the limit is 10,000 bytes."

        exe = emu.add_attachment("tool.exe", b"MZ\x90\x00" * 10, "application/octet-stream")
        handle = await emu.send_slash_command("ingest", {"file": exe}, permissions=MANAGER_PERMISSIONS)
        assert (await handle.wait_final(5))["content"].startswith("tool.exe: unsupported type")

        binary = emu.add_attachment("notes.txt", b"\x00\x01\x02binary\x00" * 100, "text/plain")
        handle = await emu.send_slash_command("ingest", {"file": binary}, permissions=MANAGER_PERMISSIONS)
        await emu.wait_until(lambda: (handle.original and handle.original.get("embeds")) or None, 10)
        embed = handle.original["embeds"][0]
        assert embed["title"] == messages.INGEST_TITLE_FAILED and "binary" in embed["description"]

        fake_pdf = emu.add_attachment("paper.pdf", b"not a pdf at all", "application/pdf")
        handle = await emu.send_slash_command("ingest", {"file": fake_pdf}, permissions=MANAGER_PERMISSIONS)
        await emu.wait_until(lambda: (handle.original and handle.original.get("embeds")) or None, 10)
        assert "not a PDF" in handle.original["embeds"][0]["description"]

        handle = await emu.send_slash_command("ingest", {}, permissions=MANAGER_PERMISSIONS)
        assert (await handle.wait_final(5))["content"] == messages.INGEST_NEEDS_ONE
    assert_clean(emu)


async def test_ingest_reports_progress_on_long_documents(harness: Harness):
    h = harness
    real = h.service.ingest_bytes

    def slow(*args, **kwargs):
        time.sleep(0.8)
        return real(*args, **kwargs)

    h.service.ingest_bytes = slow  # type: ignore[method-assign]
    handle, summary = await ingest(h, file=h.emu.add_attachment("slow.txt", ARTICLE.encode(), "text/plain"))
    steps = [e.payload.get("content") for e in handle.edits]
    assert steps[0] == "Downloading slow.txt…"
    assert any(s and s.startswith("Reading and indexing slow.txt… (") for s in steps)
    assert summary["embeds"][0]["title"] == messages.INGEST_TITLE and not summary["content"]


async def test_ingest_by_url(emu, tmp_path):
    page = (
        "<html><head><title>Volcano Monitoring Expands in Iceland</title></head><body><article>"
        + "".join(f"<p>{p}</p>" for p in ARTICLE.split("\n\n")[1:])
        + "</article></body></html>"
    ).encode()
    with serve({"/volcano": lambda handler: send(handler, 200, page, "text/html; charset=utf-8")}) as base:
        # Private addresses are refused unless allowed (here they must be: the server is local).
        settings = bot_settings(tmp_path / "blocked", emu)
        async with running_bot(emu, settings, sampled_service(settings)):
            handle = await emu.send_slash_command("ingest", {"url": f"{base}/volcano"}, permissions=MANAGER_PERMISSIONS)
            await emu.wait_until(lambda: (handle.original and handle.original.get("embeds")) or None, 10)
            assert handle.original["embeds"][0]["title"] == messages.INGEST_TITLE_FAILED
        settings = bot_settings(tmp_path / "allowed", emu, url_allow_private=True)
        service = sampled_service(settings)
        async with running_bot(emu, settings, service):
            handle = await emu.send_slash_command("ingest", {"url": f"{base}/volcano"}, permissions=MANAGER_PERMISSIONS)
            await emu.wait_until(lambda: (handle.original and handle.original.get("embeds")) or None, 10)
            assert "Added **Volcano Monitoring Expands in Iceland**" in handle.original["embeds"][0]["description"]
            handle = await emu.send_slash_command(
                "ingest", {"url": "ftp://example.com/x"}, permissions=MANAGER_PERMISSIONS
            )
            assert (await handle.wait_final(5))["content"] == messages.INGEST_BAD_URL
        assert service.sources(str(emu.guild_id))[0].url == f"{base}/volcano"
    assert_clean(emu)


async def test_guild_quota_is_enforced_with_a_clear_message(emu, tmp_path):
    settings = bot_settings(tmp_path / "data", emu, guild_max_documents=1)
    async with running_bot(emu, settings, sampled_service(settings, str(emu.guild_id))):
        file = emu.add_attachment("v.txt", ARTICLE.encode(), "text/plain")
        handle = await emu.send_slash_command("ingest", {"file": file}, permissions=MANAGER_PERMISSIONS)
        await emu.wait_until(lambda: (handle.original and handle.original.get("content")) or None, 10)
        assert handle.ephemeral
        assert handle.original["content"] == "This server already has 1 documents (the limit is 1)."
    assert_clean(emu)


async def test_forget_with_autocomplete_then_buttons_say_the_document_is_gone(harness: Harness):
    h = harness
    await ingest(h, file=h.emu.add_attachment("volcano.txt", ARTICLE.encode(), "text/plain"))
    _, answer = await h.run("ask", {"question": "How many seismometers were installed near Grindavik?"})
    auto = await h.emu.send_autocomplete(
        "forget", {"document": "volc"}, focused="document", permissions=MANAGER_PERMISSIONS
    )
    choices = (await auto.wait_final(5))["choices"]
    assert [c["name"] for c in choices] == [f"Volcano Monitoring Expands in Iceland ({choices[0]['value'][:8]})"]
    all_choices = await h.emu.send_autocomplete(
        "forget", {"document": ""}, focused="document", permissions=MANAGER_PERMISSIONS
    )
    assert len((await all_choices.wait_final(5))["choices"]) == 2
    handle, reply = await h.run("forget", {"document": choices[0]["value"]}, permissions=MANAGER_PERMISSIONS)
    assert handle.ephemeral and reply["content"].startswith("Forgot **Volcano Monitoring Expands in Iceland**")
    assert [d.title for d in h.service.sources(h.namespace)] == ["Iran Rebuffs Russian Demand to Withdraw from Syria"]
    handle = await h.slash("forget", {"document": "no such document"}, permissions=MANAGER_PERMISSIONS)
    await h.emu.wait_until(lambda: (handle.original and handle.original.get("content")) or None, 5)
    assert handle.ephemeral and handle.original["content"] == "No document 'no such document' in this namespace."
    _, opened = await h.click(answer, custom_ids(answer, "cb:cite:")[0])
    assert opened["content"] == messages.SOURCE_GONE


async def test_sources_lists_documents_with_pages(harness: Harness):
    h = harness
    for i in range(24):
        h.service.ingest_bytes(
            f"Report number {i}\n\nThe value measured was {i * 7}.".encode(), f"r{i}.txt", h.namespace
        )
    handle, first = await h.run("sources")
    assert handle.ephemeral
    embed = first["embeds"][0]
    assert embed["footer"]["text"] == "Page 1 of 3 · 25 document(s)"
    assert embed["description"].count("\n") == 9
    buttons = custom_ids(first, "cb:docs:")
    assert buttons == [f"cb:docs:{h.emu.guild_id}:0", f"cb:docs:{h.emu.guild_id}:1"]
    _, second = await h.click(first, buttons[1])
    assert second["id"] == first["id"]  # the list is edited in place
    assert second["embeds"][0]["footer"]["text"].startswith("Page 2 of 3")
    _, third = await h.click(second, custom_ids(second, "cb:docs:")[1])
    assert third["embeds"][0]["footer"]["text"].startswith("Page 3 of 3")
    assert third["embeds"][0]["description"].count("\n") == 4


async def test_guilds_never_see_each_others_documents(harness: Harness):
    h = harness
    other = h.emu.add_guild("Other Guild", channel_names=["lobby"])
    other_id, other_channel = int(other["id"]), int(other["channels"][0]["id"])
    await h.emu.wait_until(lambda: h.bot.get_guild(other_id))
    file = h.emu.add_attachment("volcano.txt", ARTICLE.encode(), "text/plain")
    handle = await h.slash("ingest", {"file": file}, channel_id=other_channel, permissions=MANAGER_PERMISSIONS)
    await h.emu.wait_until(lambda: (handle.original and handle.original.get("embeds")) or None, 10)
    assert [d.title for d in h.service.sources(str(other_id))] == ["Volcano Monitoring Expands in Iceland"]

    question = "How many seismometers were installed near Grindavik?"
    _, here = await h.run("ask", {"question": question})
    assert "couldn't find" in here["embeds"][0]["description"]
    _, there = await h.run("ask", {"question": question}, channel_id=other_channel)
    assert "forty new seismometers" in there["embeds"][0]["description"].replace("**", "")
    _, listed = await h.run("sources")
    assert "Volcano" not in listed["embeds"][0]["description"]
    _, listed = await h.run("sources", channel_id=other_channel)
    assert "Iran Rebuffs" not in listed["embeds"][0]["description"]
    _, found = await h.run("cite", {"id_or_quote": "forty new seismometers near Grindavik"})
    assert found["content"] == messages.QUOTE_NOT_FOUND
    auto = await h.emu.send_autocomplete(
        "forget", {"document": ""}, focused="document", permissions=MANAGER_PERMISSIONS
    )
    assert [c["name"][:5] for c in (await auto.wait_final(5))["choices"]] == ["Iran "]
    # A citation id from the other guild does not open here.
    volcano_id = h.service.search("seismometers", str(other_id), 1)[0].id
    handle = await h.slash("cite", {"id_or_quote": volcano_id})
    await h.emu.wait_until(lambda: handle.followups, 5)
    assert handle.followups[-1]["flags"] & EPHEMERAL and "no longer in the store" in handle.followups[-1]["content"]


async def test_direct_messages_use_their_own_namespace_and_cannot_ingest(harness: Harness):
    h = harness
    handle, reply = await h.run("ask", {"question": "What did Russia demand from Iran?"}, dm=True)
    assert "couldn't find" in reply["embeds"][0]["description"]  # the DM namespace is empty
    h.service.ingest_bytes(ARTICLE.encode(), "volcano.txt", "dm-test")
    _, listed = await h.run("sources", dm=True)
    assert (
        listed["embeds"][0]["title"] == messages.DOCUMENTS_TITLE_DM and "Volcano" in listed["embeds"][0]["description"]
    )
    file = h.emu.add_attachment("v.txt", ARTICLE.encode(), "text/plain")
    handle, reply = await h.run("ingest", {"file": file}, dm=True)
    assert handle.ephemeral and reply["content"] == messages.GUILD_ONLY
