"""Every user-facing string of the Discord bot, in one place.

Plain constants, or small functions for the ones that take values. Nothing here may
mention a user, role or @everyone on purpose (the one exception: an escalation pings the
support role a server chose, see ``bot.escalation``): messages are also sent with no mentions
allowed, but the text itself should never need them.
"""

from __future__ import annotations

# -- command names and descriptions (Discord: names 1–32 lowercase, descriptions 1–100) ----
ASK_DESCRIPTION = "Ask a question; the answer quotes the ingested articles, with citations."
ASK_QUESTION = "What you want to know."
ASK_PRIVATE = "Only you see the answer (you can still share it)."
ASK_SINCE = "Only articles published since: 12h, 7d, 2w, 3m, 1y or a date like 2024-05-01."
ASK_SOURCE = "Only articles from this site: a domain like reuters.com, or a URL."
SEARCH_DESCRIPTION = "Show the passages of the ingested articles that best match a query."
SEARCH_QUERY = "Words or a question to look for."
CITE_DESCRIPTION = "Open a citation by its id, or find where a quote occurs in the articles."
CITE_ARGUMENT = "A citation id (like 6f75d72f-95-334) or a quote."
SOURCES_DESCRIPTION = "List the documents ingested in this server."
HELP_DESCRIPTION = "How to use Citebot."
INGEST_DESCRIPTION = "Add a document (txt, md, html, pdf) or a web page to this server's articles."
INGEST_FILE = "A .txt, .md, .html or .pdf file."
INGEST_URL = "An http(s) address of an article."
FORGET_DESCRIPTION = "Remove a document and its passages from this server's articles."
FORGET_DOCUMENT = "The document's title or id."
MENU_ASK = "Ask Citebot about this"
MENU_FIND = "Find source"

# -- answers --------------------------------------------------------------------------------
ANSWER_TITLE_PREFIX = "Q: "
CITATION_NAME = "[{n}]"
PARAGRAPH = "paragraph {paragraph}"
FOOTER_TIME = "Answered in {seconds:.2f} s"
FOOTER_ABSTAINED = "Nothing in the ingested articles answers this. Try /search, or rephrase."
FOOTER_CITE_HINT = "Check any quote with /cite <id>"
MORE_CITATIONS = "…and {count} more citation(s): see Sources."
TRUNCATED_CITE = " (full text: /cite {cid})"
TRUNCATED_SOURCES = " (full passages: the Sources button or /cite)"
SHARED_BY = "Shared by {user}:"
FEEDBACK_THANKS = "Thanks for the feedback. Answers in this server so far: {up} 👍, {down} 👎."
FEEDBACK_AGAIN = "You already rated this answer. Answers in this server so far: {up} 👍, {down} 👎."
ANSWER_UNAVAILABLE = "I can't read that answer any more; ask the question again."

# -- buttons (labels at most 80 characters) -------------------------------------------------
BUTTON_SOURCES = "Sources"
BUTTON_SHARE = "Share"
BUTTON_PREVIOUS = "Previous"
BUTTON_NEXT = "Next"

# -- citations and lookups ------------------------------------------------------------------
SOURCES_TITLE = "Sources of this answer"
SOURCE_GONE = "The document behind this citation is no longer here (it was forgotten or replaced)."
CITATION_FOOTER = "Citation {cid} · paragraph {paragraph} · {match}"
MATCH_EXACT = "exact quote"
MATCH_NEAR = "near match (the wording differs slightly)"
QUOTE_NOT_FOUND = "That text does not occur in this server's articles."
NO_TEXT = "There is no text to look up in that."
SEARCH_TITLE = "Passages for: {query}"
SEARCH_NONE = "No passages match that. Is anything ingested yet? Try /sources."
SEARCH_FIELD = "{rank}. {title} · paragraph {paragraph}"
SEARCH_FOOTER = "Open a passage with /cite <id>"

# -- documents ------------------------------------------------------------------------------
DOCUMENTS_TITLE = "Documents in this server"
DOCUMENTS_TITLE_DM = "Documents available in direct messages"
DOCUMENTS_NONE = "No documents yet. Members with Manage Server can add some with /ingest."
DOCUMENTS_PAGE = "Page {page} of {pages} · {count} document(s)"
DOCUMENT_LINE = "**{title}** · `{doc_id}` · {chunks} passages, {chars:,} characters"
FORGOTTEN = "Forgot **{title}** (`{doc_id}`)."

# -- ingest ---------------------------------------------------------------------------------
INGEST_NEEDS_ONE = "Give a file or a url (one of them)."
INGEST_DOWNLOADING = "Downloading {name}…"
INGEST_WORKING = "Reading and indexing {name}… ({seconds:.0f} s so far)"
INGEST_TITLE = "Ingest finished"
INGEST_TITLE_FAILED = "Ingest failed"
INGEST_TOO_LARGE = "{name} is {size:,} bytes; the limit is {limit:,} bytes."
INGEST_BAD_TYPE = "{name}: unsupported type (use .txt, .md, .html or .pdf)."
INGEST_BAD_URL = "That is not an http(s) address."
INGEST_ITEM = {
    "added": "Added **{title}** (`{doc_id}`, {chunks} passages).",
    "replaced": "Replaced the earlier version of **{title}** (`{doc_id}`, {chunks} passages).",
    "unchanged": "**{title}** (`{doc_id}`) was already here, unchanged.",
}
INGEST_SUMMARY = "{added} added, {replaced} replaced, {unchanged} unchanged, {failed} failed · {seconds:.1f} s"

# -- permissions, limits and errors ---------------------------------------------------------
NEEDS_MANAGE_GUILD = "Only members with the Manage Server permission can do that."
GUILD_ONLY = "That only works in a server."

# -- /config
CONFIG_DESCRIPTION = "This server's Citebot settings (Manage Server only)."
CONFIG_ANSWER_MODE_DESCRIPTION = "Show or set how this server's questions are answered."
CONFIG_ANSWER_MODE_MODE = (
    "extractive: quotes only · llm: a model writes the answer, every sentence verified · default: the bot's setting"
)
ANSWER_MODE_NAMES = {
    "extractive": "**extractive** (answers quote the articles)",
    "llm": "**llm** (answers written by `{model}`; sentences their sources do not support are removed)",
}
ANSWER_MODE_NOW = "Answer mode in this server: {mode}. {source}"
ANSWER_MODE_OVERRIDE = (
    "Set for this server; `/config answer-mode mode:default` returns to the bot's default ({default})."
)
ANSWER_MODE_DEFAULT = "This is the bot's default."
WRONG_PLACE = "That button belongs to another server or conversation."
COOLDOWN = "You're going a bit fast. Try again in {seconds:.0f} s."
LIMITS = {
    "documents": "This server already has {current} documents (the limit is {limit}).",
    "bytes": "This server's documents would exceed {limit:,} bytes.",
    "ingests_per_hour": "This server reached its limit of {limit} ingests per hour.",
}
QUESTION_EMPTY = "Ask me a question after the mention, for example: what did Russia demand?"
ERROR = "Something went wrong on my side (error id `{error_id}`). Please try again later."
ERROR_ID = "(error id `{error_id}`)"
FAILED_PUBLIC = "That didn't work."

# -- /feed (issue 13) -----------------------------------------------------------------------
FEED_DESCRIPTION = "RSS and Atom feeds whose new articles arrive by themselves (Manage Server only)."
FEED_ADD_DESCRIPTION = "Subscribe this server to an RSS or Atom feed."
FEED_ADD_URL = "The feed's http(s) address."
FEED_ADD_SET = "The document set its articles go to (optional)."
FEED_ADD_ANNOUNCE = "Post “New: <title>” in this channel for each new article."
FEED_LIST_DESCRIPTION = "This server's feeds and their health."
FEED_REMOVE_DESCRIPTION = "Unsubscribe from a feed (its articles stay; /forget removes them)."
FEED_REMOVE_FEED = "The feed (its URL or id)."
FEED_ADDED = "Subscribed to **{title}** (`{feed_id}`). Its articles arrive with the next poll, within a few minutes."
FEED_ADDED_ANNOUNCE = " New articles will be posted in this channel."
FEED_REMOVED = "Unsubscribed from **{title}** (`{feed_id}`). Its articles stay; /forget removes one."
FEED_LIST_TITLE = "Feeds of this server"
FEED_LIST_NONE = "No feeds yet. Subscribe to one with /feed add."
FEED_LINE = "**{title}** · `{feed_id}` · {entries} articles · {polled}{set}\n{health}"
FEED_NEVER_POLLED = "not polled yet"
FEED_POLLED = "polled <t:{at}:R>"
FEED_SET = " · set {name}"
FEED_OK = "✓ ok"
FEED_OK_BUT = "✓ ok, but {error}"
FEED_FAILING = "✗ failing ({failures}×, next try <t:{next}:R>): {error}"
FEED_FOOTER = "{count} feed(s) · polled every {minutes:g} minutes, later after errors"
FEED_NEW = "New: **{title}**"

# -- help -----------------------------------------------------------------------------------
HELP_TITLE = "Citebot"
HELP_INTRO = (
    "I answer questions about this server's articles with sentences quoted word for word, "
    "each with a citation you can open and check. If the articles don't say it, I say so."
)
HELP_CHAT = (
    "Mention me with a question, or write to me in a direct message. I reply, and open a thread "
    "for follow-ups such as “and what did Russia want?”."
)
HELP_CHAT_TITLE = "Chat"
HELP_COMMANDS_TITLE = "Commands"
HELP_MENUS_TITLE = "Message menus (right-click or long-press a message, then Apps)"
HELP_BUTTONS_TITLE = "Buttons on answers"
HELP_BUTTONS = (
    "[n] opens that passage in context · Sources lists every quoted passage · "
    "Share posts a private answer to the channel · 👍/👎 rate the answer."
)
HELP_MANAGE = "(Manage Server only)"


# -- issue 13: the admin view (/stats, "Not helpful", /config escalate) and auto-answer -------
STATS_DESCRIPTION = "Questions asked, answered and rated in this server, with a chart (Manage Server only)."
STATS_DAYS = "How many days back, today included (1–90; default 7)."
STATS_TITLE = "Citebot in this server: the last {days} day(s)"
STATS_SUMMARY = "**{asked}** question(s) asked · **{answered}** answered · **{abstained}** not answered"
STATS_NONE = "No questions asked in this window yet."
STATS_VOTES = "Ratings"
STATS_VOTES_LINE = "{up} 👍 · {down} 👎 ({ratio})"
STATS_VOTES_NONE = "no ratings yet"
STATS_GAPS = "Asked but not answered (coverage gaps)"
STATS_GAP_LINE = "{count}× {question}"
STATS_CITED = "Most cited documents"
STATS_CITED_LINE = "{count}× **{title}**"
STATS_FORGOTTEN = "(a document since forgotten or replaced)"
STATS_FEEDS = "Feeds"
STATS_FOOTER = "Since {since} (UTC) · question texts are those asked of Citebot here"
STATS_CHART_TOO_LARGE = "(The chart was too large to attach.)"
CONFIG_ESCALATE_DESCRIPTION = "Where 👎 answers go: a channel, pinging a support role. No options: show it."
CONFIG_ESCALATE_ROLE = "The role to ping with each answer marked not helpful."
CONFIG_ESCALATE_CHANNEL = "The channel to post them in."
CONFIG_ESCALATE_OFF = "True: stop posting them."
ESCALATE_NONE = "Answers marked not helpful are not posted anywhere. Set it with `/config escalate role channel`."
ESCALATE_NOW = "Answers marked not helpful are posted in {channel}, pinging {role}."
ESCALATE_OFF = "Done: answers marked not helpful are no longer posted."
ESCALATE_NEEDS_BOTH = "Give both a role and a channel (or `off:True`)."
ESCALATE_CANNOT_POST = "I can't send messages in {channel}; allow me to, or pick another channel."
ESCALATE_NOT_MENTIONABLE = (
    " Note: {role} is not mentionable and I lack the Mention @everyone, @here and All Roles permission, "
    "so it will not be pinged; make it mentionable in the role's settings."
)
CONFIG_AUTOANSWER_DESCRIPTION = "Answer every question posted in a channel or forum, no mention needed."
CONFIG_AUTOANSWER_CHANNEL = "A text or forum channel."
CONFIG_AUTOANSWER_STATE = "on or off (none: show the channels)."
CONFIG_IGNORE_DESCRIPTION = "A role whose members auto-answer leaves alone. No options: show it."
CONFIG_IGNORE_ROLE = "Members with this role are never auto-answered."
CONFIG_IGNORE_OFF = "True: no role is ignored."
AUTOANSWER_NEEDS_INTENT = (
    "I can't auto-answer: I was started without the message content intent, so I can't read messages "
    "that don't mention me. The bot's operator must enable it (Developer Portal → Bot → Message Content "
    "Intent) and run me with it."
)
AUTOANSWER_BAD_CHANNEL = "Auto-answer works in text channels and forums."
AUTOANSWER_TOO_MANY = "This server already has {limit} auto-answer channels; turn one off first."
AUTOANSWER_NONE = "Auto-answer is off in every channel. Turn it on with `/config autoanswer channel on`."
AUTOANSWER_NOW = "I answer every question posted in: {channels}."
AUTOANSWER_IGNORED = " Members with {role} are left alone."
AUTOANSWER_NO_INTENT_NOTE = " (Not active: I run without the message content intent.)"
IGNORE_NONE = "No role is ignored by auto-answer."
IGNORE_NOW = "Auto-answer leaves members with {role} alone."
HELP_AUTOANSWER_TITLE = "Auto-answer channels"
HELP_AUTOANSWER = (
    "Managers can make me answer every question posted in a channel or forum (`/config autoanswer`). "
    "That needs the message content intent: {state}."
)
HELP_INTENT_ON = "it is on"
HELP_INTENT_OFF = "it is off, so auto-answer is unavailable"
NOT_HELPFUL_TITLE = "What was wrong with this answer?"
NOT_HELPFUL_LABEL = "What was wrong? (optional)"
NOT_HELPFUL_PLACEHOLDER = "e.g. it quotes the wrong article, or misses the latest news"
NOT_HELPFUL_THANKS = "Thanks, noted. Answers in this server so far: {up} 👍, {down} 👎."
NOT_HELPFUL_ESCALATED = "Thanks: this server's support team has been told. Answers so far: {up} 👍, {down} 👎."
ESCALATION_CONTENT = "{role}: an answer was marked not helpful."
ESCALATION_TITLE = "Not helpful: {question}"
ESCALATION_ANSWER = "Answer"
ESCALATION_CITATIONS = "Citations"
ESCALATION_NOTE = "What was wrong"
ESCALATION_NO_NOTE = "(no note given)"
ESCALATION_BY = "Marked by {user} in {channel}"
ESCALATION_JUMP = "The answer: {url}"
ESCALATION_NO_CITATIONS = "(none: the bot abstained)"


def stats_ratio(ratio: float | None) -> str:
    return STATS_VOTES_NONE if ratio is None else f"{ratio:.0%} helpful"


def answer_title(question: str) -> str:
    return ANSWER_TITLE_PREFIX + question


def cooldown(seconds: float) -> str:
    return COOLDOWN.format(seconds=max(1.0, seconds + 0.5))


def error(error_id: str) -> str:
    return ERROR.format(error_id=error_id)


def answer_mode_now(mode: str, *, model: str, overridden: bool, default: str) -> str:
    source = ANSWER_MODE_OVERRIDE.format(default=default) if overridden else ANSWER_MODE_DEFAULT
    return ANSWER_MODE_NOW.format(mode=ANSWER_MODE_NAMES[mode].format(model=model), source=source)


def limit_reached(bound: str, limit: int, current: int) -> str:
    return LIMITS[bound].format(limit=limit, current=current)


# -- document sets ----------------------------------------------------------------------------
ASK_SET = "Only documents in this set (or sets: a, b)."
SEARCH_PRIVATE = "Only you see the result (it may then include sets restricted to your roles)."
INGEST_SET = "The document set(s) it goes in, e.g. policies or hr, policies (optional)."
SETS_DESCRIPTION = "List the document sets you can see in this server."
SETS_TITLE = "Document sets"
SETS_NONE = "No document sets here yet. `/ingest … set:` files a document into one."
SETS_LINE = "**{name}** · {documents} document(s){who}"
SETS_RESTRICTED = " · only {roles}"
SETS_FOOTER = "Unfiled documents are visible to everyone. Restricted sets show only in private replies."
SHARE_RESTRICTED = (
    "This answer quotes a set restricted to some roles, so it stays private: sharing would show it to everyone here."
)
ESCALATION_RESTRICTED = "(The answer quoted a restricted document set; open the question's answer privately to see it.)"
CONFIG_CHANNEL_SETS_DESCRIPTION = "Answer in a channel from some document sets only. No sets: show them."
CONFIG_CHANNEL_SETS_CHANNEL = "The channel (its threads follow it)."
CONFIG_CHANNEL_SETS_SETS = "The sets, comma-separated (e.g. hr, policies)."
CONFIG_CHANNEL_SETS_CLEAR = "True: the channel answers from every set again."
CHANNEL_SETS_NOW = "{channel} answers only from the sets {sets} (unfiled documents are left out there)."
CHANNEL_SETS_NONE = "{channel} answers from every set."
CONFIG_SET_ROLES_DESCRIPTION = "Restrict a document set to members with a role. No role: show it."
CONFIG_SET_ROLES_SET = "The document set."
CONFIG_SET_ROLES_ROLE = "A role that may see the set."
CONFIG_SET_ROLES_ROLE2 = "Another role that may see it (optional)."
CONFIG_SET_ROLES_ROLE3 = "A third role that may see it (optional)."
CONFIG_SET_ROLES_CLEAR = "True: everyone may see the set again."
SET_ROLES_NOW = "Set **{name}** ({documents} document(s)) is visible only to {roles} (and to Manage Server)."
SET_ROLES_OPEN = "Set **{name}** ({documents} document(s)) is visible to everyone."
