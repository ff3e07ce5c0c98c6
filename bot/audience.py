"""Who reads a reply, as the retrieval ``Access`` value (document sets, README "Document sets").

The bot computes it from the interaction or message; retrieval decides with it. Rules:

- A reply posted for the channel (public ``/ask``, ``/search``, ``/cite``, mentions,
  auto-answer, menus) draws only on documents every member may see: restricted sets are
  left out, whoever asks, because everyone in the channel reads it.
- A reply only the member sees (``private:True``, ``/sources``, the [n] / Sources / page
  buttons, autocomplete) draws on what *that* member may see: the role ids Discord sent with
  this interaction (never the bot's cache of the member), all sets with Manage Server.
- Either way, a channel bound to sets (``/config channel-sets``) searches only those sets
  (a thread: its parent's), and ``set:`` narrows further. DMs: unrestricted documents only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.permissions import can_manage, namespace_for
from retrieval import Access

if TYPE_CHECKING:
    from bot.app import Citebot

CHANNEL_SETS_KEY = "discord.channel_sets.{channel_id}"  # the bound sets, comma-separated


def member_role_ids(user: discord.abc.User) -> frozenset[int]:
    """The member's roles as this interaction's or message's payload gave them (not @everyone)."""
    if not isinstance(user, discord.Member):
        return frozenset()
    return frozenset(r.id for r in user.roles if not r.is_default())


def bound_channel(channel: object) -> int | None:
    """The channel whose bound sets apply: a thread's parent, else the channel itself."""
    if isinstance(channel, discord.Thread):
        return channel.parent_id
    channel_id = getattr(channel, "id", None)
    return channel_id if isinstance(channel_id, int) else None


def channel_sets(bot: Citebot, namespace: str, channel_id: int | None) -> frozenset[str] | None:
    """(Runs in the thread pool.) The sets the channel is bound to; None: not bound."""
    if channel_id is None:
        return None
    value = bot.service.setting(namespace, CHANNEL_SETS_KEY.format(channel_id=channel_id))
    names = [n for n in (value or "").split(",") if n]
    return frozenset(names) if names else None


def set_channel_sets(bot: Citebot, namespace: str, channel_id: int, names: tuple[str, ...]) -> None:
    """(Runs in the thread pool.) Bind the channel to ``names`` (empty: unbind)."""
    bot.service.set_setting(namespace, CHANNEL_SETS_KEY.format(channel_id=channel_id), ",".join(names) or None)


async def interaction_access(
    interaction: discord.Interaction[Citebot], *, private: bool, narrow: tuple[str, ...] = (), search: bool = True
) -> Access:
    """The reader of this interaction's reply. ``search``: a search-like read, which the
    channel's bound sets narrow (a citation id or the document list are not narrowed)."""
    bot = interaction.client
    within = None
    if search and interaction.guild_id is not None:
        namespace = namespace_for(interaction.guild_id, bot.config)
        within = await bot.call(channel_sets, bot, namespace, bound_channel(interaction.channel))
    if not private or interaction.guild_id is None:
        return Access.of(within=within, narrow=narrow or None)
    return Access.of(
        member_role_ids(interaction.user), everything=can_manage(interaction), within=within, narrow=narrow or None
    )


async def message_access(bot: Citebot, message: discord.Message) -> Access:
    """A reply to a message is posted for the channel: unrestricted documents, the channel's sets."""
    if message.guild is None:
        return Access()
    namespace = namespace_for(message.guild.id, bot.config)
    return Access.of(within=await bot.call(channel_sets, bot, namespace, bound_channel(message.channel)))


def role_names(guild: discord.Guild, ids: tuple[str, ...]) -> str:
    """Roles as mentions (they ping no one: every reply allows no mentions); a deleted one by id."""
    found = [guild.get_role(int(i)) if i.isdigit() else None for i in ids]
    return ", ".join(r.mention if r is not None else f"role {i}" for r, i in zip(found, ids, strict=True))
