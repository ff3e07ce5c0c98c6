""" "Not helpful" (issue 13): after a 👎, a modal asks what was wrong; the note is kept with the
vote, and where the server configured ``/config escalate``, the question, answer, citations
and note are posted in its support channel, pinging its support role and no one else.

The modal carries its place in its custom_id (``cb:nothelpful:<tag>:<message id>``) and is
never kept in discord.py's in-memory modal store: its submission is handled from the
interaction event (``handle_submit``), so a modal opened before a restart still works.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord

from bot import admin_render, messages
from bot.audience import interaction_access
from bot.permissions import namespace_for_tag, namespace_tag
from bot.replies import defer, report, send_ephemeral

if TYPE_CHECKING:
    from bot.app import Citebot
    from bot.guild_settings import Escalation
    from retrieval import Answer

log = logging.getLogger(__name__)

MODAL_RE = re.compile(r"cb:nothelpful:(?P<tag>dm|[0-9]{1,20}):(?P<mid>[0-9]{1,20})")
NOTE_ID = "note"
NOTE_MAX = 1000


def not_helpful_modal(tag: str, message_id: int) -> discord.ui.Modal:
    modal = discord.ui.Modal(title=messages.NOT_HELPFUL_TITLE, custom_id=f"cb:nothelpful:{tag}:{message_id}")
    modal.add_item(
        discord.ui.TextInput(
            label=messages.NOT_HELPFUL_LABEL,
            custom_id=NOTE_ID,
            style=discord.TextStyle.paragraph,
            placeholder=messages.NOT_HELPFUL_PLACEHOLDER,
            required=False,
            max_length=NOTE_MAX,
        )
    )
    modal.stop()  # a finished modal is not stored: the submission comes to handle_submit, restart or not
    return modal


def submitted_note(data: Any) -> str:
    for row in (data or {}).get("components") or []:
        for item in row.get("components") or []:
            if item.get("custom_id") == NOTE_ID:
                return str(item.get("value") or "").strip()[:NOTE_MAX]
    return ""


async def handle_submit(interaction: discord.Interaction[Citebot]) -> bool:
    """Handle a "Not helpful" modal's submission; False when ``interaction`` is none."""
    if interaction.type is not discord.InteractionType.modal_submit or not isinstance(interaction.data, dict):
        return False
    match = MODAL_RE.fullmatch(str(interaction.data.get("custom_id") or ""))
    if match is None:
        return False
    try:
        if namespace_tag(interaction.guild_id) != match["tag"]:
            await send_ephemeral(interaction, messages.WRONG_PLACE)
            return True
        await submit(interaction, namespace_for_tag(match["tag"], interaction.client.config), match["tag"])
    except Exception as exc:
        await report(interaction, exc)
    return True


async def submit(interaction: discord.Interaction[Citebot], namespace: str, tag: str) -> None:
    from bot import views  # views opens the modal: import here, not at load

    await defer(interaction, ephemeral=True)
    bot = interaction.client
    message = interaction.message
    answer = bot.answers.get(message.id) if message is not None else None
    if answer is None and message is not None:
        access = await interaction_access(interaction, private=True, search=False)
        answer = await bot.call(views.rebuild_answer, bot.service, message, namespace, access)
    if message is None or answer is None:
        await interaction.edit_original_response(content=messages.ANSWER_UNAVAILABLE)
        return
    note = submitted_note(interaction.data)
    user_id = str(interaction.user.id)
    if note:
        await bot.call(bot.service.add_feedback_note, namespace, user_id, answer.question, note)
    up, down = await bot.call(bot.service.feedback_counts, namespace)
    escalation = None
    if interaction.guild is not None:
        escalation = await bot.call(bot.guild_settings.escalation, namespace)
    if escalation is not None and await bot.call(
        bot.service.is_restricted, namespace, [c.doc_id for c in answer.citations]
    ):
        # The support channel is read by its members, not only by the asker: no quote of a restricted set.
        answer = replace(answer, text=messages.ESCALATION_RESTRICTED, citations=())
    posted = escalation is not None and await post(interaction, escalation, answer, note, message)
    text = messages.NOT_HELPFUL_ESCALATED if posted else messages.NOT_HELPFUL_THANKS
    await interaction.edit_original_response(content=text.format(up=up, down=down))


async def post(
    interaction: discord.Interaction[Citebot],
    escalation: Escalation,
    answer: Answer,
    note: str,
    message: discord.Message,
) -> bool:
    """Post in the support channel, pinging exactly the support role. Only this guild's
    channels and roles are looked up: a stale or foreign id finds nothing."""
    guild = interaction.guild
    assert guild is not None
    channel = guild.get_channel(escalation.channel_id)
    if not isinstance(channel, discord.TextChannel | discord.Thread):
        log.info("escalation channel %s is gone in guild %s", escalation.channel_id, guild.id)
        return False
    role = guild.get_role(escalation.role_id)
    where = getattr(interaction.channel, "name", None) or "?"
    embed = admin_render.escalation_embed(
        answer, note, user=f"{interaction.user} ({interaction.user.id})", channel=f"#{where}", jump_url=message.jump_url
    )
    content = messages.ESCALATION_CONTENT.format(role=role.mention if role else "Support")
    # The bot's default is AllowedMentions.none(); this one message may ping this one role.
    mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role] if role else False, replied_user=False)
    try:
        await channel.send(content=content, embed=embed, allowed_mentions=mentions)
    except discord.HTTPException as exc:
        log.warning("could not post an escalation in %s (%s %s)", channel.id, exc.status, exc.text)
        return False
    return True
