"""Tests of the Discord emulator, driven by a real (minimal) discord.py client."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.discord.emulator import (
    GUILD_FORUM,
    MANAGE_GUILD,
    DiscordEmulator,
    message_text,
    run_client,
)

Factory = Callable[..., Awaitable[DiscordEmulator]]
NO_MENTIONS = discord.AllowedMentions.none()


def make_client(
    *, message_content: bool = False, allowed_mentions: discord.AllowedMentions | None = NO_MENTIONS
) -> tuple[discord.Client, app_commands.CommandTree]:
    intents = discord.Intents.default()
    intents.message_content = message_content
    client = discord.Client(intents=intents, guild_ready_timeout=0.05, allowed_mentions=allowed_mentions)
    return client, app_commands.CommandTree(client)


async def raw(emu: DiscordEmulator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A REST call made directly (not through discord.py), authenticated as the bot."""
    headers = {"Authorization": f"Bot {emu.bot_token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, emu.base_url + path, json=body, headers=headers) as resp,
    ):
        text = await resp.text()
        return resp.status, (json.loads(text) if text else None)


# --------------------------------------------------------------------------------------------
# Gateway
# --------------------------------------------------------------------------------------------


async def test_connects_and_builds_guild_state(emulator: DiscordEmulator) -> None:
    client, _ = make_client()
    async with run_client(client, emulator.bot_token):
        guild = client.get_guild(emulator.guild_id)
        assert guild is not None and guild.name == "Test Guild"
        channel = guild.get_channel(emulator.channel_id)
        assert isinstance(channel, discord.TextChannel)
        assert guild.me is not None and guild.me.id == int(emulator.bot_user["id"])
        assert channel.permissions_for(guild.me).send_messages
        assert client.user is not None and client.user.id == emulator.application_id
        assert client.application_id == emulator.application_id

    assert emulator.intents == discord.Intents.default().value
    query = emulator.gateway_connections[0].query
    assert query["v"] == "10" and query["encoding"] == "json"
    assert query["compress"] in ("zstd-stream", "zlib-stream")
    events = [e["t"] for e in emulator.dispatched]
    assert events[:2] == ["READY", "GUILD_CREATE"]
    assert [e["s"] for e in emulator.dispatched] == list(range(1, len(emulator.dispatched) + 1))
    assert emulator.requests_to("GET", r"^/users/@me$")
    assert emulator.requests_to("GET", r"^/oauth2/applications/@me$")
    assert emulator.unknown_routes == []


async def test_heartbeats_are_acked(emulator_factory: Factory) -> None:
    emu = await emulator_factory(heartbeat_interval_ms=200)
    client, _ = make_client()
    async with run_client(client, emu.bot_token):
        await emu.wait_until(lambda: len(emu.heartbeats) >= 3, timeout=3)
        assert client.latency < 1.0  # finite: discord.py saw HEARTBEAT_ACKs
    assert emu.max_heartbeat_gap() < 0.6


async def test_members_intent_chunking_and_resume(emulator: DiscordEmulator) -> None:
    intents = discord.Intents.default()
    intents.members = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.05)
    resumed = asyncio.Event()

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    async with run_client(client, emulator.bot_token):
        guild = client.get_guild(emulator.guild_id)
        assert guild is not None and guild.chunked and guild.get_member(int(emulator.user["id"])) is not None
        await emulator.disconnect(4000)
        await asyncio.wait_for(resumed.wait(), 5)
        newcomer = emulator.add_user("bob")
        await emulator.send_message("hi", author=newcomer)
        await emulator.wait_until(lambda: guild.get_member(int(newcomer["id"])), timeout=3)

    ops = [c.get("op") for c in emulator.gateway_connections[1].received]
    assert 6 in ops and 2 not in ops  # RESUME, not a fresh IDENTIFY
    assert emulator.intents is not None and emulator.intents & (1 << 1)


@pytest.mark.parametrize("compress", ["zlib-stream", None])
async def test_raw_gateway_compression_modes(emulator: DiscordEmulator, compress: str | None) -> None:
    url = emulator.gateway_url + "?v=10&encoding=json" + (f"&compress={compress}" if compress else "")
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        msg = await ws.receive(timeout=2)
        if compress:
            assert msg.type is aiohttp.WSMsgType.BINARY and msg.data.endswith(b"\x00\x00\xff\xff")
            inflator = zlib.decompressobj()
            hello = json.loads(inflator.decompress(msg.data))
        else:
            assert msg.type is aiohttp.WSMsgType.TEXT
            hello = json.loads(msg.data)
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 41250
        await ws.send_json({"op": 1, "d": None})
        ack = await ws.receive(timeout=2)
        data = inflator.decompress(ack.data) if compress else ack.data
        assert json.loads(data)["op"] == 11


# --------------------------------------------------------------------------------------------
# Commands and interactions
# --------------------------------------------------------------------------------------------


async def test_sync_slash_command_defer_then_followup(emulator: DiscordEmulator) -> None:
    client, tree = make_client()
    seen: dict[str, Any] = {}

    @tree.command(name="ask", description="Ask a question")
    async def ask(interaction: discord.Interaction, question: str, detailed: bool = False, top_k: int = 3) -> None:
        seen.update(question=question, detailed=detailed, top_k=top_k, perms=interaction.permissions.manage_guild)
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(f"Answer to {question}")

    async with run_client(client, emulator.bot_token):
        synced = await tree.sync()
        assert [c.name for c in synced] == ["ask"]
        assert emulator.requests_to("PUT", rf"^/applications/{emulator.application_id}/commands$")
        assert emulator.commands()[0]["options"][0]["name"] == "question"

        ix = await emulator.send_slash_command(
            "ask", {"question": "why?", "detailed": True, "top_k": 5}, permissions=MANAGE_GUILD
        )
        assert (await ix.wait_response(5))["type"] == 5
        final = await ix.wait_final(5)

    assert final["content"] == "Answer to why?"
    assert final["id"] == str(ix.original_message_id)  # the follow-up filled the "thinking" message
    assert seen == {"question": "why?", "detailed": True, "top_k": 5, "perms": True}
    assert ix.ack_latency is not None and ix.ack_latency < 1.0
    assert emulator.ack_latencies() == [ix.ack_latency]
    assert emulator.unsafe_mentions() == []
    assert emulator.violations == [] and emulator.unknown_routes == []


async def test_guild_command_dm_and_permissions(emulator: DiscordEmulator) -> None:
    client, tree = make_client(allowed_mentions=None)
    guild = discord.Object(emulator.guild_id)
    seen: list[tuple[bool, bool]] = []

    @tree.command(name="admin", description="Admins only", guild=guild)
    async def admin(interaction: discord.Interaction) -> None:
        seen.append((interaction.guild is not None, interaction.permissions.manage_guild))
        await interaction.response.send_message("ok <@123>", ephemeral=True)

    @tree.command(name="ping", description="Ping")
    async def ping(interaction: discord.Interaction) -> None:
        seen.append((interaction.guild is not None, isinstance(interaction.channel, discord.DMChannel)))
        await interaction.response.send_message("pong")

    async with run_client(client, emulator.bot_token):
        await tree.sync(guild=guild)
        await tree.sync()
        ix = await emulator.send_slash_command("admin", permissions=0)
        final = await ix.wait_final(5)
        assert ix.ephemeral and final["content"] == "ok <@123>"
        dm_ix = await emulator.send_slash_command("ping", dm=True)
        assert (await dm_ix.wait_final(5))["content"] == "pong"

    assert seen == [(True, False), (False, True)]
    assert emulator.commands(emulator.guild_id)[0]["guild_id"] == str(emulator.guild_id)
    # No allowed_mentions configured anywhere: both responses count as unsafe.
    assert len(emulator.unsafe_mentions()) == 2


async def test_late_response_and_double_ack(emulator_factory: Factory) -> None:
    emu = await emulator_factory(ack_deadline=0.2)
    client, tree = make_client()
    errors: list[int] = []

    @tree.command(name="slow", description="Too slow")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.35)
        try:
            await interaction.response.send_message("late")
        except discord.NotFound as exc:
            errors.append(exc.code)

    @tree.command(name="twice", description="Responds twice")
    async def twice(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        # Bypass discord.py's own guard to hit the API a second time.
        interaction.response._response_type = None
        try:
            await interaction.response.send_message("again")
        except discord.HTTPException as exc:
            errors.append(exc.code)

    async with run_client(client, emu.bot_token):
        slow_ix = await emu.send_slash_command("slow")
        await emu.wait_until(lambda: errors, timeout=3)
        twice_ix = await emu.send_slash_command("twice")
        await emu.wait_until(lambda: len(errors) == 2, timeout=3)

    assert errors == [10062, 40060]
    assert slow_ix.response is None and slow_ix.ack_latency is None
    assert twice_ix.response_type == 5
    assert [d for _, d in emu.violations] == [
        "Unknown interaction",
        "Interaction has already been acknowledged.",
    ]


async def test_attachment_option_downloads_from_cdn(emulator: DiscordEmulator) -> None:
    client, tree = make_client()

    @tree.command(name="upload", description="Upload a file")
    async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
        data = await file.read()
        await interaction.response.send_message(f"{file.filename}: {len(data)} bytes, {data[:5].decode()}")

    att = emulator.add_attachment("notes.txt", b"hello world", "text/plain")
    async with run_client(client, emulator.bot_token):
        ix = await emulator.send_slash_command("upload", {"file": att})
        final = await ix.wait_final(5)
    assert final["content"] == "notes.txt: 11 bytes, hello"
    assert ix.payload["data"]["resolved"]["attachments"][att["id"]]["filename"] == "notes.txt"


async def test_autocomplete(emulator: DiscordEmulator) -> None:
    client, tree = make_client()

    @tree.command(name="search", description="Search")
    async def search(interaction: discord.Interaction, topic: str) -> None:
        await interaction.response.send_message(topic)

    @search.autocomplete("topic")
    async def topic_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"{current} {i}", value=f"{current}{i}") for i in range(3)]

    async with run_client(client, emulator.bot_token):
        ix = await emulator.send_autocomplete("search", {"topic": "cat"}, focused="topic")
        final = await ix.wait_final(5)
    assert ix.response_type == 8
    assert [c["name"] for c in final["choices"]] == ["cat 0", "cat 1", "cat 2"]


async def test_message_context_menu(emulator: DiscordEmulator) -> None:
    client, tree = make_client()

    @tree.context_menu(name="Cite this")
    async def cite(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(f"citing {message.author.name}: {message.content}", ephemeral=True)

    async with run_client(client, emulator.bot_token):
        await tree.sync()
        target = await emulator.send_message("the sky is blue")
        ix = await emulator.send_message_command("Cite this", int(target["id"]))
        final = await ix.wait_final(5)
    assert emulator.commands()[0]["type"] == 3
    assert final["content"] == "citing alice: the sky is blue"
    assert final["interaction_metadata"]["id"] == str(ix.id)


async def test_button_click_updates_message(emulator: DiscordEmulator) -> None:
    client, _ = make_client()
    clicks: list[int] = []

    class Feedback(discord.ui.View):
        @discord.ui.button(label="Helpful", custom_id="fb:up")
        async def up(self, interaction: discord.Interaction, button: discord.ui.Button[Feedback]) -> None:
            clicks.append(interaction.user.id)
            await interaction.response.edit_message(content="Thanks!", view=None)

    async with run_client(client, emulator.bot_token):
        channel = client.get_channel(emulator.channel_id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("Was this helpful?", view=Feedback(timeout=None))
        stored = emulator.get_message(sent.id)
        assert stored is not None and stored["components"][0]["components"][0]["custom_id"] == "fb:up"
        ix = await emulator.click_button(sent.id, "fb:up")
        final = await ix.wait_final(5)

    assert ix.response_type == 7
    assert clicks == [int(emulator.user["id"])]
    assert final["content"] == "Thanks!" and final["components"] == []
    assert emulator.channel_messages(emulator.channel_id)[-1]["content"] == "Thanks!"


async def test_modal_submit(emulator: DiscordEmulator) -> None:
    client, tree = make_client()
    answers: list[str] = []

    class Report(discord.ui.Modal, title="Report"):
        reason: discord.ui.TextInput[Report] = discord.ui.TextInput(label="Reason", custom_id="reason")

        async def on_submit(self, interaction: discord.Interaction) -> None:
            answers.append(self.reason.value)
            await interaction.response.send_message("reported", ephemeral=True)

    @tree.command(name="report", description="Report")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Report(custom_id="report-modal"))

    async with run_client(client, emulator.bot_token):
        ix = await emulator.send_slash_command("report")
        modal = await ix.wait_final(5)
        assert ix.response_type == 9 and modal["custom_id"] == "report-modal"
        submit = await emulator.submit_modal("report-modal", {"reason": "spam"})
        assert (await submit.wait_final(5))["content"] == "reported"
    assert answers == ["spam"]


async def test_token_expiry(emulator_factory: Factory) -> None:
    emu = await emulator_factory(token_lifetime=0.2)
    client, tree = make_client()
    codes: list[int] = []

    @tree.command(name="long", description="Takes forever")
    async def long(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await asyncio.sleep(0.3)
        try:
            await interaction.followup.send("too late")
        except discord.HTTPException as exc:
            codes.append(exc.code)

    async with run_client(client, emu.bot_token):
        await emu.send_slash_command("long")
        await emu.wait_until(lambda: codes, timeout=3)
    assert codes == [50027]


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


async def test_message_content_intent_and_mention_reply(emulator: DiscordEmulator) -> None:
    client, _ = make_client(message_content=False, allowed_mentions=None)
    received: list[str] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author == client.user:
            return
        received.append(message.content)
        if client.user in message.mentions:
            await message.channel.typing()
            reply = await message.reply("Here you go", mention_author=False, allowed_mentions=NO_MENTIONS)
            await reply.add_reaction("✅")

    async with run_client(client, emulator.bot_token):
        await emulator.send_message("not for the bot")
        asked = await emulator.send_message(f"<@{emulator.bot_user['id']}> what is up?")
        reply = await emulator.wait_for_bot_message(emulator.channel_id)
        await emulator.wait_until(lambda: emulator.reactions, timeout=3)
        dm = await emulator.send_message("hello in private", dm=True)
        alice = await client.fetch_user(int(emulator.user["id"]))
        sent_dm = await alice.send("a private answer")

        await emulator.wait_until(lambda: len(received) == 3, timeout=3)
        history = [m async for m in client.get_channel(emulator.channel_id).history(limit=10)]  # type: ignore[union-attr]

    assert received == ["", f"<@{emulator.bot_user['id']}> what is up?", "hello in private"]
    assert reply["message_reference"]["message_id"] == asked["id"] and reply["type"] == 19
    assert emulator.outgoing("message_create")[0].allowed_mentions == {"parse": [], "replied_user": False}
    # The DM was sent without allowed_mentions (none on the client either), so it is flagged.
    assert [o.payload["content"] for o in emulator.unsafe_mentions()] == ["a private answer"]
    assert emulator.reactions == [(emulator.channel_id, int(reply["id"]), "✅", emulator.application_id)]
    assert emulator.typing and emulator.typing[0][0] == emulator.channel_id
    assert "guild_id" not in dm
    assert str(sent_dm.channel.id) == dm["channel_id"]  # POST /users/@me/channels reuses the DM channel
    assert emulator.channels[sent_dm.channel.id]["type"] == 1
    # REST history is newest first and applies the same MESSAGE_CONTENT rules.
    assert [m.content for m in history] == ["Here you go", f"<@{emulator.bot_user['id']}> what is up?", ""]


async def test_validator_rejects_long_embed(emulator: DiscordEmulator) -> None:
    client, _ = make_client()
    async with run_client(client, emulator.bot_token):
        channel = client.get_channel(emulator.channel_id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as exc_info:
            await channel.send(embed=discord.Embed(description="x" * 4097))
        assert exc_info.value.status == 400 and exc_info.value.code == 50035
        ok = await channel.send(embed=discord.Embed(title="t", description="x" * 4096))
        assert message_text(emulator.get_message(ok.id) or {}).startswith("t\nx")
        # multipart/form-data with payload_json + files is parsed, and the upload is served by the CDN
        with_file = await channel.send("see attached", file=discord.File(io.BytesIO(b"abc"), filename="a.txt"))
        assert with_file.attachments[0].filename == "a.txt"
        assert await with_file.attachments[0].read() == b"abc"

    assert emulator.violations == [
        (
            "POST /channels/{channel_id}/messages",
            "Invalid Form Body — embeds.0.description: Must be 4096 or fewer in length.",
        )
    ]
    assert [m["id"] for m in emulator.channel_messages(emulator.channel_id)] == [str(ok.id), str(with_file.id)]
    assert emulator.outgoing("message_create")[-1].files == ["a.txt"]


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ({"content": "x" * 2001}, 50035, "content"),
        ({}, 50006, "empty"),
        ({"content": "   "}, 50006, "empty"),
        ({"embeds": [{"title": "t"}] * 11}, 50035, "embeds"),
        ({"embeds": [{"description": "x" * 4000}, {"description": "y" * 2001}]}, 50035, "6000"),
        ({"embeds": [{"fields": [{"name": "", "value": "v"}]}]}, 50035, "fields.0.name"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}, 50035, "fields.0.value"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, 50035, "fields"),
        ({"embeds": [{"footer": {"text": "f" * 2049}, "author": {"name": "a" * 257}}]}, 50035, "author.name"),
        (
            {
                "components": [
                    {
                        "type": 1,
                        "components": [{"type": 2, "style": 1, "custom_id": f"b{i}", "label": "b"} for i in range(6)],
                    }
                ]
            },
            50035,
            "5 or fewer",
        ),
        (
            {
                "components": [{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "same", "label": "b"}]}]
                * 2
            },
            50035,
            "duplicated",
        ),
        ({"components": [{"type": 1, "components": [{"type": 2, "style": 5, "label": "l"}]}]}, 50035, "url"),
        (
            {
                "components": [
                    {"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "c" * 101, "label": "l"}]}
                ]
            },
            50035,
            "custom_id",
        ),
        (
            {"components": [{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "c", "label": "l" * 81}]}]},
            50035,
            "label",
        ),
        (
            {
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {
                                "type": 3,
                                "custom_id": "s",
                                "options": [{"label": "o", "value": str(i)} for i in range(26)],
                            }
                        ],
                    }
                ]
            },
            50035,
            "options",
        ),
        ({"components": [{"type": 1, "components": []}] * 6}, 50035, "components"),
    ],
)
async def test_message_limits(emulator: DiscordEmulator, body: dict[str, Any], code: int, fragment: str) -> None:
    status, data = await raw(emulator, "POST", f"/channels/{emulator.channel_id}/messages", body)
    assert status == 400 and data["code"] == code
    assert len(emulator.violations) == 1 and fragment in emulator.violations[0][1]
    assert emulator.channel_messages(emulator.channel_id) == []


async def test_command_and_callback_validation(emulator: DiscordEmulator) -> None:
    app = emulator.application_id
    bad_commands = [
        [{"name": "Ask", "description": "x", "type": 1}],
        [{"name": "ask", "description": "", "type": 1}],
        [{"name": "ask", "description": "x" * 101, "type": 1}],
        [{"name": "has space", "description": "x", "type": 1}],
        [
            {
                "name": "ask",
                "description": "d",
                "options": [{"type": 3, "name": f"o{i}", "description": "d"} for i in range(26)],
            }
        ],
        [
            {
                "name": "ask",
                "description": "d",
                "options": [
                    {
                        "type": 3,
                        "name": "o",
                        "description": "d",
                        "choices": [{"name": str(i), "value": str(i)} for i in range(26)],
                    }
                ],
            }
        ],
        [{"name": "x" * 33, "type": 3}],
    ]
    for body in bad_commands:
        status, data = await raw(emulator, "PUT", f"/applications/{app}/commands", body)
        assert (status, data["code"]) == (400, 50035), body
    status, data = await raw(emulator, "PUT", f"/applications/{app}/commands", [{"name": "Cite This!", "type": 3}])
    assert status == 200 and data[0]["id"]
    assert len(emulator.violations) == len(bad_commands)

    # Autocomplete results are capped at 25 choices with names of 1-100 characters.
    ix = await emulator.send_autocomplete("ask", {"q": "a"}, focused="q")
    too_many = {"type": 8, "data": {"choices": [{"name": str(i), "value": str(i)} for i in range(26)]}}
    status, _ = await raw(emulator, "POST", f"/interactions/{ix.id}/{ix.token}/callback", too_many)
    assert status == 400
    # A deferral may carry only the EPHEMERAL flag.
    ix2 = await emulator.send_slash_command("ask")
    status, _ = await raw(
        emulator, "POST", f"/interactions/{ix2.id}/{ix2.token}/callback", {"type": 5, "data": {"flags": 4}}
    )
    assert status == 400 and ix2.response is None
    status, data = await raw(
        emulator,
        "POST",
        f"/interactions/{ix2.id}/{ix2.token}/callback?with_response=true",
        {"type": 5, "data": {"flags": 64}},
    )
    assert status == 200 and data["interaction"]["response_message_loading"] is True
    assert data["resource"]["message"]["flags"] & 64


async def test_threads(emulator: DiscordEmulator) -> None:
    client, _ = make_client()
    async with run_client(client, emulator.bot_token):
        channel = client.get_channel(emulator.channel_id)
        assert isinstance(channel, discord.TextChannel)
        question = await emulator.send_message("long discussion")
        msg = await channel.fetch_message(int(question["id"]))
        thread = await msg.create_thread(name="Discussion")
        assert thread.id == msg.id and thread.parent_id == channel.id
        await thread.send("in the thread")
        await emulator.wait_until(lambda: client.get_channel(thread.id), timeout=3)
        standalone = await channel.create_thread(name="Side topic", type=discord.ChannelType.public_thread)
        with pytest.raises(discord.HTTPException) as exc_info:
            await channel.create_thread(name="n" * 101, type=discord.ChannelType.public_thread)
        assert exc_info.value.code == 50035

    assert [t["name"] for t in emulator.threads] == ["Discussion", "Side topic"]
    assert emulator.threads[1]["type"] == 11 and standalone.parent_id == emulator.channel_id
    assert [m["content"] for m in emulator.channel_messages(thread.id)] == ["in the thread"]
    assert [e["t"] for e in emulator.dispatched].count("THREAD_CREATE") == 2


async def test_rate_limit_is_waited_out(emulator: DiscordEmulator) -> None:
    injection = emulator.inject_rate_limit("POST", r"^/channels/\d+/messages$", times=2, retry_after=0.25)
    client, _ = make_client()
    async with run_client(client, emulator.bot_token):
        channel = client.get_channel(emulator.channel_id)
        assert isinstance(channel, discord.TextChannel)
        await channel.send("eventually")
    assert injection.hits == 2 and len(injection.attempts) == 3
    assert all(gap >= 0.2 for gap in injection.gaps())
    assert [m["content"] for m in emulator.channel_messages(emulator.channel_id)] == ["eventually"]


async def test_unknown_routes_are_recorded(emulator: DiscordEmulator) -> None:
    status, data = await raw(emulator, "GET", "/nope/123")
    assert status == 404 and data == {"message": "404: Not Found", "code": 0}
    assert emulator.unknown_routes == [("GET", "/nope/123")]


# --------------------------------------------------------------------------------------------
# Sharding
# --------------------------------------------------------------------------------------------


class QuickShardedClient(discord.AutoShardedClient):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before each further shard's IDENTIFY (Discord's limit); not here."""


def record_events(client: discord.Client) -> dict[str, list[int | None]]:
    """The guild of every message and interaction ``client`` receives (None: a DM)."""
    seen: dict[str, list[int | None]] = {"messages": [], "interactions": []}

    async def on_message(message: discord.Message) -> None:
        seen["messages"].append(message.guild.id if message.guild else None)

    async def on_interaction(interaction: discord.Interaction) -> None:
        seen["interactions"].append(interaction.guild_id)

    client.event(on_message)
    client.event(on_interaction)
    return seen


async def test_each_shard_session_gets_only_its_guilds_events(emulator: DiscordEmulator) -> None:
    first = emulator.add_guild("shard zero", shard=(0, 2))
    second = emulator.add_guild("shard one", shard=(1, 2))
    g0, g1 = int(first["id"]), int(second["id"])
    assert ((g0 >> 22) % 2, (g1 >> 22) % 2) == (0, 1)
    clients = [
        discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05, shard_id=i, shard_count=2)
        for i in (0, 1)
    ]
    unsharded = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)
    seen = [record_events(c) for c in (*clients, unsharded)]
    async with (
        run_client(clients[0], emulator.bot_token),
        run_client(clients[1], emulator.bot_token),
        run_client(unsharded, emulator.bot_token),
    ):
        assert sorted(emulator.session_shards()) == [(0, 1), (0, 2), (1, 2)]
        assert g0 in {g.id for g in clients[0].guilds} and g1 not in {g.id for g in clients[0].guilds}
        assert g1 in {g.id for g in clients[1].guilds} and g0 not in {g.id for g in clients[1].guilds}
        assert {g0, g1, emulator.guild_id} <= {g.id for g in unsharded.guilds}  # unsharded: everything
        for guild in (first, second):
            await emulator.send_message("hello", channel_id=int(guild["channels"][0]["id"]))
            await emulator.send_slash_command("ask", {"question": "q"}, guild_id=int(guild["id"]),
                                              channel_id=int(guild["channels"][0]["id"]))  # fmt: skip
        await emulator.send_message("a DM", dm=True)
        await emulator.wait_until(lambda: len(seen[2]["messages"]) == 3 and len(seen[2]["interactions"]) == 2)
        await emulator.wait_until(lambda: len(seen[0]["messages"]) == 2 and seen[1]["interactions"])
    assert seen[0] == {"messages": [g0, None], "interactions": [g0]}  # DMs go to shard 0, as on Discord
    assert seen[1] == {"messages": [g1], "interactions": [g1]}
    assert seen[2] == {"messages": [g0, g1, None], "interactions": [g0, g1]}
    readies = [e["d"] for e in emulator.dispatched if e["t"] == "READY" and e["d"]["shard"] == [1, 2]]
    ready_guilds = [{int(g["id"]) for g in ready["guilds"]} for ready in readies]
    assert ready_guilds and all((gid >> 22) % 2 == 1 for gid in ready_guilds[0])


async def test_gateway_bot_recommends_the_shard_count_auto_sharding_uses(emulator_factory: Factory) -> None:
    emulator = await emulator_factory(recommended_shards=2)
    status, body = await raw(emulator, "GET", "/gateway/bot")
    assert status == 200 and body["shards"] == 2
    guilds = [int(emulator.add_guild(f"g{i}", shard=(i, 2))["id"]) for i in (0, 1)]
    client = QuickShardedClient(intents=discord.Intents.default(), guild_ready_timeout=0.05)
    async with run_client(client, emulator.bot_token):
        assert client.shard_count == 2 and sorted(client.shards) == [0, 1]
        assert sorted(emulator.session_shards()) == [(0, 2), (1, 2)]
        assert set(guilds) <= {g.id for g in client.guilds}
        assert {client.get_guild(g).shard_id for g in guilds} == {0, 1}  # type: ignore[union-attr]
    assert emulator.violations == []


@pytest.mark.parametrize("shard", [[2, 2], [0, 0], [-1, 2], [0], "0,1"])
async def test_an_impossible_shard_is_refused_with_4010(emulator: DiscordEmulator, shard: Any) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(emulator.gateway_url + "?v=10") as ws:
        assert json.loads((await ws.receive(timeout=2)).data)["op"] == 10
        await ws.send_json({"op": 2, "d": {"token": emulator.bot_token, "intents": 0, "shard": shard}})
        msg = await ws.receive(timeout=2)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4010
    assert emulator.session_shards() == [] and emulator.violations


# --------------------------------------------------------------------------------------------
# Issue 13: forums, role and channel options, who a message pings, upload limits, modal fields
# --------------------------------------------------------------------------------------------


async def test_a_forum_post_is_a_thread_whose_starter_message_has_its_id(emulator: DiscordEmulator) -> None:
    forum = emulator.add_channel(emulator.guild_id, "questions", type=GUILD_FORUM)
    client, _ = make_client(message_content=True)
    seen: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.id != client.user.id:  # type: ignore[union-attr]
            seen.append(message)
            await message.reply("answered here", mention_author=False)

    async with run_client(client, emulator.bot_token):
        assert isinstance(client.get_channel(int(forum["id"])), discord.ForumChannel)
        thread, starter = await emulator.create_forum_post(int(forum["id"]), "Is the dam open?", "Asking for a friend")
        reply = await emulator.wait_for_bot_message(channel_id=int(thread["id"]), timeout=5)
        post = seen[0].channel
        assert isinstance(post, discord.Thread) and isinstance(post.parent, discord.ForumChannel)
        assert post.id == seen[0].id == int(starter["id"]) and post.name == "Is the dam open?"
        assert post.owner_id == int(emulator.user["id"])
    assert reply["message_reference"]["message_id"] == starter["id"] and reply["content"] == "answered here"
    with pytest.raises(ValueError, match="not a forum"):
        await emulator.create_forum_post(emulator.channel_id, "t", "c")


async def test_role_and_channel_options_are_resolved(emulator: DiscordEmulator) -> None:
    role = emulator.add_role(emulator.guild_id, "support", 0)
    channel = emulator.add_channel(emulator.guild_id, "help-desk")
    client, tree = make_client()
    got: list[tuple[Any, Any]] = []

    @tree.command(name="route", description="Route")
    async def route(interaction: discord.Interaction, who: discord.Role, where: discord.TextChannel) -> None:
        got.append((who, where))
        await interaction.response.send_message("ok", ephemeral=True)

    async with run_client(client, emulator.bot_token):
        await tree.sync()
        ix = await emulator.send_slash_command("route", {"who": role, "where": channel})
        assert (await ix.wait_final(5))["content"] == "ok"
    [(who, where)] = got
    assert (who.id, who.name, where.id, where.name) == (int(role["id"]), "support", int(channel["id"]), "help-desk")
    assert ix.payload["data"]["resolved"]["roles"][role["id"]]["name"] == "support"


@pytest.mark.parametrize("mentionable", [True, False])
async def test_pings_follow_allowed_mentions_and_role_mentionability(
    emulator: DiscordEmulator, mentionable: bool
) -> None:
    support = emulator.add_role(emulator.guild_id, "support", 0)
    other = emulator.add_role(emulator.guild_id, "other", 0)
    support["mentionable"] = other["mentionable"] = mentionable
    user = emulator.user
    text = f"<@&{support['id']}> <@&{other['id']}> <@{user['id']}> @everyone"
    client, _ = make_client()
    async with run_client(client, emulator.bot_token):
        channel = client.get_channel(emulator.channel_id)
        assert isinstance(channel, discord.TextChannel)
        quiet = await channel.send(text)  # the client's default: AllowedMentions.none()
        only_support = await channel.send(
            text,
            allowed_mentions=discord.AllowedMentions(
                everyone=False, users=False, roles=[discord.Object(int(support["id"]))], replied_user=False
            ),
        )
        default = await channel.send(text, allowed_mentions=discord.AllowedMentions.all())
    assert emulator.pings(quiet.id) == {"users": [], "roles": [], "everyone": False}
    [wire] = [o.allowed_mentions for o in emulator.outgoing("message_create") if o.message_id == only_support.id]
    assert wire is not None and wire["parse"] == [] and [str(r) for r in wire["roles"]] == [support["id"]]
    assert emulator.pings(only_support.id) == {
        "users": [],
        "roles": [support["id"]] if mentionable else [],
        "everyone": False,
    }
    # The bot lacks Mention Everyone: @everyone never pings, roles only when mentionable.
    everything = emulator.pings(default.id)
    assert everything["users"] == [user["id"]] and everything["everyone"] is False
    assert everything["roles"] == ([support["id"], other["id"]] if mentionable else [])


async def test_user_messages_carry_their_role_mentions(emulator: DiscordEmulator) -> None:
    role = emulator.add_role(emulator.guild_id, "news", 0)
    msg = await emulator.send_message(f"hey <@&{role['id']}> and <@&999>")
    assert msg["mention_roles"] == [role["id"]]


async def test_uploads_over_the_limit_are_refused(emulator: DiscordEmulator) -> None:
    client, tree = make_client()

    @tree.command(name="chart", description="Chart")
    async def chart(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.edit_original_response(
            embed=discord.Embed(title="c").set_image(url="attachment://c.png"),
            attachments=[discord.File(io.BytesIO(b"\x89PNG small"), filename="c.png")],
        )

    async with run_client(client, emulator.bot_token):
        await tree.sync()
        ix = await emulator.send_slash_command("chart")
        final = await ix.wait_final(5)
        channel = client.get_channel(emulator.channel_id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as too_big:
            await channel.send(file=discord.File(io.BytesIO(b"x" * (10 * 1024 * 1024 + 1)), filename="big.bin"))
        with pytest.raises(discord.HTTPException) as too_many:
            await channel.send(files=[discord.File(io.BytesIO(b"x"), filename=f"{i}.txt") for i in range(11)])
    assert [a["filename"] for a in final["attachments"]] == ["c.png"]
    assert final["embeds"][0]["image"]["url"] == "attachment://c.png"
    assert (too_big.value.status, too_big.value.code) == (413, 40005)
    assert (too_many.value.status, too_many.value.code) == (400, 50035)


async def test_modal_text_inputs_are_validated(emulator: DiscordEmulator) -> None:
    client, tree = make_client()

    @tree.command(name="bad", description="Bad modal")
    async def bad(interaction: discord.Interaction) -> None:
        modal = discord.ui.Modal(title="Report", custom_id="bad-modal")
        modal.add_item(discord.ui.TextInput(label="L" * 46, custom_id="reason", max_length=4000))
        with contextlib.suppress(discord.HTTPException):
            await interaction.response.send_modal(modal)

    async with run_client(client, emulator.bot_token):
        await tree.sync()
        ix = await emulator.send_slash_command("bad")
        await emulator.wait_until(lambda: emulator.violations or None, 5)
    assert ix.response is None
    assert any("label" in v[1] for v in emulator.violations)
