"""Who may do what, where: namespaces, the Manage Server check, per-user cooldowns.

The checks here run inside every callback (commands, buttons, context menus, chat), not
only as command decorators: a button or a context menu never bypasses them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import discord

from bot.config import BotConfig

DM_TAG = "dm"


def namespace_tag(guild_id: int | None) -> str:
    """The namespace key carried in custom_ids: the guild id, or "dm" for direct messages."""
    return str(guild_id) if guild_id else DM_TAG


def namespace_for_tag(tag: str, config: BotConfig) -> str:
    return config.dm_namespace if tag == DM_TAG else tag


def namespace_for(guild_id: int | None, config: BotConfig) -> str:
    """Each guild is its own namespace; all direct messages share ``config.dm_namespace``."""
    return namespace_for_tag(namespace_tag(guild_id), config)


def can_manage(interaction: discord.Interaction) -> bool:
    """Manage Server (or Administrator) in a guild, from the permissions Discord resolved.

    Only the interaction's own bits count: the bot's cache of roles may be stale (a revoked
    permission whose role update has not arrived yet) and must never grant anything.
    """
    if interaction.guild_id is None:
        return False
    perms = interaction.permissions
    return perms.manage_guild or perms.administrator


class Cooldowns:
    """At most ``rate`` uses per ``per`` seconds for each user (sliding window; ``per == 0``: off)."""

    def __init__(self, rate: int, per: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = max(1, rate)
        self.per = per
        self.clock = clock
        self._uses: dict[int, deque[float]] = {}

    def retry_after(self, user_id: int) -> float:
        """0 and count a use when ``user_id`` may go ahead; else seconds until they may."""
        if self.per <= 0:
            return 0.0
        now = self.clock()
        uses = self._uses.setdefault(user_id, deque())
        while uses and now - uses[0] >= self.per:
            uses.popleft()
        if len(uses) >= self.rate:
            return self.per - (now - uses[0])
        uses.append(now)
        if len(self._uses) > 10_000:
            self._prune(now)
        return 0.0

    def _prune(self, now: float) -> None:
        for user_id in [u for u, q in self._uses.items() if not q or now - q[-1] >= self.per]:
            del self._uses[user_id]
