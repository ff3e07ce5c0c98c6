"""``/sources``: the documents of this server (or of direct messages), paginated; ``/sets``:
the document sets. Both list only what the member may see (restricted sets: by role)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, render, views
from bot.app import Citebot
from bot.audience import interaction_access, role_names
from bot.permissions import DM_TAG, namespace_for, namespace_tag
from bot.replies import defer
from retrieval import DocumentSet


class Documents(commands.Cog):
    def __init__(self, bot: Citebot) -> None:
        self.bot = bot

    @app_commands.command(name="sources", description=messages.SOURCES_DESCRIPTION)
    async def sources(self, interaction: discord.Interaction[Citebot]) -> None:
        await defer(interaction, ephemeral=True)
        bot = self.bot
        access = await interaction_access(interaction, private=True, search=False)  # the reply is the member's
        docs = await bot.call(bot.service.sources, namespace_for(interaction.guild_id, bot.config), access)
        tag = namespace_tag(interaction.guild_id)
        embed, page, pages = render.documents_embed(docs, 0, dm=tag == DM_TAG)
        view = views.documents_view(tag, page, pages)
        if view is None:
            await interaction.edit_original_response(embed=embed)
        else:
            await interaction.edit_original_response(embed=embed, view=view)

    @app_commands.command(name="sets", description=messages.SETS_DESCRIPTION)
    async def sets(self, interaction: discord.Interaction[Citebot]) -> None:
        await defer(interaction, ephemeral=True)
        bot = self.bot
        access = await interaction_access(interaction, private=True, search=False)
        found = await bot.call(bot.service.sets, namespace_for(interaction.guild_id, bot.config), access)
        await interaction.edit_original_response(embed=sets_embed(interaction.guild, found))


def sets_embed(guild: discord.Guild | None, found: list[DocumentSet]) -> discord.Embed:
    embed = discord.Embed(title=messages.SETS_TITLE, colour=render.CITATION_COLOUR)
    lines = []
    for s in found:
        who = messages.SETS_RESTRICTED.format(roles=role_names(guild, s.roles)) if s.roles and guild else ""
        lines.append(messages.SETS_LINE.format(name=s.name, documents=s.documents, who=who))
    embed.description = render.clip("\n".join(lines), render.EMBED_DESCRIPTION) if lines else messages.SETS_NONE
    embed.set_footer(text=messages.SETS_FOOTER)
    return render.fit(embed)


async def setup(bot: Citebot) -> None:
    await bot.add_cog(Documents(bot))
