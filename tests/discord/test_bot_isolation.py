"""Property, through the emulator: no namespace ever sees another's content.

Each hypothesis example builds fresh guilds (plus the shared DM namespace, emptied first),
ingests random documents into each, every sentence and title carrying that namespace's
unique marker word, then drives /search, /ask, /cite (by quote, and by citation ids taken
from the *other* namespaces), /sources, /forget and its autocomplete, the "Find source" and
"Ask Citebot about this" menus, mention chat, and buttons of one namespace's answer clicked
from another (forged interactions). Nothing the bot sends in a namespace may contain
another namespace's marker (the echo of the user's own question in an answer's title
aside), and ``/forget`` in one guild leaves every other namespace as it was. One bot serves
all examples; each example gets new guilds instead of a new bot.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot import messages
from bot.app import Citebot
from retrieval.service import CitebotService
from tests.discord.bot_fixtures import (
    MANAGER_PERMISSIONS,
    assert_clean,
    bot_settings,
    components_of,
    custom_ids,
    running_bot,
    sampled_service,
)
from tests.discord.emulator import EPHEMERAL, DiscordEmulator, InteractionHandle

EXAMPLES = 8
DM_NAMESPACE = "dm-test"  # bot_settings() puts every direct message there
GUILDS_PER_EXAMPLE = 3
# No "q" anywhere but the first letter of a marker: a marker can then occur in text only as
# itself, never inside another marker, a vocabulary word or any of the bot's own strings.
PREFIXES = ("qx", "qz", "qj", "qk")
LETTERS = "bcdfghlmnprstvw" + "aeiou"
NOUNS = ["harbour", "council", "grain", "river", "treaty", "bridge", "festival", "museum", "railway", "orchard"]
NOUNS += ["lantern", "glacier", "market", "library", "vineyard", "canal", "ferry", "tunnel", "meadow", "archive"]
VERBS = ["inspected", "funded", "rebuilt", "reopened", "measured", "delayed", "expanded", "surveyed"]
ECHO_TITLES = (messages.ANSWER_TITLE_PREFIX, messages.SEARCH_TITLE.split("{", 1)[0])
PROBES = (
    "search",
    "ask",
    "cite_quote",
    "cite_id",
    "forget_foreign",
    "find_menu",
    "ask_menu",
    "mention",
    "foreign_button",
    "forged_cite",
    "forged_vote",
)


# -- documents --------------------------------------------------------------------------------
@st.composite
def sentences(draw: st.DrawFn, marker: str) -> str:
    a, b, c = draw(st.lists(st.sampled_from(NOUNS), min_size=3, max_size=3))
    verb = draw(st.sampled_from(VERBS))
    number = draw(st.integers(2, 9999))
    return f"The {a} {marker} office {verb} the {b} near the old {c} in {number}."


@st.composite
def documents(draw: st.DrawFn, marker: str, k: int) -> tuple[str, str]:
    topic = draw(st.sampled_from(NOUNS)).title()
    title = f"{topic} {marker} bulletin {k}"
    paragraphs = draw(
        st.lists(st.lists(sentences(marker), min_size=1, max_size=3).map(" ".join), min_size=2, max_size=4)
    )
    return title, title + "\n\n" + "\n\n".join(paragraphs) + "\n"


@st.composite
def namespaces(draw: st.DrawFn, index: int) -> tuple[str, list[tuple[str, str]]]:
    marker = PREFIXES[index] + draw(st.text(alphabet=LETTERS, min_size=5, max_size=8))
    count = draw(st.integers(1, 2))
    return marker, [draw(documents(marker, k)) for k in range(count)]


probe = st.tuples(
    st.sampled_from(PROBES),
    st.integers(0, GUILDS_PER_EXAMPLE),  # the namespace acting (the last one is the DM)
    st.integers(1, GUILDS_PER_EXAMPLE),  # how far round the other one is
)
worlds = st.fixed_dictionaries(
    {
        "spaces": st.tuples(*(namespaces(i) for i in range(GUILDS_PER_EXAMPLE + 1))),
        "probes": st.lists(probe, min_size=8, max_size=14),
        "forget": st.tuples(st.integers(0, GUILDS_PER_EXAMPLE - 1), st.integers(0, 1)),
    }
)


# -- the world of one example ----------------------------------------------------------------
@dataclass
class Space:
    label: str
    marker: str
    docs: list[tuple[str, str]]
    namespace: str
    user: dict
    guild_id: int | None = None
    channel_id: int | None = None
    doc_ids: list[str] = field(default_factory=list)
    answer: dict | None = None  # an answer in this namespace, with citation buttons

    @property
    def dm(self) -> bool:
        return self.guild_id is None

    @property
    def where(self) -> dict[str, Any]:
        return {"dm": True} if self.dm else {"channel_id": self.channel_id}

    @property
    def sentences(self) -> list[str]:
        return [s for _, text in self.docs for p in text.split("\n\n")[1:] for s in p.strip().split(". ") if s]


@dataclass
class Run:
    emu: DiscordEmulator
    bot: Citebot
    service: CitebotService
    examples: int = 0


@pytest.fixture
async def run(emu: DiscordEmulator, tmp_path: Path) -> AsyncIterator[Run]:
    settings = bot_settings(tmp_path / "data", emu, dm_namespace=DM_NAMESPACE)
    service = sampled_service(settings)
    async with running_bot(emu, settings, service) as bot:
        state = Run(emu, bot, service)
        yield state
    assert_clean(emu)
    print(f"\nisolation: {state.examples} examples; {run_stats(emu)}")


def run_stats(emu: DiscordEmulator) -> str:
    kinds = {2: "commands/menus", 3: "button clicks", 4: "autocompletes"}
    counts = {name: sum(1 for h in emu.interactions.values() if h.type == t) for t, name in kinds.items()}
    mentions = sum(1 for m in emu.iter_messages() if m["author"]["id"] != emu.bot_user["id"])
    return ", ".join(f"{n} {name}" for name, n in counts.items()) + f", {mentions} user messages"


def visible(message: dict) -> str:
    """Everything a user reads in a message or autocomplete answer, except the echo of their query."""
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        title = embed.get("title") or ""
        if not title.startswith(ECHO_TITLES):
            parts.append(title)
        parts += [embed.get("description") or "", embed.get("url") or ""]
        parts += [f"{f.get('name')}\n{f.get('value')}" for f in embed.get("fields") or []]
        parts += [(embed.get("footer") or {}).get("text") or "", (embed.get("author") or {}).get("name") or ""]
    parts += [f"{c.get('label') or ''} {c.get('custom_id') or ''}" for c in components_of(message)]
    parts += [f"{c['name']} {c['value']}" for c in message.get("choices") or []]
    return "\n".join(parts).lower()


def foreign(spaces: list[Space], own: Space) -> list[str]:
    return [s.marker for s in spaces if s is not own]


def assert_shows_nothing_of(text: str, spaces: list[Space], own: Space, what: str) -> None:
    leaked = [m for m in foreign(spaces, own) if m in text]
    assert not leaked, f"{what} in {own.label} shows {leaked}: {text[:500]}"


async def settle(emu: DiscordEmulator, handle: InteractionHandle, timeout: float = 10) -> dict:
    """What the user finally sees; for a failure after a public deferral, the ephemeral follow-up."""
    final = await handle.wait_final(timeout)
    if final.get("content") == messages.FAILED_PUBLIC:
        await emu.wait_until(lambda: handle.followups or None, timeout)
        return handle.followups[-1]
    return final


def assert_not_found_or_near(message: dict) -> None:
    """Another namespace's sentence is not here; at most a near match of this namespace's own text."""
    if message.get("content") == messages.QUOTE_NOT_FOUND:
        return
    assert message["embeds"][0]["footer"]["text"].endswith(messages.MATCH_NEAR), message


async def ask_in(run: Run, space: Space, question: str) -> dict:
    handle = await run.emu.send_slash_command("ask", {"question": question}, user=space.user, **space.where)
    return await settle(run.emu, handle)


def with_button(message: dict, custom_id: str, forged: str) -> dict:
    """A copy of ``message`` whose button ``custom_id`` says ``forged`` instead.

    Discord only delivers clicks on buttons a message really has (and discord.py ignores any
    other), so a forged custom_id needs a forged message to ride on.
    """
    copy = json.loads(json.dumps(message))
    for row in copy["components"]:
        for component in row["components"]:
            if component.get("custom_id") == custom_id:
                component["custom_id"] = forged
    return copy


async def forged_click(run: Run, space: Space, message: dict, custom_id: str) -> InteractionHandle:
    """A click, in ``space``, on a button of ``message`` (which may live in another namespace)."""
    emu = run.emu
    payload = emu._interaction_base(
        3,
        {"custom_id": custom_id, "component_type": 2},
        user=space.user,
        channel_id=space.channel_id,
        guild_id=space.guild_id,
        dm=space.dm,
        permissions=None,
        locale="en-US",
    )
    payload["message"] = message
    return await emu.dispatch_interaction(payload)


# -- building an example ---------------------------------------------------------------------
async def build(run: Run, drawn: dict) -> list[Space]:
    emu, service = run.emu, run.service
    n = run.examples
    spaces: list[Space] = []
    for i, (marker, docs) in enumerate(drawn["spaces"]):
        if i < GUILDS_PER_EXAMPLE:
            guild = emu.add_guild(f"Guild {n}.{i}", channel_names=["general"])
            user = emu.add_user(f"member{n}x{i}")
            space = Space(
                f"guild {i}", marker, docs, guild["id"], user, int(guild["id"]), int(guild["channels"][0]["id"])
            )
        else:
            space = Space("the DMs", marker, docs, DM_NAMESPACE, emu.add_user(f"dmuser{n}"))
        spaces.append(space)
    await emu.wait_until(lambda: all(run.bot.get_guild(s.guild_id) for s in spaces if not s.dm), 10)
    for doc in service.sources(DM_NAMESPACE):  # the DM namespace is shared by every example
        service.forget(doc.id, DM_NAMESPACE)

    async def ingest(space: Space, k: int, title: str, text: str) -> None:
        if space.dm:  # nobody may ingest from a DM: the operator does
            await run.bot.call(service.ingest_bytes, text.encode(), f"{space.marker}-{k}.txt", DM_NAMESPACE)
            return
        file = emu.add_attachment(f"{space.marker}-{k}.txt", text.encode(), "text/plain")
        handle = await emu.send_slash_command(
            "ingest", {"file": file}, user=space.user, channel_id=space.channel_id, permissions=MANAGER_PERMISSIONS
        )
        await emu.wait_until(lambda: (handle.original or {}).get("embeds"), 15)
        assert handle.original["embeds"][0]["title"] == messages.INGEST_TITLE, handle.original

    await asyncio.gather(*(ingest(s, k, *doc) for s in spaces for k, doc in enumerate(s.docs)))
    for space in spaces:
        listed = service.sources(space.namespace)
        assert sorted(d.title for d in listed) == sorted(title for title, _ in space.docs)
        space.doc_ids = [d.id for d in sorted(listed, key=lambda d: d.title)]
    return spaces


async def own_content_is_found(run: Run, spaces: list[Space]) -> None:
    """The control: in its own namespace each marker is found, so its absence elsewhere means something."""

    async def check(space: Space) -> None:
        space.answer = await ask_in(run, space, space.sentences[0])
        assert space.marker in visible(space.answer) and custom_ids(space.answer, "cb:cite:"), space.answer
        handle = await run.emu.send_slash_command("search", {"query": space.marker}, user=space.user, **space.where)
        found = await settle(run.emu, handle)
        assert space.marker in visible(found)
        handle = await run.emu.send_slash_command("sources", user=space.user, **space.where)
        listed = visible(await settle(run.emu, handle))
        assert all(title.lower() in listed for title, _ in space.docs)
        assert_shows_nothing_of(listed, spaces, space, "/sources")
        for current in ("", space.marker[:4], *foreign(spaces, space)):
            handle = await run.emu.send_autocomplete(
                "forget", {"document": current}, focused="document", user=space.user,
                permissions=MANAGER_PERMISSIONS, **space.where,
            )  # fmt: skip
            choices = (await handle.wait_final(5))["choices"]
            if space.dm:
                assert choices == []  # nobody manages the DM namespace from Discord
            else:
                assert {c["value"] for c in choices} <= set(space.doc_ids)
                assert len(choices) == (len(space.doc_ids) if current in ("", space.marker[:4]) else 0), choices
            assert_shows_nothing_of(visible({"choices": choices}), spaces, space, "/forget autocomplete")

    await asyncio.gather(*(check(s) for s in spaces))


async def probe_once(run: Run, spaces: list[Space], kind: str, x: int, offset: int) -> None:
    """One attempt, from namespace ``x``, to reach the content of another namespace ``y``."""
    emu = run.emu
    here = spaces[x]
    there = spaces[(x + offset) % len(spaces)]
    assert there is not here
    sentence = there.sentences[0]
    shown: list[dict] = []
    if kind in ("search", "ask", "cite_quote"):
        command, option = {
            "search": ("search", "query"),
            "ask": ("ask", "question"),
            "cite_quote": ("cite", "id_or_quote"),
        }[kind]
        text = sentence if kind != "search" else f"{there.marker} {sentence}"
        handle = await emu.send_slash_command(command, {option: text}, user=here.user, **here.where)
        shown.append(await settle(run.emu, handle))
        if kind == "cite_quote":
            assert_not_found_or_near(shown[-1])
    elif kind == "cite_id":
        assert there.answer is not None
        cid = custom_ids(there.answer, "cb:cite:")[0].rsplit(":", 1)[1]
        handle = await emu.send_slash_command("cite", {"id_or_quote": cid}, user=here.user, **here.where)
        error = await settle(run.emu, handle)
        assert error["flags"] & EPHEMERAL and "no longer in the store" in error["content"], error
        shown += handle.messages
    elif kind == "forget_foreign":
        before = {s.namespace: s.doc_ids for s in spaces}
        handle = await emu.send_slash_command(
            "forget", {"document": there.doc_ids[0]}, user=here.user, permissions=MANAGER_PERMISSIONS, **here.where
        )
        reply = (await settle(run.emu, handle))["content"]
        shown += handle.messages
        assert (reply == messages.GUILD_ONLY) if here.dm else reply.startswith("No document"), reply
        assert {s.namespace: [d.id for d in sorted(run.service.sources(s.namespace), key=lambda d: d.title)]
                for s in spaces} == before  # fmt: skip
    elif kind in ("find_menu", "ask_menu", "mention"):
        mention = kind == "mention" and not here.dm  # in a DM every message is for the bot
        text = f"<@{emu.bot_user['id']}> {sentence}" if mention else sentence
        posted = await emu.send_message(text, author=here.user, **here.where)
        if kind == "mention":
            reply = await emu.wait_for_bot_message(
                predicate=lambda m: (m.get("message_reference") or {}).get("message_id") == posted["id"], timeout=10
            )
            shown.append(reply)
        else:
            name = messages.MENU_FIND if kind == "find_menu" else messages.MENU_ASK
            handle = await emu.send_message_command(name, int(posted["id"]), user=here.user)
            shown.append(await settle(run.emu, handle))
            if kind == "find_menu":
                assert_not_found_or_near(shown[-1])
    elif kind == "foreign_button":
        assert there.answer is not None
        for custom_id in custom_ids(there.answer):
            handle = await forged_click(run, here, there.answer, custom_id)
            refusal = await settle(run.emu, handle)
            assert handle.ephemeral and refusal["content"] == messages.WRONG_PLACE, (custom_id, refusal)
            shown.append(refusal)
    elif kind == "forged_cite":
        # This namespace's own tag, on its own answer, carrying the other namespace's citation id.
        assert here.answer is not None and there.answer is not None
        cid = custom_ids(there.answer, "cb:cite:")[0].rsplit(":", 1)[1]
        tag = "dm" if here.dm else str(here.guild_id)
        forged = with_button(here.answer, custom_ids(here.answer, "cb:cite:")[0], f"cb:cite:{tag}:1:{cid}")
        handle = await forged_click(run, here, forged, f"cb:cite:{tag}:1:{cid}")
        shown.append(await settle(run.emu, handle))
        assert handle.ephemeral and shown[-1]["content"] == messages.SOURCE_GONE, shown[-1]
    elif kind == "forged_vote":
        assert here.answer is not None
        counts = run.service.feedback_counts(there.namespace)
        tag = "dm" if there.dm else str(there.guild_id)
        own_vote = custom_ids(here.answer, "cb:vote:")[0]
        handle = await forged_click(
            run, here, with_button(here.answer, own_vote, f"cb:vote:{tag}:up"), f"cb:vote:{tag}:up"
        )
        shown.append(await settle(run.emu, handle))
        assert shown[-1]["content"] == messages.WRONG_PLACE
        assert run.service.feedback_counts(there.namespace) == counts
    for message in shown:
        assert_shows_nothing_of(visible(message), spaces, here, kind)


async def forget_touches_one_guild_only(run: Run, spaces: list[Space], g: int, k: int) -> None:
    space = spaces[g]
    doc_id = space.doc_ids[min(k, len(space.doc_ids) - 1)]
    before = {s.namespace: run.service.sources(s.namespace) for s in spaces}
    handle = await run.emu.send_slash_command(
        "forget", {"document": doc_id}, user=space.user, channel_id=space.channel_id, permissions=MANAGER_PERMISSIONS
    )
    assert (await settle(run.emu, handle))["content"].startswith("Forgot **"), handle.messages
    for other in spaces:
        now = run.service.sources(other.namespace)
        if other is space:
            assert [d.id for d in now] == [d.id for d in before[other.namespace] if d.id != doc_id]
        else:
            assert now == before[other.namespace], other.label
    # Every other namespace's citations still open; this guild's forgotten one says so.
    for other in spaces:
        assert other.answer is not None
        custom_id = custom_ids(other.answer, "cb:cite:")[0]
        handle = await run.emu.click_button(int(other.answer["id"]), custom_id, user=other.user)
        opened = await settle(run.emu, handle)
        if other is space and custom_id.rsplit(":", 1)[1].startswith(doc_id[:8]):
            assert opened["content"] == messages.SOURCE_GONE
        else:
            assert other.marker in visible(opened), (other.label, opened)
        assert_shows_nothing_of(visible(opened), spaces, other, "a citation button after /forget")


def sweep(run: Run, spaces: list[Space], first_outgoing: int) -> None:
    """Every payload the bot sent during the example, judged by the namespace it was sent in."""
    emu = run.emu
    by_guild = {str(s.guild_id): s for s in spaces if not s.dm}
    dm_space = next(s for s in spaces if s.dm)
    for out in emu.outgoing()[first_outgoing:]:
        if out.interaction_id is not None:
            guild_id = emu.interaction(out.interaction_id).payload.get("guild_id")
        else:
            guild_id = emu.channels[int(out.channel_id)].get("guild_id") if out.channel_id else None
        space = by_guild.get(guild_id) if guild_id else dm_space
        if space is None:
            continue  # another example's guild
        assert_shows_nothing_of(visible(out.payload), spaces, space, f"{out.kind} {out.route}")


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # shrinking would replay whole bot sessions
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(drawn=worlds)
async def test_no_namespace_ever_sees_another_namespaces_content(run: Run, drawn: dict):
    first_outgoing = len(run.emu.outgoing())
    spaces = await build(run, drawn)
    run.examples += 1
    await own_content_is_found(run, spaces)
    await asyncio.gather(*(probe_once(run, spaces, *p) for p in drawn["probes"]))
    await forget_touches_one_guild_only(run, spaces, *drawn["forget"])
    sweep(run, spaces, first_outgoing)
    assert run.emu.unsafe_mentions() == [] and run.emu.violations == []
