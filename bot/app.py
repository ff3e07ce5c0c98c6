"""The bot: wiring only. Settings and the service are injected; features live in cogs.

Process-wide concerns (logging, which Discord API to talk to, the model loaded before
connecting) belong to ``bot.runner``; the bot never changes discord.py's globals.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import discord
from discord.ext import commands

from bot import views
from bot.config import BotConfig
from bot.guild_settings import GuildSettings
from bot.permissions import Cooldowns
from bot.state import AnswerCache, ThreadMemory
from bot.tree import CitebotTree
from config import Settings
from retrieval import CitebotService

log = logging.getLogger(__name__)

T = TypeVar("T")

EXTENSIONS = (
    "bot.cogs.ask",
    "bot.cogs.lookup",
    "bot.cogs.documents",
    "bot.cogs.manage",
    "bot.cogs.config",
    "bot.cogs.chat",
    "bot.cogs.stats",
    "bot.cogs.help",
    "bot.cogs.feeds",
)


class Citebot(commands.Bot):
    """Discord client for a ``CitebotService``.

    ``sync_global``: push the application commands to Discord at start-up (only after
    they changed: Discord limits how often, and takes a while to show global changes);
    ``sync_guild``: push them to that one guild instead, at once (development). Neither:
    the commands Discord already has are used. ``message_content``: ask for the privileged
    intent that thread follow-ups without a mention need. ``workers``: the thread pool
    that every service call runs in, so the event loop (heartbeats, other users) never
    waits for retrieval or embedding. ``feed_interval``: seconds between looks for due
    feeds (``bot.cogs.feeds``). Other keyword arguments go to ``discord.Client``.
    """

    def __init__(
        self,
        settings: Settings,
        service: CitebotService,
        *,
        sync_global: bool = False,
        sync_guild: int | None = None,
        message_content: bool = True,
        workers: int = 8,
        extensions: Sequence[str] = EXTENSIONS,
        progress_interval: float = 5.0,
        feed_interval: float = 60.0,
        **options: Any,
    ) -> None:
        # Only what the bot uses: guilds (channels, threads, permissions), messages in guilds
        # and DMs (mentions, follow-ups), and, when enabled, the privileged message content.
        if sync_global and sync_guild is not None:
            raise ValueError("sync the commands globally or to one guild, not both")
        intents = discord.Intents(guilds=True, guild_messages=True, dm_messages=True, message_content=message_content)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            max_messages=1000,
            tree_cls=CitebotTree,
            **options,
        )
        self.config = BotConfig.from_settings(settings)
        self.service = service
        self.quota = self.config.quota
        self.cooldowns = Cooldowns(self.config.cooldown_rate, self.config.cooldown_seconds)
        self.answers = AnswerCache()
        self.threads = ThreadMemory()
        self.guild_settings = GuildSettings(service)  # escalation and auto-answer (issue 13)
        self.sync_global = sync_global
        self.sync_guild = sync_guild
        self.initial_extensions = tuple(extensions)
        self.progress_interval = progress_interval
        self.feed_interval = feed_interval  # how often the feeds cog looks for due feeds (each has its own time)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="citebot-service")

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a (synchronous) service call in the bot's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def setup_hook(self) -> None:
        self.add_dynamic_items(*views.DYNAMIC_ITEMS)
        for extension in self.initial_extensions:
            await self.load_extension(extension)
        if self.sync_guild is not None:
            guild = discord.Object(self.sync_guild)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), self.sync_guild)
        elif self.sync_global:
            synced = await self.tree.sync()
            log.info("synced %d commands globally (Discord may take a while to show them)", len(synced))

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info(
            "logged in as %s (id %s) in %d guilds; message content intent %s",
            self.user,
            self.user.id,
            len(self.guilds),
            "on" if self.intents.message_content else "off",
        )

    async def on_message(self, message: discord.Message, /) -> None:
        """No text commands: the chat cog answers mentions, DMs and thread follow-ups."""

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self.executor.shutdown(wait=False, cancel_futures=True)


class ShardedCitebot(Citebot, commands.AutoShardedBot):
    """The same bot over several gateway sessions (shards) in one process.

    ``shard_count`` and ``shard_ids`` (keyword options) pick the shards; neither: discord.py
    asks Discord for the recommended count and runs them all. The runner chooses this
    class; ``Citebot`` itself stays a single-session client (tests, library use).
    """
