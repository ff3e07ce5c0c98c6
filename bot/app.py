"""The bot: wiring only. Settings and the service are injected; features live in cogs."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import discord
import discord.http
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot import views
from bot.permissions import Cooldowns
from config import Settings
from retrieval.service import CitebotService, Quota

log = logging.getLogger(__name__)

T = TypeVar("T")

DISCORD_API_BASE = "https://discord.com/api/v10"
EXTENSIONS = (
    "bot.cogs.errors",
    "bot.cogs.ask",
    "bot.cogs.lookup",
    "bot.cogs.documents",
    "bot.cogs.manage",
    "bot.cogs.chat",
    "bot.cogs.help",
)


def quota_from(settings: Settings) -> Quota:
    return Quota(
        max_documents=settings.guild_max_documents,
        max_bytes=settings.guild_max_bytes,
        ingests_per_hour=settings.guild_ingests_per_hour,
    )


class Citebot(commands.Bot):
    """Discord client for a ``CitebotService``.

    ``sync_commands``: push the application commands at start-up (globally, or to
    ``sync_guild`` only, for development). ``message_content``: ask for the privileged
    intent that thread follow-ups without a mention need. ``workers``: the thread pool
    that every service call runs in, so the event loop (heartbeats, other users) never
    waits for retrieval or embedding. Other keyword arguments go to ``discord.Client``.
    """

    def __init__(
        self,
        settings: Settings,
        service: CitebotService,
        *,
        sync_guild: int | None = None,
        sync_commands: bool = True,
        message_content: bool = True,
        workers: int = 8,
        extensions: Sequence[str] = EXTENSIONS,
        progress_interval: float = 5.0,
        **options: Any,
    ) -> None:
        # Only what the bot uses: guilds (channels, threads, permissions), messages in guilds
        # and DMs (mentions, follow-ups), and, when enabled, the privileged message content.
        intents = discord.Intents(guilds=True, guild_messages=True, dm_messages=True, message_content=message_content)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            max_messages=1000,
            **options,
        )
        self.settings = settings
        self.service = service
        self.quota = quota_from(settings)
        self.cooldowns = Cooldowns(settings.cooldown_rate, settings.cooldown_seconds)
        self.answers = views.AnswerCache()
        self.sync_guild = sync_guild
        self.sync_commands = sync_commands
        self.initial_extensions = tuple(extensions)
        self.progress_interval = progress_interval
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="citebot-service")
        self.api_base = settings.discord_api_base.rstrip("/")
        # discord.py builds every REST and webhook URL (interaction responses too) from this.
        discord.http.Route.BASE = self.api_base

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a (synchronous) service call in the bot's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def setup_hook(self) -> None:
        if self.api_base != DISCORD_API_BASE:
            await self.discover_gateway()
        self.add_dynamic_items(*views.DYNAMIC_ITEMS)
        for extension in self.initial_extensions:
            await self.load_extension(extension)
        if self.sync_commands:
            if self.sync_guild:
                guild = discord.Object(self.sync_guild)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("synced %d commands to guild %s", len(synced), self.sync_guild)
            else:
                synced = await self.tree.sync()
                log.info("synced %d commands globally (Discord may take a while to show them)", len(synced))

    async def discover_gateway(self) -> None:
        """discord.py connects to Discord's gateway without asking; ask this server instead."""
        _shards, url, _limits = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        log.info("using the gateway %s announced by %s", url, self.api_base)

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
