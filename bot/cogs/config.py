"""A server's settings: ``/config answer-mode [mode]`` (Manage Server only).

The choice is stored per namespace in the catalog by the service, so it survives a
restart and every bot process sees it. As for ``/ingest``, the permission is declared
(Discord hides the group from others) and checked again from the permissions Discord
resolved for this interaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, render
from bot.app import Citebot
from bot.audience import channel_sets, role_names, set_channel_sets
from bot.guild_settings import MAX_AUTOANSWER_CHANNELS, AutoAnswer, Escalation
from bot.permissions import can_manage, namespace_for
from bot.replies import defer, refuse_non_manager
from bot.set_options import set_choices
from retrieval import CitebotError, DocumentSet, InvalidScope, parse_set_name, parse_set_names

ModeChoice = Literal["extractive", "llm", "default"]
A = TypeVar("A")
R = TypeVar("R")


class Config(commands.Cog):
    config = app_commands.Group(
        name="config",
        description=messages.CONFIG_DESCRIPTION,
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),  # as @guild_only() gives /ingest
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: Citebot) -> None:
        self.bot = bot

    @config.command(name="answer-mode", description=messages.CONFIG_ANSWER_MODE_DESCRIPTION)
    @app_commands.describe(mode=messages.CONFIG_ANSWER_MODE_MODE)
    async def answer_mode(self, interaction: discord.Interaction[Citebot], mode: ModeChoice | None = None) -> None:
        if interaction.guild_id is None:
            await interaction.response.send_message(messages.GUILD_ONLY, ephemeral=True)
            return
        if not can_manage(interaction):
            await interaction.response.send_message(messages.NEEDS_MANAGE_GUILD, ephemeral=True)
            return
        await defer(interaction, ephemeral=True)  # setting llm loads the model's client: may take a moment
        bot, service = self.bot, self.bot.service
        namespace = namespace_for(interaction.guild_id, bot.config)
        try:
            if mode is not None:
                await bot.call(service.set_answer_mode, namespace, None if mode == "default" else mode)
            override = await bot.call(service.answer_mode_override, namespace)
        except CitebotError as exc:  # e.g. llm refused: the model's provider is not installed
            await interaction.edit_original_response(content=render.error_text(str(exc)))
            return
        default = bot.config.answer_mode
        text = messages.answer_mode_now(
            override or default, model=bot.config.llm_model, overridden=override is not None, default=default
        )
        await interaction.edit_original_response(content=text)

    # -- issue 13: escalation and auto-answer (one block: other /config subcommands go elsewhere)
    @config.command(name="escalate", description=messages.CONFIG_ESCALATE_DESCRIPTION)
    @app_commands.describe(
        role=messages.CONFIG_ESCALATE_ROLE, channel=messages.CONFIG_ESCALATE_CHANNEL, off=messages.CONFIG_ESCALATE_OFF
    )
    async def escalate(
        self,
        interaction: discord.Interaction[Citebot],
        role: discord.Role | None = None,
        channel: discord.TextChannel | None = None,
        off: bool = False,
    ) -> None:
        if await refuse_non_manager(interaction):
            return
        guild = interaction.guild
        assert guild is not None
        if not off and (role is None) != (channel is None):
            await interaction.response.send_message(messages.ESCALATE_NEEDS_BOTH, ephemeral=True)
            return
        if channel is not None and guild.me is not None and not channel.permissions_for(guild.me).send_messages:
            text = messages.ESCALATE_CANNOT_POST.format(channel=channel.mention)
            await interaction.response.send_message(text, ephemeral=True)
            return
        await defer(interaction, ephemeral=True)
        bot, settings = self.bot, self.bot.guild_settings
        namespace = namespace_for(interaction.guild_id, bot.config)
        if off:
            await bot.call(settings.set_escalation, namespace, None)
            await interaction.edit_original_response(content=messages.ESCALATE_OFF)
            return
        if role is not None and channel is not None:
            await bot.call(settings.set_escalation, namespace, Escalation(role.id, channel.id))
        current = await bot.call(settings.escalation, namespace)
        await interaction.edit_original_response(content=escalation_text(guild, current))

    @config.command(name="autoanswer", description=messages.CONFIG_AUTOANSWER_DESCRIPTION)
    @app_commands.describe(channel=messages.CONFIG_AUTOANSWER_CHANNEL, state=messages.CONFIG_AUTOANSWER_STATE)
    async def autoanswer(
        self,
        interaction: discord.Interaction[Citebot],
        channel: discord.TextChannel | discord.ForumChannel | None = None,
        state: Literal["on", "off"] | None = None,
    ) -> None:
        if await refuse_non_manager(interaction):
            return
        bot = self.bot
        if state == "on" and not bot.intents.message_content:
            await interaction.response.send_message(messages.AUTOANSWER_NEEDS_INTENT, ephemeral=True)
            return
        if state is not None and channel is None:
            await interaction.response.send_message(messages.AUTOANSWER_BAD_CHANNEL, ephemeral=True)
            return
        await defer(interaction, ephemeral=True)
        namespace = namespace_for(interaction.guild_id, bot.config)
        settings = bot.guild_settings
        if state is not None and channel is not None:
            try:
                await bot.call(settings.set_autoanswer_channel, namespace, channel.id, state == "on")
            except ValueError:
                text = messages.AUTOANSWER_TOO_MANY.format(limit=MAX_AUTOANSWER_CHANNELS)
                await interaction.edit_original_response(content=text)
                return
        current = await bot.call(settings.autoanswer, namespace)
        assert interaction.guild is not None
        await interaction.edit_original_response(content=autoanswer_text(bot, interaction.guild, current))

    @config.command(name="autoanswer-ignore", description=messages.CONFIG_IGNORE_DESCRIPTION)
    @app_commands.describe(role=messages.CONFIG_IGNORE_ROLE, off=messages.CONFIG_IGNORE_OFF)
    async def autoanswer_ignore(
        self, interaction: discord.Interaction[Citebot], role: discord.Role | None = None, off: bool = False
    ) -> None:
        if await refuse_non_manager(interaction):
            return
        await defer(interaction, ephemeral=True)
        bot, settings = self.bot, self.bot.guild_settings
        namespace = namespace_for(interaction.guild_id, bot.config)
        if off or role is not None:
            await bot.call(settings.set_ignore_role, namespace, None if off else role.id if role else None)
        current = await bot.call(settings.autoanswer, namespace)
        ignored = (
            interaction.guild.get_role(current.ignore_role_id) if interaction.guild and current.ignore_role_id else None
        )
        text = messages.IGNORE_NOW.format(role=ignored.mention) if ignored else messages.IGNORE_NONE
        await interaction.edit_original_response(content=text)

    # -- document sets: a channel's sets, a set's roles ---------------------------------
    @config.command(name="channel-sets", description=messages.CONFIG_CHANNEL_SETS_DESCRIPTION)
    @app_commands.describe(
        channel=messages.CONFIG_CHANNEL_SETS_CHANNEL,
        sets=messages.CONFIG_CHANNEL_SETS_SETS,
        clear=messages.CONFIG_CHANNEL_SETS_CLEAR,
    )
    @app_commands.autocomplete(sets=set_choices)
    async def channel_sets(
        self,
        interaction: discord.Interaction[Citebot],
        channel: discord.TextChannel | discord.ForumChannel,
        sets: app_commands.Range[str, 1, 400] | None = None,
        clear: bool = False,
    ) -> None:
        names = await managed_value(interaction, parse_set_names, sets)
        if names is None:
            return
        bot = self.bot
        namespace = namespace_for(interaction.guild_id, bot.config)
        if clear or names:
            await bot.call(set_channel_sets, bot, namespace, channel.id, () if clear else names)
        bound = await bot.call(channel_sets, bot, namespace, channel.id)
        text = (
            messages.CHANNEL_SETS_NOW.format(channel=channel.mention, sets=", ".join(f"**{n}**" for n in sorted(bound)))
            if bound
            else messages.CHANNEL_SETS_NONE.format(channel=channel.mention)
        )
        await interaction.edit_original_response(content=render.content(text))

    @config.command(name="set-roles", description=messages.CONFIG_SET_ROLES_DESCRIPTION)
    @app_commands.describe(
        set=messages.CONFIG_SET_ROLES_SET,
        role=messages.CONFIG_SET_ROLES_ROLE,
        role2=messages.CONFIG_SET_ROLES_ROLE2,
        role3=messages.CONFIG_SET_ROLES_ROLE3,
        clear=messages.CONFIG_SET_ROLES_CLEAR,
    )
    @app_commands.autocomplete(set=set_choices)
    async def set_roles(
        self,
        interaction: discord.Interaction[Citebot],
        set: app_commands.Range[str, 1, 100],
        role: discord.Role | None = None,
        role2: discord.Role | None = None,
        role3: discord.Role | None = None,
        clear: bool = False,
    ) -> None:
        name = await managed_value(interaction, parse_set_name, set)
        if name is None:
            return
        bot, service = self.bot, self.bot.service
        namespace = namespace_for(interaction.guild_id, bot.config)
        roles = [r.id for r in (role, role2, role3) if r is not None]
        if clear or roles:
            info = await bot.call(service.restrict_set, namespace, name, [] if clear else roles)
        else:
            info = next(
                (s for s in await bot.call(service.sets, namespace) if s.name == name), DocumentSet(name, 0, ())
            )
        assert interaction.guild is not None
        await interaction.edit_original_response(content=set_roles_text(interaction.guild, info))


async def managed_value(interaction: discord.Interaction[Citebot], parse: Callable[[A], R], value: A) -> R | None:
    """``parse(value)`` for a manager's set command, the reply deferred; None once the user
    has been told why not (not a manager, or a set name that is not valid)."""
    if await refuse_non_manager(interaction):
        return None
    try:
        parsed = parse(value)
    except InvalidScope as exc:
        await interaction.response.send_message(render.error_text(str(exc)), ephemeral=True)
        return None
    await defer(interaction, ephemeral=True)
    return parsed


def set_roles_text(guild: discord.Guild, info: DocumentSet) -> str:
    if not info.roles:
        return messages.SET_ROLES_OPEN.format(name=info.name, documents=info.documents)
    return messages.SET_ROLES_NOW.format(name=info.name, documents=info.documents, roles=role_names(guild, info.roles))


def escalation_text(guild: discord.Guild, current: Escalation | None) -> str:
    role = guild.get_role(current.role_id) if current else None
    channel = guild.get_channel(current.channel_id) if current else None
    if current is None or role is None or channel is None:
        return messages.ESCALATE_NONE
    text = messages.ESCALATE_NOW.format(channel=channel.mention, role=role.mention)
    me = guild.me
    if not role.mentionable and not (me and me.guild_permissions.mention_everyone):
        text += messages.ESCALATE_NOT_MENTIONABLE.format(role=role.mention)
    return text


def autoanswer_text(bot: Citebot, guild: discord.Guild, current: AutoAnswer) -> str:
    channels = [c for c in (guild.get_channel(i) for i in sorted(current.channel_ids)) if c is not None]
    if not channels:
        return messages.AUTOANSWER_NONE
    text = messages.AUTOANSWER_NOW.format(channels=", ".join(c.mention for c in channels))
    role = guild.get_role(current.ignore_role_id) if current.ignore_role_id else None
    if role is not None:
        text += messages.AUTOANSWER_IGNORED.format(role=role.mention)
    if not bot.intents.message_content:
        text += messages.AUTOANSWER_NO_INTENT_NOTE
    return render.content(text)


async def setup(bot: Citebot) -> None:
    await bot.add_cog(Config(bot))
