"""Looking things up: ``/search``, ``/cite`` and the "Find source" message menu."""

from __future__ import annotations

import re

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, render
from bot.app import Citebot
from bot.audience import interaction_access
from bot.permissions import namespace_for
from bot.replies import defer, refuse_early
from bot.set_options import set_choices
from retrieval import CITATION_ID_PATTERN, InvalidScope, parse_set_names

_CITATION_ID = re.compile(CITATION_ID_PATTERN)


async def lookup_interaction(interaction: discord.Interaction[Citebot], text: str, *, private: bool = False) -> None:
    """A citation id opens that passage; any other text is searched for as a quote."""
    if await refuse_early(interaction, text, "quote"):
        return
    await defer(interaction, ephemeral=private)
    bot = interaction.client
    # A quote search is a search (the channel's sets narrow it); a citation id is not.
    search = _CITATION_ID.fullmatch(text.strip()) is None
    access = await interaction_access(interaction, private=private, search=search)
    found = await bot.call(bot.service.lookup, text, namespace_for(interaction.guild_id, bot.config), access)
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
    @app_commands.describe(query=messages.SEARCH_QUERY, private=messages.SEARCH_PRIVATE, set=messages.ASK_SET)
    @app_commands.autocomplete(set=set_choices)
    async def search(
        self,
        interaction: discord.Interaction[Citebot],
        query: app_commands.Range[str, 1, 6000],
        private: bool = False,
        set: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        if await refuse_early(interaction, query, "query"):
            return
        try:
            narrow = parse_set_names(set)
        except InvalidScope as exc:
            await interaction.response.send_message(render.error_text(str(exc)), ephemeral=True)
            return
        await defer(interaction, ephemeral=private)
        bot = self.bot
        access = await interaction_access(interaction, private=private, narrow=narrow)
        namespace = namespace_for(interaction.guild_id, bot.config)
        hits = await bot.call(bot.service.search, query, namespace, access=access)
        await interaction.edit_original_response(embed=render.search_embed(query, hits))

    @app_commands.command(name="cite", description=messages.CITE_DESCRIPTION)
    @app_commands.describe(id_or_quote=messages.CITE_ARGUMENT, private=messages.SEARCH_PRIVATE)
    async def cite(
        self,
        interaction: discord.Interaction[Citebot],
        id_or_quote: app_commands.Range[str, 1, 6000],
        private: bool = False,
    ) -> None:
        await lookup_interaction(interaction, id_or_quote, private=private)

    async def find_source(self, interaction: discord.Interaction[Citebot], message: discord.Message) -> None:
        await lookup_interaction(interaction, message.content)


async def setup(bot: Citebot) -> None:
    await bot.add_cog(Lookup(bot))
