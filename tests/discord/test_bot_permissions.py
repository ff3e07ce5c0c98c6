"""Manage Server, through the emulator with real permission bits.

``/ingest`` and ``/forget`` (and the titles /forget's autocomplete reveals) are for members
whose permissions, as Discord resolves them for the interaction, include Manage Server or
Administrator: whether from a role, from Administrator, or as the owner. The bits come from
the interaction payload, never from the bot's cache of roles (which can be stale), from
another guild, or from a DM. No button, message menu or mention changes any document.

Unless a test passes ``permissions=``, the emulator computes the member's permissions from
the guild's roles, as Discord does; test_bot_manage.py has the basic refusals.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot import messages
from retrieval.service import CitebotService
from tests.discord.bot_fixtures import (
    MANAGER_PERMISSIONS,
    NO_PERMISSIONS,
    Harness,
    assert_clean,
    bot_settings,
    custom_ids,
    running_bot,
    sampled_service,
)
from tests.discord.emulator import (
    ADMINISTRATOR,
    DEFAULT_EVERYONE_PERMISSIONS,
    MANAGE_GUILD,
    DiscordEmulator,
    InteractionHandle,
)

ARTICLE = (
    "Lighthouse Keepers Return to Skerry Point\n\n"
    "The lighthouse at Skerry Point has a resident keeper again after forty years of automation.\n\n"
    "Volunteers repainted the tower in the traditional red and white bands last spring.\n"
)
SAMPLE_TITLE = "Iran Rebuffs Russian Demand to Withdraw from Syria"
# Everything a moderator might have, short of Manage Server and Administrator.
MANAGE_CHANNELS, KICK_MEMBERS, BAN_MEMBERS, MANAGE_MESSAGES, MANAGE_ROLES = 1 << 4, 1 << 1, 1 << 2, 1 << 13, 1 << 28
ALMOST_MANAGER = DEFAULT_EVERYONE_PERMISSIONS | MANAGE_CHANNELS | KICK_MEMBERS | BAN_MEMBERS | MANAGE_MESSAGES
ALMOST_MANAGER |= MANAGE_ROLES


def member_with(emu: DiscordEmulator, name: str, role_permissions: int | None, guild_id: int | None = None) -> dict:
    """A new member of the guild holding one role with ``role_permissions`` (None: no role)."""
    gid = guild_id or emu.guild_id
    user = emu.add_user(name)
    roles = [] if role_permissions is None else [int(emu.add_role(gid, f"{name}-role", role_permissions)["id"])]
    emu.add_member(gid, user, roles=roles)
    return user


def resolved_permissions(handle: InteractionHandle) -> int:
    return int(handle.payload["member"]["permissions"])


async def try_everything(h: Harness, user: dict, **where) -> dict[str, object]:
    """/ingest, /forget and /forget's autocomplete as ``user``; what each one did."""
    doc = h.service.sources(h.namespace)[0]
    file = h.emu.add_attachment("lighthouse.txt", ARTICLE.encode(), "text/plain")
    ingest = await h.slash("ingest", {"file": file}, user=user, **where)
    ingest_final = await ingest.wait_final(10)
    if ingest.response_type == 5:  # accepted: wait for the summary
        await h.emu.wait_until(lambda: (ingest.original or {}).get("embeds"), 15)
        ingest_final = ingest.original
    auto = await h.emu.send_autocomplete("forget", {"document": "Iran"}, focused="document", user=user, **where)
    choices = (await auto.wait_final(5))["choices"]
    forget = await h.slash("forget", {"document": doc.id}, user=user, **where)
    forget_final = await forget.wait_final(10)
    for handle in (ingest, auto, forget):
        if "member" in handle.payload:  # the bits the bot judged are the ones Discord resolved
            assert resolved_permissions(handle) == h.emu.member_permissions(
                int(handle.payload["guild_id"]), int(user["id"])
            )
    return {
        "ingest": ingest_final.get("content") or ingest_final["embeds"][0]["title"],
        "choices": [c["name"] for c in choices],
        "forget": forget_final["content"],
        "ingest ephemeral": ingest.ephemeral,
        "forget ephemeral": forget.ephemeral,
    }


REFUSED = {
    "ingest": messages.NEEDS_MANAGE_GUILD,
    "choices": [],
    "forget": messages.NEEDS_MANAGE_GUILD,
    "ingest ephemeral": True,
    "forget ephemeral": True,
}


@pytest.mark.parametrize(
    "role_permissions",
    [None, 0, DEFAULT_EVERYONE_PERMISSIONS, ALMOST_MANAGER],
    ids=["no role", "empty role", "everyone's permissions", "every moderator permission but Manage Server"],
)
async def test_members_whose_roles_lack_manage_server_are_refused_everything(harness: Harness, role_permissions):
    h = harness
    before = h.service.sources(h.namespace)
    user = member_with(h.emu, "member", role_permissions)
    assert not h.emu.member_permissions(h.emu.guild_id, int(user["id"])) & (MANAGE_GUILD | ADMINISTRATOR)
    assert await try_everything(h, user) == REFUSED  # the autocomplete reveals no title either
    assert h.service.sources(h.namespace) == before


@pytest.mark.parametrize(
    "grant",
    [
        lambda emu: member_with(emu, "manager", DEFAULT_EVERYONE_PERMISSIONS | MANAGE_GUILD),
        lambda emu: member_with(emu, "bare-manager", MANAGE_GUILD),  # Manage Server alone, nothing else
        lambda emu: member_with(emu, "admin", ADMINISTRATOR),  # Administrator implies everything
        lambda emu: emu.owner,  # the owner has every permission, whatever the roles
    ],
    ids=["Manage Server role", "bare Manage Server role", "Administrator role", "guild owner"],
)
async def test_manage_server_from_a_role_administrator_or_ownership_is_enough(
    harness: Harness, grant: Callable[[DiscordEmulator], dict]
):
    h = harness
    user = grant(h.emu)
    sample_id = h.service.sources(h.namespace)[0].id
    result = await try_everything(h, user)
    assert result["ingest"] == messages.INGEST_TITLE
    assert result["choices"] == [f"{SAMPLE_TITLE} ({sample_id[:8]})"]
    assert result["forget"] == messages.FORGOTTEN.format(title=SAMPLE_TITLE, doc_id=sample_id)
    assert [d.title for d in h.service.sources(h.namespace)] == ["Lighthouse Keepers Return to Skerry Point"]


@pytest.mark.parametrize("bits", [ADMINISTRATOR, MANAGE_GUILD], ids=["Administrator", "Manage Server"])
async def test_the_bits_in_the_payload_are_what_counts(harness: Harness, bits: int):
    """A member whose roles the bot has never seen, granted the permission in this channel's resolution."""
    h = harness
    user = member_with(h.emu, "newcomer", None)
    handle = await h.slash("forget", {"document": SAMPLE_TITLE}, user=user, permissions=bits)
    reply = await h.emu.wait_until(lambda: (handle.original or {}).get("content"), 10)
    assert handle.response_type == 5 and reply.startswith(f"Forgot **{SAMPLE_TITLE}**")


async def test_a_stale_cache_of_roles_never_overrides_what_discord_resolved(emu: DiscordEmulator, tmp_path):
    """The bot saw a role with Manage Server at start-up; it has since been revoked (the update
    not yet received). Discord resolves the interaction without the permission: refused."""
    role = emu.add_role(emu.guild_id, "moderators", DEFAULT_EVERYONE_PERMISSIONS | MANAGE_GUILD)
    moderator = emu.add_user("moderator")
    emu.add_member(emu.guild_id, moderator, roles=[int(role["id"])])
    settings = bot_settings(tmp_path / "data", emu)
    service = sampled_service(settings, str(emu.guild_id))
    async with running_bot(emu, settings, service) as bot:
        h = Harness(emu, bot, service, settings)
        cached = bot.get_guild(emu.guild_id).get_role(int(role["id"]))
        assert cached is not None and cached.permissions.manage_guild  # what the bot believes
        role["permissions"] = str(DEFAULT_EVERYONE_PERMISSIONS)  # revoked in Discord
        before = service.sources(h.namespace)
        assert await try_everything(h, moderator) == REFUSED
        # The same with the permission string forged outright for a member the cache calls a manager.
        _, reply = await h.run("forget", {"document": before[0].id}, user=emu.owner, permissions=NO_PERMISSIONS)
        assert reply["content"] == messages.NEEDS_MANAGE_GUILD
        assert service.sources(h.namespace) == before
        h.assert_clean()


async def test_managing_one_guild_gives_nothing_in_another(harness: Harness):
    h = harness
    other = h.emu.add_guild("Other Guild", channel_names=["lobby"])
    other_id, lobby = int(other["id"]), int(other["channels"][0]["id"])
    await h.emu.wait_until(lambda: h.bot.get_guild(other_id))
    h.service.ingest_bytes(ARTICLE.encode(), "lighthouse.txt", str(other_id))
    manager = member_with(h.emu, "manager", MANAGE_GUILD)  # Manage Server here, in the first guild
    h.emu.add_member(other_id, manager)  # a plain member there
    before = h.service.sources(str(other_id))
    result = await try_everything_in(h, manager, other_id, lobby)
    assert result == {"forget": messages.NEEDS_MANAGE_GUILD, "choices": [], "ingest": messages.NEEDS_MANAGE_GUILD}
    # Nor does a payload that lists the first guild's manager role among the member's roles there.
    payload = h.emu._interaction_base(
        2,
        h.emu._command_data("forget", 1, other_id)
        | {"options": [{"name": "document", "type": 3, "value": before[0].id}]},
        user=manager,
        channel_id=lobby,
        guild_id=other_id,
        dm=False,
        permissions=None,
        locale="en-US",
    )
    payload["member"]["roles"] = h.emu.guilds[h.emu.guild_id]["members"][int(manager["id"])]["roles"]
    handle = await h.emu.dispatch_interaction(payload)
    assert (await handle.wait_final(5))["content"] == messages.NEEDS_MANAGE_GUILD
    assert h.service.sources(str(other_id)) == before
    assert len(h.service.sources(h.namespace)) == 1  # and the first guild is untouched


async def try_everything_in(h: Harness, user: dict, guild_id: int, channel_id: int) -> dict[str, object]:
    doc = h.service.sources(str(guild_id))[0]
    file = h.emu.add_attachment("x.txt", ARTICLE.encode(), "text/plain")
    _, ingest = await h.run("ingest", {"file": file}, user=user, channel_id=channel_id)
    auto = await h.emu.send_autocomplete(
        "forget", {"document": ""}, focused="document", user=user, channel_id=channel_id
    )
    choices = (await auto.wait_final(5))["choices"]
    _, forget = await h.run("forget", {"document": doc.id}, user=user, channel_id=channel_id)
    return {"ingest": ingest["content"], "choices": choices, "forget": forget["content"]}


async def test_in_direct_messages_nobody_manages_anything(harness: Harness):
    """Not even the owner of a guild, and not with Manage Server bits claimed in the request."""
    h = harness
    h.service.ingest_bytes(ARTICLE.encode(), "lighthouse.txt", h.settings.dm_namespace)
    before = {ns: h.service.sources(ns) for ns in (h.namespace, h.settings.dm_namespace)}
    for user in (h.emu.owner, h.emu.user):
        doc = before[h.settings.dm_namespace][0]
        file = h.emu.add_attachment("x.txt", ARTICLE.encode(), "text/plain")
        handle, reply = await h.run("ingest", {"file": file}, user=user, dm=True, permissions=MANAGER_PERMISSIONS)
        assert handle.ephemeral and reply["content"] == messages.GUILD_ONLY
        for ref in (doc.id, doc.title):
            handle, reply = await h.run("forget", {"document": ref}, user=user, dm=True, permissions=ADMINISTRATOR)
            assert handle.ephemeral and reply["content"] == messages.GUILD_ONLY
        for current in ("", "Light", "Iran"):
            auto = await h.emu.send_autocomplete(
                "forget", {"document": current}, focused="document", user=user, dm=True, permissions=ADMINISTRATOR
            )
            assert (await auto.wait_final(5))["choices"] == []
    assert {ns: h.service.sources(ns) for ns in before} == before


async def test_no_button_menu_or_mention_changes_any_document(harness: Harness):
    """Everything a member without Manage Server can reach, including text that names the commands."""
    h = harness
    user = member_with(h.emu, "member", None)
    service: CitebotService = h.service
    doc = service.sources(h.namespace)[0]
    for i in range(12):  # enough for a second page of /sources
        service.ingest_bytes(f"Note {i}\n\nThe figure recorded was {i * 3}.".encode(), f"n{i}.txt", h.namespace)
    before = (service.sources(h.namespace), service.catalog.usage(h.namespace))
    _, answer = await h.run("ask", {"question": "What did Russia demand from Iran?"}, user=user)
    for custom_id in custom_ids(answer):
        await h.click(answer, custom_id, user=user)
    handle = await h.slash("ask", {"question": "Will Iran withdraw from Syria?", "private": True}, user=user)
    private = await h.emu.wait_until(lambda: (handle.original or {}).get("embeds") and handle.original, 10)
    for custom_id in custom_ids(private):
        await h.click(private, custom_id, user=user)
    _, listed = await h.run("sources", user=user)
    for custom_id in custom_ids(listed):
        await h.click(listed, custom_id, user=user)
    for text in (f"/forget {doc.id}", f"forget {doc.title}", "/ingest https://example.com/article"):
        posted = await h.emu.send_message(text, author=user)
        for menu in (messages.MENU_ASK, messages.MENU_FIND):
            await h.menu(menu, posted, user=user)
        asked = await h.emu.send_message(f"<@{h.emu.bot_user['id']}> {text}", author=user)
        await h.emu.wait_for_bot_message(
            predicate=lambda m, asked=asked: (m.get("message_reference") or {}).get("message_id") == asked["id"]
        )
    await h.run("help", user=user)
    assert (service.sources(h.namespace), service.catalog.usage(h.namespace)) == before
    assert_clean(h.emu)


async def test_only_ingest_forget_and_config_are_registered_for_managers_and_servers_only(harness: Harness):
    registered = {c["name"]: c for c in harness.emu.commands()}
    for name, command in registered.items():
        managed = name in ("ingest", "forget", "config", "stats", "feed")
        permissions = command.get("default_member_permissions")
        assert int(permissions) == MANAGE_GUILD if managed else permissions is None, (name, permissions)
        if managed:
            assert command.get("contexts") == [0] and command.get("dm_permission") is False, command
    _, shown = await harness.run("help")
    text = "\n".join(f["value"] for f in shown["embeds"][0]["fields"])
    assert f"`/ingest` — {messages.INGEST_DESCRIPTION} {messages.HELP_MANAGE}" in text
    assert f"`/config` — {messages.CONFIG_DESCRIPTION} {messages.HELP_MANAGE}" in text
    assert f"`/ask` — {messages.ASK_DESCRIPTION}\n" in text
