"""What the question is, once the way people type in chat is taken off it.

In Discord a question comes wrapped: "@Citebot hey, can you tell me what did Pompeo demand
pls?", "@everyone who won", "so what about Russia". Everything downstream (search, the
reranker, answer types) sees only the question itself — ``question_text`` — so a greeting,
a mention, politeness, casing or a missing "?" never changes the answer.

Follow-ups in a thread are resolved here too (``resolve_follow_up``): a question that
stands on its own is asked as it is; "what about X?" takes the previous question with X in
place of its subject; a pronoun takes the previous question's subject. The old question
never outweighs the new one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_MENTION = r"(?:<[@#][!&]?\d+>|@everyone|@here|@[\w.\-]+)"
_GREETING = (
    r"(?:hey+|hi+|hello+|hiya|heya|howdy|yo+|sup|greetings|good (?:morning|afternoon|evening|day)|"
    r"ok(?:ay)?|alright|so|um+|uh+|hm+|well|oh|ah|btw|lol|guys|folks|y'?all|everyone|all|there|bot|citebot|"
    r"quick question|question|q|thanks|thank you|thx|please|pls|plz|and|also|but|then|now)"
)
# Requests that wrap a question: "can you tell me who …" is "who …".
_REQUEST = (
    r"(?:(?:can|could|would|will) (?:you|u|someone|anyone|somebody)(?: please| pls| plz| kindly)?"
    r"(?: (?:tell|show|remind|explain to) (?:me|us))?|"
    r"(?:please|pls|plz|kindly) (?:tell|show|remind) (?:me|us)|"
    r"(?:tell|show|remind) (?:me|us)(?: please| pls)?|"
    r"(?:do|does) (?:you|u|anyone|anybody|someone|somebody) know|"
    r"(?:i|we)(?:'d| would) (?:like|love) to know|(?:i|we) (?:want|need) to know|"
    r"(?:i|we)(?:'m| am| was| were)? wonder(?:ing)?|i wonder|any ?(?:one|body) know|"
    r"any idea|got any idea|have you any idea|do you have any idea|"
    r"let me know|help me understand)"
)
_LEAD = re.compile(rf"^(?:{_MENTION}|{_GREETING}\b|{_REQUEST}\b)[\s,.:;!?~\-—–]*", re.IGNORECASE)
_TRAIL_WORDS = re.compile(
    r"[\s,.;:!?~\-—–]*\b(?:please|pls|plz|thanks|thank you|thank u|thx|ty|cheers|mate|guys|folks|"
    r"bot|citebot|lol|haha|anyone|anybody|if you know|if you can|by any chance)$",
    re.IGNORECASE,
)
_TRAIL_MENTION = re.compile(rf"[\s,]*{_MENTION}$", re.IGNORECASE)
_EMOJI = re.compile(r"<a?:\w+:\d+>|[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]|:[a-z_]+:|[:;]-?[()DPp]")
_TRAIL_PUNCT = re.compile(r"[\s?!.,;:~\-—–]+$")
_SPACES = re.compile(r"\s+")


def question_text(raw: str) -> str:
    """The question without chat wrapping, ending in "?" (or ``raw`` stripped, if nothing is left)."""
    text = _SPACES.sub(" ", _EMOJI.sub(" ", raw)).strip()
    previous = None
    while text != previous:
        previous = text
        text = _LEAD.sub("", text, count=1).strip()
        text = _TRAIL_MENTION.sub("", text).strip()
        text = _TRAIL_WORDS.sub("", text).strip()
        text = _TRAIL_PUNCT.sub("", text).strip()
    if not text:
        return raw.strip()
    return text[0].upper() + text[1:] + "?"


# -- follow-ups -----------------------------------------------------------------------------
_ELLIPSIS = re.compile(r"^(?:what|how) about (?P<focus>.+?)\?$", re.IGNORECASE)
_PRONOUN = re.compile(r"\b(he|she|they|him|her|them|his|hers|its|their|theirs|it)\b", re.IGNORECASE)
# A subject in the earlier question: a run of capitalised words (not the first word), or a
# quoted phrase. "What did Mike Pompeo demand?" -> "Mike Pompeo".
_SUBJECT = re.compile(r"(?<!^)(?<![.?!] )\b([A-Z][\w'’.-]*(?: (?:of |the |de |von |van )?[A-Z][\w'’.-]*)*)")
_POSSESSIVE = {"his", "her", "its", "their"}


def subject_of(question: str) -> str | None:
    """The named subject of a question, if it names one."""
    found = [m.group(1) for m in _SUBJECT.finditer(question)]
    return max(found, key=len) if found else None


def resolve_follow_up(question: str, history: Sequence[str]) -> str:
    """A follow-up made standalone with the thread's previous question (``question`` if it
    already stands alone). Both are ``question_text`` forms."""
    if not history:
        return question
    previous = history[-1]
    subject = subject_of(previous)
    ellipsis = _ELLIPSIS.match(question)
    if ellipsis:
        focus = ellipsis.group("focus")
        if subject:
            return previous.replace(subject, focus, 1)
        return f"{previous.rstrip('?')} {focus}?"
    pronoun = _PRONOUN.search(question)
    if pronoun and subject and subject_of(question) is None:
        word = pronoun.group(1)
        replacement = f"{subject}'s" if word.lower() in _POSSESSIVE else subject
        return question[: pronoun.start()] + replacement + question[pronoun.end() :]
    return question
