"""``/help``: what the bot does, built from the commands actually registered."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, render
from bot.app import Citebot


class Help(commands.Cog):
    def __init__(self, bot: Citebot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description=messages.HELP_DESCRIPTION)
    async def help(self, interaction: discord.Interaction[Citebot]) -> None:
        tree = self.bot.tree
        listed = []
        for command in sorted(tree.get_commands(type=discord.AppCommandType.chat_input), key=lambda c: c.name):
            if isinstance(command, app_commands.Command | app_commands.Group):
                perms = command.default_permissions
                listed.append((command.name, command.description, bool(perms and perms.manage_guild)))
        menus = [menu.name for menu in tree.get_commands(type=discord.AppCommandType.message)]
        embed = render.help_embed(listed, menus)
        state = messages.HELP_INTENT_ON if self.bot.intents.message_content else messages.HELP_INTENT_OFF
        embed.add_field(name=messages.HELP_AUTOANSWER_TITLE, value=messages.HELP_AUTOANSWER.format(state=state))
        await interaction.response.send_message(embed=render.fit(embed), ephemeral=True)


async def setup(bot: Citebot) -> None:
    await bot.add_cog(Help(bot))
