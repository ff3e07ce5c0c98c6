"""Issue 13 end to end, the real bot through the Discord emulator: ``/stats`` (with its PNG
chart), "Not helpful" (the modal, the note, the escalation that pings exactly one role),
``/config escalate|autoanswer|autoanswer-ignore``, and auto-answer in channels and forums.
Every command refuses members without Manage Server; the settings and the numbers survive a
new bot and service on the same data dir; nothing of one guild shows or posts in another."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.escalation import NOTE_ID
from retrieval.stats import normalize
from tests.discord.bot_fixtures import (
    MANAGER_PERMISSIONS,
    NO_PERMISSIONS,
    SAMPLE_QUESTION,
    Harness,
    assert_no_mentions,
    bot_settings,
    custom_ids,
    running_bot,
    sampled_service,
)
from tests.discord.emulator import ATTACHMENT_SIZE_LIMIT, EPHEMERAL, GUILD_FORUM, DiscordEmulator

GAP = "What is the recipe for sourdough bread?"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class World:
    emu: DiscordEmulator
    tmp: Path
    ask: dict  # a text channel for auto-answer
    support: dict  # the support channel
    forum: dict
    role: dict  # the support role (mentionable)
    quiet: dict  # a role auto-answer ignores
    other: dict  # guild B's GUILD_CREATE payload
    other_support: dict
    other_role: dict

    @property
    def here(self) -> str:
        return str(self.emu.guild_id)

    @property
    def there(self) -> str:
        return str(self.other["id"])

    @contextlib.asynccontextmanager
    async def bot(self, **options: Any) -> AsyncIterator[Harness]:
        """A new bot and service on the same data dir (a restart, when used twice)."""
        settings = bot_settings(self.tmp / "data", self.emu)
        fresh = not (self.tmp / "data").exists()
        service = sampled_service(settings, *([self.here, self.there] if fresh else []))
        async with running_bot(self.emu, settings, service, **options) as bot:
            await self.emu.wait_until(lambda: bot.get_guild(int(self.other["id"])))
            yield Harness(self.emu, bot, service, settings)


@pytest.fixture
def world(emu: DiscordEmulator, tmp_path: Path) -> World:
    gid = emu.guild_id
    role = emu.add_role(gid, "support", 0)
    role["mentionable"] = True
    other = emu.add_guild("Other Guild", channel_names=["lobby", "b-support"])
    other_role = emu.add_role(int(other["id"]), "b-support", 0)
    other_role["mentionable"] = True
    return World(
        emu=emu,
        tmp=tmp_path,
        ask=emu.add_channel(gid, "ask"),
        support=emu.add_channel(gid, "support"),
        forum=emu.add_channel(gid, "questions", type=GUILD_FORUM),
        role=role,
        quiet=emu.add_role(gid, "quiet", 0),
        other=other,
        other_support=other["channels"][1],
        other_role=other_role,
    )


def in_b(w: World) -> dict:
    return {"channel_id": int(w.other["channels"][0]["id"])}


async def config(h: Harness, sub: str, options: dict | None = None, permissions: int = MANAGER_PERMISSIONS, **kw):
    handle = await h.slash("config", options or {}, subcommand=sub, permissions=permissions, **kw)
    reply = await handle.wait_final(10)
    assert handle.ephemeral, reply
    return reply["content"]


async def stats(h: Harness, days: int | None = None, **kw) -> dict:
    handle, reply = await h.run("stats", {"days": days} if days else {}, permissions=MANAGER_PERMISSIONS, **kw)
    assert handle.ephemeral
    if not reply.get("embeds"):  # the first edit may come before the attachment: wait for the final one
        reply = await h.emu.wait_until(lambda: (handle.original or {}).get("embeds") and handle.original, 10)
    return reply


def posts(emu: DiscordEmulator, channel_id: int) -> list[dict]:
    """What the bot posted in a channel for everyone (not the ephemeral command replies)."""
    return [m for m in emu.bot_messages(channel_id) if not m["flags"] & EPHEMERAL]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_wire(emu: DiscordEmulator, escalations: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    """Every payload pings no one, except the escalation posts, which ping exactly their role."""
    assert emu.violations == [] and emu.unknown_routes == []
    for out in emu.outgoing():
        if out.message_id in escalations:
            continue
        assert_no_mentions(out)
    for handle in emu.interactions.values():
        assert handle.response is not None and handle.ack_latency < 3.0, handle


# -- /stats -------------------------------------------------------------------------------------
async def test_stats_counts_answers_and_gaps_with_a_png_chart_per_guild_and_after_a_restart(world: World):
    w = world
    async with w.bot() as h:
        for question in (SAMPLE_QUESTION, GAP, GAP.lower(), "how do penguins keep their eggs warm"):
            await h.run("ask", {"question": question})
        await h.emu.send_message(f"<@{h.emu.bot_user['id']}> {SAMPLE_QUESTION}")  # a mention counts too
        await h.emu.wait_until(lambda: h.service.stats(w.here, 1).asked == 5, 10)
        await h.run("ask", {"question": "Who won the 1998 World Cup?"}, **in_b(w))  # guild B's only question
        reply = await stats(h)
        embed = reply["embeds"][0]
        assert messages.STATS_SUMMARY.format(asked=5, answered=2, abstained=3) in embed["description"]
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields[messages.STATS_GAPS].splitlines() == [
            f"2× {normalize(GAP)}",
            f"1× {normalize('how do penguins keep their eggs warm')}",
        ]
        assert "Iran Rebuffs Russian Demand" in fields[messages.STATS_CITED]
        assert "1998" not in str(reply)  # guild B's question never shows here
        [attachment] = reply["attachments"]
        assert attachment["filename"] == "stats.png" and embed["image"]["url"] == "attachment://stats.png"
        data = h.emu.attachments[int(attachment["id"])][1]
        assert png_size(data) == (800, 320) and len(data) < min(ATTACHMENT_SIZE_LIMIT, 1024 * 1024)
        b = (await stats(h, **in_b(w)))["embeds"][0]
        assert messages.STATS_SUMMARY.format(asked=1, answered=0, abstained=1) in b["description"]
        assert "sourdough" not in str(b) and "Iran" not in str(b)
        check_wire(h.emu)
    async with w.bot() as h:  # a restart: a new bot and service, the same data dir
        reply = await stats(h, days=30)
        assert messages.STATS_SUMMARY.format(asked=5, answered=2, abstained=3) in reply["embeds"][0]["description"]
        assert reply["embeds"][0]["title"] == messages.STATS_TITLE.format(days=30)


async def test_stats_and_config_refuse_members_without_manage_server(world: World):
    async with world.bot() as h:
        for name, sub, options in (
            ("stats", None, {}),
            ("config", "escalate", {"role": world.role, "channel": world.support}),
            ("config", "autoanswer", {"channel": world.ask, "state": "on"}),
            ("config", "autoanswer-ignore", {"role": world.quiet}),
        ):
            handle = await h.slash(name, options, subcommand=sub, permissions=NO_PERMISSIONS)
            reply = await handle.wait_final(10)
            assert handle.ephemeral and reply["content"] == messages.NEEDS_MANAGE_GUILD, (name, sub)
        assert h.bot.guild_settings.escalation(world.here) is None
        assert h.bot.guild_settings.autoanswer(world.here).channel_ids == frozenset()
        registered = {c["name"]: c for c in h.emu.commands()}
        assert int(registered["stats"]["default_member_permissions"]) == 1 << 5
        check_wire(h.emu)


# -- "Not helpful" and escalation -------------------------------------------------------------
async def thumbs_down(h: Harness, note: str | None, **where) -> tuple[dict, str]:
    """/ask, 👎 on the answer, then the modal (submitted when ``note`` is not None): (answer, reply)."""
    namespace = str(h.emu.channels[where.get("channel_id", h.emu.channel_id)]["guild_id"])
    before = h.service.feedback_counts(namespace)[1]
    handle, answer = await h.run("ask", {"question": SAMPLE_QUESTION}, **where)
    answer = h.emu.get_message(handle.original_message_id)  # type: ignore[arg-type,assignment]
    [down] = [c for c in custom_ids(answer, "cb:vote:") if c.endswith(":down")]
    click = await h.emu.click_button(int(answer["id"]), down)
    modal = await click.wait_final(5)
    assert click.response_type == 9
    assert (
        modal["title"] == messages.NOT_HELPFUL_TITLE
        and modal["custom_id"] == f"cb:nothelpful:{down.split(':')[2]}:{answer['id']}"
    )
    field = modal["components"][0]["components"][0]
    assert field["custom_id"] == NOTE_ID and field["required"] is False
    await h.emu.wait_until(lambda: h.service.feedback_counts(namespace)[1] > before, 5)  # stored at once
    if note is None:
        return answer, ""
    submit = await h.emu.submit_modal(
        modal["custom_id"], {NOTE_ID: note}, message_id=int(answer["id"]), channel_id=int(answer["channel_id"])
    )
    return answer, (await submit.wait_final(10))["content"]


async def test_a_thumbs_down_escalates_pinging_only_the_support_role(world: World):
    w = world
    async with w.bot() as h:
        assert await config(h, "escalate") == messages.ESCALATE_NONE
        assert await config(h, "escalate", {"role": w.role}) == messages.ESCALATE_NEEDS_BOTH
        shown = await config(h, "escalate", {"role": w.role, "channel": w.support})
        assert shown == messages.ESCALATE_NOW.format(channel=f"<#{w.support['id']}>", role=f"<@&{w.role['id']}>")
        answer, thanks = await thumbs_down(h, f"It quotes <@&{w.role['id']}> and misses the latest news")
        assert thanks == messages.NOT_HELPFUL_ESCALATED.format(up=0, down=1)
        [post] = posts(h.emu, int(w.support["id"]))
        embed = post["embeds"][0]
        assert post["content"] == messages.ESCALATION_CONTENT.format(role=f"<@&{w.role['id']}>")
        assert embed["title"] == f"Not helpful: {SAMPLE_QUESTION}"
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert "Iran" in fields[messages.ESCALATION_ANSWER] and "`" in fields[messages.ESCALATION_CITATIONS]
        assert "misses the latest news" in fields[messages.ESCALATION_NOTE]
        assert "\\<@&" in fields[messages.ESCALATION_NOTE]  # a mention in the note is shown as text
        assert answer["id"] in embed["description"]  # the jump link to the answer
        # On the wire: exactly this role may be pinged, and it is the only ping.
        [out] = [o for o in h.emu.outgoing("message_create") if o.message_id == int(post["id"])]
        am = out.allowed_mentions
        assert am is not None and am["parse"] == [] and [str(r) for r in am["roles"]] == [w.role["id"]]
        assert not am.get("users") and not am.get("replied_user")
        assert h.emu.pings(post) == {"users": [], "roles": [w.role["id"]], "everyone": False}
        check_wire(h.emu, {int(post["id"])})
        assert posts(h.emu, int(w.other_support["id"])) == []  # nothing in guild B
        with h.service.catalog._conn() as db:  # type: ignore[attr-defined]
            notes = db.execute("SELECT namespace, vote, note FROM feedback").fetchall()
        assert notes == [(w.here, -1, f"It quotes <@&{w.role['id']}> and misses the latest news")]


async def test_without_escalation_the_note_is_kept_and_nothing_is_posted(world: World):
    w = world
    async with w.bot() as h:
        _, thanks = await thumbs_down(h, "")
        assert thanks == messages.NOT_HELPFUL_THANKS.format(up=0, down=1)
        assert posts(h.emu, int(w.support["id"])) == []
        await thumbs_down(h, None)  # the modal dismissed: the vote still counts
        assert h.service.feedback_counts(w.here) == (0, 2)
        check_wire(h.emu)


async def test_escalation_is_per_guild_survives_a_restart_and_turns_off(world: World):
    w = world
    async with w.bot() as h:
        await config(h, "escalate", {"role": w.other_role, "channel": w.other_support}, **in_b(w))
        assert h.bot.guild_settings.escalation(w.here) is None
        await thumbs_down(h, "here")  # guild A has no escalation: nothing posted anywhere
        assert posts(h.emu, int(w.other_support["id"])) == [] and posts(h.emu, int(w.support["id"])) == []
        await config(h, "escalate", {"role": w.role, "channel": w.support})
    async with w.bot() as h:  # restarted: both guilds' choices are still there
        assert w.support["id"] in await config(h, "escalate")
        _, thanks = await thumbs_down(h, "after the restart", **in_b(w))
        assert thanks.startswith("Thanks: this server's support team")
        [post] = posts(h.emu, int(w.other_support["id"]))
        assert h.emu.pings(post)["roles"] == [w.other_role["id"]]
        assert len(posts(h.emu, int(w.support["id"]))) == 0  # guild A's channel untouched
        assert await config(h, "escalate", {"off": True}) == messages.ESCALATE_OFF
        assert await config(h, "escalate") == messages.ESCALATE_NONE
        check_wire(h.emu, {int(post["id"])})


# -- auto-answer ---------------------------------------------------------------------------------
async def test_auto_answer_in_a_channel_answers_questions_only(world: World):
    w = world
    ask = int(w.ask["id"])
    async with w.bot() as h:
        assert await config(h, "autoanswer") == messages.AUTOANSWER_NONE
        shown = await config(h, "autoanswer", {"channel": w.ask, "state": "on"})
        assert shown == messages.AUTOANSWER_NOW.format(channels=f"<#{ask}>")
        asked = await h.emu.send_message(SAMPLE_QUESTION, channel_id=ask)
        reply = await h.emu.wait_for_bot_message(
            ask, lambda m: (m.get("message_reference") or {}).get("message_id") == asked["id"], 10
        )
        assert reply["embeds"][0]["title"] == f"Q: {SAMPLE_QUESTION}"
        await h.emu.wait_until(lambda: any(t["id"] == reply["id"] for t in h.emu.threads), 5)  # a threaded reply
        # Not questions, a bot's question, an abstention, another channel: no reply.
        bot_user = h.emu.add_user("newsbot", bot=True)
        await h.emu.send_message("Thanks, that helped a lot.", channel_id=ask)
        await h.emu.send_message(SAMPLE_QUESTION, channel_id=ask, author=bot_user)
        await h.emu.send_message(GAP, channel_id=ask)
        await h.emu.send_message(SAMPLE_QUESTION)  # the general channel: auto-answer is off there
        await h.emu.wait_until(lambda: h.service.stats(w.here, 1).asked == 2, 10)
        assert len(posts(h.emu, ask)) == 1 and posts(h.emu, h.emu.channel_id) == []
        assert [q.question for q in h.service.stats(w.here, 1).unanswered] == [normalize(GAP)]
        # Members with the ignored role are left alone.
        assert await config(h, "autoanswer-ignore", {"role": w.quiet}) == messages.IGNORE_NOW.format(
            role=f"<@&{w.quiet['id']}>"
        )
        quiet_user = h.emu.add_user("quietly")
        h.emu.add_member(h.emu.guild_id, quiet_user, roles=[int(w.quiet["id"])])
        await h.emu.send_message(SAMPLE_QUESTION, channel_id=ask, author=quiet_user)
        loud = await h.emu.send_message(SAMPLE_QUESTION + " (again)", channel_id=ask)
        await h.emu.wait_for_bot_message(
            ask, lambda m: (m.get("message_reference") or {}).get("message_id") == loud["id"], 10
        )
        await asyncio.sleep(0.5)  # time for a (wrong) answer to the quiet member to arrive
        assert len(posts(h.emu, ask)) == 2 and h.service.stats(w.here, 1).asked == 3  # never even asked
        check_wire(h.emu)
    async with w.bot() as h:  # restarted: still on, still ignoring the role
        assert f"<#{ask}>" in await config(h, "autoanswer") and f"<@&{w.quiet['id']}>" in await config(h, "autoanswer")
        assert await config(h, "autoanswer", {"channel": w.ask, "state": "off"}) == messages.AUTOANSWER_NONE
        await h.emu.send_message(SAMPLE_QUESTION + " once more", channel_id=ask)
        await h.emu.wait_until(lambda: h.service.stats(w.here, 1).asked >= 2, 2)
        assert len(posts(h.emu, ask)) == 2
        assert await config(h, "autoanswer-ignore", {"off": True}) == messages.IGNORE_NONE


async def test_auto_answer_in_a_forum_answers_each_new_post_in_its_thread(world: World):
    w = world
    async with w.bot() as h:
        await config(h, "autoanswer", {"channel": w.forum, "state": "on"})
        thread, starter = await h.emu.create_forum_post(int(w.forum["id"]), "Russia and Iran", SAMPLE_QUESTION)
        reply = await h.emu.wait_for_bot_message(int(thread["id"]), None, 10)
        assert reply["message_reference"]["message_id"] == starter["id"]
        assert reply["embeds"][0]["title"].startswith("Q: Russia and Iran")
        await h.emu.send_message("and what did Russia want exactly?", channel_id=int(thread["id"]))  # not a new post
        await asyncio.sleep(0.5)  # time to (wrongly) answer it
        assert len(posts(h.emu, int(thread["id"]))) == 1
        assert not any(t["parent_id"] == thread["id"] for t in h.emu.threads)  # no thread inside the post
        check_wire(h.emu)


async def test_auto_answer_needs_the_message_content_intent_and_help_says_so(world: World):
    async with world.bot(message_content=False) as h:
        assert await config(h, "autoanswer", {"channel": world.ask, "state": "on"}) == messages.AUTOANSWER_NEEDS_INTENT
        assert h.bot.guild_settings.autoanswer(world.here).channel_ids == frozenset()
        _, help_reply = await h.run("help")
        fields = {f["name"]: f["value"] for f in help_reply["embeds"][0]["fields"]}
        assert messages.HELP_INTENT_OFF in fields[messages.HELP_AUTOANSWER_TITLE]
        check_wire(h.emu)
    async with world.bot() as h:
        _, help_reply = await h.run("help")
        fields = {f["name"]: f["value"] for f in help_reply["embeds"][0]["fields"]}
        assert messages.HELP_INTENT_ON in fields[messages.HELP_AUTOANSWER_TITLE]
