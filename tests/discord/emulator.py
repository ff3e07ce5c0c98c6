"""A local emulator of the subset of Discord's REST + gateway API that a discord.py bot uses.

Real discord.py talks to it over real HTTP and WebSocket connections; nothing inside
discord.py is mocked.  The emulator plays the part of Discord *and* of the humans using it:
tests inject user actions (messages, slash commands, button clicks...) and then assert on
what the bot sent back.

Quick start::

    emu = DiscordEmulator(heartbeat_interval_ms=1000)
    await emu.start()
    restore = point_discord_py_at(emu.base_url, emu.gateway_url)
    try:
        client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        task = asyncio.create_task(client.start(emu.bot_token))
        await client.wait_until_ready()
        ix = await emu.send_slash_command("ask", {"question": "why?"})
        reply = await ix.wait_final(timeout=5)       # the message the user ends up seeing
        assert "because" in reply["content"]
        assert emu.unknown_routes == [] and emu.violations == []
    finally:
        await client.close(); await task
        restore()
        await emu.stop()

Pointing discord.py at the emulator
-----------------------------------
``point_discord_py_at(base_url, gateway_url)`` sets ``discord.http.Route.BASE`` (used by the
bot's HTTP client *and* by interaction webhooks) and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``; it returns a function that restores both
(it is also usable as a context manager).  ``GET /gateway/bot`` answers with ``gateway_url``.

discord.py 2.7 connects to ``<gateway>?v=10&encoding=json&compress=zstd-stream`` when the
``zstandard`` package is importable (it is in this venv), else ``compress=zlib-stream``.
The emulator supports both plus uncompressed JSON text frames (no ``compress`` param).
discord.py 2.7 always calls ``POST /interactions/{id}/{token}/callback?with_response=1`` and
parses an InteractionCallbackResponse ``{"interaction": {...}, "resource": {...}}``.

World model
-----------
The emulator starts with one guild (``emu.guild_id``) holding a text channel
(``emu.channel_id``), an owner (``emu.owner``), a regular member (``emu.user``) and the bot
(``emu.bot_user``, application ``emu.application_id``).  Add more with ``add_user``,
``add_member``, ``add_role``, ``add_channel``, ``add_guild`` (guilds added after the bot is
connected are dispatched as GUILD_CREATE).

Injecting user actions (all async, all dispatch over the gateway)
-----------------------------------------------------------------
* ``send_message(content, author=..., channel_id=..., dm=..., mentions=..., message_reference=...,
  attachments=...)`` -> message dict (MESSAGE_CREATE, MESSAGE_CONTENT intent semantics applied).
* ``send_slash_command(name, options, ...)`` -> :class:`InteractionHandle` (type 2, chat input;
  options dict values: str/bool/int/float/attachment dict; or raw option dicts; ``subcommand=``).
* ``send_autocomplete(name, options, focused=...)`` -> handle (type 4).
* ``click_button(message_id, custom_id)`` / ``select_values(message_id, custom_id, values)``
  -> handle (type 3, with the full message the component is on).
* ``send_message_command(name, target_message_id)`` -> handle (type 2, data.type 3).
* ``send_user_command(name, target_user)`` -> handle (type 2, data.type 2).
* ``submit_modal(custom_id, values)`` -> handle (type 5).
* ``create_forum_post(forum_id, title, content, author=...)`` -> (thread, starter message): a member
  opens a post in a forum channel (``add_channel(gid, name, type=GUILD_FORUM)``): THREAD_CREATE,
  then the starter message (its id is the thread's) as MESSAGE_CREATE in the thread.
Slash-command option values: str/bool/int/float, an attachment dict (``add_attachment``), a role
dict (``add_role``) or a channel dict (``add_channel``); roles and channels go into ``resolved``.
All accept ``user=``, ``channel_id=``, ``guild_id=``, ``dm=``, ``permissions=`` (member permission
bits, e.g. with/without ``MANAGE_GUILD``), ``locale=``.

Interaction handles
-------------------
``await ix.wait_response(timeout)`` -> the initial callback ``{"type": t, "data": {...}}``.
``await ix.wait_final(timeout)`` -> what the user finally sees: the message of a type-4/7
response, the first edit of @original or first follow-up after a type-5/6 deferral, or the
callback data of type 8 (autocomplete) / 9 (modal).  ``ix.original`` (current state),
``ix.followups``, ``ix.edits``, ``ix.ack_latency``, ``ix.ephemeral``, ``ix.text()``.

Inspecting what happened
------------------------
``requests`` (every REST call, :class:`RecordedRequest`), ``unknown_routes``, ``violations``
(``(route, description)``), ``outgoing()`` (every message-bearing payload the bot sent,
:class:`Outgoing`), ``unsafe_mentions()``, ``channel_messages(cid)`` (final state after edits),
``bot_messages()``, ``get_message(id)``, ``interactions`` / ``interaction(id)``,
``ack_latencies()``, ``commands(guild_id=None)``, ``reactions``, ``typing``, ``threads``,
``heartbeats`` / ``max_heartbeat_gap()``, ``identify_payload`` / ``intents``,
``gateway_connections``, ``dispatched`` (all gateway events sent).
``iter_messages()``, ``requests_to(method, path_regex)``, ``member_permissions(gid, uid)``.
Waiting: ``wait_for_bot_message(channel_id=..., predicate=..., timeout=...)``,
``wait_until(condition, timeout)``, ``wait_identified(timeout)``.
``message_text(msg)`` renders everything a user reads in a message (content, embeds, labels).
``pings(message)``: who a stored message actually notified (users, roles, @everyone), from its
content and ``allowed_mentions`` as Discord applies them: no ``allowed_mentions`` means the
defaults (messages parse users, roles and @everyone; interaction responses and webhooks only
users), and a role is pinged only when it is mentionable or the bot has Mention Everyone.

Running a client
----------------
``async with run_client(client, emu.bot_token): ...`` starts a discord.py client, waits for
READY and closes it cleanly.  Create clients with ``guild_ready_timeout=0.05``: discord.py
otherwise waits 2 s after the last GUILD_CREATE before ``on_ready``.  ``await emu.disconnect(4000)``
drops the gateway connection; discord.py reconnects and RESUMEs (missed events are replayed).

Pytest fixtures (``tests/discord/conftest.py``): ``emulator`` (started, discord.py pointed at
it, stopped and restored at teardown) and ``emulator_factory`` (``await emulator_factory(**kwargs)``
for non-default settings such as ``heartbeat_interval_ms`` or ``ack_deadline``).

Sharding
--------
A client that IDENTIFYs with ``shard: [id, count]`` gets only the guilds of its shard (READY,
GUILD_CREATE) and only their events (INTERACTION_CREATE, MESSAGE_CREATE, ...): a guild belongs to
shard ``(guild_id >> 22) % count``, and DMs to shard 0, as on Discord. Clients without ``shard``
(or with ``[0, 1]``) get everything, as before.  ``recommended_shards=N`` is what ``GET /gateway/bot``
answers; ``add_guild(..., shard=(id, count))`` picks a guild id in that shard; ``session_shards()``
lists the connected sessions' shards, ``events_by_shard(event)`` which shard got what.  An IDENTIFY
with an impossible shard is closed with 4010.

Failure injection
-----------------
``inject_rate_limit(method, path_regex, times=1, retry_after=0.3)`` -> :class:`RateLimitInjection`
(429 with ``Retry-After``/``X-RateLimit-*``/``Via`` headers; ``.attempts`` holds the times of every
matching request).  ``ack_deadline`` (default 3.0 s) and ``token_lifetime`` (900 s) are attributes.
Attachments: ``add_attachment(filename, data, content_type)`` -> attachment dict served by the
emulator's CDN (``Attachment.read()`` works). Uploads (messages, interaction responses, edits,
follow-ups) over ``ATTACHMENT_SIZE_LIMIT`` in total are refused with 413 / 40005, more than
``MAX_ATTACHMENTS`` files with 400, as Discord does.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import itertools
import json
import re
import secrets
import socket
import time
import urllib.parse
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import BodyPartReader, WSMsgType, web

try:  # discord.py prefers zstd-stream when zstandard is importable; mirror that capability.
    import zstandard
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_EVERYONE_PERMISSIONS",
    "GUILD_FORUM",
    "MANAGE_GUILD",
    "ApiError",
    "DiscordEmulator",
    "InteractionHandle",
    "Outgoing",
    "RateLimitInjection",
    "RecordedRequest",
    "message_text",
    "point_discord_py_at",
    "run_client",
]

T = TypeVar("T")
JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1420070400000
API_PREFIX = "/api/v10"

# Permission bits (https://discord.com/developers/docs/topics/permissions)
ADD_REACTIONS = 1 << 6
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1
DEFAULT_EVERYONE_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)

INTENT_GUILD_MEMBERS = 1 << 1
INTENT_MESSAGE_CONTENT = 1 << 15

EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Channel types
GUILD_TEXT, DM, ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD = 0, 1, 10, 11, 12
GUILD_FORUM = 15
MENTION_EVERYONE = 1 << 17
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024  # per upload request, as interactions' attachment_size_limit says
MAX_ATTACHMENTS = 10
ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")
THREAD_TYPES = (ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD)

COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")
USER_MENTION_RE = re.compile(r"<@!?(\d+)>")


# --------------------------------------------------------------------------------------------
# Pointing discord.py at the emulator
# --------------------------------------------------------------------------------------------


class _Restore:
    """Callable that undoes :func:`point_discord_py_at`; also a context manager."""

    def __init__(self, base: str, gateway: Any) -> None:
        self._base = base
        self._gateway = gateway

    def __call__(self) -> None:
        import discord.gateway
        import discord.http

        discord.http.Route.BASE = self._base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._gateway

    def __enter__(self) -> _Restore:
        return self

    def __exit__(self, *exc: object) -> None:
        self()


def point_discord_py_at(base_url: str, gateway_url: str) -> _Restore:
    """Make every discord.py client in this process use the given REST base and gateway.

    ``Route.BASE`` is shared by ``HTTPClient`` and the interaction webhook adapter, so one
    assignment covers bot requests and interaction responses.  Returns a restore callable
    that is also a context manager.
    """
    import discord.gateway
    import discord.http
    import yarl

    restore = _Restore(discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    discord.http.Route.BASE = base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    return restore


@contextlib.asynccontextmanager
async def run_client(client: Any, token: str, *, ready_timeout: float = 10.0) -> AsyncIterator[Any]:
    """Start a discord.py client, wait for READY, yield it, and close it cleanly afterwards.

    Create the client with ``guild_ready_timeout=0.05`` (or similar): discord.py waits that
    long after the last GUILD_CREATE before dispatching ``on_ready`` (default 2 s).
    """
    task = asyncio.create_task(client.start(token))
    ready = asyncio.create_task(client.wait_until_ready())
    try:
        done, _ = await asyncio.wait({task, ready}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # re-raise the start() failure
            raise RuntimeError("client.start() returned before READY")
        if ready not in done:
            raise TimeoutError(f"client not ready after {ready_timeout}s")
        yield client
    finally:
        ready.cancel()
        await client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5.0)


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass
class UploadedFile:
    field_name: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    """One REST request as the emulator received it."""

    method: str
    path: str  # relative to /api/v10, e.g. "/channels/1/messages"
    query: dict[str, str]
    json: Any
    files: list[str]  # uploaded file names (multipart)
    at: float  # time.monotonic()
    route: str | None = None  # matched route template, None if unknown
    status: int = 0


@dataclass
class Outgoing:
    """A message-bearing payload the bot sent (message create/edit, interaction response...)."""

    kind: str  # message_create | message_edit | interaction_response | followup | webhook_edit
    route: str
    payload: JSON
    files: list[str]
    at: float
    channel_id: int | None = None
    message_id: int | None = None
    interaction_id: int | None = None

    @property
    def allowed_mentions(self) -> JSON | None:
        return self.payload.get("allowed_mentions")

    @property
    def has_visible_content(self) -> bool:
        return bool(self.payload.get("content") or self.payload.get("embeds"))


@dataclass
class RateLimitInjection:
    """A configured 429 injection; ``attempts`` records the time of every matching request."""

    method: str
    pattern: re.Pattern[str]
    times: int
    retry_after: float
    is_global: bool = False
    bucket: str = "emulatorbucket"
    attempts: list[float] = field(default_factory=list)
    hits: int = 0  # how many 429s were actually served

    def gaps(self) -> list[float]:
        """Seconds between consecutive matching requests."""
        return [b - a for a, b in itertools.pairwise(self.attempts)]


class ApiError(Exception):
    """Raised by handlers to answer like Discord does with an error."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: JSON | None = None,
        *,
        violation: bool = True,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.violation = violation

    def body(self) -> JSON:
        data: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


class _FormErrors:
    """Collects field errors and renders Discord's nested ``errors`` object."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []  # (dotted path, code, message)

    def add(self, path: str, code: str, message: str) -> None:
        self.items.append((path, code, message))

    def max_len(self, path: str, value: Any, limit: int, minimum: int = 0) -> None:
        if value is None:
            if minimum:
                self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
            return
        n = len(str(value))
        if n > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        elif n < minimum:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {minimum} and {limit} in length.")

    def __bool__(self) -> bool:
        return bool(self.items)

    def nested(self) -> JSON:
        root: JSON = {}
        for path, code, message in self.items:
            node = root
            for part in path.split(".") if path else []:
                node = node.setdefault(part, {})
            node.setdefault("_errors", []).append({"code": code, "message": message})
        return root

    def describe(self) -> list[str]:
        return [f"{path or '<root>'}: {message} ({code})" for path, code, message in self.items]

    def raise_if_any(self) -> None:
        if self.items:
            raise ApiError(400, 50035, "Invalid Form Body", self.nested())


# --------------------------------------------------------------------------------------------
# Validation of outgoing payloads against Discord's limits
# --------------------------------------------------------------------------------------------


def _embed_size(embed: JSON) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    for f in embed.get("fields") or []:
        total += len(f.get("name") or "") + len(f.get("value") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    return total


def validate_message_payload(payload: JSON, errors: _FormErrors) -> None:
    """Check content/embeds/components/allowed_mentions limits of a message payload."""
    errors.max_len("content", payload.get("content"), 2000)
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        errors.add("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    for i, embed in enumerate(embeds):
        p = f"embeds.{i}"
        errors.max_len(f"{p}.title", embed.get("title"), 256)
        errors.max_len(f"{p}.description", embed.get("description"), 4096)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.add(f"{p}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, f in enumerate(fields):
            errors.max_len(f"{p}.fields.{j}.name", f.get("name"), 256, 1)
            errors.max_len(f"{p}.fields.{j}.value", f.get("value"), 1024, 1)
        errors.max_len(f"{p}.footer.text", (embed.get("footer") or {}).get("text"), 2048)
        errors.max_len(f"{p}.author.name", (embed.get("author") or {}).get("name"), 256)
    if sum(_embed_size(e) for e in embeds) > 6000:
        errors.add("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    validate_components(payload.get("components"), errors)
    am = payload.get("allowed_mentions")
    if am:
        parse = am.get("parse") or []
        for kind in ("users", "roles"):
            if kind in parse and am.get(kind):
                errors.add(
                    f"allowed_mentions.{kind}",
                    "MUTUALLY_EXCLUSIVE",
                    f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
                )


def validate_components(components: list[JSON] | None, errors: _FormErrors) -> None:
    if not components:
        return
    if len(components) > 5:
        errors.add("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    seen: set[str] = set()
    for i, row in enumerate(components):
        p = f"components.{i}"
        if row.get("type") != 1:
            continue  # components v2 containers are out of scope
        children = row.get("components") or []
        if not children:
            errors.add(f"{p}.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        selects = [c for c in children if c.get("type") in (3, 5, 6, 7, 8)]
        if selects and len(children) > 1:
            errors.add(
                f"{p}.components",
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        if len(children) > 5:
            errors.add(f"{p}.components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        for j, comp in enumerate(children):
            cp = f"{p}.components.{j}"
            custom_id = comp.get("custom_id")
            if comp.get("type") == 2:
                errors.max_len(f"{cp}.label", comp.get("label"), 80)
                if comp.get("style") == 5:
                    if not comp.get("url"):
                        errors.add(f"{cp}.url", "BASE_TYPE_REQUIRED", "This field is required")
                    if custom_id is not None:
                        errors.add(f"{cp}.custom_id", "BUTTON_LINK_CUSTOM_ID", "A link button cannot have a custom_id")
                    continue
                if comp.get("style") == 6:  # premium button: sku_id, no custom_id
                    continue
                if comp.get("url"):
                    errors.add(f"{cp}.url", "BUTTON_NON_LINK_URL", "A non-link button cannot have a url")
            if comp.get("type") in (2, 3, 5, 6, 7, 8):
                if not custom_id:
                    errors.add(f"{cp}.custom_id", "BASE_TYPE_REQUIRED", "This field is required")
                else:
                    errors.max_len(f"{cp}.custom_id", custom_id, 100, 1)
                    if custom_id in seen:
                        errors.add(
                            f"{cp}.custom_id",
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        )
                    seen.add(custom_id)
            if comp.get("type") == 3:
                options = comp.get("options") or []
                if not 1 <= len(options) <= 25:
                    errors.add(f"{cp}.options", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
                for k, opt in enumerate(options):
                    errors.max_len(f"{cp}.options.{k}.label", opt.get("label"), 100, 1)
                    errors.max_len(f"{cp}.options.{k}.value", opt.get("value"), 100, 1)
                    errors.max_len(f"{cp}.options.{k}.description", opt.get("description"), 100)
            if comp.get("type") in (3, 5, 6, 7, 8):
                errors.max_len(f"{cp}.placeholder", comp.get("placeholder"), 150)


def _message_is_empty(msg: JSON) -> bool:
    return not (
        (msg.get("content") or "").strip()
        or msg.get("embeds")
        or msg.get("attachments")
        or msg.get("components")
        or msg.get("sticker_ids")
        or msg.get("poll")
    )


def validate_commands(commands: list[JSON], errors: _FormErrors) -> None:
    """Validate a bulk-overwrite body of application commands."""
    counts = {1: 0, 2: 0, 3: 0}
    names: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        ctype = cmd.get("type", 1)
        counts[ctype] = counts.get(ctype, 0) + 1
        name = cmd.get("name") or ""
        key = (ctype, name)
        if key in names:
            errors.add(
                f"{i}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME", f"Application command names must be unique: {name}"
            )
        names.add(key)
        if ctype == 1:
            _validate_chat_input_named(f"{i}", cmd, errors)
            _validate_options(f"{i}.options", cmd.get("options") or [], errors, depth=0)
        else:
            errors.max_len(f"{i}.name", name, 32, 1)
            if cmd.get("description"):
                errors.add(
                    f"{i}.description", "CONTEXT_MENU_DESCRIPTION", "Context menu commands cannot have a description"
                )
    if counts[1] > 100:
        errors.add("", "BASE_TYPE_MAX_LENGTH", "Maximum number of application commands reached (100)")
    for t in (2, 3):
        if counts.get(t, 0) > 15:
            errors.add("", "BASE_TYPE_MAX_LENGTH", "Maximum number of context menu commands reached (15)")


def _validate_chat_input_named(path: str, obj: JSON, errors: _FormErrors) -> None:
    name = obj.get("name") or ""
    if not COMMAND_NAME_RE.match(name):
        errors.add(f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")
    elif name != name.lower():
        errors.add(f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", f"Command name must be lowercase: {name!r}")
    errors.max_len(f"{path}.description", obj.get("description"), 100, 1)
    for locale, localized in (obj.get("name_localizations") or {}).items():
        if not COMMAND_NAME_RE.match(localized or ""):
            errors.add(f"{path}.name_localizations.{locale}", "APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
    for locale, localized in (obj.get("description_localizations") or {}).items():
        errors.max_len(f"{path}.description_localizations.{locale}", localized, 100, 1)


def _validate_options(path: str, options: list[JSON], errors: _FormErrors, depth: int) -> None:
    if len(options) > 25:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for i, opt in enumerate(options):
        p = f"{path}.{i}"
        _validate_chat_input_named(p, opt, errors)
        if opt.get("name") in names:
            errors.add(f"{p}.name", "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique")
        names.add(opt.get("name", ""))
        otype = opt.get("type")
        if otype in (1, 2):
            if depth >= 2 or (otype == 2 and depth >= 1):
                errors.add(f"{p}.type", "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Subcommands nested too deeply")
            _validate_options(f"{p}.options", opt.get("options") or [], errors, depth + 1)
            continue
        if opt.get("required"):
            if seen_optional:
                errors.add(
                    p,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            errors.add(f"{p}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for k, ch in enumerate(choices):
            errors.max_len(f"{p}.choices.{k}.name", ch.get("name"), 100, 1)
            if isinstance(ch.get("value"), str):
                errors.max_len(f"{p}.choices.{k}.value", ch.get("value"), 100, 1)
        if choices and opt.get("autocomplete"):
            errors.add(
                f"{p}.autocomplete",
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE",
                "Autocomplete cannot be set with choices",
            )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _iso(ts: float | None = None) -> str:
    return dt.datetime.fromtimestamp(time.time() if ts is None else ts, dt.UTC).isoformat()


def message_text(msg: JSON) -> str:
    """Everything a user reads in a message: content plus embed and component texts."""
    parts: list[str] = [msg.get("content") or ""]
    for e in msg.get("embeds") or []:
        parts += [(e.get("author") or {}).get("name") or "", e.get("title") or "", e.get("description") or ""]
        for f in e.get("fields") or []:
            parts += [f.get("name") or "", f.get("value") or ""]
        parts.append((e.get("footer") or {}).get("text") or "")
    for row in msg.get("components") or []:
        for c in row.get("components") or []:
            parts.append(c.get("label") or "")
    return "\n".join(p for p in parts if p)


def _json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py only parses bodies whose content-type is exactly "application/json" (no charset).
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Compressor:
    """Transport compression for one gateway connection, as requested by ``compress=``."""

    def __init__(self, mode: str | None) -> None:
        self.mode = mode
        self._zlib = zlib.compressobj() if mode == "zlib-stream" else None
        self._zstd = None
        if mode == "zstd-stream":
            if zstandard is None:
                raise ValueError("zstd-stream requested but zstandard is not installed")
            self._zstd = zstandard.ZstdCompressor().compressobj()

    def encode(self, text: str) -> str | bytes:
        raw = text.encode()
        if self._zlib is not None:
            # Z_SYNC_FLUSH ends each message with the 00 00 ff ff suffix discord.py looks for.
            return self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        if self._zstd is not None:
            return self._zstd.compress(raw) + self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        return text


@dataclass
class GatewayConnection:
    """One WebSocket connection from a client."""

    ws: web.WebSocketResponse
    query: dict[str, str]
    compressor: _Compressor
    opened_at: float
    hello_at: float = 0.0
    identify: JSON | None = None
    session_id: str | None = None
    closed: bool = False
    received: list[JSON] = field(default_factory=list)


@dataclass
class _Session:
    session_id: str
    seq: int = 0
    intents: int = 0
    sent: list[JSON] = field(default_factory=list)  # dispatch payloads, for RESUME replay
    shard: tuple[int, int] = (0, 1)  # (id, count) from IDENTIFY; (0, 1) = every guild

    def receives(self, guild_id: int | None) -> bool:
        """Whether Discord would send this session a guild's events (None: a DM, shard 0's)."""
        shard_id, count = self.shard
        if count == 1:
            return True
        return shard_id == (0 if guild_id is None else (guild_id >> 22) % count)


# --------------------------------------------------------------------------------------------
# Interaction handles
# --------------------------------------------------------------------------------------------


class InteractionHandle:
    """An interaction the emulator dispatched, and everything the bot did with it."""

    def __init__(self, emu: DiscordEmulator, payload: JSON) -> None:
        self._emu = emu
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.created_at = time.monotonic()
        self.response: JSON | None = None  # {"type": ..., "data": ...}
        self.response_at: float | None = None
        self.callback_attempts: list[tuple[float, JSON, int]] = []  # (time, body, status)
        self.original_message_id: int | None = None
        self.followup_ids: list[int] = []
        self.edits: list[Outgoing] = []  # edits of @original or follow-ups
        self.deleted_original = False
        self._loading = False  # deferred type 5, nothing shown yet
        self._response_future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._final_future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()

    # -- read access ------------------------------------------------------------------------

    @property
    def ack_latency(self) -> float | None:
        return None if self.response_at is None else self.response_at - self.created_at

    @property
    def response_type(self) -> int | None:
        return None if self.response is None else self.response["type"]

    @property
    def ephemeral(self) -> bool:
        msg = self.original
        if msg is not None:
            return bool(msg["flags"] & EPHEMERAL)
        data = (self.response or {}).get("data") or {}
        return bool((data.get("flags") or 0) & EPHEMERAL)

    @property
    def original(self) -> JSON | None:
        """Current state of @original (None if never created or deleted)."""
        if self.original_message_id is None or self.deleted_original:
            return None
        return self._emu.get_message(self.original_message_id)

    @property
    def followups(self) -> list[JSON]:
        out = []
        for mid in self.followup_ids:
            msg = self._emu.get_message(mid)
            if msg is not None:
                out.append(msg)
        return out

    @property
    def messages(self) -> list[JSON]:
        """@original (if any) followed by the follow-ups, current state."""
        orig = self.original
        return ([orig] if orig is not None else []) + self.followups

    def text(self) -> str:
        """All text the user can read across the response messages."""
        return "\n".join(message_text(m) for m in self.messages)

    # -- waiting ----------------------------------------------------------------------------

    async def wait_response(self, timeout: float = 5.0) -> JSON:
        """The accepted initial callback ``{"type": ..., "data": ...}``."""
        return copy.deepcopy(await asyncio.wait_for(asyncio.shield(self._response_future), timeout))

    async def wait_final(self, timeout: float = 5.0) -> JSON:
        """What the user ends up seeing (a message dict; callback data for types 8/9)."""
        return copy.deepcopy(await asyncio.wait_for(asyncio.shield(self._final_future), timeout))

    async def wait_followups(self, count: int, timeout: float = 5.0) -> list[JSON]:
        await self._emu.wait_until(lambda: len(self.followup_ids) >= count or None, timeout)
        return self.followups

    # -- internal ---------------------------------------------------------------------------

    def _set_response(self, body: JSON) -> None:
        self.response = body
        self.response_at = time.monotonic()
        if not self._response_future.done():
            self._response_future.set_result(body)

    def _set_final(self, value: JSON) -> None:
        if not self._final_future.done():
            self._final_future.set_result(copy.deepcopy(value))

    def __repr__(self) -> str:
        return f"<InteractionHandle id={self.id} type={self.type} response={self.response_type}>"


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------

Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass
class _ApiRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    record: RecordedRequest


class DiscordEmulator:
    """Emulated Discord: REST under ``base_url``, gateway at ``gateway_url``, CDN for attachments."""

    def __init__(
        self,
        *,
        heartbeat_interval_ms: int = 41250,
        ack_deadline: float = 3.0,
        token_lifetime: float = 900.0,
        bot_name: str = "Citebot",
        guild_name: str = "Test Guild",
        channel_name: str = "general",
        application_flags: int = 0,
        recommended_shards: int = 1,
    ) -> None:
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.recommended_shards = recommended_shards
        self.ack_deadline = ack_deadline
        self.token_lifetime = token_lifetime
        self.application_flags = application_flags

        self._last_snowflake = 0
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self._register_routes()

        # World state
        self.users: dict[int, JSON] = {}
        self.guilds: dict[int, JSON] = {}  # guild id -> {"data": guild-without-lists, "roles", "members", "channels"}
        self.channels: dict[int, JSON] = {}
        self._messages: dict[int, JSON] = {}
        self._channel_order: dict[int, list[int]] = {}
        self._dm_by_user: dict[int, int] = {}
        self.attachments: dict[int, tuple[JSON, bytes]] = {}
        self._global_commands: list[JSON] = []
        self._guild_commands: dict[int, list[JSON]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}

        # Records
        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self.violations: list[tuple[str, str]] = []
        self._outgoing: list[Outgoing] = []
        self.interactions: dict[int, InteractionHandle] = {}
        self._interactions_by_token: dict[str, InteractionHandle] = {}
        self.reactions: list[tuple[int, int, str, int]] = []  # (channel, message, emoji, user)
        self.typing: list[tuple[int, float]] = []
        self.threads: list[JSON] = []
        self.rate_limits: list[RateLimitInjection] = []
        self.heartbeats: list[float] = []
        self.gateway_connections: list[GatewayConnection] = []
        self.dispatched: list[JSON] = []
        self.identify_payload: JSON | None = None
        self._sessions: dict[str, _Session] = {}
        self._background: set[asyncio.Task[None]] = set()

        # Default world
        self.bot_token = "emulator-bot-token"
        self.bot_user = self.add_user(bot_name, bot=True)
        self.application_id = int(self.bot_user["id"])
        self.owner = self.add_user("owner")
        self.user = self.add_user("alice")
        guild = self.add_guild(guild_name, owner=self.owner, channel_names=[channel_name])
        self.guild_id = int(guild["id"])
        self.channel_id = int(guild["channels"][0]["id"])
        self.add_member(self.guild_id, self.user)

    # ======================================================================================
    # Lifecycle
    # ======================================================================================

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/gateway", self._gateway_handler)
        app.router.add_route("GET", "/cdn/attachments/{aid}/{filename}", self._cdn_handler)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._api_handler)
        app.router.add_route("*", "/{tail:.*}", self._unknown_handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self._port = _free_port()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()

    async def stop(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for conn in self.gateway_connections:
            if not conn.ws.closed:
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001, message=b"emulator stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("emulator not started")
        return self._port

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def point_discord_py(self) -> _Restore:
        """Shortcut for ``point_discord_py_at(self.base_url, self.gateway_url)``."""
        return point_discord_py_at(self.base_url, self.gateway_url)

    # ======================================================================================
    # World building
    # ======================================================================================

    def snowflake(self, *, shard: tuple[int, int] | None = None) -> int:
        """A fresh, strictly increasing, realistic snowflake (``shard``: one whose
        ``(id >> 22) % count`` is that shard, i.e. a later millisecond if needed)."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22 | (1 << 17)
        self._last_snowflake = max(candidate, self._last_snowflake + 1)
        if shard is not None:
            shard_id, count = shard
            ms = self._last_snowflake >> 22
            ms += (shard_id - ms) % count
            self._last_snowflake = max(self._last_snowflake, ms << 22 | (1 << 17))
        return self._last_snowflake

    def add_user(self, username: str, *, bot: bool = False, global_name: str | None = None) -> JSON:
        uid = self.snowflake()
        user = {
            "id": str(uid),
            "username": username,
            "discriminator": "0",
            "global_name": global_name if global_name is not None else (None if bot else username.title()),
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
            "flags": 0,
        }
        if bot:
            user.update({"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})
        self.users[uid] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: JSON | None = None,
        channel_names: list[str] | None = None,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        bot_permissions: int = DEFAULT_EVERYONE_PERMISSIONS | ADD_REACTIONS,
        shard: tuple[int, int] | None = None,
    ) -> JSON:
        """Create a guild with an @everyone role, a bot role, text channels and the bot member.

        Returns the GUILD_CREATE payload; if a client is connected it is dispatched (to the
        session of the guild's shard). ``shard=(id, count)``: a guild id in that shard.
        """
        gid = self.snowflake(shard=shard)
        owner = owner or self.owner
        self.guilds[gid] = {
            "id": str(gid),
            "name": name,
            "owner_id": owner["id"],
            "roles": [],
            "members": {},
            "channel_ids": [],
        }
        everyone = self._role_payload(gid, "@everyone", everyone_permissions, position=0)
        self.guilds[gid]["roles"].append(everyone)
        bot_role = self.add_role(gid, self.bot_user["username"], bot_permissions, managed=True)
        for cname in channel_names or ["general"]:
            self.add_channel(gid, cname, _dispatch=False)
        self.add_member(gid, owner, _dispatch=False)
        self.add_member(gid, self.bot_user, roles=[int(bot_role["id"])], _dispatch=False)
        payload = self.guild_payload(gid)
        self._dispatch_soon("GUILD_CREATE", payload)
        return payload

    def _role_payload(self, gid: int, name: str, permissions: int, *, position: int, managed: bool = False) -> JSON:
        return {
            "id": str(gid) if name == "@everyone" else str(self.snowflake()),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": managed,
            "mentionable": False,
            "flags": 0,
        }

    def add_role(self, guild_id: int, name: str, permissions: int, *, managed: bool = False) -> JSON:
        g = self.guilds[guild_id]
        role = self._role_payload(guild_id, name, permissions, position=len(g["roles"]), managed=managed)
        g["roles"].append(role)
        if self._identified_sessions():  # as Discord does: connected clients learn of the new role
            self._dispatch_soon("GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": copy.deepcopy(role)})
        return role

    def add_channel(self, guild_id: int, name: str, *, type: int = GUILD_TEXT, _dispatch: bool = True) -> JSON:
        cid = self.snowflake()
        channel = {
            "id": str(cid),
            "type": type,
            "guild_id": str(guild_id),
            "name": name,
            "position": len(self.guilds[guild_id]["channel_ids"]),
            "permission_overwrites": [],
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "default_auto_archive_duration": 1440,
            "flags": 0,
        }
        if type == GUILD_FORUM:
            channel.update(
                available_tags=[],
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                default_thread_rate_limit_per_user=0,
            )
        self.channels[cid] = channel
        self.guilds[guild_id]["channel_ids"].append(cid)
        if _dispatch:
            self._dispatch_soon("CHANNEL_CREATE", channel)
        return channel

    def add_member(
        self,
        guild_id: int,
        user: JSON,
        *,
        roles: list[int] | None = None,
        nick: str | None = None,
        _dispatch: bool = True,
    ) -> JSON:
        member = {
            "user": user,
            "roles": [str(r) for r in roles or []],
            "nick": nick,
            "avatar": None,
            "banner": None,
            "joined_at": _iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        self.guilds[guild_id]["members"][int(user["id"])] = member
        if _dispatch and self._identified_sessions():
            self._dispatch_soon("GUILD_MEMBER_ADD", {**member, "guild_id": str(guild_id)})
        return member

    def guild_payload(self, guild_id: int) -> JSON:
        """The GUILD_CREATE payload for a guild (current state)."""
        g = self.guilds[guild_id]
        channels = [self.channels[c] for c in g["channel_ids"]]
        threads = [t for t in self.threads if t["guild_id"] == str(guild_id)]
        return {
            "id": g["id"],
            "name": g["name"],
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": g["owner_id"],
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": copy.deepcopy(g["roles"]),
            "members": copy.deepcopy(list(g["members"].values())),
            "member_count": len(g["members"]),
            "channels": copy.deepcopy(channels),
            "threads": copy.deepcopy(threads),
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "large": False,
            "unavailable": False,
            "joined_at": _iso(),
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_progress_bar_enabled": False,
            "application_id": None,
            "incidents_data": None,
            "lazy": True,
        }

    def member_permissions(self, guild_id: int, user_id: int) -> int:
        """Guild-level permissions of a member (owner/administrator => all)."""
        g = self.guilds[guild_id]
        if str(user_id) == g["owner_id"]:
            return ALL_PERMISSIONS
        roles = {r["id"]: int(r["permissions"]) for r in g["roles"]}
        perms = roles[str(guild_id)]
        member = g["members"].get(user_id)
        for rid in member["roles"] if member else []:
            perms |= roles.get(rid, 0)
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def dm_channel(self, user: JSON) -> JSON:
        """The DM channel between the bot and ``user`` (created on first use)."""
        uid = int(user["id"])
        if uid not in self._dm_by_user:
            cid = self.snowflake()
            self.channels[cid] = {
                "id": str(cid),
                "type": DM,
                "last_message_id": None,
                "recipients": [user],
                "flags": 0,
            }
            self._dm_by_user[uid] = cid
        return self.channels[self._dm_by_user[uid]]

    def add_attachment(self, filename: str, data: bytes, content_type: str = "application/octet-stream") -> JSON:
        """Register a file on the emulator CDN; returns a Discord attachment dict."""
        aid = self.snowflake()
        quoted = urllib.parse.quote(filename)
        url = f"{self.origin}/cdn/attachments/{aid}/{quoted}"
        att = {
            "id": str(aid),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }
        self.attachments[aid] = (att, data)
        return dict(att)

    # ======================================================================================
    # Querying
    # ======================================================================================

    def get_message(self, message_id: int) -> JSON | None:
        msg = self._messages.get(int(message_id))
        if msg is None or msg.get("_deleted"):
            return None
        return self._public(msg)

    def channel_messages(self, channel_id: int, *, include_ephemeral: bool = True) -> list[JSON]:
        """Messages of a channel in chronological order, final state after edits."""
        out = []
        for mid in self._channel_order.get(int(channel_id), []):
            msg = self.get_message(mid)
            if msg is None or (not include_ephemeral and msg["flags"] & EPHEMERAL):
                continue
            out.append(msg)
        return out

    def bot_messages(self, channel_id: int | None = None) -> list[JSON]:
        """All live messages authored by the bot (optionally in one channel)."""
        return [
            self._public(m)
            for m in self._messages.values()
            if not m.get("_deleted")
            and m["author"]["id"] == self.bot_user["id"]
            and (channel_id is None or m["channel_id"] == str(channel_id))
        ]

    def outgoing(self, kind: str | None = None) -> list[Outgoing]:
        return [o for o in self._outgoing if kind is None or o.kind == kind]

    def unsafe_mentions(self) -> list[Outgoing]:
        """Outgoing payloads with content/embeds whose allowed_mentions is missing or permissive."""
        unsafe = []
        for o in self._outgoing:
            if not o.has_visible_content:
                continue
            am = o.allowed_mentions
            if am is None or am.get("parse") or am.get("users") or am.get("roles") or am.get("replied_user"):
                unsafe.append(o)
        return unsafe

    def interaction(self, interaction_id: int) -> InteractionHandle:
        return self.interactions[int(interaction_id)]

    def ack_latencies(self) -> list[float]:
        return [h.ack_latency for h in self.interactions.values() if h.ack_latency is not None]

    def commands(self, guild_id: int | None = None) -> list[JSON]:
        """Registered application commands (global, or of one guild)."""
        src = self._global_commands if guild_id is None else self._guild_commands.get(int(guild_id), [])
        return copy.deepcopy(src)

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        pat = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pat.search(r.path)]

    @property
    def intents(self) -> int | None:
        return None if self.identify_payload is None else self.identify_payload.get("intents")

    def max_heartbeat_gap(self) -> float:
        """Largest gap between HELLO and the first heartbeat or between consecutive heartbeats."""
        starts = [c.hello_at for c in self.gateway_connections if c.hello_at]
        times = sorted(starts[:1] + self.heartbeats)
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    # ======================================================================================
    # Waiting
    # ======================================================================================

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, condition: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until ``condition()`` returns something truthy (re-checked on every change)."""

        async def loop() -> T:
            while True:
                event = self._changed
                value = condition()
                if value:
                    return value
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), 0.05)

        return await asyncio.wait_for(loop(), timeout)

    async def wait_for_bot_message(
        self,
        channel_id: int | None = None,
        predicate: Callable[[JSON], bool] | None = None,
        timeout: float = 5.0,
    ) -> JSON:
        """The first (existing or future) bot message matching channel and predicate."""

        def find() -> JSON | None:
            for m in self.bot_messages(channel_id):
                if predicate is None or predicate(m):
                    return m
            return None

        return await self.wait_until(find, timeout)

    async def wait_identified(self, timeout: float = 5.0) -> JSON:
        return await self.wait_until(lambda: self.identify_payload, timeout)

    # ======================================================================================
    # Rate limit injection
    # ======================================================================================

    def inject_rate_limit(
        self,
        method: str,
        path_regex: str,
        *,
        times: int = 1,
        retry_after: float = 0.3,
        is_global: bool = False,
        bucket: str = "emulatorbucket",
    ) -> RateLimitInjection:
        """Answer the next ``times`` matching requests with 429 (path relative to /api/v10)."""
        inj = RateLimitInjection(method.upper(), re.compile(path_regex), times, retry_after, is_global, bucket)
        self.rate_limits.append(inj)
        return inj

    def _rate_limited(self, method: str, path: str) -> web.Response | None:
        now = time.monotonic()
        for inj in self.rate_limits:
            if inj.method != method or not inj.pattern.search(path):
                continue
            inj.attempts.append(now)
            if inj.hits < inj.times:
                inj.hits += 1
                headers = {
                    "Retry-After": str(max(1, round(inj.retry_after))),
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + inj.retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{inj.retry_after:.3f}",
                    "X-RateLimit-Bucket": inj.bucket,
                    "X-RateLimit-Scope": "user",
                    # discord.py treats a 429 without Via as a Cloudflare ban and raises.
                    "Via": "1.1 google",
                }
                if inj.is_global:
                    headers["X-RateLimit-Global"] = "true"
                body = {
                    "message": "You are being rate limited.",
                    "retry_after": inj.retry_after,
                    "global": inj.is_global,
                }
                return _json_response(body, status=429, headers=headers)
        return None

    # ======================================================================================
    # Gateway
    # ======================================================================================

    def _identified_sessions(self) -> list[tuple[GatewayConnection, _Session]]:
        out = []
        for conn in self.gateway_connections:
            if not conn.closed and conn.session_id and conn.session_id in self._sessions:
                out.append((conn, self._sessions[conn.session_id]))
        return out

    async def _gateway_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        query = dict(request.query)
        try:
            compressor = _Compressor(query.get("compress"))
        except ValueError:
            await ws.close(code=4000, message=b"unsupported compression")
            return ws
        conn = GatewayConnection(ws=ws, query=query, compressor=compressor, opened_at=time.monotonic())
        self.gateway_connections.append(conn)
        try:
            await self._send(
                conn, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
            )
            conn.hello_at = time.monotonic()
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    payload = json.loads(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    payload = json.loads(msg.data.decode())
                else:
                    break
                conn.received.append(payload)
                await self._on_gateway_op(conn, payload)
        finally:
            conn.closed = True
            self._notify()
        return ws

    async def _send(self, conn: GatewayConnection, payload: JSON) -> None:
        if conn.ws.closed:
            return
        data = conn.compressor.encode(json.dumps(payload))
        if isinstance(data, bytes):
            await conn.ws.send_bytes(data)
        else:
            await conn.ws.send_str(data)

    async def _on_gateway_op(self, conn: GatewayConnection, payload: JSON) -> None:
        op = payload.get("op")
        d: Any = payload.get("d") or {}
        if op == 1:  # heartbeat
            self.heartbeats.append(time.monotonic())
            await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:  # identify
            if d.get("token") != self.bot_token:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            shard = d.get("shard", [0, 1])
            valid = (
                isinstance(shard, list)
                and len(shard) == 2
                and all(type(n) is int for n in shard)
                and 0 <= shard[0] < shard[1]
            )
            if not valid:
                self.violations.append(("IDENTIFY", f"invalid shard {shard!r}"))
                await conn.ws.close(code=4010, message=b"Invalid shard.")
                return
            self.identify_payload = d
            session = _Session(
                session_id=secrets.token_hex(16), intents=int(d.get("intents") or 0), shard=(shard[0], shard[1])
            )
            self._sessions[session.session_id] = session
            conn.session_id = session.session_id
            await self._dispatch_to(conn, session, "READY", self._ready_payload(session))
            for gid in self.guilds:
                if session.receives(gid):
                    await self._dispatch_to(conn, session, "GUILD_CREATE", self.guild_payload(gid))
        elif op == 6:  # resume
            known = self._sessions.get(d.get("session_id") or "")
            if known is None:
                await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
                return
            conn.session_id = known.session_id
            for event in [e for e in known.sent if e["s"] > int(d.get("seq") or 0)]:
                await self._send(conn, event)
            await self._dispatch_to(conn, known, "RESUMED", {})
        elif op == 8:  # request guild members
            current = self._sessions.get(conn.session_id or "")
            if current is None:
                return
            gid = int(d["guild_id"] if not isinstance(d["guild_id"], list) else d["guild_id"][0])
            members = list(self.guilds[gid]["members"].values()) if gid in self.guilds else []
            chunk = {
                "guild_id": str(gid),
                "members": copy.deepcopy(members),
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if d.get("nonce") is not None:
                chunk["nonce"] = d["nonce"]
            await self._dispatch_to(conn, current, "GUILD_MEMBERS_CHUNK", chunk)
        self._notify()

    def _ready_payload(self, session: _Session) -> JSON:
        return {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": str(gid), "unavailable": True} for gid in self.guilds if session.receives(gid)],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "session_type": "normal",
            "shard": list(session.shard),
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
        }

    async def _dispatch_to(self, conn: GatewayConnection, session: _Session, event: str, data: JSON) -> None:
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.sent.append(payload)
        self.dispatched.append(payload)
        await self._send(conn, payload)

    @staticmethod
    def _event_guild(event: str, data: JSON) -> int | None:
        raw = data.get("id") if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") else data.get("guild_id")
        return int(raw) if raw else None

    def session_shards(self) -> list[tuple[int, int]]:
        """The ``(id, count)`` of every identified, connected session."""
        return [session.shard for _conn, session in self._identified_sessions()]

    def events_by_shard(self, event: str) -> list[tuple[tuple[int, int], JSON]]:
        """Every ``event`` dispatched (e.g. INTERACTION_CREATE), with the shard of the session it went to."""
        return [(session.shard, p["d"]) for session in self._sessions.values() for p in session.sent if p["t"] == event]

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send a DISPATCH event to every identified connection of the event's shard."""
        guild_id = self._event_guild(event, data)
        for conn, session in self._identified_sessions():
            if session.receives(guild_id):
                await self._dispatch_to(conn, session, event, copy.deepcopy(data))
        self._notify()

    async def disconnect(self, code: int = 4000) -> None:
        """Close every gateway connection with ``code``; with 4000 discord.py reconnects and RESUMEs."""
        for conn in self.gateway_connections:
            if not conn.ws.closed:
                await conn.ws.close(code=code, message=b"emulator disconnect")

    def _dispatch_soon(self, event: str, data: JSON) -> None:
        """Dispatch from synchronous code (no-op before anyone connected)."""
        if not self._identified_sessions():
            return
        task = asyncio.get_running_loop().create_task(self.dispatch(event, data))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ======================================================================================
    # Message storage
    # ======================================================================================

    def _public(self, msg: JSON) -> JSON:
        return {k: copy.deepcopy(v) for k, v in msg.items() if not k.startswith("_")}

    def _store_message(self, msg: JSON) -> JSON:
        mid = int(msg["id"])
        cid = int(msg["channel_id"])
        self._messages[mid] = msg
        self._channel_order.setdefault(cid, []).append(mid)
        channel = self.channels.get(cid)
        if channel is not None:
            channel["last_message_id"] = msg["id"]
            if channel["type"] in THREAD_TYPES:
                channel["message_count"] = channel.get("message_count", 0) + 1
                channel["total_message_sent"] = channel.get("total_message_sent", 0) + 1
        self._notify()
        return msg

    def _resolve_mentions(self, content: str, extra: list[Any] | None = None) -> list[JSON]:
        ids: list[int] = [int(x) for x in USER_MENTION_RE.findall(content or "")]
        for m in extra or []:
            ids.append(int(m["id"]) if isinstance(m, dict) else int(m))
        out, seen = [], set()
        for uid in ids:
            if uid in self.users and uid not in seen:
                seen.add(uid)
                out.append(self.users[uid])
        return out

    def _resolve_role_mentions(self, msg: JSON) -> list[str]:
        """The ids of the guild's roles that ``<@&id>`` in the content names, once each."""
        gid = msg.get("guild_id")
        if not gid:
            return []
        roles = {r["id"] for r in self.guilds[int(gid)]["roles"]}
        return list(dict.fromkeys(r for r in ROLE_MENTION_RE.findall(msg.get("content") or "") if r in roles))

    def pings(self, message: JSON | int) -> JSON:
        """Who ``message`` notified: ``{"users": [ids], "roles": [ids], "everyone": bool}``."""
        msg = self._messages[int(message["id"] if isinstance(message, dict) else message)]
        content = msg.get("content") or ""
        am = msg.get("_allowed_mentions")
        if am is None:
            webhook = bool(msg.get("webhook_id"))
            am = {"parse": ["users"] if webhook else ["users", "roles", "everyone"], "replied_user": not webhook}
        parse = am.get("parse") or []
        user_ids = [u for u in USER_MENTION_RE.findall(content) if int(u) in self.users]
        listed_users = {str(u) for u in am.get("users") or []}
        listed_roles = {str(r) for r in am.get("roles") or []}
        users = [u for u in user_ids if "users" in parse or u in listed_users]
        ref = msg.get("referenced_message")
        if ref and am.get("replied_user") and ref["author"]["id"] not in users:
            users.append(ref["author"]["id"])
        roles: list[str] = []
        everyone = False
        gid = msg.get("guild_id")
        if gid:
            guild = self.guilds[int(gid)]
            can_all = bool(self.member_permissions(int(gid), int(msg["author"]["id"])) & MENTION_EVERYONE)
            by_id = {r["id"]: r for r in guild["roles"]}
            for rid in self._resolve_role_mentions(msg):
                allowed = "roles" in parse or rid in listed_roles
                if allowed and (by_id[rid].get("mentionable") or can_all):
                    roles.append(rid)
            everyone = "everyone" in parse and can_all and ("@everyone" in content or "@here" in content)
        return {"users": list(dict.fromkeys(users)), "roles": roles, "everyone": everyone}

    def _new_message(
        self,
        channel_id: int,
        author: JSON,
        payload: JSON,
        *,
        attachments: list[JSON],
        msg_type: int = 0,
        extra: JSON | None = None,
    ) -> JSON:
        channel = self.channels.get(channel_id)
        msg: JSON = {
            "id": str(self.snowflake()),
            "channel_id": str(channel_id),
            "author": author,
            "content": payload.get("content") or "",
            "timestamp": _iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": False,
            "mentions": self._resolve_mentions(payload.get("content") or ""),
            "mention_roles": [],
            "mention_channels": [],
            "attachments": attachments,
            "embeds": copy.deepcopy(payload.get("embeds") or []),
            "components": copy.deepcopy(payload.get("components") or []),
            "reactions": [],
            "pinned": False,
            "type": msg_type,
            "flags": int(payload.get("flags") or 0),
            "_allowed_mentions": payload.get("allowed_mentions"),
        }
        if channel is not None and channel.get("guild_id"):
            msg["guild_id"] = channel["guild_id"]
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        ref = payload.get("message_reference")
        if ref:
            ref_id = int(ref["message_id"])
            msg["message_reference"] = {
                "type": 0,
                "message_id": str(ref_id),
                "channel_id": str(ref.get("channel_id") or channel_id),
                **({"guild_id": msg["guild_id"]} if "guild_id" in msg else {}),
            }
            msg["type"] = 19 if msg_type == 0 else msg_type
            referenced = self._messages.get(ref_id)
            if referenced is None:
                if ref.get("fail_if_not_exists", True):
                    raise ApiError(
                        400,
                        50035,
                        "Invalid Form Body",
                        {
                            "message_reference": {
                                "_errors": [{"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}]
                            }
                        },
                    )
            else:
                msg["referenced_message"] = self._public(referenced)
        if extra:
            msg.update(extra)
        return msg

    def _member_for_message(self, guild_id: int, user_id: int) -> JSON | None:
        member = self.guilds.get(guild_id, {}).get("members", {}).get(user_id)
        if member is None:
            return None
        return {k: copy.deepcopy(v) for k, v in member.items() if k != "user"}

    def _gateway_message(self, msg: JSON, session_intents: int) -> JSON:
        """Shape a stored message for MESSAGE_CREATE/UPDATE, applying MESSAGE_CONTENT semantics."""
        data = self._public(msg)
        if "guild_id" in data:
            member = self._member_for_message(int(data["guild_id"]), int(data["author"]["id"]))
            if member is not None:
                data["member"] = member
        return self._apply_content_intent(data, session_intents)

    def _apply_content_intent(self, data: JSON, intents: int) -> JSON:
        if intents & INTENT_MESSAGE_CONTENT:
            return data
        is_dm = "guild_id" not in data
        own = data["author"]["id"] == self.bot_user["id"]
        mentioned = any(u["id"] == self.bot_user["id"] for u in data.get("mentions", []))
        if is_dm or own or mentioned:
            return data
        data.update(content="", embeds=[], attachments=[], components=[])
        data.pop("poll", None)
        return data

    async def _dispatch_message(self, event: str, msg: JSON) -> None:
        guild_id = int(msg["guild_id"]) if msg.get("guild_id") else None
        for conn, session in self._identified_sessions():
            if session.receives(guild_id):
                await self._dispatch_to(conn, session, event, self._gateway_message(msg, session.intents))
        self._notify()

    def _edit_message(self, msg: JSON, payload: JSON, new_files: list[JSON]) -> None:
        for key in ("content", "embeds", "components", "flags"):
            if key in payload:
                value = payload[key]
                if key == "content":
                    msg["content"] = value or ""
                    msg["mentions"] = self._resolve_mentions(value or "")
                elif key == "flags":
                    # Only SUPPRESS_EMBEDS may be toggled on edit; keep EPHEMERAL etc.
                    msg["flags"] = (msg["flags"] & ~4) | (int(value or 0) & 4)
                else:
                    msg[key] = copy.deepcopy(value or [])
        if "attachments" in payload:
            keep = {str(a.get("id")) for a in payload["attachments"] or []}
            msg["attachments"] = [a for a in msg["attachments"] if a["id"] in keep]
        msg["attachments"] = msg["attachments"] + new_files
        if "allowed_mentions" in payload:
            msg["_allowed_mentions"] = payload["allowed_mentions"]
        msg["edited_timestamp"] = _iso()
        self._notify()

    # ======================================================================================
    # Injecting user actions
    # ======================================================================================

    def _user(self, user: JSON | int | None) -> JSON:
        if user is None:
            return self.user
        if isinstance(user, dict):
            return user
        return self.users[int(user)]

    async def send_message(
        self,
        content: str = "",
        *,
        author: JSON | int | None = None,
        channel_id: int | None = None,
        guild_id: int | None = None,
        dm: bool = False,
        mentions: list[JSON | int] | None = None,
        message_reference: int | JSON | None = None,
        attachments: list[JSON] | None = None,
        embeds: list[JSON] | None = None,
    ) -> JSON:
        """A user posts a message (MESSAGE_CREATE) and returns it as stored.

        Mention the bot with ``mentions=[emu.bot_user]`` or ``<@bot_id>`` in the content.
        ``dm=True`` posts in the author's DM with the bot; ``guild_id`` alone picks that guild's
        first channel; the default is ``emu.channel_id``.
        """
        author_d = self._user(author)
        if dm:
            cid = int(self.dm_channel(author_d)["id"])
        elif channel_id is None and guild_id is not None:
            cid = self.guilds[int(guild_id)]["channel_ids"][0]
        else:
            cid = int(channel_id or self.channel_id)
        channel = self.channels[cid]
        if channel.get("guild_id") and int(author_d["id"]) not in self.guilds[int(channel["guild_id"])]["members"]:
            member = self.add_member(int(channel["guild_id"]), author_d, _dispatch=False)
            await self.dispatch("GUILD_MEMBER_ADD", {**member, "guild_id": channel["guild_id"]})
        payload: JSON = {"content": content, "embeds": embeds or []}
        if message_reference is not None:
            ref_id = message_reference["id"] if isinstance(message_reference, dict) else message_reference
            payload["message_reference"] = {"message_id": str(ref_id), "channel_id": str(cid)}
        msg = self._new_message(cid, author_d, payload, attachments=[dict(a) for a in attachments or []])
        msg["mentions"] = self._resolve_mentions(content, mentions)
        msg["mention_roles"] = self._resolve_role_mentions(msg)
        self._store_message(msg)
        await self._dispatch_message("MESSAGE_CREATE", msg)
        return self._public(msg)

    async def create_forum_post(
        self, forum_id: int, title: str, content: str, *, author: JSON | int | None = None
    ) -> tuple[JSON, JSON]:
        """A member opens a post in a forum channel: (the post's thread, its starter message)."""
        forum = self.channels[int(forum_id)]
        if forum["type"] != GUILD_FORUM:
            raise ValueError(f"channel {forum_id} is not a forum")
        author_d = self._user(author)
        gid = int(forum["guild_id"])
        if int(author_d["id"]) not in self.guilds[gid]["members"]:
            member = self.add_member(gid, author_d, _dispatch=False)
            await self.dispatch("GUILD_MEMBER_ADD", {**member, "guild_id": forum["guild_id"]})
        tid = self.snowflake()
        now = _iso()
        thread = {
            "id": str(tid),
            "guild_id": forum["guild_id"],
            "parent_id": forum["id"],
            "owner_id": author_d["id"],
            "name": title,
            "type": PUBLIC_THREAD,
            "last_message_id": str(tid),
            "message_count": 0,
            "total_message_sent": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "applied_tags": [],
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
            },
        }
        self.channels[tid] = thread
        self.threads.append(thread)
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        msg = self._new_message(tid, author_d, {"content": content}, attachments=[])
        msg["id"] = str(tid)  # a forum post's starter message has the thread's id
        msg["position"] = 0
        self._store_message(msg)
        await self._dispatch_message("MESSAGE_CREATE", msg)
        return copy.deepcopy(thread), self._public(msg)

    def _interaction_base(
        self,
        itype: int,
        data: JSON | None,
        *,
        user: JSON | int | None,
        channel_id: int | None,
        guild_id: int | None,
        dm: bool,
        permissions: int | None,
        locale: str,
    ) -> JSON:
        user_d = self._user(user)
        iid = self.snowflake()
        payload: JSON = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "token": "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48),
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if data is not None:
            payload["data"] = data
        if dm:
            channel = self.dm_channel(user_d)
            payload.update(
                channel_id=channel["id"],
                channel=copy.deepcopy(channel),
                user=user_d,
                context=1,
                authorizing_integration_owners={"1": user_d["id"]},
                app_permissions=str(ALL_PERMISSIONS & ~ADMINISTRATOR),
            )
            return payload
        cid = int(channel_id or self.channel_id)
        channel = self.channels[cid]
        gid = int(guild_id or channel.get("guild_id") or self.guild_id)
        g = self.guilds[gid]
        uid = int(user_d["id"])
        if uid not in g["members"]:
            self.add_member(gid, user_d, _dispatch=False)
        member = copy.deepcopy(g["members"][uid])
        member["permissions"] = str(self.member_permissions(gid, uid) if permissions is None else permissions)
        payload.update(
            guild_id=str(gid),
            guild={"id": str(gid), "locale": "en-US", "features": []},
            guild_locale="en-US",
            channel_id=str(cid),
            channel=copy.deepcopy(channel),
            member=member,
            context=0,
            authorizing_integration_owners={"0": str(gid)},
            app_permissions=str(self.member_permissions(gid, int(self.bot_user["id"]))),
        )
        return payload

    async def dispatch_interaction(self, payload: JSON) -> InteractionHandle:
        """Register and dispatch a fully built INTERACTION_CREATE payload."""
        handle = InteractionHandle(self, payload)
        self.interactions[handle.id] = handle
        self._interactions_by_token[handle.token] = handle
        handle.created_at = time.monotonic()  # the ack clock starts as the event goes on the wire
        await self.dispatch("INTERACTION_CREATE", payload)
        return handle

    def _command_lookup(self, name: str, ctype: int, guild_id: int | None) -> JSON | None:
        if guild_id is not None:
            for cmd in self._guild_commands.get(guild_id, []):
                if cmd["name"] == name and cmd.get("type", 1) == ctype:
                    return cmd
        for cmd in self._global_commands:
            if cmd["name"] == name and cmd.get("type", 1) == ctype:
                return cmd
        return None

    def _command_data(self, name: str, ctype: int, guild_id: int | None) -> JSON:
        cmd = self._command_lookup(name, ctype, guild_id)
        data: JSON = {"id": cmd["id"] if cmd else str(self.snowflake()), "name": name, "type": ctype}
        if cmd is not None and cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return data

    def _build_options(self, options: dict[str, Any] | list[JSON] | None, resolved: JSON) -> list[JSON]:
        if options is None:
            return []
        if isinstance(options, list):
            return copy.deepcopy(options)
        out = []
        for name, value in options.items():
            if isinstance(value, dict) and "filename" in value:
                resolved.setdefault("attachments", {})[value["id"]] = dict(value)
                out.append({"name": name, "type": 11, "value": value["id"]})
            elif isinstance(value, dict) and "managed" in value and "permissions" in value:  # a role
                resolved.setdefault("roles", {})[value["id"]] = copy.deepcopy(value)
                out.append({"name": name, "type": 8, "value": value["id"]})
            elif isinstance(value, dict) and "type" in value and "guild_id" in value:  # a channel
                partial = {k: copy.deepcopy(value.get(k)) for k in ("id", "name", "type", "parent_id", "guild_id")}
                partial["permissions"] = str(ALL_PERMISSIONS)
                if value.get("thread_metadata") is not None:
                    partial["thread_metadata"] = copy.deepcopy(value["thread_metadata"])
                resolved.setdefault("channels", {})[value["id"]] = partial
                out.append({"name": name, "type": 7, "value": value["id"]})
            elif isinstance(value, bool):
                out.append({"name": name, "type": 5, "value": value})
            elif isinstance(value, int):
                out.append({"name": name, "type": 4, "value": value})
            elif isinstance(value, float):
                out.append({"name": name, "type": 10, "value": value})
            else:
                out.append({"name": name, "type": 3, "value": str(value)})
        return out

    async def send_slash_command(
        self,
        name: str,
        options: dict[str, Any] | list[JSON] | None = None,
        *,
        subcommand: str | None = None,
        user: JSON | int | None = None,
        channel_id: int | None = None,
        guild_id: int | None = None,
        dm: bool = False,
        permissions: int | None = None,
        locale: str = "en-US",
        _focused: str | None = None,
    ) -> InteractionHandle:
        """A user runs ``/name`` (options: ``{"question": "...", "file": emu.add_attachment(...)}``)."""
        resolved: JSON = {}
        opts = self._build_options(options, resolved)
        if _focused is not None:
            for o in opts:
                if o["name"] == _focused:
                    o["focused"] = True
                    o["type"] = 3 if o["type"] == 11 else o["type"]
        if subcommand is not None:
            opts = [{"name": subcommand, "type": 1, "options": opts}]
        gid = (
            None
            if dm
            else int(guild_id or self.channels[int(channel_id or self.channel_id)].get("guild_id") or self.guild_id)
        )
        data = self._command_data(name, 1, gid)
        data["options"] = opts
        if resolved:
            data["resolved"] = resolved
        itype = 4 if _focused is not None else 2
        payload = self._interaction_base(
            itype,
            data,
            user=user,
            channel_id=channel_id,
            guild_id=guild_id,
            dm=dm,
            permissions=permissions,
            locale=locale,
        )
        return await self.dispatch_interaction(payload)

    async def send_autocomplete(
        self,
        name: str,
        options: dict[str, Any] | list[JSON] | None = None,
        *,
        focused: str,
        **kwargs: Any,
    ) -> InteractionHandle:
        """Autocomplete request (type 4) for option ``focused`` holding the partial value."""
        return await self.send_slash_command(name, options, _focused=focused, **kwargs)

    def _component_message(self, message_id: int) -> JSON:
        msg = self.get_message(message_id)
        if msg is None:
            raise KeyError(f"unknown message {message_id}")
        return msg

    async def click_button(
        self,
        message_id: int,
        custom_id: str,
        *,
        component_type: int = 2,
        values: list[str] | None = None,
        user: JSON | int | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """A user clicks a button (or uses a select with ``component_type``/``values``) on a message."""
        msg = self._component_message(message_id)
        data: JSON = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        dm = "guild_id" not in msg
        payload = self._interaction_base(
            3,
            data,
            user=user,
            channel_id=None if dm else int(msg["channel_id"]),
            guild_id=None,
            dm=dm,
            permissions=permissions,
            locale=locale,
        )
        payload["message"] = msg
        return await self.dispatch_interaction(payload)

    async def select_values(
        self, message_id: int, custom_id: str, values: list[str], **kwargs: Any
    ) -> InteractionHandle:
        """A user picks options in a string select."""
        return await self.click_button(message_id, custom_id, component_type=3, values=values, **kwargs)

    async def send_message_command(
        self,
        name: str,
        target_message_id: int,
        *,
        user: JSON | int | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """A user runs the message context-menu command ``name`` on a message."""
        target = self.get_message(target_message_id)
        if target is None:
            raise KeyError(f"unknown message {target_message_id}")
        dm = "guild_id" not in target
        gid = None if dm else int(target["guild_id"])
        data = self._command_data(name, 3, gid)
        data.update(target_id=target["id"], resolved={"messages": {target["id"]: target}})
        payload = self._interaction_base(
            2,
            data,
            user=user,
            channel_id=None if dm else int(target["channel_id"]),
            guild_id=gid,
            dm=dm,
            permissions=permissions,
            locale=locale,
        )
        return await self.dispatch_interaction(payload)

    async def send_user_command(
        self,
        name: str,
        target_user: JSON | int,
        *,
        user: JSON | int | None = None,
        channel_id: int | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """A user runs the user context-menu command ``name`` on ``target_user``."""
        target = self._user(target_user)
        cid = int(channel_id or self.channel_id)
        gid = int(self.channels[cid]["guild_id"])
        data = self._command_data(name, 2, gid)
        resolved: JSON = {"users": {target["id"]: target}}
        member = self.guilds[gid]["members"].get(int(target["id"]))
        if member is not None:
            resolved["members"] = {target["id"]: {k: v for k, v in member.items() if k != "user"}}
        data.update(target_id=target["id"], resolved=resolved)
        payload = self._interaction_base(
            2, data, user=user, channel_id=cid, guild_id=gid, dm=False, permissions=permissions, locale=locale
        )
        return await self.dispatch_interaction(payload)

    async def submit_modal(
        self,
        custom_id: str,
        values: dict[str, str],
        *,
        message_id: int | None = None,
        user: JSON | int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """A user submits a modal: ``values`` maps text input custom_id -> value."""
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]} for k, v in values.items()]
        payload = self._interaction_base(
            5,
            {"custom_id": custom_id, "components": rows},
            user=user,
            channel_id=channel_id,
            guild_id=None,
            dm=dm,
            permissions=permissions,
            locale=locale,
        )
        if message_id is not None:
            payload["message"] = self._component_message(message_id)
        return await self.dispatch_interaction(payload)

    # ======================================================================================
    # REST plumbing
    # ======================================================================================

    def _route(self, method: str, template: str) -> Callable[[Handler], Handler]:
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"

        def deco(fn: Handler) -> Handler:
            self._routes.append((method, re.compile(regex), template, fn))
            return fn

        return deco

    async def _unknown_handler(self, request: web.Request) -> web.Response:
        self.unknown_routes.append((request.method, request.path))
        return _json_response({"message": "404: Not Found", "code": 0}, status=404)

    async def _cdn_handler(self, request: web.Request) -> web.Response:
        entry = self.attachments.get(int(request.match_info["aid"]))
        if entry is None:
            return web.Response(status=404, text="Not Found")
        att, data = entry
        # Discord's content types may carry parameters ("text/plain; charset=utf-8"): send the header as is.
        return web.Response(body=data, headers={"Content-Type": att.get("content_type") or "application/octet-stream"})

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        if not request.can_read_body:
            return None, []
        ctype = request.content_type
        if ctype.startswith("multipart/"):
            payload: Any = None
            files: list[UploadedFile] = []
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                elif part.filename is not None:
                    data = await part.read()
                    files.append(
                        UploadedFile(
                            part.name or "",
                            part.filename,
                            part.headers.get("Content-Type", "application/octet-stream"),
                            bytes(data),
                        )
                    )
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            return raw.decode(errors="replace"), []

    async def _api_handler(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        body, files = await self._read_body(request)
        record = RecordedRequest(
            method=method,
            path=path,
            query=dict(request.query),
            json=body,
            files=[f.filename for f in files],
            at=time.monotonic(),
        )
        self.requests.append(record)
        try:
            limited = self._rate_limited(method, path)
            if limited is not None:
                record.status = 429
                return limited
            for r_method, regex, template, handler in self._routes:
                m = regex.match(path)
                if m and r_method == method:
                    record.route = f"{method} {template}"
                    if (
                        not template.startswith(("/webhooks", "/interactions", "/gateway"))
                        and request.headers.get("Authorization") != f"Bot {self.bot_token}"
                    ):
                        raise ApiError(401, 0, "401: Unauthorized", violation=False)
                    api_req = _ApiRequest(method, path, dict(request.query), body, files, record)
                    resp = await handler(api_req, **m.groupdict())
                    record.status = resp.status
                    return resp
            self.unknown_routes.append((method, path))
            record.status = 404
            return _json_response({"message": "404: Not Found", "code": 0}, status=404)
        except ApiError as exc:
            if exc.violation:
                self.violations.append((record.route or f"{method} {path}", exc.message + self._error_detail(exc)))
            record.status = exc.status
            return _json_response(exc.body(), status=exc.status)
        finally:
            self._notify()

    @staticmethod
    def _error_detail(exc: ApiError) -> str:
        if not exc.errors:
            return ""
        items: list[str] = []

        def walk(node: JSON, prefix: str) -> None:
            for key, value in node.items():
                if key == "_errors":
                    items.extend(f"{prefix or '<root>'}: {e['message']}" for e in value)
                else:
                    walk(value, f"{prefix}.{key}" if prefix else key)

        walk(exc.errors, "")
        return " — " + "; ".join(items)

    def _record_outgoing(
        self,
        kind: str,
        req: _ApiRequest,
        payload: JSON,
        *,
        channel_id: int | None = None,
        message_id: int | None = None,
        interaction_id: int | None = None,
    ) -> Outgoing:
        out = Outgoing(
            kind=kind,
            route=req.record.route or req.path,
            payload=copy.deepcopy(payload),
            files=[f.filename for f in req.files],
            at=req.record.at,
            channel_id=channel_id,
            message_id=message_id,
            interaction_id=interaction_id,
        )
        self._outgoing.append(out)
        return out

    def _uploads_to_attachments(self, files: list[UploadedFile]) -> list[JSON]:
        return [self.add_attachment(f.filename, f.data, f.content_type) for f in files]

    def _channel(self, channel_id: str) -> JSON:
        ch = self.channels.get(int(channel_id))
        if ch is None:
            raise ApiError(404, 10003, "Unknown Channel", violation=False)
        return ch

    def _message_in(self, channel_id: str, message_id: str) -> JSON:
        msg = self._messages.get(int(message_id))
        if msg is None or msg.get("_deleted") or msg["channel_id"] != str(channel_id):
            raise ApiError(404, 10008, "Unknown Message", violation=False)
        return msg

    def _check_uploads(self, files: list[UploadedFile]) -> None:
        if len(files) > MAX_ATTACHMENTS:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {"files": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 10 or fewer in length."}]}},
            )
        if sum(len(f.data) for f in files) > ATTACHMENT_SIZE_LIMIT:
            raise ApiError(413, 40005, "Request entity too large")

    def _validated(self, payload: JSON | None, files: list[UploadedFile], *, create: bool) -> JSON:
        self._check_uploads(files)
        payload = payload or {}
        errors = _FormErrors()
        validate_message_payload(payload, errors)
        errors.raise_if_any()
        if create and not files and _message_is_empty(payload):
            raise ApiError(400, 50006, "Cannot send an empty message")
        return payload

    def _check_edit_not_empty(self, msg: JSON) -> None:
        if _message_is_empty(msg):
            raise ApiError(400, 50006, "Cannot send an empty message")

    # ======================================================================================
    # REST routes
    # ======================================================================================

    def _register_routes(self) -> None:
        route = self._route

        @route("GET", "/gateway")
        async def get_gateway(req: _ApiRequest) -> web.Response:
            return _json_response({"url": self.gateway_url})

        @route("GET", "/gateway/bot")
        async def get_gateway_bot(req: _ApiRequest) -> web.Response:
            return _json_response(
                {
                    "url": self.gateway_url,
                    "shards": self.recommended_shards,
                    "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
                }
            )

        @route("GET", "/users/@me")
        async def get_me(req: _ApiRequest) -> web.Response:
            return _json_response(self.bot_user)

        @route("GET", "/users/{user_id}")
        async def get_user(req: _ApiRequest, user_id: str) -> web.Response:
            user = self.users.get(int(user_id))
            if user is None:
                raise ApiError(404, 10013, "Unknown User", violation=False)
            return _json_response(user)

        async def app_info(req: _ApiRequest) -> web.Response:
            return _json_response(self._application_payload())

        route("GET", "/oauth2/applications/@me")(app_info)
        route("GET", "/applications/@me")(app_info)

        @route("POST", "/users/@me/channels")
        async def create_dm(req: _ApiRequest) -> web.Response:
            rid = int((req.json or {}).get("recipient_id", 0))
            if rid not in self.users:
                raise ApiError(
                    400,
                    50035,
                    "Invalid Form Body",
                    {"recipient_id": {"_errors": [{"code": "NUMBER_TYPE_COERCE", "message": "Unknown user"}]}},
                )
            return _json_response(self.dm_channel(self.users[rid]))

        # --- application commands ---------------------------------------------------------

        @route("GET", "/applications/{app_id}/commands")
        async def get_global_commands(req: _ApiRequest, app_id: str) -> web.Response:
            self._check_app(app_id)
            return _json_response(self._global_commands)

        @route("PUT", "/applications/{app_id}/commands")
        async def put_global_commands(req: _ApiRequest, app_id: str) -> web.Response:
            self._check_app(app_id)
            self._global_commands = self._overwrite_commands(req.json, None)
            return _json_response(self._global_commands)

        @route("GET", "/applications/{app_id}/guilds/{guild_id}/commands")
        async def get_guild_commands(req: _ApiRequest, app_id: str, guild_id: str) -> web.Response:
            self._check_app(app_id)
            return _json_response(self._guild_commands.get(int(guild_id), []))

        @route("PUT", "/applications/{app_id}/guilds/{guild_id}/commands")
        async def put_guild_commands(req: _ApiRequest, app_id: str, guild_id: str) -> web.Response:
            self._check_app(app_id)
            if int(guild_id) not in self.guilds:
                raise ApiError(404, 10004, "Unknown Guild")
            self._guild_commands[int(guild_id)] = self._overwrite_commands(req.json, int(guild_id))
            return _json_response(self._guild_commands[int(guild_id)])

        # --- channels & messages ----------------------------------------------------------

        @route("GET", "/channels/{channel_id}")
        async def get_channel(req: _ApiRequest, channel_id: str) -> web.Response:
            return _json_response(self._channel(channel_id))

        @route("POST", "/channels/{channel_id}/typing")
        async def typing(req: _ApiRequest, channel_id: str) -> web.Response:
            self._channel(channel_id)
            self.typing.append((int(channel_id), time.monotonic()))
            return web.Response(status=204)

        @route("GET", "/channels/{channel_id}/messages")
        async def get_messages(req: _ApiRequest, channel_id: str) -> web.Response:
            self._channel(channel_id)
            limit = max(1, min(100, int(req.query.get("limit", 50))))
            msgs = [m for m in self.channel_messages(int(channel_id), include_ephemeral=False)]
            if "before" in req.query:
                msgs = [m for m in msgs if int(m["id"]) < int(req.query["before"])]
            if "after" in req.query:
                msgs = [m for m in msgs if int(m["id"]) > int(req.query["after"])]
                msgs = msgs[:limit]  # oldest-after first, then newest-first like Discord
            if "around" in req.query:
                around = int(req.query["around"])
                older = [m for m in msgs if int(m["id"]) <= around][-((limit + 1) // 2) :]
                newer = [m for m in msgs if int(m["id"]) > around][: limit // 2]
                msgs = older + newer
            msgs = list(reversed(msgs))[:limit]
            intents = self._current_intents()
            return _json_response([self._apply_content_intent(m, intents) for m in msgs])

        @route("GET", "/channels/{channel_id}/messages/{message_id}")
        async def get_message(req: _ApiRequest, channel_id: str, message_id: str) -> web.Response:
            msg = self._message_in(channel_id, message_id)
            if msg["flags"] & EPHEMERAL:
                raise ApiError(404, 10008, "Unknown Message", violation=False)
            return _json_response(self._apply_content_intent(self._public(msg), self._current_intents()))

        @route("POST", "/channels/{channel_id}/messages")
        async def create_message(req: _ApiRequest, channel_id: str) -> web.Response:
            self._channel(channel_id)
            payload = self._validated(req.json, req.files, create=True)
            out = self._record_outgoing("message_create", req, payload, channel_id=int(channel_id))
            msg = self._new_message(
                int(channel_id), self.bot_user, payload, attachments=self._uploads_to_attachments(req.files)
            )
            msg["flags"] &= 4 | 4096  # only SUPPRESS_EMBEDS / SUPPRESS_NOTIFICATIONS are settable
            self._store_message(msg)
            out.message_id = int(msg["id"])
            await self._dispatch_message("MESSAGE_CREATE", msg)
            return _json_response(self._public(msg))

        @route("PATCH", "/channels/{channel_id}/messages/{message_id}")
        async def edit_message(req: _ApiRequest, channel_id: str, message_id: str) -> web.Response:
            msg = self._message_in(channel_id, message_id)
            if msg["author"]["id"] != self.bot_user["id"] and set(req.json or {}) - {"flags"}:
                raise ApiError(403, 50005, "Cannot edit a message authored by another user")
            payload = self._validated(req.json, req.files, create=False)
            self._record_outgoing("message_edit", req, payload, channel_id=int(channel_id), message_id=int(message_id))
            before = copy.deepcopy(msg)
            self._edit_message(msg, payload, self._uploads_to_attachments(req.files))
            if _message_is_empty(msg):
                msg.clear()
                msg.update(before)
                raise ApiError(400, 50006, "Cannot send an empty message")
            await self._dispatch_message("MESSAGE_UPDATE", msg)
            return _json_response(self._public(msg))

        @route("DELETE", "/channels/{channel_id}/messages/{message_id}")
        async def delete_message(req: _ApiRequest, channel_id: str, message_id: str) -> web.Response:
            msg = self._message_in(channel_id, message_id)
            msg["_deleted"] = True
            data = {"id": msg["id"], "channel_id": msg["channel_id"]}
            if "guild_id" in msg:
                data["guild_id"] = msg["guild_id"]
            await self.dispatch("MESSAGE_DELETE", data)
            return web.Response(status=204)

        @route("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
        async def add_reaction(req: _ApiRequest, channel_id: str, message_id: str, emoji: str) -> web.Response:
            self._message_in(channel_id, message_id)
            self.reactions.append(
                (int(channel_id), int(message_id), urllib.parse.unquote(emoji), int(self.bot_user["id"]))
            )
            return web.Response(status=204)

        @route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
        async def remove_reaction(req: _ApiRequest, channel_id: str, message_id: str, emoji: str) -> web.Response:
            key = (int(channel_id), int(message_id), urllib.parse.unquote(emoji), int(self.bot_user["id"]))
            if key in self.reactions:
                self.reactions.remove(key)
            return web.Response(status=204)

        # --- threads ----------------------------------------------------------------------

        @route("POST", "/channels/{channel_id}/messages/{message_id}/threads")
        async def thread_from_message(req: _ApiRequest, channel_id: str, message_id: str) -> web.Response:
            msg = self._message_in(channel_id, message_id)
            if msg.get("thread"):
                raise ApiError(400, 160004, "A thread has already been created for this message")
            thread = await self._create_thread(
                channel_id, req.json or {}, thread_id=int(message_id), default_type=PUBLIC_THREAD
            )
            msg["thread"] = copy.deepcopy(thread)
            msg["flags"] |= 32  # HAS_THREAD
            return _json_response(thread, status=201)

        @route("POST", "/channels/{channel_id}/threads")
        async def thread_without_message(req: _ApiRequest, channel_id: str) -> web.Response:
            thread = await self._create_thread(channel_id, req.json or {}, thread_id=None, default_type=PRIVATE_THREAD)
            return _json_response(thread, status=201)

        # --- guilds -----------------------------------------------------------------------

        @route("GET", "/guilds/{guild_id}")
        async def get_guild(req: _ApiRequest, guild_id: str) -> web.Response:
            if int(guild_id) not in self.guilds:
                raise ApiError(404, 10004, "Unknown Guild", violation=False)
            payload = self.guild_payload(int(guild_id))
            for key in ("members", "channels", "threads", "presences", "voice_states"):
                payload.pop(key)
            return _json_response(payload)

        @route("GET", "/guilds/{guild_id}/channels")
        async def get_guild_channels(req: _ApiRequest, guild_id: str) -> web.Response:
            if int(guild_id) not in self.guilds:
                raise ApiError(404, 10004, "Unknown Guild", violation=False)
            return _json_response([self.channels[c] for c in self.guilds[int(guild_id)]["channel_ids"]])

        @route("GET", "/guilds/{guild_id}/members/{user_id}")
        async def get_member(req: _ApiRequest, guild_id: str, user_id: str) -> web.Response:
            g = self.guilds.get(int(guild_id))
            if g is None:
                raise ApiError(404, 10004, "Unknown Guild", violation=False)
            member = g["members"].get(int(user_id))
            if member is None:
                raise ApiError(404, 10007, "Unknown Member", violation=False)
            return _json_response(member)

        # --- interactions -----------------------------------------------------------------

        @route("POST", "/interactions/{interaction_id}/{token}/callback")
        async def callback(req: _ApiRequest, interaction_id: str, token: str) -> web.Response:
            return await self._interaction_callback(req, int(interaction_id), token)

        @route("GET", "/webhooks/{app_id}/{token}/messages/{message_id}")
        async def webhook_get(req: _ApiRequest, app_id: str, token: str, message_id: str) -> web.Response:
            handle = self._webhook_handle(app_id, token)
            msg = self._webhook_message(handle, message_id)
            return _json_response(self._public(msg))

        @route("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}")
        async def webhook_edit(req: _ApiRequest, app_id: str, token: str, message_id: str) -> web.Response:
            handle = self._webhook_handle(app_id, token)
            msg = self._webhook_message(handle, message_id)
            payload = self._validated(req.json, req.files, create=False)
            out = self._record_outgoing(
                "webhook_edit",
                req,
                payload,
                channel_id=int(msg["channel_id"]),
                message_id=int(msg["id"]),
                interaction_id=handle.id,
            )
            handle.edits.append(out)
            before = copy.deepcopy(msg)
            self._edit_message(msg, payload, self._uploads_to_attachments(req.files))
            if _message_is_empty(msg):
                msg.clear()
                msg.update(before)
                raise ApiError(400, 50006, "Cannot send an empty message")
            if handle._loading and int(msg["id"]) == handle.original_message_id:
                msg["flags"] &= ~LOADING
                handle._loading = False
                msg["edited_timestamp"] = None  # the first edit of a deferral is the reveal, not an edit
            handle._set_final(self._public(msg))
            if not msg["flags"] & EPHEMERAL:
                await self._dispatch_message("MESSAGE_UPDATE", msg)
            return _json_response(self._public(msg))

        @route("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}")
        async def webhook_delete(req: _ApiRequest, app_id: str, token: str, message_id: str) -> web.Response:
            handle = self._webhook_handle(app_id, token)
            msg = self._webhook_message(handle, message_id)
            msg["_deleted"] = True
            if int(msg["id"]) == handle.original_message_id:
                handle.deleted_original = True
            if not msg["flags"] & EPHEMERAL:
                data = {"id": msg["id"], "channel_id": msg["channel_id"]}
                if "guild_id" in msg:
                    data["guild_id"] = msg["guild_id"]
                await self.dispatch("MESSAGE_DELETE", data)
            return web.Response(status=204)

        @route("POST", "/webhooks/{app_id}/{token}")
        async def followup(req: _ApiRequest, app_id: str, token: str) -> web.Response:
            return await self._followup(req, app_id, token)

    def _application_payload(self) -> JSON:
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "Emulated application",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.owner,
            "team": None,
            "flags": self.application_flags,
            "bot": self.bot_user,
            "rpc_origins": [],
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
        }

    def _current_intents(self) -> int:
        sessions = self._identified_sessions()
        return sessions[-1][1].intents if sessions else 0

    def _check_app(self, app_id: str) -> None:
        if app_id != str(self.application_id):
            raise ApiError(403, 50001, "Missing Access")

    def _overwrite_commands(self, body: Any, guild_id: int | None) -> list[JSON]:
        if not isinstance(body, list):
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {"_errors": [{"code": "LIST_TYPE_CONVERT", "message": "Must be an array"}]},
            )
        errors = _FormErrors()
        validate_commands(body, errors)
        errors.raise_if_any()
        result = []
        for cmd in body:
            ctype = cmd.get("type", 1)
            key = (guild_id, ctype, cmd["name"])
            cid = self._command_ids.setdefault(key, self.snowflake())
            stored = {
                "id": str(cid),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "type": ctype,
                "name": cmd["name"],
                "description": cmd.get("description", ""),
                "options": copy.deepcopy(cmd.get("options") or []),
                "default_member_permissions": cmd.get("default_member_permissions"),
                "dm_permission": cmd.get("dm_permission", True),
                "nsfw": cmd.get("nsfw", False),
                "contexts": cmd.get("contexts"),
                "integration_types": cmd.get("integration_types") or [0],
                "name_localizations": cmd.get("name_localizations"),
                "description_localizations": cmd.get("description_localizations"),
            }
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            result.append(stored)
        return result

    async def _create_thread(self, channel_id: str, body: JSON, *, thread_id: int | None, default_type: int) -> JSON:
        parent = self._channel(channel_id)
        if parent["type"] != GUILD_TEXT:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        errors = _FormErrors()
        errors.max_len("name", body.get("name"), 100, 1)
        duration = body.get("auto_archive_duration", 1440)
        if duration not in (60, 1440, 4320, 10080):
            errors.add("auto_archive_duration", "BASE_TYPE_CHOICES", "Value must be one of {60, 1440, 4320, 10080}.")
        errors.raise_if_any()
        tid = thread_id or self.snowflake()
        ttype = int(body.get("type") or default_type)
        now = _iso()
        thread = {
            "id": str(tid),
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": self.bot_user["id"],
            "name": body["name"],
            "type": ttype,
            "last_message_id": None,
            "message_count": 0,
            "total_message_sent": 0,
            "member_count": 1,
            "rate_limit_per_user": int(body.get("rate_limit_per_user") or 0),
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": duration,
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
                **({"invitable": bool(body.get("invitable", True))} if ttype == PRIVATE_THREAD else {}),
            },
            "member": {"id": str(tid), "user_id": self.bot_user["id"], "join_timestamp": now, "flags": 0},
        }
        self.channels[tid] = thread
        self.threads.append(thread)
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    # --- interaction responses ------------------------------------------------------------

    def _interaction_message(
        self, handle: InteractionHandle, payload: JSON, attachments: list[JSON], flags: int
    ) -> JSON:
        p = handle.payload
        is_component = handle.type in (3, 5)
        msg_type = 0 if is_component else (23 if (p.get("data") or {}).get("type", 1) != 1 else 20)
        user = p.get("member", {}).get("user") or p.get("user")
        metadata: JSON = {
            "id": p["id"],
            "type": handle.type,
            "user": user,
            "authorizing_integration_owners": p.get("authorizing_integration_owners", {}),
        }
        if handle.type == 2:
            metadata["name"] = (p.get("data") or {}).get("name")
            metadata["command_type"] = (p.get("data") or {}).get("type", 1)
        if is_component and "message" in p:
            metadata["interacted_message_id"] = p["message"]["id"]
        extra = {
            "webhook_id": str(self.application_id),
            "application_id": str(self.application_id),
            "interaction_metadata": metadata,
        }
        msg = self._new_message(
            int(p["channel_id"]), self.bot_user, payload, attachments=attachments, msg_type=msg_type, extra=extra
        )
        msg["flags"] = flags
        return msg

    def _validate_callback(self, handle: InteractionHandle, rtype: int, data: JSON, files: list[UploadedFile]) -> None:
        allowed = {2: (4, 5, 9), 3: (4, 5, 6, 7, 9), 4: (8,), 5: (4, 5, 6, 7)}.get(handle.type, ())
        if handle.type == 5 and "message" not in handle.payload:
            allowed = (4, 5)
        if rtype not in allowed:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "type": {
                        "_errors": [
                            {
                                "code": "INTERACTION_RESPONSE_TYPE_INVALID",
                                "message": f"Response type {rtype} is not valid for interaction type {handle.type}",
                            }
                        ]
                    }
                },
            )
        errors = _FormErrors()
        if rtype in (4, 7):
            validate_message_payload(data, errors)
            errors.raise_if_any()
            if rtype == 4 and not files and _message_is_empty(data):
                raise ApiError(400, 50006, "Cannot send an empty message")
            if rtype == 7 and not files:
                target = self._messages.get(int(handle.payload["message"]["id"]), {})
                kept = {k: v for k, v in target.items() if k in ("content", "embeds", "components", "attachments")}
                if _message_is_empty({**kept, **data}):
                    raise ApiError(400, 50006, "Cannot send an empty message")
        elif rtype == 5:
            if (data.get("flags") or 0) & ~EPHEMERAL:
                errors.add(
                    "data.flags",
                    "INTERACTION_RESPONSE_FLAGS_INVALID",
                    "Only the EPHEMERAL flag is allowed on a deferral",
                )
        elif rtype == 8:
            choices = data.get("choices")
            if choices is None:
                errors.add("data.choices", "BASE_TYPE_REQUIRED", "This field is required")
            elif len(choices) > 25:
                errors.add("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            for i, ch in enumerate(choices or []):
                errors.max_len(f"data.choices.{i}.name", ch.get("name"), 100, 1)
                if isinstance(ch.get("value"), str):
                    errors.max_len(f"data.choices.{i}.value", ch.get("value"), 100)
        elif rtype == 9:
            errors.max_len("data.title", data.get("title"), 45, 1)
            errors.max_len("data.custom_id", data.get("custom_id"), 100, 1)
            comps = data.get("components") or []
            if not 1 <= len(comps) <= 5:
                errors.add("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
            for i, row in enumerate(comps):
                for j, item in enumerate(row.get("components") or [] if row.get("type") == 1 else []):
                    p = f"data.components.{i}.components.{j}"
                    if item.get("type") != 4:
                        continue
                    errors.max_len(f"{p}.label", item.get("label"), 45, 1)
                    errors.max_len(f"{p}.custom_id", item.get("custom_id"), 100, 1)
                    errors.max_len(f"{p}.placeholder", item.get("placeholder"), 100)
                    errors.max_len(f"{p}.value", item.get("value"), 4000)
                    for bound in ("min_length", "max_length"):
                        value = item.get(bound)
                        if value is not None and not 0 <= int(value) <= 4000:
                            errors.add(
                                f"{p}.{bound}", "NUMBER_TYPE_MAX", "int value should be less than or equal to 4000."
                            )
                    if item.get("style") not in (1, 2):
                        errors.add(f"{p}.style", "BASE_TYPE_CHOICES", "Value must be one of {1, 2}.")
        errors.raise_if_any()

    async def _interaction_callback(self, req: _ApiRequest, interaction_id: int, token: str) -> web.Response:
        handle = self.interactions.get(interaction_id)
        now = time.monotonic()
        body: JSON = req.json if isinstance(req.json, dict) else {}
        if handle is None or handle.token != token:
            raise ApiError(404, 10062, "Unknown interaction")
        status = 0
        try:
            if handle.response is not None:
                raise ApiError(400, 40060, "Interaction has already been acknowledged.")
            if now - handle.created_at > self.ack_deadline:
                raise ApiError(404, 10062, "Unknown interaction")
            rtype = int(body.get("type", 0))
            data: JSON = body.get("data") or {}
            self._check_uploads(req.files)
            self._validate_callback(handle, rtype, data, req.files)
        except ApiError as exc:
            status = exc.status
            raise
        finally:
            handle.callback_attempts.append((now, copy.deepcopy(body), status or 200))
        with_response = req.query.get("with_response", "").lower() in ("1", "true")
        interaction_info: JSON = {"id": str(handle.id), "type": handle.type}
        resource: JSON | None = None
        out = self._record_outgoing(
            "interaction_response",
            req,
            {"type": rtype, **data},
            interaction_id=handle.id,
            channel_id=int(handle.payload["channel_id"]),
        )
        handle._set_response({"type": rtype, "data": copy.deepcopy(data)})
        if rtype == 4:
            flags = int(data.get("flags") or 0) & (EPHEMERAL | 4 | 4096)
            msg = self._interaction_message(handle, data, self._uploads_to_attachments(req.files), flags)
            self._store_message(msg)
            handle.original_message_id = int(msg["id"])
            out.message_id = int(msg["id"])
            interaction_info.update(
                response_message_id=msg["id"],
                response_message_loading=False,
                response_message_ephemeral=bool(flags & EPHEMERAL),
            )
            resource = {"type": 4, "message": self._public(msg)}
            handle._set_final(self._public(msg))
            if not flags & EPHEMERAL:
                await self._dispatch_message("MESSAGE_CREATE", msg)
        elif rtype == 5:
            flags = int(data.get("flags") or 0) & EPHEMERAL
            msg = self._interaction_message(handle, {"content": ""}, [], flags | LOADING)
            self._store_message(msg)
            handle.original_message_id = int(msg["id"])
            handle._loading = True
            interaction_info.update(
                response_message_id=msg["id"],
                response_message_loading=True,
                response_message_ephemeral=bool(flags & EPHEMERAL),
            )
            resource = {"type": 5, "message": self._public(msg)}
            if not flags & EPHEMERAL:
                await self._dispatch_message("MESSAGE_CREATE", msg)
        elif rtype == 6:
            handle.original_message_id = int(handle.payload["message"]["id"])
        elif rtype == 7:
            target = self._messages[int(handle.payload["message"]["id"])]
            handle.original_message_id = int(target["id"])
            self._edit_message(target, data, self._uploads_to_attachments(req.files))
            handle.edits.append(out)
            out.message_id = int(target["id"])
            resource = {"type": 7, "message": self._public(target)}
            handle._set_final(self._public(target))
            if not target["flags"] & EPHEMERAL:
                await self._dispatch_message("MESSAGE_UPDATE", target)
        elif rtype in (8, 9):
            handle._set_final(copy.deepcopy(data))
        self._notify()
        if not with_response:
            return web.Response(status=204)
        result: JSON = {"interaction": interaction_info}
        if resource is not None:
            result["resource"] = resource
        return _json_response(result)

    def _webhook_handle(self, app_id: str, token: str) -> InteractionHandle:
        handle = self._interactions_by_token.get(token)
        if handle is None or app_id != str(self.application_id):
            raise ApiError(404, 10015, "Unknown Webhook")
        if time.monotonic() - handle.created_at > self.token_lifetime:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        if handle.response is None:
            # Never acknowledged: past the deadline the token is dead; before it, there is nothing to act on.
            raise ApiError(404, 10015, "Unknown Webhook")
        return handle

    def _webhook_message(self, handle: InteractionHandle, message_id: str) -> JSON:
        if message_id == "@original":
            if handle.original_message_id is None or handle.deleted_original:
                raise ApiError(404, 10008, "Unknown Message")
            mid = handle.original_message_id
        else:
            mid = int(message_id)
            if mid not in handle.followup_ids and mid != handle.original_message_id:
                raise ApiError(404, 10008, "Unknown Message")
        msg = self._messages.get(mid)
        if msg is None or msg.get("_deleted"):
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    async def _followup(self, req: _ApiRequest, app_id: str, token: str) -> web.Response:
        handle = self._webhook_handle(app_id, token)
        payload = self._validated(req.json, req.files, create=True)
        out = self._record_outgoing(
            "followup", req, payload, interaction_id=handle.id, channel_id=int(handle.payload["channel_id"])
        )
        attachments = self._uploads_to_attachments(req.files)
        if handle._loading and handle.original_message_id is not None:
            # Discord fills the "thinking..." message with the first follow-up after a type-5 deferral;
            # its ephemerality was decided by the deferral.
            msg = self._messages[handle.original_message_id]
            msg["flags"] &= ~LOADING
            handle._loading = False
            self._edit_message(msg, payload, attachments)
            msg["edited_timestamp"] = None
            event = "MESSAGE_UPDATE"
        else:
            flags = int(payload.get("flags") or 0) & (EPHEMERAL | 4 | 4096)
            msg = self._interaction_message(handle, payload, attachments, flags)
            self._store_message(msg)
            handle.followup_ids.append(int(msg["id"]))
            event = "MESSAGE_CREATE"
        out.message_id = int(msg["id"])
        handle._set_final(self._public(msg))
        if not msg["flags"] & EPHEMERAL:
            await self._dispatch_message(event, msg)
        self._notify()
        if req.query.get("wait", "").lower() in ("1", "true"):
            return _json_response(self._public(msg))
        return web.Response(status=204)

    def iter_messages(self) -> Iterator[JSON]:
        """All live stored messages (any channel, any author), in creation order."""
        for mid in sorted(self._messages):
            msg = self.get_message(mid)
            if msg is not None:
                yield msg
