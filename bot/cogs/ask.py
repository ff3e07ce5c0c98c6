"""Asking: ``/ask question [private] [since] [source]`` and the "Ask Citebot about this" message menu."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, render, streaming, views
from bot.app import Citebot
from bot.audience import interaction_access
from bot.permissions import namespace_for, namespace_tag
from bot.replies import defer, refuse_early
from bot.set_options import set_choices
from retrieval import InvalidScope, Scope, parse_set_names


async def answer_interaction(
    interaction: discord.Interaction[Citebot],
    question: str,
    *,
    private: bool,
    since: str | None = None,
    source: str | None = None,
    set_name: str | None = None,
) -> None:
    if await refuse_early(interaction, question):
        return
    try:  # a bad filter is the user's to fix: one private line, before any work
        scope = Scope.parse(since, source)
        narrow = parse_set_names(set_name)
    except InvalidScope as exc:  # InvalidSet is one too: both are the user's words
        await interaction.response.send_message(render.error_text(str(exc)), ephemeral=True)
        return
    await defer(interaction, ephemeral=private)
    bot = interaction.client
    namespace = namespace_for(interaction.guild_id, bot.config)
    access = await interaction_access(interaction, private=private, narrow=narrow)
    if await streaming.enabled(bot, namespace):  # LLM mode: the answer streams in, then its verified form
        await streaming.answer_interaction(interaction, question, private=private, scope=scope, access=access)
        return
    started = time.perf_counter()
    answer = await bot.call(bot.service.ask, question, namespace, log=True, scope=scope, access=access)
    seconds = time.perf_counter() - started
    message = await interaction.edit_original_response(
        embed=render.answer_embed(answer, seconds=seconds),
        view=views.answer_view(answer, namespace_tag(interaction.guild_id), private=private),
    )
    bot.answers.put(message.id, answer)


class Ask(commands.Cog):
    def __init__(self, bot: Citebot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name=messages.MENU_ASK, callback=self.ask_about_message)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(name="ask", description=messages.ASK_DESCRIPTION)
    @app_commands.describe(
        question=messages.ASK_QUESTION,
        private=messages.ASK_PRIVATE,
        since=messages.ASK_SINCE,
        source=messages.ASK_SOURCE,
        set=messages.ASK_SET,
    )
    @app_commands.autocomplete(set=set_choices)
    async def ask(
        self,
        interaction: discord.Interaction[Citebot],
        question: app_commands.Range[str, 1, 6000],
        private: bool = False,
        since: app_commands.Range[str, 1, 40] | None = None,
        source: app_commands.Range[str, 1, 300] | None = None,
        set: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await answer_interaction(interaction, question, private=private, since=since, source=source, set_name=set)

    async def ask_about_message(self, interaction: discord.Interaction[Citebot], message: discord.Message) -> None:
        await answer_interaction(interaction, message.content, private=False)


async def setup(bot: Citebot) -> None:
    await bot.add_cog(Ask(bot))
