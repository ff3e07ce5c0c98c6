"""``/sources``: the documents of this server (or of direct messages), paginated."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, render, views
from bot.app import Citebot
from bot.permissions import DM_TAG, namespace_for, namespace_tag
from bot.replies import defer


class Documents(commands.Cog):
    def __init__(self, bot: Citebot) -> None:
        self.bot = bot

    @app_commands.command(name="sources", description=messages.SOURCES_DESCRIPTION)
    async def sources(self, interaction: discord.Interaction[Citebot]) -> None:
        await defer(interaction, ephemeral=True)
        bot = self.bot
        docs = await bot.call(bot.service.sources, namespace_for(interaction.guild_id, bot.config))
        tag = namespace_tag(interaction.guild_id)
        embed, page, pages = render.documents_embed(docs, 0, dm=tag == DM_TAG)
        view = views.documents_view(tag, page, pages)
        if view is None:
            await interaction.edit_original_response(embed=embed)
        else:
            await interaction.edit_original_response(embed=embed, view=view)


async def setup(bot: Citebot) -> None:
    await bot.add_cog(Documents(bot))
