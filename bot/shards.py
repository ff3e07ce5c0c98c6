"""Which gateway shards one ``citebot run`` process owns (``--shard-count``, ``--shard-ids``).

Discord sends a guild's events only to the session of shard ``(guild_id >> 22) % count``,
so several processes can split the guilds between them, as long as every process is
told the same count and no shard is owned twice. No discord import: the CLI validates
the options before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SHARDS = 4096  # far above what any one bot needs; a typo such as 20000 is refused


class ShardOptionError(ValueError):
    """The shard options cannot be used; the message is one line fit for a user."""


@dataclass(frozen=True)
class ShardPlan:
    """``count`` None: discord.py asks Discord for the recommended count and runs them all
    here. ``ids`` None: every shard ``0..count-1`` runs here."""

    count: int | None = None
    ids: tuple[int, ...] | None = None

    def describe(self) -> str:
        if self.count is None:
            return "automatic sharding (Discord's recommended shard count, all in this process)"
        ids = self.ids if self.ids is not None else tuple(range(self.count))
        return f"shards {','.join(map(str, ids))} of {self.count}"


def shard_of(guild_id: int, count: int) -> int:
    """The shard Discord sends a guild's events to."""
    return (guild_id >> 22) % count


def _parse_ids(text: str, count: int) -> list[int]:
    ids: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        low, dash, high = part.partition("-")
        if not (low.isdigit() and (not dash or high.isdigit())):
            raise ShardOptionError(f"--shard-ids: {part!r} is not a shard id or a range such as 0-3")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ShardOptionError(f"--shard-ids: the range {part!r} runs backwards")
        if last >= count:  # checked before expanding, so a huge range costs nothing
            raise ShardOptionError(f"--shard-ids: shard {last} is not below --shard-count {count}")
        ids.extend(range(first, last + 1))
    return ids


def plan_shards(count: int | None, ids: str | None) -> ShardPlan:
    """Validate ``--shard-count`` / ``--shard-ids`` (e.g. ``"0,1"`` or ``"0-3,8"``)."""
    if count is not None and not 1 <= count <= MAX_SHARDS:
        raise ShardOptionError(f"--shard-count must be between 1 and {MAX_SHARDS} (got {count})")
    if ids is None:
        return ShardPlan(count=count)
    if count is None:
        raise ShardOptionError("--shard-ids needs --shard-count (the same total in every process)")
    parsed = _parse_ids(ids, count)
    seen: set[int] = set()
    for shard in parsed:
        if shard in seen:
            raise ShardOptionError(f"--shard-ids: shard {shard} is listed twice")
        seen.add(shard)
    return ShardPlan(count=count, ids=tuple(sorted(parsed)))
