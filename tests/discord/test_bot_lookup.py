"""End to end through the emulator: /search, /cite, the "Find source" menu and /help."""

from __future__ import annotations

from bot import messages
from tests.discord.bot_fixtures import Harness

QUOTE = "Iran and Russia have been involved in a competition of sorts over which nation supports Assad more."


async def test_search_shows_top_passages_with_citation_ids(harness: Harness):
    handle, message = await harness.run("search", {"query": "sanctions Treasury Department"})
    assert handle.response_type == 5 and not handle.ephemeral
    embed = message["embeds"][0]
    assert embed["title"] == "Passages for: sanctions Treasury Department"
    assert 1 <= len(embed["fields"]) <= harness.settings.search_k
    assert embed["fields"][0]["name"].startswith("1. Iran Rebuffs Russian Demand to Withdraw from Syria · paragraph")
    assert "`6f75d72f-" in embed["fields"][0]["value"]
    assert any("Treasury" in f["value"] for f in embed["fields"])


async def test_cite_by_id_opens_the_passage(harness: Harness):
    _, message = await harness.run("cite", {"id_or_quote": "6f75d72f-1524-1623"})
    embed = message["embeds"][0]
    assert embed["title"] == "Iran Rebuffs Russian Demand to Withdraw from Syria"
    assert f"**{QUOTE}**" in embed["description"]
    assert embed["footer"]["text"].startswith("Citation 6f75d72f-1524-1623 · paragraph 7 · exact quote")


async def test_cite_by_quote_finds_where_it_occurs(harness: Harness):
    _, message = await harness.run("cite", {"id_or_quote": QUOTE})
    assert "6f75d72f-1524-1623" in message["embeds"][0]["footer"]["text"]
    # A slightly different wording is still found, and labelled a near match.
    near = QUOTE.replace("competition of sorts", "competition of sort").replace("Assad", "assad")
    _, message = await harness.run("cite", {"id_or_quote": near})
    assert "near match" in message["embeds"][0]["footer"]["text"]


async def test_cite_says_plainly_when_a_quote_does_not_occur(harness: Harness):
    _handle, message = await harness.run("cite", {"id_or_quote": "The moon is made of green cheese, officials said."})
    assert message["content"] == messages.QUOTE_NOT_FOUND and not message.get("embeds")


async def test_cite_of_an_unknown_id_is_an_ephemeral_error(harness: Harness):
    handle = await harness.slash("cite", {"id_or_quote": "deadbeef-10-20"})
    await harness.emu.wait_until(lambda: handle.followups)
    error = handle.followups[-1]
    assert error["flags"] & 64  # ephemeral
    assert "no longer in the store" in error["content"]
    assert handle.original is None  # the public "thinking…" message was removed


async def test_find_source_menu_locates_a_quoted_message(harness: Harness):
    h = harness
    posted = await h.emu.send_message(f"Someone wrote: {QUOTE}", author=h.emu.owner)
    _handle, message = await h.menu("Find source", posted)
    # The message holds more than the quote: the near-match search still finds its source.
    assert "6f75d72f-" in message["embeds"][0]["footer"]["text"]
    exact = await h.emu.send_message(QUOTE, author=h.emu.owner)
    _, message = await h.menu("Find source", exact)
    assert "6f75d72f-1524-1623" in message["embeds"][0]["footer"]["text"]
    unrelated = await h.emu.send_message("Pineapples grow on bushes, not trees.", author=h.emu.owner)
    _, message = await h.menu("Find source", unrelated)
    assert message["content"] == messages.QUOTE_NOT_FOUND


async def test_help_lists_the_commands(harness: Harness):
    handle, message = await harness.run("help")
    assert handle.response_type == 4 and handle.ephemeral
    text = "\n".join(f["value"] for f in message["embeds"][0]["fields"])
    for name in ("ask", "search", "cite", "sources", "ingest", "forget", "config", "help", "feed", "stats", "sets"):
        assert f"`/{name}`" in text
    assert "Ask Citebot about this" in text and "Find source" in text


async def test_commands_are_registered_within_discord_rules(harness: Harness):
    registered = {(c["type"], c["name"]) for c in harness.emu.commands()}
    assert registered == {
        (1, "ask"),
        (1, "search"),
        (1, "cite"),
        (1, "sources"),
        (1, "ingest"),
        (1, "forget"),
        (1, "config"),
        (1, "help"),
        (1, "feed"),
        (1, "stats"),
        (1, "sets"),
        (3, "Ask Citebot about this"),
        (3, "Find source"),
    }
    manage = {c["name"]: c["default_member_permissions"] for c in harness.emu.commands()}
    assert int(manage["ingest"]) == int(manage["forget"]) == int(manage["config"]) == 1 << 5
    assert manage["ask"] is None
