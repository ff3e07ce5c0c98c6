"""Embeds of the admin view (issue 13): ``/stats`` and the escalation of a 👎 answer.

Everything shown is escaped and clipped like the answers (``bot.render``); the only
texts of members shown are the questions they asked the bot (normalized) and, in an
escalation, the note its rater wrote for that purpose.
"""

from __future__ import annotations

import discord

from bot import messages, render
from retrieval import Answer, FeedHealth, Stats

STATS_COLOUR = discord.Colour.blurple()
ESCALATION_COLOUR = discord.Colour.orange()
QUESTION_CLIP = 150
ANSWER_CLIP = 900


def stats_embed(stats: Stats, *, chart: str | None) -> discord.Embed:
    """``chart``: the attachment's filename, shown as the embed's image (None: no chart)."""
    embed = discord.Embed(
        title=messages.STATS_TITLE.format(days=stats.days),
        description=messages.STATS_SUMMARY.format(asked=stats.asked, answered=stats.answered, abstained=stats.abstained)
        + ("" if stats.asked else "\n" + messages.STATS_NONE),
        colour=STATS_COLOUR,
    )
    embed.add_field(
        name=messages.STATS_VOTES,
        value=messages.STATS_VOTES_LINE.format(
            up=stats.helpful, down=stats.not_helpful, ratio=messages.stats_ratio(stats.helpful_ratio)
        ),
        inline=False,
    )
    if stats.unanswered:
        lines = [
            messages.STATS_GAP_LINE.format(
                count=q.count, question=render.clip(render.escape(q.question), QUESTION_CLIP)
            )
            for q in stats.unanswered
        ]
        embed.add_field(name=messages.STATS_GAPS, value=render.clip("\n".join(lines), render.FIELD_VALUE), inline=False)
    if stats.top_cited:
        lines = [
            messages.STATS_CITED_LINE.format(
                count=d.answers,
                title=render.clip(render.escape(render.one_line(d.title)), QUESTION_CLIP)
                if d.title
                else messages.STATS_FORGOTTEN,
            )
            for d in stats.top_cited
        ]
        embed.add_field(
            name=messages.STATS_CITED, value=render.clip("\n".join(lines), render.FIELD_VALUE), inline=False
        )
    if stats.feeds.feeds:
        embed.add_field(
            name=messages.STATS_FEEDS, value=render.clip(feeds_summary(stats.feeds), render.FIELD_VALUE), inline=False
        )
    if chart:
        embed.set_image(url=f"attachment://{chart}")
    embed.set_footer(text=messages.STATS_FOOTER.format(since=stats.since))
    return render.fit(embed)


def feeds_summary(health: FeedHealth) -> str:
    """The feeds' health: a count, and each failing feed with its last error."""
    lines = [render.escape(health.summary())]
    for f in health.failing:
        error = render.one_line(f.last_error) if f.last_error else "?"
        lines.append(render.escape(f"{render.clip(f.url, 80)}: {f.failures}x, {render.clip(error, 120)}"))
    return "\n".join(lines)


def escalation_embed(answer: Answer, note: str, *, user: str, channel: str, jump_url: str | None) -> discord.Embed:
    """What the support channel sees: the question, the answer, its citations, the note."""
    question = render.clip(render.escape(render.one_line(answer.question)), 200)
    embed = discord.Embed(
        title=render.clip(messages.ESCALATION_TITLE.format(question=question), render.EMBED_TITLE),
        colour=ESCALATION_COLOUR,
    )
    embed.add_field(
        name=messages.ESCALATION_ANSWER,
        value=render.clip(render.escape(answer.text), ANSWER_CLIP) or render.BLANK,
        inline=False,
    )
    cited = [f"[{c.n}] {render.link(c.title, c.url, 120)} · `{c.id}`" for c in answer.citations]
    embed.add_field(
        name=messages.ESCALATION_CITATIONS,
        value=render.clip("\n".join(cited), render.FIELD_VALUE) if cited else messages.ESCALATION_NO_CITATIONS,
        inline=False,
    )
    embed.add_field(
        name=messages.ESCALATION_NOTE,
        value=render.clip(render.escape(note), render.FIELD_VALUE) if note else messages.ESCALATION_NO_NOTE,
        inline=False,
    )
    footer = messages.ESCALATION_BY.format(user=user, channel=channel)
    embed.set_footer(text=render.clip(footer, render.FOOTER))
    if jump_url:
        embed.description = messages.ESCALATION_JUMP.format(url=jump_url)
    return render.fit(embed)
