"""The Discord side's frozen projection of the settings: what the bot and its cogs read.
(The token and the API address are the runner's; retrieval has its own projection.)"""

from __future__ import annotations

from dataclasses import dataclass

from config import Settings
from retrieval import Quota


@dataclass(frozen=True)
class BotConfig:
    dm_namespace: str
    max_question_chars: int
    max_file_bytes: int
    answer_mode: str  # the default; a server's /config choice overrides it
    llm_model: str
    create_threads: bool
    thread_history_messages: int
    cooldown_rate: int
    cooldown_seconds: float
    quota: Quota  # per guild, on Discord ingests
    feed_poll_minutes: float  # how often each feed is polled (the service jitters and backs off)

    @classmethod
    def from_settings(cls, s: Settings) -> BotConfig:
        return cls(
            dm_namespace=s.dm_namespace,
            max_question_chars=s.max_question_chars,
            max_file_bytes=s.max_file_bytes,
            answer_mode=s.answer_mode,
            llm_model=s.llm_model,
            create_threads=s.create_threads,
            thread_history_messages=s.thread_history_messages,
            cooldown_rate=s.cooldown_rate,
            cooldown_seconds=s.cooldown_seconds,
            quota=Quota(
                max_documents=s.guild_max_documents,
                max_bytes=s.guild_max_bytes,
                ingests_per_hour=s.guild_ingests_per_hour,
            ),
            feed_poll_minutes=s.feed_poll_minutes,
        )
