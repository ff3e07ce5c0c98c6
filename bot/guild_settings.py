"""A server's Discord-side settings (issue 13): the escalation target and the auto-answer
channels. Stored per namespace through the service (``service.setting``), so they survive a
restart and every bot process reads the same; read through a short cache, because the
auto-answer check runs on every message the bot sees.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrieval import CitebotService

ESCALATION_KEY = "discord.escalation"  # "<role id>:<channel id>"
AUTOANSWER_KEY = "discord.autoanswer_channels"  # channel ids, comma-separated
IGNORE_ROLE_KEY = "discord.autoanswer_ignore_role"  # a role id
CACHE_SECONDS = 30.0  # how long another process's change may take to show here
MAX_AUTOANSWER_CHANNELS = 25


@dataclass(frozen=True)
class Escalation:
    role_id: int
    channel_id: int


@dataclass(frozen=True)
class AutoAnswer:
    channel_ids: frozenset[int]
    ignore_role_id: int | None


def _ids(value: str | None) -> list[int]:
    return [int(part) for part in (value or "").split(",") if part.strip().isdigit()]


class GuildSettings:
    """Reads and writes (in the service's thread pool: each call is a catalog access)."""

    def __init__(self, service: CitebotService, clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.clock = clock
        self._auto: dict[str, tuple[float, AutoAnswer]] = {}

    # -- escalation
    def escalation(self, namespace: str) -> Escalation | None:
        ids = _ids((self.service.setting(namespace, ESCALATION_KEY) or "").replace(":", ","))
        return Escalation(ids[0], ids[1]) if len(ids) == 2 else None

    def set_escalation(self, namespace: str, escalation: Escalation | None) -> None:
        value = f"{escalation.role_id}:{escalation.channel_id}" if escalation else None
        self.service.set_setting(namespace, ESCALATION_KEY, value)

    # -- auto-answer
    def autoanswer(self, namespace: str) -> AutoAnswer:
        cached = self._auto.get(namespace)
        if cached is not None and self.clock() - cached[0] < CACHE_SECONDS:
            return cached[1]
        ignore = _ids(self.service.setting(namespace, IGNORE_ROLE_KEY))
        channels = frozenset(_ids(self.service.setting(namespace, AUTOANSWER_KEY)))
        value = AutoAnswer(channels, ignore[0] if ignore else None)
        self._auto[namespace] = (self.clock(), value)
        if len(self._auto) > 10_000:
            self._auto.clear()
        return value

    def set_autoanswer_channel(self, namespace: str, channel_id: int, on: bool) -> AutoAnswer:
        """Turn auto-answer on or off in one channel; ``ValueError`` past ``MAX_AUTOANSWER_CHANNELS``."""
        channels = set(_ids(self.service.setting(namespace, AUTOANSWER_KEY)))
        if on and channel_id not in channels and len(channels) >= MAX_AUTOANSWER_CHANNELS:
            raise ValueError(f"at most {MAX_AUTOANSWER_CHANNELS} auto-answer channels")
        channels = channels | {channel_id} if on else channels - {channel_id}
        value = ",".join(str(c) for c in sorted(channels)) or None
        self.service.set_setting(namespace, AUTOANSWER_KEY, value)
        self._auto.pop(namespace, None)
        return self.autoanswer(namespace)

    def set_ignore_role(self, namespace: str, role_id: int | None) -> AutoAnswer:
        self.service.set_setting(namespace, IGNORE_ROLE_KEY, str(role_id) if role_id else None)
        self._auto.pop(namespace, None)
        return self.autoanswer(namespace)
