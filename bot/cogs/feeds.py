"""``/feed add|list|remove`` (Manage Server only) and the loop that polls a server's feeds.

Feeds and their state live in the catalog (``retrieval/feeds.py``), so they survive a
restart and several bot processes see the same ones. The loop (``tasks.loop``) looks for
due feeds every ``bot.feed_interval`` seconds, jittered, in the guilds this process serves
(a sharded deployment polls each guild once); each feed has its own next-poll time (the
service jitters it and backs off after errors). The poll runs in the bot's thread pool, so
the event loop never waits for it. A feed added with ``announce`` gets "New: <title>" posts
in the channel it was added from, with no mentions allowed.
"""

from __future__ import annotations

import logging
import random

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot import messages, render
from bot.app import Citebot
from bot.permissions import can_manage, namespace_for
from bot.replies import defer, refuse_non_manager
from bot.set_options import set_choices
from retrieval import CitebotError, Feed, FeedPollReport

log = logging.getLogger(__name__)

JITTER = 0.1  # each wait of the loop is up to 10% shorter or longer


def feed_title(feed: Feed) -> str:
    return render.clip(render.escape(render.one_line(feed.state.title or feed.url)), 120) or feed.id


def feed_health(feed: Feed) -> str:
    st = feed.state
    error = render.clip(render.escape(render.one_line(st.last_error or "")), 300)
    if st.failures:
        return messages.FEED_FAILING.format(failures=st.failures, next=int(st.next_poll_at), error=error)
    return messages.FEED_OK_BUT.format(error=error) if st.last_error else messages.FEED_OK


def feeds_embed(feeds: list[Feed], poll_minutes: float) -> discord.Embed:
    """A server's feeds: title, id, articles, last poll, set, health (within Discord's limits)."""
    embed = discord.Embed(title=messages.FEED_LIST_TITLE, colour=render.CITATION_COLOUR)
    if not feeds:
        embed.description = messages.FEED_LIST_NONE
        return render.fit(embed)
    lines = []
    for f in feeds:
        polled = (
            messages.FEED_NEVER_POLLED
            if f.state.last_poll_at is None
            else messages.FEED_POLLED.format(at=int(f.state.last_poll_at))
        )
        set_name = messages.FEED_SET.format(name=render.escape(render.one_line(f.set_name))) if f.set_name else ""
        lines.append(
            messages.FEED_LINE.format(
                title=feed_title(f), feed_id=f.id, entries=f.entries, polled=polled, set=set_name, health=feed_health(f)
            )
        )
    embed.description = render.clip("\n\n".join(lines), render.EMBED_DESCRIPTION)
    embed.set_footer(text=messages.FEED_FOOTER.format(count=len(feeds), minutes=poll_minutes))
    return render.fit(embed)


def choice(feed: Feed) -> app_commands.Choice[str]:
    suffix = f" ({feed.id[:8]})"
    name = render.clip(render.one_line(feed.state.title or feed.url), render.CHOICE_NAME - len(suffix)) + suffix
    return app_commands.Choice(name=name, value=feed.id)


class Feeds(commands.Cog):
    feed = app_commands.Group(
        name="feed",
        description=messages.FEED_DESCRIPTION,
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: Citebot) -> None:
        self.bot = bot
        self.polls = 0  # ticks of the loop so far

    async def cog_load(self) -> None:
        self.poll.change_interval(seconds=self.bot.feed_interval)
        self.poll.start()

    async def cog_unload(self) -> None:
        self.poll.cancel()

    # -- commands ---------------------------------------------------------------------------
    @feed.command(name="add", description=messages.FEED_ADD_DESCRIPTION)
    @app_commands.describe(url=messages.FEED_ADD_URL, set=messages.FEED_ADD_SET, announce=messages.FEED_ADD_ANNOUNCE)
    @app_commands.autocomplete(set=set_choices)
    async def add(
        self,
        interaction: discord.Interaction[Citebot],
        url: app_commands.Range[str, 1, 2000],
        set: app_commands.Range[str, 1, 100] | None = None,
        announce: bool = False,
    ) -> None:
        if await refuse_non_manager(interaction):
            return
        if not url.strip().lower().startswith(("http://", "https://")):
            await interaction.response.send_message(messages.INGEST_BAD_URL, ephemeral=True)
            return
        await defer(interaction, ephemeral=True)
        bot = self.bot
        namespace = namespace_for(interaction.guild_id, bot.config)
        target = str(interaction.channel_id) if announce and interaction.channel_id else None
        try:
            feed = await bot.call(bot.service.add_feed, url.strip(), namespace, set_name=set, announce=target)
        except CitebotError as exc:  # not a feed, refused address, already subscribed, too many
            await interaction.edit_original_response(content=render.content(render.error_text(str(exc))))
            return
        text = messages.FEED_ADDED.format(title=feed_title(feed), feed_id=feed.id)
        text += messages.FEED_ADDED_ANNOUNCE if target else ""
        await interaction.edit_original_response(content=render.content(text))

    @feed.command(name="list", description=messages.FEED_LIST_DESCRIPTION)
    async def list_feeds(self, interaction: discord.Interaction[Citebot]) -> None:
        if await refuse_non_manager(interaction):
            return
        await defer(interaction, ephemeral=True)
        bot = self.bot
        feeds = await bot.call(bot.service.feeds, namespace_for(interaction.guild_id, bot.config))
        await interaction.edit_original_response(embed=feeds_embed(feeds, bot.config.feed_poll_minutes))

    @feed.command(name="remove", description=messages.FEED_REMOVE_DESCRIPTION)
    @app_commands.describe(feed=messages.FEED_REMOVE_FEED)
    async def remove(self, interaction: discord.Interaction[Citebot], feed: app_commands.Range[str, 1, 2000]) -> None:
        if await refuse_non_manager(interaction):
            return
        await defer(interaction, ephemeral=True)
        bot = self.bot
        removed = await bot.call(bot.service.remove_feed, feed, namespace_for(interaction.guild_id, bot.config))
        text = messages.FEED_REMOVED.format(title=feed_title(removed), feed_id=removed.id)
        await interaction.edit_original_response(content=render.content(text))

    @remove.autocomplete("feed")
    async def feed_autocomplete(
        self, interaction: discord.Interaction[Citebot], current: str
    ) -> list[app_commands.Choice[str]]:
        if not can_manage(interaction):
            return []
        bot = self.bot
        try:
            feeds = await bot.call(bot.service.feeds, namespace_for(interaction.guild_id, bot.config))
        except Exception:
            log.exception("autocomplete of /feed remove failed")
            return []
        needle = current.strip().lower()
        found = [
            f
            for f in feeds
            if needle in (f.state.title or "").lower() or needle in f.url.lower() or f.id.startswith(needle)
        ]
        return [choice(f) for f in found[: render.CHOICES]]

    # -- the poll loop ----------------------------------------------------------------------
    @tasks.loop(seconds=60)
    async def poll(self) -> None:
        bot = self.bot
        self.polls += 1
        for guild in list(bot.guilds):
            namespace = namespace_for(guild.id, bot.config)
            try:
                report = await bot.call(bot.service.poll_feeds, namespace, quota=bot.quota)
            except Exception:  # the store is unreachable, say: the next tick tries again
                log.exception("polling the feeds of guild %s failed", guild.id)
                continue
            await self.announce(guild, report)
        interval = bot.feed_interval * (1 + JITTER * (2 * random.random() - 1))
        self.poll.change_interval(seconds=max(0.05, interval))

    @poll.before_loop
    async def before_poll(self) -> None:
        await self.bot.wait_until_ready()

    async def announce(self, guild: discord.Guild, report: FeedPollReport) -> None:
        """ "New: <title>" for each new article of a feed with an announce channel (in this guild only)."""
        for item in report.items:
            if item.status == "failed":
                log.info("feed %s of guild %s: %s", item.feed_id, guild.id, item.error)
            if not item.announce or not item.announce.isdigit():
                continue
            channel = guild.get_channel_or_thread(int(item.announce))
            if not isinstance(channel, discord.TextChannel | discord.Thread):
                continue  # deleted, or not a text channel: nothing to post in
            for article in item.articles:
                if article.status != "added":
                    continue
                text = messages.FEED_NEW.format(title=render.clip(render.escape(render.one_line(article.title)), 300))
                url = render.safe_url(article.url)
                if url and render.dlen(url) < 500:
                    text += f"\n<{url}>"
                try:
                    await channel.send(render.content(text), allowed_mentions=discord.AllowedMentions.none())
                except discord.HTTPException as exc:  # no permission there, say: the article is still in
                    log.warning("could not announce a new article in channel %s (%s)", channel.id, exc.status)


async def setup(bot: Citebot) -> None:
    await bot.add_cog(Feeds(bot))
