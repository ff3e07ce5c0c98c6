"""Chat: a mention of the bot, or any direct message, asks a question; the answer is a reply.

In a server the bot opens a thread on its answer (``create_threads``, when it may), and
answers follow-ups in that thread using the thread's earlier questions, so "and what did
Russia want?" resolves. Discord sends the text of mentions and DMs without the privileged
message content intent; plain follow-ups in a thread (no mention) need it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections import OrderedDict

import discord
from discord.ext import commands

from bot import messages, render, views
from bot.app import Citebot
from bot.cogs.errors import report_message
from bot.permissions import namespace_for, namespace_tag

log = logging.getLogger(__name__)

_ANSWERABLE = (discord.MessageType.default, discord.MessageType.reply)


class Chat(commands.Cog):
    def __init__(self, bot: Citebot) -> None:
        self.bot = bot
        self.thread_questions: OrderedDict[int, str] = OrderedDict()  # thread id → first question

    # -- deciding what to answer ------------------------------------------------------------
    def addressed(self, message: discord.Message) -> bool:
        """A mention of the bot (user or its managed role), never @everyone or @here alone."""
        me = self.bot.user
        if me is None:
            return False
        if any(user.id == me.id for user in message.mentions):
            return True
        return any(role.tags is not None and role.tags.bot_id == me.id for role in message.role_mentions)

    def in_own_thread(self, message: discord.Message) -> bool:
        channel, me = message.channel, self.bot.user
        return isinstance(channel, discord.Thread) and me is not None and channel.owner_id == me.id

    def question_of(self, message: discord.Message) -> str:
        text = message.content
        me = self.bot.user
        if me is not None:
            text = re.sub(rf"<@!?{me.id}>", " ", text)
        for role in message.role_mentions:
            if role.tags is not None and me is not None and role.tags.bot_id == me.id:
                text = text.replace(f"<@&{role.id}>", " ")
        return text.strip()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None or message.type not in _ANSWERABLE:
            return
        direct = message.guild is None
        mentioned = self.addressed(message)
        in_thread = self.in_own_thread(message)
        if not (direct or mentioned or in_thread):
            return
        question = self.question_of(message)
        if not question:
            if mentioned or direct:
                await self.reply(message, messages.QUESTION_EMPTY)
            return  # a follow-up without the message content intent arrives empty: nothing to do
        try:
            await self.answer(message, question)
        except Exception as exc:
            await report_message(message, exc)

    # -- answering --------------------------------------------------------------------------
    async def answer(self, message: discord.Message, question: str) -> None:
        bot = self.bot
        wait = bot.cooldowns.retry_after(message.author.id)
        if wait > 0:
            await self.reply(message, messages.cooldown(wait))
            return
        limit = bot.settings.max_question_chars
        if len(question) > limit:
            await self.reply(message, messages.too_long("question", len(question), limit))
            return
        with contextlib.suppress(discord.HTTPException):
            await message.channel.typing()
        guild_id = message.guild.id if message.guild else None
        history = await self.history(message) if isinstance(message.channel, discord.Thread) else []
        started = time.perf_counter()
        answer = await bot.call(bot.service.ask, question, namespace_for(guild_id, bot.settings), history)
        seconds = time.perf_counter() - started
        reply = await message.reply(
            embed=render.answer_embed(answer, seconds=seconds),
            view=views.answer_view(answer, namespace_tag(guild_id), private=False),
            mention_author=False,
        )
        bot.answers.put(reply.id, answer)
        if self.should_open_thread(message):
            try:
                thread = await reply.create_thread(name=render.thread_name(question), auto_archive_duration=1440)
            except discord.HTTPException as exc:
                log.info("could not open a thread on %s (%s %s)", reply.id, exc.status, exc.text)
            else:
                self.remember_thread(thread.id, question)

    def should_open_thread(self, message: discord.Message) -> bool:
        if not self.bot.settings.create_threads or message.guild is None:
            return False
        channel = message.channel
        if not isinstance(channel, discord.TextChannel):
            return False  # threads, voice text, forum posts…: no thread of a thread
        me = message.guild.me
        return me is None or channel.permissions_for(me).create_public_threads

    def remember_thread(self, thread_id: int, question: str) -> None:
        self.thread_questions[thread_id] = question
        while len(self.thread_questions) > 5000:
            self.thread_questions.popitem(last=False)

    async def history(self, message: discord.Message) -> list[str]:
        """Earlier questions of this thread, oldest first: the one it was opened for, then each answered."""
        thread = message.channel
        assert isinstance(thread, discord.Thread)
        limit = self.bot.settings.thread_history_messages
        questions: list[str] = []
        first = self.thread_questions.get(thread.id) or await self.starter_question(thread)
        if first:
            questions.append(first)
        if limit > 0:
            me = self.bot.user
            earlier = [m async for m in thread.history(limit=limit, before=message)]
            for past in reversed(earlier):
                if me is not None and past.author.id == me.id and past.embeds:
                    asked = render.question_from_title(past.embeds[0].title)
                    if asked and (not questions or questions[-1] != asked):
                        questions.append(asked)
        return questions

    async def starter_question(self, thread: discord.Thread) -> str | None:
        """The question of the answer a thread was opened on (after a restart: from its embed)."""
        starter = thread.starter_message
        if starter is None and isinstance(thread.parent, discord.TextChannel):
            try:
                starter = await thread.parent.fetch_message(thread.id)
            except discord.HTTPException:
                return None
        if starter is None or self.bot.user is None or starter.author.id != self.bot.user.id or not starter.embeds:
            return None
        return render.question_from_title(starter.embeds[0].title)

    async def reply(self, message: discord.Message, text: str) -> None:
        try:
            await message.reply(render.content(text), mention_author=False)
        except discord.HTTPException as exc:
            log.warning("could not reply to %s (%s %s)", message.id, exc.status, exc.text)


async def setup(bot: Citebot) -> None:
    await bot.add_cog(Chat(bot))
