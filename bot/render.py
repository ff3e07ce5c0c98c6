"""Pure rendering: service values → Discord embeds and text, always within Discord's limits.

No I/O and no state. Every renderer escapes Markdown in article and user text, cuts long
text at a sentence or word boundary with an ellipsis (and a pointer to ``/cite`` where
that helps), and passes its embed through :func:`fit`, the last line of defence that
makes any embed valid. Lengths are measured in UTF-16 code units (:func:`dlen`), which is
never less than the number of characters, so a text that fits here fits Discord.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from urllib.parse import quote as urlquote
from urllib.parse import urlsplit

import discord

from bot import messages
from retrieval import (
    Answer,
    Citation,
    CitationContext,
    DocumentInfo,
    IngestReport,
    SearchHit,
    byline,
    replace_surrogates,
)

# Discord's documented limits.
CONTENT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
EMBEDS_TOTAL = 6000
BUTTON_LABEL = 80
BUTTONS_PER_ROW = 5
ROWS = 5
CHOICES = 25
CHOICE_NAME = 100
THREAD_NAME = 100
URL_MAX = 2000  # longer links are shown without a link rather than risk a rejected embed

ELLIPSIS = "…"
BLANK = "\u200b"  # a field name or value may not be empty
DOCUMENTS_PER_PAGE = 10

ANSWER_COLOUR = discord.Colour.blurple()
ABSTAIN_COLOUR = discord.Colour.light_grey()
CITATION_COLOUR = discord.Colour.teal()
ERROR_COLOUR = discord.Colour.red()

_SENTENCE_END = re.compile(r"[.!?…。][\"'”’)\]]*(?=\s)")
_SPACE = re.compile(r"\s")
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_MENTION = re.compile(r"<(?=@[!&]?[0-9])")  # <@user>, <@!user>, <@&role>
_LINK_CLOSE = re.compile(r"\](?=\()")  # the "](" that closes a masked link's text
_BRACKET = re.compile(r"(?<!\\)((?:\\\\)*)([\[\]])")  # a bracket not already escaped


# -- measuring and cutting --------------------------------------------------------------------
def dlen(text: str) -> int:
    """Length as Discord could count it at most: UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _prefix_within(text: str, budget: int) -> str:
    """The longest prefix of ``text`` whose dlen is at most ``budget``."""
    if dlen(text) <= budget:
        return text
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            return text[:i]
    return text


def _suffix_within(text: str, budget: int) -> str:
    if dlen(text) <= budget:
        return text
    used = 0
    for i in range(len(text) - 1, -1, -1):
        used += 2 if ord(text[i]) > 0xFFFF else 1
        if used > budget:
            return text[i + 1 :]
    return text


def _drop_dangling_escape(text: str) -> str:
    """An escaped text cut after an odd run of backslashes would escape what follows."""
    run = len(text) - len(text.rstrip("\\"))
    return text[:-1] if run % 2 else text


def clip(text: str, limit: int, more: str = "") -> str:
    """``text`` if it fits in ``limit``; else cut at a sentence or word boundary + "…" + ``more``.

    Safe on Markdown-escaped text (never leaves a dangling backslash). The result's dlen
    is at most ``limit`` for any ``limit >= 0``.
    """
    if limit <= 0:
        return ""
    if dlen(text) <= limit:
        return text
    tail = ELLIPSIS + more
    if dlen(tail) >= limit:
        tail = ELLIPSIS
    budget = limit - dlen(tail)
    head = _prefix_within(text, budget)
    floor = len(head) // 2
    cut = None
    for match in _SENTENCE_END.finditer(head):
        if match.end() >= floor:
            cut = match.end()
    if cut is not None:
        head = head[:cut]
    else:
        spaces = [m.start() for m in _SPACE.finditer(head)]
        if spaces and spaces[-1] >= floor:
            head = head[: spaces[-1]]
    head = _drop_dangling_escape(head.rstrip())
    return _prefix_within(head + tail, limit)


def clip_left(text: str, limit: int) -> str:
    """Keep the end of ``text`` within ``limit``: "…" + the tail, cut at a word boundary."""
    if limit <= 0:
        return ""
    if dlen(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    tail = _suffix_within(text, limit - 1)
    match = _SPACE.search(tail)
    if match and match.start() <= len(tail) // 2:
        tail = tail[match.end() :]
    else:
        # A hard cut between an escaping backslash and its character would unescape it.
        start = len(text) - len(tail)
        run = start - len(text[:start].rstrip("\\"))
        if run % 2:
            tail = tail[1:]
    return ELLIPSIS + tail.lstrip()


def escape(text: str) -> str:
    """Escape Discord Markdown (bold, code fences, quotes, headings, lists, masked links …).

    Also shows user and role mentions as text (``\\<@…>``), and escapes every "](" so that
    no masked link can form even when a text is escaped in pieces (a quote in bold inside
    its context may start in the middle of a link).
    """
    text = discord.utils.escape_markdown(replace_surrogates(text))
    return _LINK_CLOSE.sub(r"\\]", _MENTION.sub(r"\\<", text))


def unescape(text: str) -> str:
    return _UNESCAPE.sub(r"\1", text)


def one_line(text: str) -> str:
    return " ".join(replace_surrogates(text).split())


def content(text: str) -> str:
    """A message ``content`` within 2,000 characters."""
    return clip(text, CONTENT) or BLANK


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for an embed link, with the characters that break Markdown links encoded."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    url = urlquote(url, safe=":/?#@!$&'*+,;=%~-._[]")  # encodes spaces, ( ) < > and non-ASCII
    url = url.replace("[", "%5B").replace("]", "%5D")
    if len(url) > URL_MAX:
        return None
    return url


def link(title: str, url: str | None, limit: int = 200) -> str:
    """``[title](url)`` with the title escaped and clipped, or just the escaped title."""
    text = clip(escape(one_line(title)) or "untitled", limit)
    target = safe_url(url)
    if target is None:
        return f"**{text}**"
    # Brackets inside the link text end it early; escape() does not touch lone brackets.
    text = _BRACKET.sub(r"\1\\\2", text)
    return f"[{text}]({target})"


# -- the safety net -----------------------------------------------------------------------------
def embed_total(embed: discord.Embed) -> int:
    total = dlen(embed.title or "") + dlen(embed.description or "")
    for field in embed.fields:
        total += dlen(field.name or "") + dlen(field.value or "")
    total += dlen(embed.footer.text or "") + dlen(embed.author.name or "")
    return total


def fit(embed: discord.Embed) -> discord.Embed:
    """Make any embed valid: every part within its limit, at most 25 fields, 6,000 in all."""
    if embed.title:
        embed.title = clip(embed.title, EMBED_TITLE)
    if embed.description:
        embed.description = clip(embed.description, EMBED_DESCRIPTION)
    if embed.url and safe_url(embed.url) is None:
        embed.url = None
    fields = [(f.name or BLANK, f.value or BLANK, f.inline) for f in embed.fields]
    if len(fields) > EMBED_FIELDS:
        fields = fields[:EMBED_FIELDS]
    fields = [(clip(n, FIELD_NAME) or BLANK, clip(v, FIELD_VALUE) or BLANK, i) for n, v, i in fields]
    footer = embed.footer
    if footer.text:
        embed.set_footer(text=clip(footer.text, FOOTER), icon_url=footer.icon_url)
    author = embed.author
    if author.name:
        embed.set_author(name=clip(author.name, AUTHOR), url=author.url, icon_url=author.icon_url)
    _set_fields(embed, fields)
    # Over the total: shorten the longest part until it fits (fields first, then description).
    while embed_total(embed) > EMBEDS_TOTAL:
        excess = embed_total(embed) - EMBEDS_TOTAL
        fields = [(f.name or BLANK, f.value or BLANK, bool(f.inline)) for f in embed.fields]
        longest = max(range(len(fields)), key=lambda k: dlen(fields[k][1]), default=None)
        if longest is not None and dlen(fields[longest][1]) > 200:
            name, value, inline = fields[longest]
            fields[longest] = (name, clip(value, max(100, dlen(value) - excess - 1)) or BLANK, inline)
            _set_fields(embed, fields)
        elif embed.description and dlen(embed.description) > 200:
            embed.description = clip(embed.description, max(100, dlen(embed.description) - excess - 1))
        elif fields:
            _set_fields(embed, fields[:-1])
        elif embed.footer.text:
            embed.set_footer(text=clip(embed.footer.text, max(0, dlen(embed.footer.text) - excess)) or None)
        else:
            embed.description = clip(embed.description or "", max(0, EMBEDS_TOTAL - embed_total(embed)))
            embed.title = clip(embed.title or "", max(0, EMBEDS_TOTAL - embed_total(embed))) or None
            break
    return embed


def _set_fields(embed: discord.Embed, fields: Sequence[tuple[str, str, bool]]) -> None:
    embed.clear_fields()
    for name, value, inline in fields:
        embed.add_field(name=name, value=value, inline=inline)


# -- answers ------------------------------------------------------------------------------------
def question_title(question: str) -> str:
    return clip(escape(messages.answer_title(one_line(question))), EMBED_TITLE)


def question_from_title(title: str | None) -> str | None:
    """The question of an answer embed (maybe shortened), for answers from before a restart."""
    if not title or not title.startswith(messages.ANSWER_TITLE_PREFIX):
        return None
    return unescape(title[len(messages.ANSWER_TITLE_PREFIX) :]).strip() or None


def citation_value(c: Citation, limit: int = FIELD_VALUE) -> str:
    where = escape(clip(byline(c.url, c.published), 120))
    head = f"{link(c.title, c.url, 150)}, {messages.PARAGRAPH.format(paragraph=c.paragraph)} · `{c.id}`"
    if where:
        head += f"\n{where}"
    head = clip(head, max(0, limit // 2)) if dlen(head) > limit // 2 else head
    room = limit - dlen(head) - 5
    quote = clip(escape(c.quote.strip()), room, messages.TRUNCATED_CITE.format(cid=c.id))
    return f"{head}\n>>> {quote}" if quote else head


def marked_quote(c: Citation) -> str:
    """The quote, escaped, with its answer span (if any) in bold."""
    if c.answer_span is None or c.answer_span[0] >= c.answer_span[1]:
        return escape(c.quote)
    start, end = c.answer_span
    return f"{escape(c.quote[:start])}**{escape(c.quote[start:end])}**{escape(c.quote[end:])}"


def answer_text(answer: Answer) -> str:
    """The answer's description: each quote with its ``[n]``, the answer span in bold."""
    if answer.abstained or not answer.citations or answer.mode == "llm":  # LLM mode: the verified sentences
        return escape(answer.text)
    return " ".join(f"\u201c{marked_quote(c)}\u201d [{c.n}]" for c in answer.citations)


def answer_embed(answer: Answer, *, seconds: float | None = None) -> discord.Embed:
    """The answer with ``[n]`` markers, one field per citation and the time taken."""
    text = answer_text(answer)
    if dlen(text) > EMBED_DESCRIPTION:  # a cut could split the bold markers: plain text then
        text = escape(answer.text)
    embed = discord.Embed(
        title=question_title(answer.question),
        description=clip(text, EMBED_DESCRIPTION, messages.TRUNCATED_SOURCES) or BLANK,
        colour=ABSTAIN_COLOUR if answer.abstained else ANSWER_COLOUR,
    )
    citations = list(answer.citations)
    shown = citations if len(citations) <= EMBED_FIELDS else citations[: EMBED_FIELDS - 1]
    if seconds is None:
        seconds = answer.timings_ms.get("total", 0.0) / 1000
    footer = messages.FOOTER_TIME.format(seconds=seconds)
    if answer.abstained:
        footer += " · " + messages.FOOTER_ABSTAINED
    elif citations:
        footer += " · " + messages.FOOTER_CITE_HINT
    if answer.note:  # LLM mode: why the quoted answer stands in, or what was removed
        footer = f"{answer.note} · {footer}"
    embed.set_footer(text=footer)
    # Share the 6,000 characters fairly between the citations.
    fixed = embed_total(embed) + (40 if len(shown) < len(citations) else 0)
    budget = FIELD_VALUE
    if shown:
        budget = max(160, min(FIELD_VALUE, (EMBEDS_TOTAL - min(fixed, 2500) - 8 * len(shown)) // len(shown)))
    for c in shown:
        embed.add_field(name=messages.CITATION_NAME.format(n=c.n), value=citation_value(c, budget), inline=False)
    if len(shown) < len(citations):
        embed.add_field(
            name=BLANK, value=messages.MORE_CITATIONS.format(count=len(citations) - len(shown)), inline=False
        )
    return fit(embed)


# -- citations in context ---------------------------------------------------------------------
def passage(ctx: CitationContext, limit: int) -> str:
    """The quote in bold inside its surrounding text, escaped, within ``limit``."""
    text = ctx.context
    rel_start = min(max(ctx.start - ctx.context_start, 0), len(text))
    rel_end = min(max(ctx.end - ctx.context_start, rel_start), len(text))
    before, quote, after = text[:rel_start], text[rel_start:rel_end], text[rel_end:]
    if not quote.strip():
        return clip(escape(text), limit) if text else BLANK
    lead = quote[: len(quote) - len(quote.lstrip())]
    trail = quote[len(quote.rstrip()) :]
    core = quote.strip()
    quote_room = max(10, min(limit - 4, int(limit * 0.7)))
    bold = "**" + clip(escape(core), quote_room - 4, messages.TRUNCATED_CITE.format(cid=ctx.id)) + "**"
    room = limit - dlen(bold)
    pre_room = room // 2
    pre = clip_left(escape(before + lead), pre_room)
    post = clip(escape(trail + after), room - dlen(pre))
    out = pre + bold + post
    return out if dlen(out) <= limit else clip(out, limit)


def citation_embed(ctx: CitationContext, *, label: str | None = None) -> discord.Embed:
    """One cited passage in context (for ``/cite``, "[n]" buttons and "Find source")."""
    embed = discord.Embed(
        title=clip(escape(one_line(ctx.title)) or "untitled", EMBED_TITLE),
        url=safe_url(ctx.url),
        description=passage(ctx, 3500),
        colour=CITATION_COLOUR,
    )
    if label:
        embed.set_author(name=clip(label, AUTHOR))
    match = messages.MATCH_EXACT if ctx.exact else messages.MATCH_NEAR
    embed.set_footer(text=messages.CITATION_FOOTER.format(cid=ctx.id, paragraph=ctx.paragraph, match=match))
    return fit(embed)


def sources_embed(items: Sequence[tuple[int, str, CitationContext | None]]) -> discord.Embed:
    """Every citation of an answer with its passage; ``None`` for citations that are gone."""
    embed = discord.Embed(title=messages.SOURCES_TITLE, colour=CITATION_COLOUR)
    shown = list(items)[:EMBED_FIELDS]
    budget = FIELD_VALUE
    if shown:
        budget = max(150, min(FIELD_VALUE, (EMBEDS_TOTAL - 100) // len(shown) - 80))
    for n, cid, ctx in shown:
        if ctx is None:
            name = f"[{n}] `{cid}`"
            value = messages.SOURCE_GONE
        else:
            name = (
                clip(f"[{n}] " + escape(one_line(ctx.title)), 70)
                + " · "
                + messages.PARAGRAPH.format(paragraph=ctx.paragraph)
            )
            target = safe_url(ctx.url)
            head = f"[open article]({target}) · `{ctx.id}`\n" if target else f"`{ctx.id}`\n"
            value = head + passage(ctx, budget - dlen(head))
        embed.add_field(name=clip(name, FIELD_NAME), value=value, inline=False)
    return fit(embed)


# -- search -------------------------------------------------------------------------------------
def search_embed(query: str, hits: Sequence[SearchHit]) -> discord.Embed:
    embed = discord.Embed(
        title=clip(escape(messages.SEARCH_TITLE.format(query=one_line(query))), EMBED_TITLE),
        colour=CITATION_COLOUR,
    )
    if not hits:
        embed.description = messages.SEARCH_NONE
        return fit(embed)
    shown = list(hits)[:EMBED_FIELDS]
    budget = max(150, min(FIELD_VALUE, (EMBEDS_TOTAL - dlen(embed.title or "") - 100) // len(shown) - 100))
    for hit in shown:
        name = messages.SEARCH_FIELD.format(
            rank=hit.rank, title=clip(escape(one_line(hit.title)), 150), paragraph=hit.chunk.paragraph
        )
        id_line = f"\n`{hit.id}`"
        target = safe_url(hit.url)
        if target and dlen(target) < 300:
            id_line += f" · [open article]({target})"
        text = clip(escape(hit.chunk.text.strip()), budget - dlen(id_line), messages.TRUNCATED_CITE.format(cid=hit.id))
        embed.add_field(name=clip(name, FIELD_NAME), value=(text + id_line).strip() or BLANK, inline=False)
    embed.set_footer(text=messages.SEARCH_FOOTER)
    return fit(embed)


# -- documents ----------------------------------------------------------------------------------
def page_count(total: int, per_page: int = DOCUMENTS_PER_PAGE) -> int:
    return max(1, math.ceil(total / per_page))


def documents_embed(
    docs: Sequence[DocumentInfo], page: int, *, dm: bool = False, per_page: int = DOCUMENTS_PER_PAGE
) -> tuple[discord.Embed, int, int]:
    """One page of a namespace's documents: (embed, the page shown, page count)."""
    pages = page_count(len(docs), per_page)
    page = min(max(page, 0), pages - 1)
    embed = discord.Embed(title=messages.DOCUMENTS_TITLE_DM if dm else messages.DOCUMENTS_TITLE, colour=CITATION_COLOUR)
    if not docs:
        embed.description = messages.DOCUMENTS_NONE
        return fit(embed), 0, 1
    lines = []
    for d in docs[page * per_page : (page + 1) * per_page]:
        line = messages.DOCUMENT_LINE.format(
            title=clip(escape(one_line(d.title)) or "untitled", 150), doc_id=d.id, chunks=d.chunks, chars=d.chars
        )
        target = safe_url(d.url)
        if target and dlen(target) < 250:
            line += f" · [link]({target})"
        lines.append(line)
    embed.description = "\n".join(lines)
    embed.set_footer(text=messages.DOCUMENTS_PAGE.format(page=page + 1, pages=pages, count=len(docs)))
    return fit(embed), page, pages


def choice_name(info: DocumentInfo) -> str:
    """An autocomplete choice name (plain text, 1–100 characters)."""
    suffix = f" ({info.id[:8]})"
    title = one_line(info.title) or "untitled"
    return clip(title, CHOICE_NAME - len(suffix)) + suffix


# -- ingest -------------------------------------------------------------------------------------
def ingest_embed(report: IngestReport) -> discord.Embed:
    failed_all = bool(report.items) and all(item.status == "failed" for item in report.items)
    embed = discord.Embed(
        title=messages.INGEST_TITLE_FAILED if failed_all else messages.INGEST_TITLE,
        colour=ERROR_COLOUR if failed_all else CITATION_COLOUR,
    )
    lines = []
    for item in report.items:
        if item.status == "failed":
            lines.append("✗ " + escape(one_line(item.error or item.source)))
        else:
            template = messages.INGEST_ITEM.get(item.status, "{title} ({doc_id})")
            lines.append(
                "✓ "
                + template.format(
                    title=clip(escape(one_line(item.title or item.source)), 200),
                    doc_id=item.doc_id or "?",
                    chunks=item.chunks,
                )
            )
    embed.description = clip("\n".join(lines), EMBED_DESCRIPTION) or BLANK
    embed.set_footer(
        text=messages.INGEST_SUMMARY.format(
            added=report.count("added"),
            replaced=report.count("replaced"),
            unchanged=report.count("unchanged"),
            failed=report.count("failed"),
            seconds=report.seconds,
        )
    )
    return fit(embed)


def progress_text(template: str, name: str, seconds: float = 0.0) -> str:
    return content(template.format(name=clip(escape(one_line(name)), 120), seconds=seconds))


# -- help ---------------------------------------------------------------------------------------
def help_embed(commands: Sequence[tuple[str, str, bool]], menus: Sequence[str], *, chat: bool = True) -> discord.Embed:
    """``commands``: (name, description, needs Manage Server); ``menus``: context menu names."""
    embed = discord.Embed(title=messages.HELP_TITLE, description=messages.HELP_INTRO, colour=ANSWER_COLOUR)
    lines = []
    for name, description, manage in commands:
        line = f"`/{name}` — {description}"
        if manage:
            line += " " + messages.HELP_MANAGE
        lines.append(line)
    if lines:
        embed.add_field(name=messages.HELP_COMMANDS_TITLE, value=clip("\n".join(lines), FIELD_VALUE), inline=False)
    if menus:
        embed.add_field(
            name=messages.HELP_MENUS_TITLE, value=clip(" · ".join(f"**{m}**" for m in menus), FIELD_VALUE), inline=False
        )
    embed.add_field(name=messages.HELP_BUTTONS_TITLE, value=messages.HELP_BUTTONS, inline=False)
    if chat:
        embed.add_field(name=messages.HELP_CHAT_TITLE, value=messages.HELP_CHAT, inline=False)
    return fit(embed)


# -- small pieces -------------------------------------------------------------------------------
def thread_name(question: str) -> str:
    return clip(one_line(question), THREAD_NAME) or "Citebot"


def button_label(text: str) -> str:
    return clip(one_line(text), BUTTON_LABEL) or "?"


def error_text(message: str) -> str:
    """A user-facing error sentence (from a ``CitebotError``) as message content."""
    text = one_line(message)
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    if text and text[-1] not in ".!?":
        text += "."
    return content(escape(text))
