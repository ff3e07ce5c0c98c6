"""Managing a server's articles: ``/ingest`` (file or URL) and ``/forget`` (Manage Server only).

The permission is declared (``default_permissions``, so Discord hides the commands from
others) and checked again inside each callback and autocomplete, from the permissions
Discord resolved for this interaction: a changed override or a stale client never lets a
member without Manage Server through.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future
from pathlib import PurePosixPath
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, render
from bot.app import Citebot
from bot.permissions import can_manage, namespace_for
from bot.replies import defer, refuse_non_manager
from bot.set_options import set_choices
from retrieval import SUPPORTED_SUFFIXES, IngestReport, InvalidScope, parse_set_names

log = logging.getLogger(__name__)


class Manage(commands.Cog):
    def __init__(self, bot: Citebot) -> None:
        self.bot = bot

    @app_commands.command(name="ingest", description=messages.INGEST_DESCRIPTION)
    @app_commands.describe(file=messages.INGEST_FILE, url=messages.INGEST_URL, set=messages.INGEST_SET)
    @app_commands.autocomplete(set=set_choices)
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def ingest(
        self,
        interaction: discord.Interaction[Citebot],
        file: discord.Attachment | None = None,
        url: app_commands.Range[str, 1, 2000] | None = None,
        set: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        if await refuse_non_manager(interaction):
            return
        if (file is None) == (url is None):
            await interaction.response.send_message(messages.INGEST_NEEDS_ONE, ephemeral=True)
            return
        try:
            sets = parse_set_names(set)
        except InvalidScope as exc:
            await interaction.response.send_message(render.error_text(str(exc)), ephemeral=True)
            return
        config = self.bot.config
        if file is not None:
            if file.size > config.max_file_bytes:
                text = messages.INGEST_TOO_LARGE.format(
                    name=render.escape(file.filename), size=file.size, limit=config.max_file_bytes
                )
                await interaction.response.send_message(render.content(text), ephemeral=True)
                return
            if PurePosixPath(file.filename.lower()).suffix not in SUPPORTED_SUFFIXES:
                text = messages.INGEST_BAD_TYPE.format(name=render.escape(file.filename))
                await interaction.response.send_message(render.content(text), ephemeral=True)
                return
        elif url is not None and not url.strip().lower().startswith(("http://", "https://")):
            await interaction.response.send_message(messages.INGEST_BAD_URL, ephemeral=True)
            return
        await defer(interaction, ephemeral=True)
        bot = self.bot
        namespace = namespace_for(interaction.guild_id, config)
        # Refuse before downloading anything when the server is already at its bounds.
        await bot.call(bot.service.check_quota, namespace, bot.quota, file.size if file else 0)
        if file is not None:
            name = file.filename
            await interaction.edit_original_response(content=render.progress_text(messages.INGEST_DOWNLOADING, name))
            data = await file.read()
            if len(data) > config.max_file_bytes:
                text = messages.INGEST_TOO_LARGE.format(
                    name=render.escape(name), size=len(data), limit=config.max_file_bytes
                )
                await interaction.edit_original_response(content=render.content(text))
                return
            future = bot.executor.submit(
                bot.service.ingest_bytes,
                data,
                name,
                namespace,
                source=f"attachment:{name}",
                content_type=file.content_type,
                quota=bot.quota,
                sets=sets,
            )
        else:
            assert url is not None
            name = url.strip()
            future = bot.executor.submit(bot.service.ingest, [name], namespace, quota=bot.quota, sets=sets)
        report = await self.with_progress(interaction, future, name)
        await interaction.edit_original_response(content=None, embed=render.ingest_embed(report))

    async def with_progress(
        self, interaction: discord.Interaction[Citebot], future: Future[Any], name: str
    ) -> IngestReport:
        """Wait for the ingest; every ``progress_interval`` seconds, say how long it has taken."""
        started = time.monotonic()
        waiting = asyncio.wrap_future(future)
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(waiting), timeout=self.bot.progress_interval)
            except TimeoutError:
                text = render.progress_text(messages.INGEST_WORKING, name, time.monotonic() - started)
                try:
                    await interaction.edit_original_response(content=text)
                except discord.HTTPException as exc:  # progress is best effort
                    log.warning("could not update ingest progress (%s)", exc.status)

    @app_commands.command(name="forget", description=messages.FORGET_DESCRIPTION)
    @app_commands.describe(document=messages.FORGET_DOCUMENT)
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def forget(
        self, interaction: discord.Interaction[Citebot], document: app_commands.Range[str, 1, 300]
    ) -> None:
        if await refuse_non_manager(interaction):
            return
        await defer(interaction, ephemeral=True)
        bot = self.bot
        info = await bot.call(bot.service.forget, document, namespace_for(interaction.guild_id, bot.config))
        title = render.clip(render.escape(render.one_line(info.title)), 300)
        await interaction.edit_original_response(content=messages.FORGOTTEN.format(title=title, doc_id=info.id))

    @forget.autocomplete("document")
    async def document_autocomplete(
        self, interaction: discord.Interaction[Citebot], current: str
    ) -> list[app_commands.Choice[str]]:
        if not can_manage(interaction):
            return []
        bot = self.bot
        try:
            docs = await bot.call(bot.service.sources, namespace_for(interaction.guild_id, bot.config))
        except Exception:
            log.exception("autocomplete of /forget failed")
            return []
        needle = current.strip().lower()
        matches = [d for d in docs if needle in d.title.lower() or d.id.startswith(needle)] if needle else docs
        return [app_commands.Choice(name=render.choice_name(d), value=d.id) for d in matches[: render.CHOICES]]


async def setup(bot: Citebot) -> None:
    await bot.add_cog(Manage(bot))
