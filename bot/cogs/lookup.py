"""Looking things up: ``/search``, ``/cite`` and the "Find source" message menu."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, render
from bot.app import Citebot
from bot.permissions import namespace_for
from bot.replies import defer, refuse_early


async def lookup_interaction(interaction: discord.Interaction[Citebot], text: str) -> None:
    """A citation id opens that passage; any other text is searched for as a quote."""
    if await refuse_early(interaction, text, "quote"):
        return
    await defer(interaction, ephemeral=False)
    bot = interaction.client
    found = await bot.call(bot.service.lookup, text, namespace_for(interaction.guild_id, bot.config))
    if found is None:
        await interaction.edit_original_response(content=messages.QUOTE_NOT_FOUND)
        return
    await interaction.edit_original_response(embed=render.citation_embed(found))


class Lookup(commands.Cog):
    def __init__(self, bot: Citebot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name=messages.MENU_FIND, callback=self.find_source)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(name="search", description=messages.SEARCH_DESCRIPTION)
    @app_commands.describe(query=messages.SEARCH_QUERY)
    async def search(self, interaction: discord.Interaction[Citebot], query: app_commands.Range[str, 1, 6000]) -> None:
        if await refuse_early(interaction, query, "query"):
            return
        await defer(interaction, ephemeral=False)
        bot = self.bot
        hits = await bot.call(bot.service.search, query, namespace_for(interaction.guild_id, bot.config))
        await interaction.edit_original_response(embed=render.search_embed(query, hits))

    @app_commands.command(name="cite", description=messages.CITE_DESCRIPTION)
    @app_commands.describe(id_or_quote=messages.CITE_ARGUMENT)
    async def cite(
        self, interaction: discord.Interaction[Citebot], id_or_quote: app_commands.Range[str, 1, 6000]
    ) -> None:
        await lookup_interaction(interaction, id_or_quote)

    async def find_source(self, interaction: discord.Interaction[Citebot], message: discord.Message) -> None:
        await lookup_interaction(interaction, message.content)


async def setup(bot: Citebot) -> None:
    await bot.add_cog(Lookup(bot))
