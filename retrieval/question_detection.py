"""Whether a chat message reads as a question (auto-answer channels answer only those).

A message is a question when, its chat wrapping aside (mentions, emoji, links), it ends in
a question mark, or opens with an interrogative or an auxiliary verb and has a few words
("who won the vote", "is the bridge open"). Short remarks ("why?", "ok?"), links alone and
code are not: an auto-answer channel is a conversation, and the bot must not chime in on
every line of it.
"""

from __future__ import annotations

import re

_WRAPPING = re.compile(
    r"<[@#][!&]?\d+>|<a?:\w+:\d+>|https?://\S+|@everyone|@here|[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]"
)
_CODE = re.compile(r"```|^\s*[>$#]", re.MULTILINE)
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_OPENERS = re.compile(
    r"^(?:who|whom|whose|what|when|where|why|how|which|is|are|was|were|do|does|did|can|could|will|would|"
    r"should|has|have|had|may|might|must|shall|tell me|explain|any(?:one|body) know)\b",
    re.IGNORECASE,
)
MIN_WORDS = 3


def reads_as_question(text: str) -> bool:
    if _CODE.search(text):
        return False
    plain = " ".join(_WRAPPING.sub(" ", text).split())
    if len(_WORD.findall(plain)) < MIN_WORDS:
        return False
    return plain.rstrip(" .!)\"'”").endswith("?") or bool(_OPENERS.match(plain))
