"""LLM answers streamed into Discord: the model's words appear as it writes them, then the
verified answer replaces them.

The service runs in the bot's thread pool and hands each piece of the raw stream to
``TokenBuffer.token`` (thread-safe); the event loop edits the message with what has come,
never sooner than ``MIN_EDIT_INTERVAL`` after the previous send (Discord allows about five
edits of a message per five seconds; one a second stays well inside it and leaves room for
other messages). While streaming the embed says the text is unverified. The final edit —
also paced — carries only the verified answer (``Answer``: kept sentences, citations), the
buttons, and the fallback note if the model's answer could not be used: sentences that
failed verification disappear there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import discord

from bot import render, views
from bot.app import Citebot
from bot.permissions import namespace_for, namespace_tag
from retrieval import Access, Answer, Scope

MIN_EDIT_INTERVAL = 1.0  # seconds between two sends of the same message
CURSOR = " ▌"
STREAM_FOOTER = "Writing… unverified: sentences their sources do not support will be removed."

Send = Callable[..., Awaitable[discord.Message]]


async def enabled(bot: Citebot, namespace: str) -> bool:
    """Whether the namespace answers in LLM mode (the server's /config choice, else the
    settings'): a catalog read, so off the event loop."""
    return await bot.call(bot.service.answer_mode, namespace) == "llm"


class TokenBuffer:
    """The raw stream so far; ``token`` may be called from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.text = ""
        self.changed = asyncio.Event()

    def _add(self, piece: str) -> None:
        self.text += piece
        self.changed.set()

    def token(self, piece: str) -> None:
        self.loop.call_soon_threadsafe(self._add, piece)


def streaming_embed(question: str, text: str) -> discord.Embed:
    embed = discord.Embed(
        title=render.question_title(question),
        description=render.clip_left(render.escape(text.strip()), render.EMBED_DESCRIPTION - len(CURSOR)) + CURSOR,
        colour=render.ABSTAIN_COLOUR,
    )
    embed.set_footer(text=STREAM_FOOTER)
    return render.fit(embed)


async def stream(
    bot: Citebot,
    question: str,
    namespace: str,
    history: Sequence[str],
    send: Send,
    *,
    tag: str,
    private: bool,
    interval: float = MIN_EDIT_INTERVAL,
    scope: Scope | None = None,
    access: Access | None = None,
) -> tuple[Answer, discord.Message]:
    """Ask in LLM mode, showing the stream through ``send(first, **message)``; the final message."""
    buffer = TokenBuffer(asyncio.get_running_loop())
    started = time.perf_counter()
    ask = bot.call(
        bot.service.ask,
        question,
        namespace,
        history,
        mode="llm",
        on_token=buffer.token,
        log=True,
        scope=scope,
        access=access or Access(),  # never the operator's view: a reply always has a reader
    )
    task = asyncio.ensure_future(ask)
    message: discord.Message | None = None
    last_send = -float("inf")
    shown = ""
    try:
        while not task.done():
            wait = last_send + interval - time.monotonic()
            if wait > 0:  # paced: nothing goes out before the interval has passed
                await asyncio.wait({task}, timeout=wait)
                continue
            buffer.changed.clear()
            if buffer.text.strip() and buffer.text != shown:
                shown = buffer.text
                with contextlib.suppress(discord.HTTPException):  # a lost edit is no lost answer
                    message = await send(message is None, embed=streaming_embed(question, shown))
                last_send = time.monotonic()
                continue
            changed = asyncio.ensure_future(buffer.changed.wait())
            await asyncio.wait({task, changed}, return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
        answer = task.result()
    finally:
        task.cancel()
    wait = last_send + interval - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)
    seconds = time.perf_counter() - started
    final = await send(
        message is None,
        embed=render.answer_embed(answer, seconds=seconds),
        view=views.answer_view(answer, tag, private=private),
    )
    bot.answers.put(final.id, answer)
    return answer, final


async def answer_interaction(
    interaction: discord.Interaction[Citebot],
    question: str,
    *,
    private: bool,
    scope: Scope | None = None,
    access: Access | None = None,
) -> None:
    """/ask (already deferred) in LLM mode: the stream edits the original response."""
    bot = interaction.client

    async def send(first: bool, **kwargs: Any) -> discord.Message:
        return await interaction.edit_original_response(**kwargs)

    namespace = namespace_for(interaction.guild_id, bot.config)
    tag = namespace_tag(interaction.guild_id)
    await stream(bot, question, namespace, (), send, tag=tag, private=private, scope=scope, access=access)


async def reply_to_message(
    message: discord.Message, bot: Citebot, question: str, history: Sequence[str], access: Access | None = None
) -> Any:
    """A mention, DM or thread follow-up in LLM mode: a reply made at the first words, then edited."""
    guild_id = message.guild.id if message.guild else None
    reply: discord.Message | None = None

    async def send(first: bool, **kwargs: Any) -> discord.Message:
        nonlocal reply
        if reply is None:
            reply = await message.reply(mention_author=False, **kwargs)
            return reply
        return await reply.edit(allowed_mentions=discord.AllowedMentions.none(), **kwargs)  # edits carry no default

    namespace = namespace_for(guild_id, bot.config)
    _, final = await stream(
        bot, question, namespace, history, send, tag=namespace_tag(guild_id), private=False, access=access
    )
    return final
