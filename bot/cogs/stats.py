"""The admin view (issue 13): ``/stats [days]`` (Manage Server only) and the "Not helpful"
modal's submissions (``bot.escalation``).

``/stats``: the numbers of this server's question log as an embed, with a PNG chart of
the questions per day, answered and abstained stacked, rendered in the thread pool (never
on the event loop). Only this server's namespace is read; the answer is ephemeral.
"""

from __future__ import annotations

import io
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import admin_render, charts, escalation, messages
from bot.app import Citebot
from bot.permissions import namespace_for
from bot.replies import defer, refuse_non_manager

log = logging.getLogger(__name__)


class Stats(commands.Cog):
    def __init__(self, bot: Citebot) -> None:
        self.bot = bot

    @app_commands.command(name="stats", description=messages.STATS_DESCRIPTION)
    @app_commands.describe(days=messages.STATS_DAYS)
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def stats(self, interaction: discord.Interaction[Citebot], days: app_commands.Range[int, 1, 90] = 7) -> None:
        if await refuse_non_manager(interaction):
            return
        await defer(interaction, ephemeral=True)
        bot = self.bot
        numbers = await bot.call(bot.service.stats, namespace_for(interaction.guild_id, bot.config), days)
        png = await bot.call(charts.stats_chart, numbers)
        limit = min(charts.MAX_CHART_BYTES, interaction.filesize_limit or charts.MAX_CHART_BYTES)
        if len(png) > limit:  # cannot happen at these sizes; an embed without its image beats a failed reply
            log.warning("the /stats chart is %d bytes (limit %d): sent without it", len(png), limit)
            embed = admin_render.stats_embed(numbers, chart=None)
            await interaction.edit_original_response(content=messages.STATS_CHART_TOO_LARGE, embed=embed)
            return
        file = discord.File(io.BytesIO(png), filename=charts.FILENAME)
        embed = admin_render.stats_embed(numbers, chart=charts.FILENAME)
        await interaction.edit_original_response(embed=embed, attachments=[file])

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[Citebot]) -> None:
        await escalation.handle_submit(interaction)


async def setup(bot: Citebot) -> None:
    await bot.add_cog(Stats(bot))
