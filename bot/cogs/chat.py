"""Chat: a mention of the bot, or any direct message, asks a question; the answer is a reply.

In a server the bot opens a thread on its answer (``create_threads``, when it may), and
answers follow-ups in that thread using the thread's earlier questions, so "and what did
Russia want?" resolves. Discord sends the text of mentions and DMs without the privileged
message content intent; plain follow-ups in a thread (no mention) need it, and so do
auto-answer channels (``/config autoanswer``): there every message that reads as a question
is answered unasked, and in a forum every new post, in its own thread.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time

import discord
from discord.ext import commands

from bot import messages, render, streaming, views
from bot.app import Citebot
from bot.audience import message_access
from bot.permissions import namespace_for, namespace_tag
from bot.replies import report_message
from retrieval import InvalidQuestion, check_length, reads_as_question

log = logging.getLogger(__name__)

_ANSWERABLE = (discord.MessageType.default, discord.MessageType.reply)


class Chat(commands.Cog):
    def __init__(self, bot: Citebot) -> None:
        self.bot = bot

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
            question = await self.auto_question(message)
            if question:
                try:
                    await self.answer(message, question, auto=True)
                except Exception as exc:
                    await report_message(message, exc)
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

    # -- auto-answer channels and forums (issue 13) ---------------------------------------
    async def auto_question(self, message: discord.Message) -> str | None:
        """The question to answer unasked: a message that reads as one in an auto-answer
        channel, or a new post (its title and text) in an auto-answer forum. None: leave it."""
        bot, guild, author = self.bot, message.guild, message.author
        if guild is None or not bot.intents.message_content or not message.content.strip():
            return None
        channel = message.channel
        post = isinstance(channel, discord.Thread) and isinstance(channel.parent, discord.ForumChannel)
        if post and message.id != channel.id:
            return None  # only a forum post's opening message, not the discussion under it
        watched = channel.parent_id if post and isinstance(channel, discord.Thread) else channel.id
        settings = await bot.call(bot.guild_settings.autoanswer, namespace_for(guild.id, bot.config))
        if watched not in settings.channel_ids:
            return None
        if settings.ignore_role_id and isinstance(author, discord.Member) and author.get_role(settings.ignore_role_id):
            return None
        if post and isinstance(channel, discord.Thread):
            title = channel.name.strip()
            text = f"{title}: {message.content.strip()}" if title else message.content.strip()
            return render.clip(text, bot.config.max_question_chars)
        return message.content.strip() if reads_as_question(message.content) else None

    # -- answering --------------------------------------------------------------------------
    async def answer(self, message: discord.Message, question: str, *, auto: bool = False) -> None:
        """``auto``: nobody asked the bot (an auto-answer channel): a cooldown, a question too
        long or an abstention is left unsaid rather than replied to (abstentions are still
        logged: /stats lists them as coverage gaps)."""
        bot = self.bot
        wait = bot.cooldowns.retry_after(message.author.id)
        if wait > 0:
            if not auto:
                await self.reply(message, messages.cooldown(wait))
            return
        try:
            check_length(question, bot.config.max_question_chars)
        except InvalidQuestion as exc:
            if not auto:
                await self.reply(message, render.error_text(str(exc)))
            return
        if auto:
            await self.auto_answer(message, question)
            return
        with contextlib.suppress(discord.HTTPException):
            await message.channel.typing()
        guild_id = message.guild.id if message.guild else None
        history = await self.history(message) if isinstance(message.channel, discord.Thread) else []
        namespace = namespace_for(guild_id, bot.config)
        access = await message_access(bot, message)  # a reply the channel reads: unrestricted sets only
        if await streaming.enabled(bot, namespace):  # LLM mode: a reply that streams, then the verified answer
            reply = await streaming.reply_to_message(message, bot, question, history, access)
        else:
            started = time.perf_counter()
            answer = await bot.call(bot.service.ask, question, namespace, history, log=True, access=access)
            seconds = time.perf_counter() - started
            reply = await message.reply(
                embed=render.answer_embed(answer, seconds=seconds),
                view=views.answer_view(answer, namespace_tag(guild_id), private=False),
                mention_author=False,
            )
            bot.answers.put(reply.id, answer)
        if self.should_open_thread(message):
            await self.open_thread(reply, question)

    async def auto_answer(self, message: discord.Message, question: str) -> None:
        bot = self.bot
        guild_id = message.guild.id if message.guild else None
        namespace = namespace_for(guild_id, bot.config)
        started = time.perf_counter()
        access = await message_access(bot, message)
        answer = await bot.call(bot.service.ask, question, namespace, log=True, access=access)
        if answer.abstained or not answer.citations:
            log.info("auto-answer abstained on message %s (logged, not posted)", message.id)
            return
        reply = await message.reply(
            embed=render.answer_embed(answer, seconds=time.perf_counter() - started),
            view=views.answer_view(answer, namespace_tag(guild_id), private=False),
            mention_author=False,
        )
        bot.answers.put(reply.id, answer)
        if self.should_open_thread(message):  # a text channel: the thread holds the follow-ups
            await self.open_thread(reply, question)

    async def open_thread(self, reply: discord.Message, question: str) -> None:
        """A thread on the answer, remembered with its question for the follow-ups."""
        try:
            thread = await reply.create_thread(name=render.thread_name(question), auto_archive_duration=1440)
        except discord.HTTPException as exc:
            log.info("could not open a thread on %s (%s %s)", reply.id, exc.status, exc.text)
        else:
            self.bot.threads.remember(thread.id, question)

    def should_open_thread(self, message: discord.Message) -> bool:
        if not self.bot.config.create_threads or message.guild is None:
            return False
        channel = message.channel
        if not isinstance(channel, discord.TextChannel):
            return False  # threads, voice text, forum posts…: no thread of a thread
        me = message.guild.me
        return me is None or channel.permissions_for(me).create_public_threads

    async def history(self, message: discord.Message) -> list[str]:
        """Earlier questions of this thread, oldest first: the one it was opened for, then each answered."""
        thread = message.channel
        assert isinstance(thread, discord.Thread)
        limit = self.bot.config.thread_history_messages
        questions: list[str] = []
        first = self.bot.threads.question(thread.id) or await self.starter_question(thread)
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
