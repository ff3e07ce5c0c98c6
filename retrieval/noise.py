"""Sentences that are part of a page but not of its story: never quoted as evidence.

News pages carry photo captions and credits ("Jane Doe/Reuters People watch …"), bylines,
"COMMENTS", calls to subscribe or comment, sidebar teasers and Markdown headings. They stay
in the stored text (citations quote it verbatim at fixed offsets) but an answer never
quotes them: a caption repeats the story's words without stating its news.
"""

from __future__ import annotations

import re

_AGENCIES = (
    r"(?:Getty(?: Images)?|AP|AP Photo|AFP|Reuters|EPA|EPA-EFE|Shutterstock|Bloomberg|Alamy|PA|PA Wire|"
    r"Xinhua|Anadolu|Sipa|Zuma|NurPhoto|WireImage|The Associated Press|Associated Press|Pool)"
)
_PATTERNS = [
    # Photo credits: "Name/Agency", "(Photo: …)", "Photograph: …", "Image credit …".
    rf"\w/\s?{_AGENCIES}\b",
    rf"\b(?:via|for|Credit:|Photo:|Photo by|Photograph by) {_AGENCIES}\b",
    r"^\(?(?:photo|photograph|image|picture|illustration|video|credit|source)s?(?: credit)?\s*[:|]",
    r"\b(?:photo|image) credit\b",
    # Calls to act, boilerplate and teasers.
    r"^(?:please )?(?:let us know|sign up|subscribe|click here|read more|related:|advertisement|share this|"
    r"follow us|join the conversation|submit your|contact us|newsletter|listen to|watch:|watch the|"
    r"view all posts|view comments|all rights reserved|copyright (?:©|\(c\)|\d{4})|©)",
    r"\b(?:all rights reserved|sign up for our newsletter|this article (?:was|has been) (?:updated|amended))\b",
    # A dateline alone: "Updated 3:45 PM ET".
    r"^(?:updated|published|posted)\b.{0,40}\d{1,2}:\d{2}",
]
_NOISE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)
# A byline alone: "By Jane Doe and John Roe" (case matters: "By the end of …" is story text).
_BYLINE = re.compile(
    r"^By [A-Z][\w.'-]+(?: [A-Z][\w.'-]+){0,3}(?:(?:,| and) [A-Z][\w.'-]+(?: [A-Z][\w.'-]+){0,3})*\.?$"
)
_HEADING = re.compile(r"^\s*#{1,6}\s")
_LETTERS = re.compile(r"[A-Za-z]")


def is_noise(text: str, title: str = "") -> bool:
    """Is this sentence page furniture rather than story text?"""
    stripped = text.strip()
    if not stripped or stripped == title.strip() or _HEADING.match(stripped):
        return True
    words = stripped.split()
    if len(words) < 4:
        return True  # "COMMENTS", a two-word byline, a section label
    letters = _LETTERS.findall(stripped)
    if len(words) <= 8 and letters and sum(ch.isupper() for ch in letters) / len(letters) > 0.8:
        return True  # a shouted label: "MORE FROM THE WEEK"
    return bool(_NOISE.search(stripped) or _BYLINE.match(stripped))
