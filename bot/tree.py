"""The bot's command tree: one error handler for every application command.

Passed to the bot as ``tree_cls`` (discord.py's way, as Red-DiscordBot's ``RedTree``
does), so no cog has to patch ``bot.tree.on_error`` and none depends on another's load
order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot import replies

if TYPE_CHECKING:
    from bot.app import Citebot


class CitebotTree(app_commands.CommandTree["Citebot"]):
    async def on_error(self, interaction: discord.Interaction[Citebot], error: app_commands.AppCommandError) -> None:
        """A user's mistake as its own sentence; anything else logged under an error id (``replies.report``)."""
        await replies.report(interaction, error)
