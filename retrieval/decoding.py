"""Bytes to text: a declared charset, else UTF-8, else Western (cp1252), else a guess.

Detectors guess single-byte encodings poorly on short texts (charset_normalizer reads a
Latin-1 French or German file as cp1250, which turns "é" into "ę"-like mojibake), and most
non-UTF-8 text on the web and on disk is Western. So after UTF-8, a text that reads as
Western cp1252 text (accented letters inside Latin words, no stray symbols between letters)
is taken as such; anything else is left to charset_normalizer, with a logged warning, since
that is a guess.
"""

from __future__ import annotations

import codecs
import logging
import re

from retrieval.errors import UnsupportedSource

log = logging.getLogger("retrieval.loaders")

# What cp1252 text in a Western European language holds besides ASCII.
_WESTERN_LETTERS = set("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿŒœŠšŽžŸƒ")
_WESTERN_SYMBOLS = set("\u00a0\u00ad‘’‚“”„–—…€«»°©®™£¥§¶·¿¡ªº²³¹½¼¾×÷¢¤¦¨¬¯±´µ¸†‡•‰‹›ˆ˜")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_ASCII_LETTERS = re.compile(r"[A-Za-z]")
# Latin-1 and ASCII labels mean windows-1252 in practice (as browsers read them).
_AS_CP1252 = {"latin_1", "iso8859_1", "ascii"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
# A lone surrogate (a JSON "\\ud800" escape, an undecodable file name) is no text: UTF-8,
# SQLite, the tokenizer and Discord all refuse it.
SURROGATE = re.compile("[\ud800-\udfff]")


def replace_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, like any undecodable character."""
    return SURROGATE.sub("\ufffd", text)


def declared_charset(content_type: str | None, data: bytes, html: bool) -> str | None:
    """The charset a Content-Type header or (for HTML) a ``<meta>`` tag declares, if known."""
    label = None
    if content_type:
        for part in content_type.split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                label = value.strip().strip("\"'")
    if label is None and html:
        match = _META_CHARSET.search(data[:4096])
        if match:
            label = match.group(1).decode("ascii", "replace")
    if not label:
        return None
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return "cp1252" if name.replace("-", "_") in _AS_CP1252 else name


def decode(data: bytes, name: str, declared: str | None = None) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:8192]:
        raise UnsupportedSource(f"{name}: looks like a binary file, not text")
    if declared and declared not in ("utf_8", "utf-8"):
        try:
            return data.decode(declared)
        except (UnicodeDecodeError, LookupError):
            log.warning("%s: the file is not valid %s as declared; detecting its encoding", name, declared)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    western = _as_western(data)
    if western is not None:
        return western
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    if best is None or best.encoding is None:
        raise UnsupportedSource(f"{name}: cannot decode the file as text")
    try:
        text = data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise UnsupportedSource(f"{name}: cannot decode the file as text") from exc
    log.warning(
        "%s: not UTF-8; the encoding was guessed as %s, which may be wrong (saving the file as UTF-8 avoids this)",
        name,
        best.encoding,
    )
    return text


def _as_western(data: bytes) -> str | None:
    """``data`` as cp1252 when it reads as Western European text, else None."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # bytes cp1252 leaves undefined: not Western text
        return None
    non_ascii_letters = 0
    for match in _NON_ASCII.finditer(text):
        ch, i = match.group(), match.start()
        if ch in _WESTERN_LETTERS:
            non_ascii_letters += 1
            continue
        if ch not in _WESTERN_SYMBOLS:
            return None
        # A symbol between two letters ("Za¿ó³æ", "žlu»ou") is another encoding's letter; an
        # apostrophe or a Catalan middle dot can be inside a word.
        if ch not in "’·" and 0 < i < len(text) - 1 and text[i - 1].isalpha() and text[i + 1].isalpha():
            return None
    letters = len(_ASCII_LETTERS.findall(text)) + non_ascii_letters
    # In Western languages accented letters are a minority; a Cyrillic or Greek file read
    # as cp1252 is nearly all accented letters ("Ïðèâåò").
    if letters and non_ascii_letters / letters > 0.3:
        return None
    return text
