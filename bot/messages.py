"""Every user-facing string of the Discord bot, in one place.

Plain constants, or small functions for the ones that take values. Nothing here may
mention a user, role or @everyone on purpose: messages are also sent with no mentions
allowed, but the text itself should never need them.
"""

from __future__ import annotations

# -- command names and descriptions (Discord: names 1–32 lowercase, descriptions 1–100) ----
ASK_DESCRIPTION = "Ask a question; the answer quotes the ingested articles, with citations."
ASK_QUESTION = "What you want to know."
ASK_PRIVATE = "Only you see the answer (you can still share it)."
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
WRONG_PLACE = "That button belongs to another server or conversation."
COOLDOWN = "You're going a bit fast. Try again in {seconds:.0f} s."
TOO_LONG = "The {what} is {length:,} characters; the limit is {limit:,}."
QUESTION_EMPTY = "Ask me a question after the mention, for example: what did Russia demand?"
ERROR = "Something went wrong on my side (error id `{error_id}`). Please try again later."
ERROR_ID = "(error id `{error_id}`)"
FAILED_PUBLIC = "That didn't work."

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


def answer_title(question: str) -> str:
    return ANSWER_TITLE_PREFIX + question


def too_long(what: str, length: int, limit: int) -> str:
    return TOO_LONG.format(what=what, length=length, limit=limit)


def cooldown(seconds: float) -> str:
    return COOLDOWN.format(seconds=max(1.0, seconds + 0.5))


def error(error_id: str) -> str:
    return ERROR.format(error_id=error_id)
