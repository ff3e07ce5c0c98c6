"""``/feed add|list|remove`` and the poll loop, end to end: the real bot through the Discord
emulator, feeds and articles served on 127.0.0.1. Manage Server only; a poll ingests the
new article, /ask answers from it and "New: <title>" is posted (mentioning no one); feeds
survive a restart (a new bot and service on the same data dir) and belong to their guild."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import messages
from tests.discord.bot_fixtures import (
    MANAGER_PERMISSIONS,
    NO_PERMISSIONS,
    Harness,
    assert_clean,
    bot_settings,
    embed_text,
    running_bot,
    sampled_service,
)
from tests.discord.emulator import DiscordEmulator
from tests.feed_site import FeedDoc, Item, Site, article_html, site
from tests.http_server import send

PARAGRAPHS = [
    "The glacier research station recorded its warmest August since measurements began in 1952.",
    "Scientists at the station said the ice tongue had retreated by three hundred metres this year.",
]
QUESTION = "How far did the ice tongue retreat this year?"


@pytest.fixture
def news():
    with site() as s:
        s.feeds["polar"] = FeedDoc("atom", "Polar Times", [Item("urn:p1", "Warmest August at the station", "/p/1")])
        s.pages["/p/1"] = ("text/html", article_html(None, PARAGRAPHS))
        yield s


def settings_for(data_dir: Path, emu: DiscordEmulator):
    return bot_settings(data_dir, emu, url_allowlist=["127.0.0.1"])


@pytest.fixture
async def feeds_harness(emu: DiscordEmulator, tmp_path: Path):
    settings = settings_for(tmp_path / "data", emu)
    service = sampled_service(settings)
    async with running_bot(emu, settings, service, feed_interval=0.2) as bot:
        h = Harness(emu, bot, service, settings)
        yield h
    h.assert_clean()


async def feed(h: Harness, sub: str, options: dict | None = None, permissions: int = MANAGER_PERMISSIONS, **kw):
    handle = await h.slash("feed", options or {}, subcommand=sub, permissions=permissions, **kw)
    reply = await handle.wait_final(15)
    assert handle.ephemeral, reply
    return reply


async def test_add_poll_announce_ask_list_remove(feeds_harness: Harness, news: Site):
    h = feeds_harness
    url = news.url("/feeds/polar")
    reply = await feed(h, "add", {"url": url, "set": "science", "announce": True})
    (subscribed,) = h.service.feeds(h.namespace)
    assert reply["content"] == messages.FEED_ADDED.format(title="Polar Times", feed_id=subscribed.id) + (
        messages.FEED_ADDED_ANNOUNCE
    )
    assert subscribed.set_name == "science" and subscribed.announce == str(h.emu.channel_id)

    # The loop polls it (it is due at once): the article is ingested and announced.
    posted = await h.emu.wait_for_bot_message(
        channel_id=h.emu.channel_id, predicate=lambda m: m["content"].startswith("New: "), timeout=30
    )
    assert posted["content"] == f"New: **Warmest August at the station**\n<{news.url('/p/1')}>"
    assert news.requests("/p/1") == 1
    _, answer = await h.run("ask", {"question": QUESTION}, timeout=20)
    assert "three hundred metres" in embed_text(answer)

    listed = await feed(h, "list")
    text = embed_text(listed)
    assert "Polar Times" in text and subscribed.id in text and "1 articles" in text and "✓ ok" in text
    assert "set science" in text

    news.extra["/feeds/polar"] = lambda handler: send(handler, 500, b"down", "text/plain")
    h.service.poll_feeds(h.namespace, force=True)
    text = embed_text(await feed(h, "list"))
    assert "✗ failing (1×" in text and "HTTP error 500" in text

    choices = await (
        await h.emu.send_autocomplete(
            "feed", {"feed": "polar"}, focused="feed", subcommand="remove", permissions=MANAGER_PERMISSIONS
        )
    ).wait_final(5)
    assert [c["value"] for c in choices["choices"]] == [subscribed.id]
    reply = await feed(h, "remove", {"feed": subscribed.id})
    assert reply["content"] == messages.FEED_REMOVED.format(title="Polar Times", feed_id=subscribed.id)
    assert h.service.feeds(h.namespace) == []
    assert messages.FEED_LIST_NONE in embed_text(await feed(h, "list"))


@pytest.mark.parametrize("sub", ["add", "list", "remove", "autocomplete"])
async def test_members_without_manage_server_are_refused(feeds_harness: Harness, news: Site, sub: str):
    h = feeds_harness
    added = h.service.add_feed(news.url("/feeds/polar"), h.namespace)
    if sub == "autocomplete":
        handle = await h.emu.send_autocomplete(
            "feed", {"feed": ""}, focused="feed", subcommand="remove", permissions=NO_PERMISSIONS
        )
        assert (await handle.wait_final(5))["choices"] == []
        return
    options = {"add": {"url": news.url("/feeds/other")}, "list": {}, "remove": {"feed": added.id}}[sub]
    reply = await feed(h, sub, options, permissions=NO_PERMISSIONS)
    assert reply["content"] == messages.NEEDS_MANAGE_GUILD
    assert [f.id for f in h.service.feeds(h.namespace)] == [added.id]


async def test_bad_feeds_are_one_line_refusals(feeds_harness: Harness, news: Site):
    h = feeds_harness
    assert (await feed(h, "add", {"url": "ftp://x/rss"}))["content"] == messages.INGEST_BAD_URL
    reply = await feed(h, "add", {"url": "http://10.0.0.7/rss"})
    assert "refused" in reply["content"] and "\n" not in reply["content"]
    news.pages["/page"] = ("text/html", article_html("T", PARAGRAPHS))
    assert "not an RSS or Atom feed" in (await feed(h, "add", {"url": news.url("/page")}))["content"]
    await feed(h, "add", {"url": news.url("/feeds/polar")})
    assert "already subscribed" in (await feed(h, "add", {"url": news.url("/feeds/polar")}))["content"]
    assert "no feed" in (await feed(h, "remove", {"feed": "nope"}))["content"].lower()


async def test_feeds_belong_to_their_guild_and_survive_a_restart(emu: DiscordEmulator, tmp_path: Path, news: Site):
    settings = settings_for(tmp_path / "data", emu)
    url = news.url("/feeds/polar")
    async with running_bot(emu, settings, sampled_service(settings), feed_interval=3600) as bot:
        h = Harness(emu, bot, bot.service, settings)
        other = emu.add_guild("Other Guild")
        other_id, other_channel = int(other["id"]), int(other["channels"][0]["id"])
        await emu.wait_until(lambda: bot.get_guild(other_id), timeout=5)
        await feed(h, "add", {"url": url})
        (mine,) = bot.service.feeds(h.namespace)
        # Guild B sees none of A's feeds, cannot remove them, and its autocomplete offers nothing.
        listed = await feed(h, "list", guild_id=other_id, channel_id=other_channel)
        assert messages.FEED_LIST_NONE in embed_text(listed) and mine.id not in embed_text(listed)
        reply = await feed(h, "remove", {"feed": mine.id}, guild_id=other_id, channel_id=other_channel)
        assert "no feed" in reply["content"].lower()
        reply = await feed(h, "remove", {"feed": url}, guild_id=other_id, channel_id=other_channel)
        assert "no feed" in reply["content"].lower()
        choices = await (
            await emu.send_autocomplete(
                "feed",
                {"feed": ""},
                focused="feed",
                subcommand="remove",
                permissions=MANAGER_PERMISSIONS,
                guild_id=other_id,
                channel_id=other_channel,
            )
        ).wait_final(5)
        assert choices["choices"] == []
        assert [f.id for f in bot.service.feeds(h.namespace)] == [mine.id]
        assert bot.service.feeds(str(other_id)) == []
    assert_clean(emu)

    # A new bot over a new service on the same data dir: the feed is still there, and its
    # loop polls it (it was never polled: due).
    service = sampled_service(settings)
    async with running_bot(emu, settings, service, feed_interval=0.2) as bot:
        h = Harness(emu, bot, service, settings)
        await emu.wait_until(lambda: service.sources(h.namespace) or None, timeout=30)
        listed = await feed(h, "list")
        assert mine.id in embed_text(listed) and "1 articles" in embed_text(listed)
        assert service.sources(str(other_id)) == []
        _, answer = await h.run("ask", {"question": QUESTION}, timeout=20)
        assert "three hundred metres" in embed_text(answer)
    assert_clean(emu)
