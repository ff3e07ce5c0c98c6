"""``citebot run``: logging (with the token redacted), the service, and the bot's lifetime.

Also the process-wide settings of discord.py (which API and gateway it talks to): they
are class attributes shared by every client in the process, so they are set here, once,
and never by the bot.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl

from bot.shards import ShardPlan
from config import Settings
from retrieval import CitebotError

log = logging.getLogger("bot")

REDACTED = "[REDACTED]"
DISCORD_API_BASE = "https://discord.com/api/v10"


def _redact_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_record(record: logging.LogRecord, secrets: Iterable[str]) -> logging.LogRecord:
    """Remove every secret from a record's message, traceback and stack (in place)."""
    secrets = tuple(s for s in secrets if s)
    if not secrets:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to the handler's own error path
        message = None
    if message is not None and any(s in message for s in secrets):
        record.msg, record.args = _redact_text(message, secrets), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = _redact_text(record.exc_text, secrets)
    if record.stack_info:
        record.stack_info = _redact_text(record.stack_info, secrets)
    return record


class RedactingFilter(logging.Filter):
    """A handler filter that redacts secrets (it never drops a record)."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.secrets)
        return True


class RedactingFormatter(logging.Formatter):
    """Wraps a handler's formatter and redacts secrets from the finished line.

    Needed because some formatters (discord.py's coloured one) format tracebacks
    themselves, after any filter ran.
    """

    def __init__(self, inner: logging.Formatter | None, *secrets: str) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()
        self.secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        return _redact_text(self.inner.format(record), self.secrets)


_installed: set[str] = set()


def install_redaction(*secrets: str) -> None:
    """Redact ``secrets`` from every log record, whichever logger or handler it goes to.

    A record factory does it as records are made (so handlers added later, such as
    pytest's, are covered too); every handler already on the root logger also gets a
    ``RedactingFilter`` and a ``RedactingFormatter`` around its formatter. Safe to call
    more than once.
    """
    secrets = tuple(s for s in secrets if s)
    new = [s for s in secrets if s not in _installed]
    if new:
        _installed.update(new)
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return redact_record(previous(*args, **kwargs), new)

        logging.setLogRecordFactory(factory)
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, RedactingFormatter) or set(secrets) - set(handler.formatter.secrets):
            handler.addFilter(RedactingFilter(*secrets))
            handler.setFormatter(RedactingFormatter(handler.formatter, *secrets))


def setup_logging(token: str, level: int | str | None = None) -> None:
    """discord.py's log format on stderr, at ``CITEBOT_LOG_LEVEL`` (default INFO), token redacted."""
    level = level or os.environ.get("CITEBOT_LOG_LEVEL", "INFO").upper()
    discord.utils.setup_logging(level=logging.getLevelName(level) if isinstance(level, str) else level, root=True)
    install_redaction(token)


def run_bot(
    settings: Settings,
    sync_guild: int | None = None,
    *,
    sync_global: bool = False,
    shards: ShardPlan | None = None,
) -> None:
    """Run the bot until interrupted. Raises ``CitebotError`` for problems a user can fix.

    The commands are pushed to Discord only when asked: ``sync_global`` (after they
    changed) or ``sync_guild`` (one guild, for development). ``shards``: which gateway
    shards this process owns (default: automatic, all of them here).
    """
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise CitebotError("DISCORD_TOKEN is not set (put it in the environment or in .env)")
    token = settings.discord_token.get_secret_value().strip()
    setup_logging(token)
    try:
        asyncio.run(serve(settings, token, sync_guild=sync_guild, sync_global=sync_global, shards=shards))
    except KeyboardInterrupt:
        log.info("stopped")


async def point_discord_py(api_base: str, token: str) -> None:
    """Make discord.py use ``api_base`` for REST and webhooks, and the gateway it announces.

    discord.py builds every REST and webhook URL (interaction responses too) from
    ``Route.BASE``, and connects to ``DEFAULT_GATEWAY`` without asking; a server other than
    Discord's (a compatible one, or a test double) is asked for its gateway.
    """
    api_base = api_base.rstrip("/")
    discord.http.Route.BASE = api_base
    if api_base == DISCORD_API_BASE:
        return
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(token)
        _shards, url, _limits = await http.get_bot_gateway()
    finally:
        await http.close()
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    log.info("using the gateway %s announced by %s", url, api_base)


def shard_options(plan: ShardPlan) -> dict[str, Any]:
    """discord.py's keyword options for ``plan`` (none: it asks Discord for the count)."""
    options: dict[str, Any] = {}
    if plan.count is not None:
        options["shard_count"] = plan.count
    if plan.ids is not None:
        options["shard_ids"] = list(plan.ids)
    return options


async def serve(
    settings: Settings,
    token: str,
    *,
    sync_guild: int | None = None,
    sync_global: bool = False,
    shards: ShardPlan | None = None,
) -> None:
    from bot.app import ShardedCitebot
    from retrieval import CitebotService

    if sync_global and sync_guild is not None:
        raise CitebotError("sync the commands globally (--sync) or to one guild (--sync-guild), not both")
    try:
        await point_discord_py(settings.discord_api_base, token)
    except discord.LoginFailure as exc:
        raise CitebotError("Discord rejected the token: check DISCORD_TOKEN") from exc
    plan = shards or ShardPlan()
    log.info("gateway: %s", plan.describe())
    service = CitebotService.from_settings(settings)
    log.info("loading the embedding model %s", settings.embedding_model)
    await asyncio.to_thread(lambda: service.searcher)  # load the model now, not on the first question
    for message_content in (True, False):
        # Always the auto-sharded client: with one recommended shard it is one session, as
        # before, and a growing bot gets more shards without a flag (Discord refuses an
        # unsharded session past 2,500 guilds).
        bot = ShardedCitebot(
            settings,
            service,
            sync_global=sync_global,
            sync_guild=sync_guild,
            message_content=message_content,
            **shard_options(plan),
        )
        try:
            async with bot:
                await bot.start(token)
            return
        except discord.PrivilegedIntentsRequired:
            if not message_content:
                raise
            log.warning(
                "the MESSAGE CONTENT intent is not enabled for this application: starting without it. "
                "Slash commands, message menus, mentions and DMs work; thread follow-ups without a "
                "mention do not. Enable it under Bot → Privileged Gateway Intents in the Developer Portal."
            )
        except discord.LoginFailure as exc:
            raise CitebotError("Discord rejected the token: check DISCORD_TOKEN") from exc
