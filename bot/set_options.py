"""The ``set:`` option shared by several commands: parsing it, and its autocomplete.

Autocomplete lists only the sets the member may see (a restricted set's name is never
offered to someone outside it), from the roles of this very interaction.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot import render
from bot.audience import interaction_access
from bot.permissions import namespace_for

if TYPE_CHECKING:
    from bot.app import Citebot

log = logging.getLogger(__name__)


async def set_choices(interaction: discord.Interaction[Citebot], current: str) -> list[app_commands.Choice[str]]:
    bot = interaction.client
    try:
        access = await interaction_access(interaction, private=True, search=False)
        found = await bot.call(bot.service.sets, namespace_for(interaction.guild_id, bot.config), access)
    except Exception:
        log.exception("autocomplete of a set option failed")
        return []
    # A list ("a, b"): complete its last name.
    done, _, last = current.rpartition(",")
    needle = last.strip().lower()
    prefix = f"{done}, " if done else ""
    names = [s.name for s in found if needle in s.name]
    return [
        app_commands.Choice(name=render.clip(prefix + n, render.CHOICE_NAME), value=(prefix + n)[:100])
        for n in names[: render.CHOICES]
    ]
