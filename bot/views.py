"""Persistent buttons: ``DynamicItem`` subclasses whose state lives in their custom_id.

They are registered in ``setup_hook``, so a button on an answer keeps working after the
bot restarts. A custom_id carries the namespace tag (guild id or ``dm``) and what the
button needs: ``cb:cite:<tag>:<n>:<citation id>``, ``cb:sources:<tag>``,
``cb:share:<tag>``, ``cb:vote:<tag>:up|down``, ``cb:docs:<tag>:<page>``. Buttons that
need the whole answer (Sources, Share, feedback) read the citation ids from the cite
buttons of the same message and reopen them through ``service.cite``; the answer text
and question come from the in-memory cache or, after a restart, from the message's embed.
Every callback checks, inside the callback, that it runs where the button was made.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot import escalation, messages, render
from bot.audience import interaction_access
from bot.permissions import namespace_for_tag, namespace_tag
from bot.replies import defer, report, send_ephemeral
from retrieval import CITATION_ID_PATTERN, Access, Answer, Citation, CitationContext, NotFound

if TYPE_CHECKING:
    from bot.app import Citebot
    from retrieval import CitebotService

log = logging.getLogger(__name__)

TAG = r"(?P<tag>dm|[0-9]{1,20})"
CITE_TEMPLATE = rf"cb:cite:{TAG}:(?P<n>[0-9]{{1,3}}):(?P<cid>{CITATION_ID_PATTERN})"
SOURCES_TEMPLATE = rf"cb:sources:{TAG}"
SHARE_TEMPLATE = rf"cb:share:{TAG}"
VOTE_TEMPLATE = rf"cb:vote:{TAG}:(?P<vote>up|down)"
PAGE_TEMPLATE = rf"cb:docs:{TAG}:(?P<page>[0-9]{{1,6}})"
CITE_RE = re.compile(CITE_TEMPLATE)


def cited_ids(message: discord.Message | None) -> list[tuple[int, str]]:
    """(n, citation id) of every cite button on ``message``, in order."""
    out: list[tuple[int, str]] = []
    if message is None:
        return out
    for row in message.components:
        for child in getattr(row, "children", ()):
            custom_id = getattr(child, "custom_id", None)
            match = CITE_RE.fullmatch(custom_id or "")
            if match:
                out.append((int(match["n"]), match["cid"]))
    return out


def open_citations(
    service: CitebotService, cited: list[tuple[int, str]], namespace: str, access: Access
) -> list[tuple[int, str, CitationContext | None]]:
    """(Runs in the thread pool.) Each citation in context, or None when its document is gone
    (or the one who clicked may not see it: the same words)."""
    out: list[tuple[int, str, CitationContext | None]] = []
    for n, cid in cited:
        try:
            out.append((n, cid, service.cite(cid, namespace, access)))
        except NotFound:
            out.append((n, cid, None))
    return out


def rebuild_answer(service: CitebotService, message: discord.Message, namespace: str, access: Access) -> Answer | None:
    """(Runs in the thread pool.) An answer sent before a restart, from its message, with the
    citations ``access`` may open."""
    if not message.embeds:
        return None
    embed = message.embeds[0]
    question = render.question_from_title(embed.title)
    if question is None:
        return None
    citations = []
    for n, _cid, ctx in open_citations(service, cited_ids(message), namespace, access):
        if ctx is not None:
            citations.append(
                Citation(n, ctx.id, ctx.doc_id, ctx.title, ctx.url, ctx.paragraph, ctx.start, ctx.end, ctx.quote)
            )
    text = render.unescape(embed.description or "")
    return Answer(question, text, abstained=not cited_ids(message), citations=tuple(citations))


def restricted_prefixes(service: CitebotService, namespace: str, prefixes: set[str]) -> bool:
    """(Runs in the thread pool.) Whether a document these citation-id prefixes name is in a restricted set."""
    ids = [d.id for d in service.sources(namespace) if any(d.id.startswith(p) for p in prefixes)]
    return service.is_restricted(namespace, ids)


# -- the buttons --------------------------------------------------------------------------------
class _Guarded:
    """Checks the place, runs ``act``, and reports any failure to the user with an error id."""

    tag: str

    async def callback(self, interaction: discord.Interaction[Any]) -> Any:
        try:
            if namespace_tag(interaction.guild_id) != self.tag:
                await send_ephemeral(interaction, messages.WRONG_PLACE)
                return
            await self.act(interaction, namespace_for_tag(self.tag, interaction.client.config))
        except Exception as exc:
            await report(interaction, exc)

    async def act(self, interaction: discord.Interaction[Citebot], namespace: str) -> None:
        raise NotImplementedError


class CiteButton(_Guarded, discord.ui.DynamicItem[discord.ui.Button], template=CITE_TEMPLATE):
    """ "[n]": that passage in its context, only for the one who asked."""

    def __init__(self, tag: str, n: int, cid: str, *, row: int | None = None) -> None:
        self.tag, self.n, self.cid = tag, n, cid
        super().__init__(
            discord.ui.Button(
                label=render.button_label(f"[{n}]"),
                style=discord.ButtonStyle.secondary,
                custom_id=f"cb:cite:{tag}:{n}:{cid}",
            ),
            row=row,
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CiteButton:
        return cls(match["tag"], int(match["n"]), match["cid"])

    async def act(self, interaction: discord.Interaction[Citebot], namespace: str) -> None:
        await defer(interaction, ephemeral=True)
        bot = interaction.client
        access = await interaction_access(interaction, private=True, search=False)  # the clicker's, not the asker's
        try:
            ctx = await bot.call(bot.service.cite, self.cid, namespace, access)
        except NotFound:
            await interaction.edit_original_response(content=messages.SOURCE_GONE)
            return
        await interaction.edit_original_response(embed=render.citation_embed(ctx, label=f"[{self.n}]"))


class SourcesButton(_Guarded, discord.ui.DynamicItem[discord.ui.Button], template=SOURCES_TEMPLATE):
    """ "Sources": every cited passage of the answer, only for the one who asked."""

    def __init__(self, tag: str, *, row: int | None = None) -> None:
        self.tag = tag
        super().__init__(
            discord.ui.Button(
                label=messages.BUTTON_SOURCES, style=discord.ButtonStyle.primary, custom_id=f"cb:sources:{tag}"
            ),
            row=row,
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SourcesButton:
        return cls(match["tag"])

    async def act(self, interaction: discord.Interaction[Citebot], namespace: str) -> None:
        await defer(interaction, ephemeral=True)
        bot = interaction.client
        access = await interaction_access(interaction, private=True, search=False)
        items = await bot.call(open_citations, bot.service, cited_ids(interaction.message), namespace, access)
        await interaction.edit_original_response(embed=render.sources_embed(items))


class ShareButton(_Guarded, discord.ui.DynamicItem[discord.ui.Button], template=SHARE_TEMPLATE):
    """ "Share" (on private answers): post the answer to the channel."""

    def __init__(self, tag: str, *, row: int | None = None) -> None:
        self.tag = tag
        super().__init__(
            discord.ui.Button(
                label=messages.BUTTON_SHARE, style=discord.ButtonStyle.success, custom_id=f"cb:share:{tag}"
            ),
            row=row,
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ShareButton:
        return cls(match["tag"])

    async def act(self, interaction: discord.Interaction[Citebot], namespace: str) -> None:
        message = interaction.message
        if message is None or not message.embeds:
            await interaction.response.send_message(messages.ANSWER_UNAVAILABLE, ephemeral=True)
            return
        bot = interaction.client
        cited = cited_ids(message)
        # Posting it makes it the channel's to read: an answer quoting a restricted set stays private.
        prefixes = {cid.split("-", 1)[0] for _, cid in cited}
        if await bot.call(restricted_prefixes, bot.service, namespace, prefixes):
            await interaction.response.send_message(messages.SHARE_RESTRICTED, ephemeral=True)
            return
        await defer(interaction, ephemeral=True, thinking=False)  # no "thinking" message to replace
        embed = render.fit(discord.Embed.from_dict(message.embeds[0].to_dict()))
        shared = await interaction.followup.send(
            content=render.content(messages.SHARED_BY.format(user=interaction.user.mention)),
            embed=embed,
            view=citation_view(cited, self.tag, private=False),
            wait=True,
        )
        answer = bot.answers.get(message.id)
        if answer is not None:
            bot.answers.put(shared.id, answer)
        # The private copy loses its Share button: it has been shared.
        await interaction.edit_original_response(view=citation_view(cited, self.tag, private=False))


class VoteButton(_Guarded, discord.ui.DynamicItem[discord.ui.Button], template=VOTE_TEMPLATE):
    """👍 / 👎: stores the rating with the question, answer and citations; counted per guild."""

    def __init__(self, tag: str, vote: str, *, row: int | None = None) -> None:
        self.tag, self.vote = tag, vote
        super().__init__(
            discord.ui.Button(
                emoji="👍" if vote == "up" else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"cb:vote:{tag}:{vote}",
            ),
            row=row,
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> VoteButton:
        return cls(match["tag"], match["vote"])

    async def act(self, interaction: discord.Interaction[Citebot], namespace: str) -> None:
        bot = interaction.client
        message = interaction.message
        assert message is not None
        if self.vote == "down" and not bot.answers.voted(message.id, interaction.user.id):
            await self.not_helpful(interaction, namespace, message)
            return
        await defer(interaction, ephemeral=True)
        if bot.answers.voted(message.id, interaction.user.id):
            up, down = await bot.call(bot.service.feedback_counts, namespace)
            await interaction.edit_original_response(content=messages.FEEDBACK_AGAIN.format(up=up, down=down))
            return
        answer = bot.answers.get(message.id)
        if answer is None:
            access = await interaction_access(interaction, private=True, search=False)
            answer = await bot.call(rebuild_answer, bot.service, message, namespace, access)
        if answer is None:
            await interaction.edit_original_response(content=messages.ANSWER_UNAVAILABLE)
            return
        vote = 1 if self.vote == "up" else -1
        up, down = await bot.call(bot.service.record_feedback, namespace, str(interaction.user.id), answer, vote)
        bot.answers.vote(message.id, interaction.user.id, vote)
        await interaction.edit_original_response(content=messages.FEEDBACK_THANKS.format(up=up, down=down))

    async def not_helpful(
        self, interaction: discord.Interaction[Citebot], namespace: str, message: discord.Message
    ) -> None:
        """👎: the "what was wrong?" modal first (it must be the first response), then the vote
        is stored at once, so dismissing the modal loses nothing; the note and any escalation
        come with the modal's submission (``bot.escalation``)."""
        await interaction.response.send_modal(escalation.not_helpful_modal(self.tag, message.id))
        bot = interaction.client
        answer = bot.answers.get(message.id)
        if answer is None:
            access = await interaction_access(interaction, private=True, search=False)
            answer = await bot.call(rebuild_answer, bot.service, message, namespace, access)
        if answer is None:
            return  # the submission says the answer is unavailable
        await bot.call(bot.service.record_feedback, namespace, str(interaction.user.id), answer, -1)
        bot.answers.vote(message.id, interaction.user.id, -1)


class PageButton(_Guarded, discord.ui.DynamicItem[discord.ui.Button], template=PAGE_TEMPLATE):
    """Previous / Next on the ``/sources`` list."""

    def __init__(self, tag: str, page: int, *, label: str = "", disabled: bool = False, row: int | None = None):
        self.tag, self.page = tag, page
        super().__init__(
            discord.ui.Button(
                label=render.button_label(label or str(page + 1)),
                style=discord.ButtonStyle.secondary,
                custom_id=f"cb:docs:{tag}:{page}",
                disabled=disabled,
            ),
            row=row,
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PageButton:
        return cls(match["tag"], int(match["page"]))

    async def act(self, interaction: discord.Interaction[Citebot], namespace: str) -> None:
        await defer(interaction, ephemeral=True, thinking=False)
        bot = interaction.client
        access = await interaction_access(interaction, private=True, search=False)  # the clicker's documents
        docs = await bot.call(bot.service.sources, namespace, access)
        embed, page, pages = render.documents_embed(docs, self.page, dm=self.tag == "dm")
        await interaction.edit_original_response(embed=embed, view=documents_view(self.tag, page, pages))


DYNAMIC_ITEMS = (CiteButton, SourcesButton, ShareButton, VoteButton, PageButton)


# -- views ----------------------------------------------------------------------------------------
def citation_view(cited: list[tuple[int, str]], tag: str, *, private: bool) -> discord.ui.View:
    """The buttons of an answer: [n] per citation, Sources, Share (private only), 👍, 👎."""
    view = discord.ui.View(timeout=None)
    seen: set[str] = set()
    shown = 0
    for n, cid in cited:
        if shown >= render.BUTTONS_PER_ROW * (render.ROWS - 1):
            break
        button = CiteButton(tag, n, cid, row=shown // render.BUTTONS_PER_ROW)
        if button.custom_id in seen:
            continue
        seen.add(button.custom_id)
        view.add_item(button)
        shown += 1
    last = render.ROWS - 1
    if cited:
        view.add_item(SourcesButton(tag, row=last))
    if private:
        view.add_item(ShareButton(tag, row=last))
    view.add_item(VoteButton(tag, "up", row=last))
    view.add_item(VoteButton(tag, "down", row=last))
    return view


def answer_view(answer: Answer, tag: str, *, private: bool) -> discord.ui.View:
    return citation_view([(c.n, c.id) for c in answer.citations], tag, private=private)


def documents_view(tag: str, page: int, pages: int) -> discord.ui.View | None:
    if pages <= 1:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton(tag, max(page - 1, 0), label=messages.BUTTON_PREVIOUS, disabled=page <= 0))
    view.add_item(PageButton(tag, page + 1, label=messages.BUTTON_NEXT, disabled=page >= pages - 1))
    return view
