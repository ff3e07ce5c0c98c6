"""Document sets through the real discord.py client and the emulator: ``/ingest … set:``,
``/config set-roles``, ``/config channel-sets``, ``/ask … set:``, ``/sets``, every read path as
a member without the role (answers, search, cite, find-source menu, sources, autocomplete,
buttons, Share), real role ids and permission bits, restart persistence and other guilds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import messages
from retrieval.loaders import content_id
from retrieval.service import CitebotService
from tests.discord.bot_fixtures import (
    MANAGER_PERMISSIONS,
    NO_PERMISSIONS,
    SAMPLE_QUESTION,
    Harness,
    assert_clean,
    bot_settings,
    custom_ids,
    embed_text,
    running_bot,
    sampled_service,
)
from tests.discord.emulator import DiscordEmulator
from tests.doubles import HashingEmbedder

HR = "The zqhrpolicy grants parental leave of sixteen weeks at full pay to every employee of the firm."
CANTEEN = "The zqcanteen serves hot soup from noon until two on every weekday of the year."
HR_QUESTION = "How long is the zqhrpolicy parental leave at full pay?"
HR_ID, CANTEEN_ID = content_id(HR), content_id(CANTEEN)


@dataclass
class World:
    role: dict
    member: dict  # holds the HR role
    outsider: dict  # holds none


async def make_world(emu: DiscordEmulator, bot: Any, run: Any) -> World:
    """The HR set restricted to a real role, through the commands; a member with it, one without."""
    gid = emu.guild_id
    role = emu.add_role(gid, "HR", 0)
    await emu.wait_until(lambda: (g := bot.get_guild(gid)) is not None and g.get_role(int(role["id"])))
    member, outsider = emu.add_user("hr-member"), emu.add_user("outsider")
    emu.add_member(gid, member, roles=[int(role["id"])])
    emu.add_member(gid, outsider)
    for name, text, set_name in (("hr.txt", HR, "HR"), ("canteen.txt", CANTEEN, "general")):
        file = emu.add_attachment(name, text.encode(), "text/plain")
        handle, _ = await run("ingest", {"file": file, "set": set_name}, permissions=MANAGER_PERMISSIONS)
        reply = await emu.wait_until(lambda h=handle: h.original and h.original.get("embeds") and h.original, 15)
        assert "added" in embed_text(reply).lower(), reply
    _, reply = await run("config", {"set": "hr", "role": role}, subcommand="set-roles", permissions=MANAGER_PERMISSIONS)
    assert reply["content"] == f"Set **hr** (1 document(s)) is visible only to <@&{role['id']}> (and to Manage Server)."
    return World(role, member, outsider)


def replying_to(sent: dict) -> Any:
    return lambda m: bool(m.get("embeds")) and (m.get("message_reference") or {}).get("message_id") == sent["id"]


def as_(user: dict) -> dict[str, Any]:
    return {"user": user, "permissions": NO_PERMISSIONS}


async def test_a_restricted_set_reaches_only_its_role_on_every_path(harness: Harness):
    h = harness
    w = await make_world(h.emu, h.bot, h.run)
    cid_prefix = HR_ID[:8]

    # The member with the role, privately: the answer quotes the HR document.
    _, private = await h.run("ask", {"question": HR_QUESTION, "private": True}, **as_(w.member))
    assert cid_prefix in embed_text(private)
    hr_buttons = [c for c in custom_ids(private, "cb:cite:") if cid_prefix in c]
    assert hr_buttons
    # The same member in public: the channel reads it, so restricted sets are left out.
    _, public = await h.run("ask", {"question": HR_QUESTION}, **as_(w.member))
    assert cid_prefix not in embed_text(public)
    # A manager sees every set (privately).
    _, managed = await h.run("ask", {"question": HR_QUESTION, "private": True}, permissions=MANAGER_PERMISSIONS)
    assert cid_prefix in embed_text(managed)

    # The outsider, on every path.
    for private_flag in (True, False):
        _, answer = await h.run("ask", {"question": HR_QUESTION, "private": private_flag}, **as_(w.outsider))
        assert cid_prefix not in embed_text(answer)
        _, hits = await h.run(
            "search", {"query": "zqhrpolicy parental leave", "private": private_flag}, **as_(w.outsider)
        )
        assert cid_prefix not in embed_text(hits) and "sixteen weeks" not in embed_text(hits)
    _, cited = await h.run("cite", {"id_or_quote": f"{cid_prefix}-0-20", "private": True}, **as_(w.outsider))
    assert cited["content"].startswith(f"No document with id prefix '{cid_prefix}' in this namespace"), cited
    _, quote = await h.run("cite", {"id_or_quote": HR[4:60], "private": True}, **as_(w.outsider))
    assert quote["content"] == messages.QUOTE_NOT_FOUND
    _, narrowed = await h.run("ask", {"question": HR_QUESTION, "set": "hr", "private": True}, **as_(w.outsider))
    assert embed_text(narrowed).strip().startswith("No documents match the filter (in set hr).") or (
        "No documents match the filter (in set hr)." in embed_text(narrowed)
    )
    _, listed = await h.run("sources", **as_(w.outsider))
    assert cid_prefix not in embed_text(listed) and CANTEEN_ID[:8] in embed_text(listed)
    _, sets = await h.run("sets", **as_(w.outsider))
    assert "**general**" in embed_text(sets) and "**hr**" not in embed_text(sets)
    _, member_sets = await h.run("sets", **as_(w.member))
    assert f"**hr** · 1 document(s) · only <@&{w.role['id']}>" in embed_text(member_sets)
    for command, options in (("ask", {"question": "x", "set": ""}), ("search", {"query": "x", "set": "h"})):
        auto = await h.emu.send_autocomplete(command, options, focused="set", **as_(w.outsider))
        assert "hr" not in [c["value"] for c in (await auto.wait_final(5))["choices"]]
    auto = await h.emu.send_autocomplete("ask", {"question": "x", "set": "h"}, focused="set", **as_(w.member))
    assert [c["value"] for c in (await auto.wait_final(5))["choices"]] == ["hr"]
    # Find source (a public reply) on a message quoting the HR text.
    quoted = await h.emu.send_message(HR[4:70], author=w.member)
    _, found = await h.menu(messages.MENU_FIND, quoted, **as_(w.member))
    assert found["content"] == messages.QUOTE_NOT_FOUND

    # Buttons: the outsider clicking the member's [n] and Sources gets nothing of it.
    _, click = await h.click(private, hr_buttons[0], **as_(w.outsider))
    assert click["content"] == messages.SOURCE_GONE
    sources_id = custom_ids(private, "cb:sources:")[0]
    _, sources = await h.click(private, sources_id, **as_(w.outsider))
    assert "sixteen weeks" not in embed_text(sources)
    _, own = await h.click(private, hr_buttons[0], **as_(w.member))
    assert "sixteen weeks" in embed_text(own)
    # Share would post it for everyone: refused.
    share = custom_ids(private, "cb:share:")[0]
    _, shared = await h.click(private, share, **as_(w.member))
    assert shared["content"] == messages.SHARE_RESTRICTED
    # A mention is answered in public: restricted sets left out even for the member.
    sent = await h.emu.send_message(f"<@{h.emu.bot_user['id']}> {HR_QUESTION}", author=w.member)
    reply = await h.emu.wait_for_bot_message(channel_id=h.emu.channel_id, predicate=replying_to(sent))
    assert cid_prefix not in embed_text(reply)


async def test_set_commands_need_manage_server_and_bad_names_are_one_line(harness: Harness):
    h = harness
    role = h.emu.add_role(h.emu.guild_id, "Staff", 0)
    for sub, options in (
        ("set-roles", {"set": "hr", "role": role}),
        ("channel-sets", {"channel": h.emu.channels[h.emu.channel_id], "sets": "hr"}),
    ):
        _, reply = await h.run("config", options, subcommand=sub, permissions=NO_PERMISSIONS)
        assert reply["content"] == messages.NEEDS_MANAGE_GUILD
    file = h.emu.add_attachment("a.txt", CANTEEN.encode(), "text/plain")
    _, reply = await h.run("ingest", {"file": file, "set": "hr"}, permissions=NO_PERMISSIONS)
    assert reply["content"] == messages.NEEDS_MANAGE_GUILD
    assert h.service.catalog.set_roles(h.namespace) == {} and h.service.sets(h.namespace) == []
    _, bad = await h.run("ingest", {"file": file, "set": "two words"}, permissions=MANAGER_PERMISSIONS)
    assert bad["content"].startswith("Set 'two words' is not a set name") and "\n" not in bad["content"]
    _, bad_ask = await h.run("ask", {"question": SAMPLE_QUESTION, "set": "a b"})
    assert bad_ask["content"].startswith("Set 'a b' is not a set name")


async def test_a_channel_bound_to_sets_answers_from_them_only(harness: Harness):
    h = harness
    w = await make_world(h.emu, h.bot, h.run)
    channel = h.emu.channels[h.emu.channel_id]
    _, reply = await h.run(
        "config", {"channel": channel, "sets": "general"}, subcommand="channel-sets", permissions=MANAGER_PERMISSIONS
    )
    assert reply["content"] == (
        f"<#{channel['id']}> answers only from the sets **general** (unfiled documents are left out there)."
    )
    sample = h.service.sources(h.namespace)[0].id  # the unfiled sample article
    _, answer = await h.run("ask", {"question": SAMPLE_QUESTION}, **as_(w.outsider))
    assert sample[:8] not in embed_text(answer)
    _, soup = await h.run("ask", {"question": "When does the zqcanteen serve soup?"}, **as_(w.outsider))
    assert CANTEEN_ID[:8] in embed_text(soup)
    # Another channel is not bound: the sample answers there.
    other = h.emu.add_channel(h.emu.guild_id, "elsewhere")
    await h.emu.wait_until(lambda: h.bot.get_channel(int(other["id"])))
    _, there = await h.run("ask", {"question": SAMPLE_QUESTION}, channel_id=int(other["id"]), **as_(w.outsider))
    assert sample[:8] in embed_text(there)
    # Mentions in the bound channel follow it too.
    sent = await h.emu.send_message(f"<@{h.emu.bot_user['id']}> {SAMPLE_QUESTION}", author=w.outsider)
    mention = await h.emu.wait_for_bot_message(channel_id=h.emu.channel_id, predicate=replying_to(sent))
    assert sample[:8] not in embed_text(mention)
    _, cleared = await h.run(
        "config", {"channel": channel, "clear": True}, subcommand="channel-sets", permissions=MANAGER_PERMISSIONS
    )
    assert cleared["content"] == f"<#{channel['id']}> answers from every set."
    _, again = await h.run("ask", {"question": SAMPLE_QUESTION}, **as_(w.outsider))
    assert sample[:8] in embed_text(again)


async def test_sets_bindings_and_restrictions_survive_a_restart(emu: DiscordEmulator, tmp_path: Path):
    settings = bot_settings(tmp_path / "data", emu)
    service = sampled_service(settings, str(emu.guild_id))
    channel = emu.channels[emu.channel_id]

    async def first_run() -> World:
        async with running_bot(emu, settings, service) as bot:

            async def run(name: str, options: dict | None = None, **kw: Any) -> Any:
                handle = await emu.send_slash_command(name, options or {}, **kw)
                return handle, await handle.wait_final(10)

            w = await make_world(emu, bot, run)
            await run("config", {"channel": channel, "sets": "hr, general"}, subcommand="channel-sets",
                      permissions=MANAGER_PERMISSIONS)  # fmt: skip
            return w

    w = await first_run()
    again = CitebotService.from_settings(settings, embedder=HashingEmbedder())  # a new process's service
    async with running_bot(emu, settings, again, sync_global=False):
        outsider = await emu.send_slash_command("ask", {"question": HR_QUESTION, "private": True}, **as_(w.outsider))
        assert HR_ID[:8] not in embed_text(await outsider.wait_final(10))
        member = await emu.send_slash_command("ask", {"question": HR_QUESTION, "private": True}, **as_(w.member))
        assert HR_ID[:8] in embed_text(await member.wait_final(10))
        sample = await emu.send_slash_command("ask", {"question": SAMPLE_QUESTION, "private": True}, **as_(w.member))
        sample_id = again.sources(str(emu.guild_id))[0].id
        assert sample_id[:8] not in embed_text(await sample.wait_final(10))  # the channel's binding held
        listed = await emu.send_slash_command("sets", **as_(w.member))
        assert "**hr**" in embed_text(await listed.wait_final(10))
    assert_clean(emu)


async def test_sets_are_per_guild(harness: Harness):
    h = harness
    w = await make_world(h.emu, h.bot, h.run)
    guild = h.emu.add_guild("Other", channel_names=["general"])
    gid, cid = int(guild["id"]), int(guild["channels"][0]["id"])
    await h.emu.wait_until(lambda: h.bot.get_guild(gid))
    stranger = h.emu.add_user("stranger")
    _, sets = await h.run("sets", user=stranger, channel_id=cid, permissions=MANAGER_PERMISSIONS)
    assert embed_text(sets).strip().startswith(messages.SETS_TITLE) and messages.SETS_NONE in embed_text(sets)
    # The same name there is another set: restricting it here changes nothing there.
    file = h.emu.add_attachment("hr.txt", HR.encode(), "text/plain")
    handle, _ = await h.run(
        "ingest", {"file": file, "set": "hr"}, user=stranger, channel_id=cid, permissions=MANAGER_PERMISSIONS
    )
    await h.emu.wait_until(lambda: handle.original and handle.original.get("embeds"), 15)
    _, there = await h.run(
        "ask", {"question": HR_QUESTION, "private": True}, user=stranger, channel_id=cid, permissions=NO_PERMISSIONS
    )
    assert HR_ID[:8] in embed_text(there)  # unrestricted in that guild
    assert h.service.catalog.set_roles(str(gid)) == {}
    # And here, the outsider still gets nothing of this guild's restricted set.
    _, here = await h.run("ask", {"question": HR_QUESTION, "private": True}, **as_(w.outsider))
    assert HR_ID[:8] not in embed_text(here)
