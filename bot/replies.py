"""Acknowledging, refusing and reporting, for every command, button, menu and chat message.

``refuse_early`` answers the refusals that come before any work (cooldown, empty or
too long input); ``defer`` is the first await of every slow handler (Discord wants an
answer within 3 s). ``report`` turns any exception into a short ephemeral message: a
``CitebotError``'s own sentence, or "something went wrong" with an error id that is also
in the log line that carries the traceback. The command tree (``bot.tree``) routes
app-command errors there. Shared by the cogs and the views, so it is no cog itself.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages, render
from bot.permissions import can_manage
from retrieval import CitebotError, IngestError, InvalidQuestion, LimitReached, NotFound, check_length

if TYPE_CHECKING:
    from bot.app import Citebot

log = logging.getLogger("bot.errors")

# The user's own doing (a bad id, a long question, an unsupported file, a quota): a plain
# sentence. Anything else is a failure: logged with its traceback under an error id.
USER_ERRORS = (InvalidQuestion, NotFound, IngestError)

_MODE = "citebot_reply"  # interaction.extras key: how the interaction was acknowledged


async def refuse_early(interaction: discord.Interaction[Citebot], text: str, what: str = "question") -> bool:
    """Per-user cooldown and input length, checked before anything is deferred."""
    bot = interaction.client
    wait = bot.cooldowns.retry_after(interaction.user.id)
    if wait > 0:
        await interaction.response.send_message(messages.cooldown(wait), ephemeral=True)
        return True
    stripped = text.strip()
    if not stripped:
        await interaction.response.send_message(messages.NO_TEXT, ephemeral=True)
        return True
    try:
        check_length(stripped, bot.config.max_question_chars, what)
    except InvalidQuestion as exc:
        await interaction.response.send_message(render.error_text(str(exc)), ephemeral=True)
        return True
    return False


async def refuse_non_manager(interaction: discord.Interaction[Citebot]) -> bool:
    """Refuse (privately) outside a server or without Manage Server, from the interaction's own bits.

    The same check as ``bot.cogs.manage``'s, here so that the issue-13 cogs share it without
    importing a cog (the lead may point manage at this one)."""
    if interaction.guild_id is None:
        await interaction.response.send_message(messages.GUILD_ONLY, ephemeral=True)
        return True
    if not can_manage(interaction):
        await interaction.response.send_message(messages.NEEDS_MANAGE_GUILD, ephemeral=True)
        return True
    return False


async def defer(interaction: discord.Interaction, *, ephemeral: bool, thinking: bool = True) -> None:
    """Acknowledge now; the answer comes with ``edit_original_response`` (token: 15 minutes)."""
    if interaction.response.is_done():
        return
    if thinking or interaction.type is discord.InteractionType.application_command:
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        interaction.extras[_MODE] = "ephemeral" if ephemeral else "public"
    else:
        await interaction.response.defer()  # a component: "update", keeps its message as is
        interaction.extras[_MODE] = "update"


def new_error_id() -> str:
    return secrets.token_hex(4)


def describe(error: BaseException, where: str) -> str:
    """The user-facing text for ``error``; unexpected errors are logged with an id."""
    if isinstance(error, app_commands.CommandInvokeError | commands.CommandInvokeError):
        error = error.original
    if isinstance(error, app_commands.TransformerError) and error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, LimitReached):  # the service's wording is neutral: say "this server"
        log.info("%s: %s", where, error)
        return messages.limit_reached(error.bound, error.limit, error.current)
    if isinstance(error, USER_ERRORS):
        log.info("%s: %s: %s", where, type(error).__name__, error)
        return render.error_text(str(error))
    if isinstance(error, app_commands.NoPrivateMessage):
        return messages.GUILD_ONLY
    if isinstance(error, app_commands.MissingPermissions):
        return messages.NEEDS_MANAGE_GUILD
    if isinstance(error, app_commands.CommandOnCooldown):
        return messages.cooldown(error.retry_after)
    error_id = new_error_id()
    log.error("%s failed (error id %s)", where, error_id, exc_info=error)
    if isinstance(error, CitebotError):  # e.g. the store is unreachable: its sentence says why
        return render.content(render.error_text(str(error)) + " " + messages.ERROR_ID.format(error_id=error_id))
    return messages.error(error_id)


def where(interaction: discord.Interaction) -> str:
    command = interaction.command
    if command is not None:
        name = f"command {command.qualified_name!r}"
    elif isinstance(interaction.data, dict) and "custom_id" in interaction.data:
        name = f"component {interaction.data.get('custom_id')!r}"
    else:
        name = f"interaction type {interaction.type}"
    return f"{name} (guild {interaction.guild_id}, user {interaction.user.id})"


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Tell only the user, whatever state the interaction is in."""
    text = render.content(text)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
            return
        mode = interaction.extras.get(_MODE)
        if mode == "ephemeral":
            await interaction.edit_original_response(content=text, embed=None, view=None, attachments=[])
        elif mode == "public":
            # The public "thinking…" message would show the error to everyone. Resolve it (else
            # Discord fills it with the next follow-up, public), remove it, then tell the user alone.
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(content=messages.FAILED_PUBLIC, embed=None, view=None)
                await interaction.delete_original_response()
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not report to the user (%s %s)", exc.status, exc.text)


async def report(interaction: discord.Interaction, error: BaseException) -> None:
    await send_ephemeral(interaction, describe(error, where(interaction)))


async def report_message(message: discord.Message, error: BaseException) -> None:
    """The chat path's version: a short reply (a message cannot be ephemeral)."""
    text = describe(error, f"message {message.id} (guild {message.guild and message.guild.id})")
    try:
        await message.reply(render.content(text), mention_author=False)
    except Exception as exc:  # e.g. the connection is closing: the log already has the cause
        log.warning("could not reply with an error (%s)", type(exc).__name__)
