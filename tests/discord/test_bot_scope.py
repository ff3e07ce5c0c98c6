"""/ask with since and source, end to end through the emulator."""

from __future__ import annotations

from retrieval.loaders import content_id
from retrieval.models import Document
from tests.discord.bot_fixtures import Harness
from tests.discord.emulator import EPHEMERAL

TEXT = "The Marlow council voted in March 2019 to build a new bridge over the river Tane."
QUESTION = "When did the Marlow council vote to build the bridge over the river Tane?"


def _ingest_dated(h: Harness) -> str:
    url = "https://www.reuters.com/old-bridge"
    doc = Document(content_id(TEXT), TEXT, url, "Marlow bridge", url=url, published="Thu, 14 Mar 2019 09:00:00 GMT")
    assert h.service.ingest_document(doc, h.namespace).status == "added"
    return doc.id


async def test_ask_with_source_cites_that_site_with_outlet_and_date(harness: Harness):
    doc_id = _ingest_dated(harness)
    handle, message = await harness.run("ask", {"question": QUESTION, "source": "reuters.com", "since": "2019-01-01"})
    assert handle.response_type == 5
    embed = message["embeds"][0]
    assert embed["fields"], embed
    first = embed["fields"][0]["value"]
    assert "Marlow bridge" in first and "\nreuters.com · 2019-03-14" in first
    assert all(doc_id[:8] in f["value"] for f in embed["fields"])  # only that site's document is cited


async def test_ask_with_a_filter_matching_nothing_says_so(harness: Harness):
    _ingest_dated(harness)
    _, message = await harness.run("ask", {"question": QUESTION, "source": "https://apnews.com/world"})
    embed = message["embeds"][0]
    assert embed["description"] == "No documents match the filter (from apnews.com)."
    assert not embed.get("fields")


async def test_a_bad_since_is_a_one_line_private_error(harness: Harness):
    handle, message = await harness.run("ask", {"question": QUESTION, "since": "abc"})
    assert handle.ephemeral and message["flags"] & EPHEMERAL
    assert handle.response_type == 4  # refused before any work: nothing was deferred
    assert message["content"] == (
        "Since 'abc' is not a time window: use e.g. 12h, 7d, 2w, 3m, 1y or a date like 2024-05-01."
    )
    assert not message.get("embeds")


async def test_ask_registers_since_and_source_options(harness: Harness):
    commands = {c["name"]: c for c in harness.emu.commands()}
    options = {o["name"]: o for o in commands["ask"]["options"]}
    assert not options["since"].get("required") and not options["source"].get("required")
    assert len(options["since"]["description"]) <= 100 and len(options["source"]["description"]) <= 100


async def test_a_question_that_names_its_year_is_answered_from_it_and_dated(harness: Harness):
    _ingest_dated(harness)
    newer = "The Marlow council voted in May 2025 to repair the bridge over the river Tane."
    url = "https://apnews.com/new-bridge"
    doc = Document(content_id(newer), newer, url, "Bridge repair", url=url, published="2025-05-20")
    harness.service.ingest_document(doc, harness.namespace)
    _, message = await harness.run("ask", {"question": "what did the Marlow council vote on in 2019?"})
    embed = message["embeds"][0]
    assert "Marlow bridge" in embed["fields"][0]["value"] and "Bridge repair" not in str(embed["fields"])
    assert "From 2019-03-14: the most recent matching article for “in 2019”" in embed["footer"]["text"]
