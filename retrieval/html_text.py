"""HTML to article text with trafilatura, keeping the source's paragraphs, without boilerplate.

``check_markup`` runs first, in the caller's process: it refuses tag soup (markup with
almost no text), whose extraction time grows faster than its size. ``extract`` runs inside
an extraction worker (``extraction.py``), which bounds the time.

Paragraphs come from trafilatura's XML tree, not from its plain text (which puts a newline
at every hard line break of the source, so ``<p>`` text wrapped in the HTML file became
many paragraphs): whitespace inside a paragraph collapses as a browser shows it, ``<br>``
is a line break inside the paragraph, and preformatted blocks keep their lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lxml import etree

from retrieval.errors import EmptyDocument, IngestError, UnsupportedSource
from retrieval.extraction import Extracted

if TYPE_CHECKING:  # trafilatura loads in the extraction worker only
    from trafilatura.settings import Document as TrafilaturaDocument

MIN_ELEMENTS_CHECKED = 10_000  # smaller pages are cheap whatever their markup
MAX_ELEMENTS = 300_000  # a 3 MB real article page has ~50,000
MAX_ELEMENTS_PER_TEXT_CHAR = 1.0  # real pages: up to ~0.17; "<p>x</p><b><i><u>" soup: 4

_TAG = re.compile(r"<[A-Za-z]")
_MARKUP = re.compile(r"<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->|<[^>]*>", re.DOTALL | re.IGNORECASE)
_SPACE = re.compile(r"\s+")

_REGEX_NS = {"re": "http://exslt.org/regular-expressions"}
# Page parts that are never article text, pruned before trafilatura sees the page (its own
# lists miss these on real pages: "c-related-list", "RelatedCoverage-container", Wikipedia's
# "vertical-navbox" and "mw-editsection"). A class matches when one of its words (split at
# spaces, "-" and "_") starts with a token; see _prune for the guard.
_LAYOUT = "sidebar"  # also a word in the class of some article bodies ("l-sidebar-fixed l-article-body")
_BOILERPLATE = (
    "related|sponsor|promo|advert|recommend|newsletter|outbrain|taboola|more-stories|read-?more"
    "|author-?bio|author-?box|about-?the-?author|caption|credit"
    "|navbox|vertical-navbox|mw-editsection|mw-jump-link|hatnote|ambox|catlinks|noprint"
)
_STRONG = re.compile(rf"(?:^|[\s_-])(?:{_BOILERPLATE})", re.IGNORECASE)
_PRUNE = etree.XPath(
    "//figure | //figcaption | //sup[contains(concat(' ', normalize-space(@class), ' '), ' reference ')]"
    f" | //*[re:test(@class, '(^|[\\s_-])({_BOILERPLATE}|{_LAYOUT})', 'i')"
    f" or re:test(@id, '(^|[_-])({_BOILERPLATE}|{_LAYOUT})', 'i')]",
    namespaces=_REGEX_NS,
)
MAX_PRUNED = 2_000
# Class or id words of the article's own containers ("l-sidebar-fixed l-article-body-segment").
_CONTENT = re.compile(r"(?:^|[\s_-])(?:article|body|content|main|story|entry|post-?(?:body|text|content))", re.I)
_KEEP = {"html", "body", "main", "article"}

# Whole paragraphs that are site furniture, not article text (checked on short paragraphs).
_FURNITURE = re.compile(
    r"^(?:comments?|\d+ comments?|advertisement|sponsored(?: content)?|related(?: (?:posts|articles|stories))?"
    r"|read more|recommended(?: for you)?|you may also like|more from [^.?!]{1,60}|share(?: this)?(?: article)?:?"
    r"|like this:?|follow us.{0,60}|view all posts by .{1,80}|posted by .{1,80}"
    r"|(?:please )?(?:submit|send) (?:your|a) letter to the editor.{0,80}"
    r"|please let us know.{0,200}|sign up for .{1,100}newsletter.{0,60}|subscribe(?: now| today)?[.!:]?)$",
    re.IGNORECASE,
)
# A caption that starts with its photo credit: "Jane Roe/Reuters People watch ...".
_CREDIT_START = re.compile(r"^(?:[A-Z][\w.'’-]+ ){1,3}?[A-Z][\w.'’-]*/[A-Z][\w&.'’-]+(?: [A-Z][\w&.'’-]+)?\b")
_CREDIT_LINE = re.compile(r"^(?:photo(?:graph)?s?|image|picture|credit|illustration)\s*(?:by|:)\s", re.IGNORECASE)
_AUTHOR_PREFIX = re.compile(r"^(?:view all posts by|all posts by|posts by|written by|posted by|by|author:)\s+", re.I)
_EDIT = re.compile(r"\s*\[edit\]$")


def check_markup(html: str, name: str) -> None:
    """Refuse tag soup before parsing it: a very large number of elements, or a page with
    far more elements than characters of text."""
    elements = len(_TAG.findall(html))
    if elements < MIN_ELEMENTS_CHECKED:
        return
    if elements > MAX_ELEMENTS:
        raise UnsupportedSource(
            f"{name}: the HTML has {elements:,} elements (the limit is {MAX_ELEMENTS:,}), so it was refused"
        )
    text_chars = len(_SPACE.sub(" ", _MARKUP.sub(" ", html)))
    if elements > MAX_ELEMENTS_PER_TEXT_CHAR * text_chars:
        raise UnsupportedSource(
            f"{name}: the HTML is almost all markup ({elements:,} elements for {text_chars:,} characters of "
            "text), so it was refused"
        )


def extract(html: str, url: str | None, name: str) -> Extracted:
    import trafilatura
    from trafilatura.settings import Document as TrafilaturaDocument
    from trafilatura.utils import load_html

    try:
        tree = load_html(html)
        if tree is None:
            raise EmptyDocument(f"{name}: no article text found in the HTML")
        _prune(tree)
        result = trafilatura.bare_extraction(
            tree,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            favor_precision=True,
        )
    except IngestError:
        raise
    except Exception as exc:  # trafilatura, lxml and htmldate raise many types on broken markup
        raise UnsupportedSource(f"{name}: not readable HTML ({type(exc).__name__})") from exc
    if not isinstance(result, TrafilaturaDocument) or result.body is None:
        raise EmptyDocument(f"{name}: no article text found in the HTML")
    text = "\n\n".join(p for p in paragraphs(result.body) if not _is_furniture(p))
    if not text.strip():
        raise EmptyDocument(f"{name}: no article text found in the HTML")
    return Extracted(text, _title(result), _author(result.author), result.date)


def _prune(tree: etree._Element) -> None:
    matches = _PRUNE(tree)[:MAX_PRUNED]
    if not matches:
        return
    page_chars = len(tree.text_content())
    for element in matches:
        parent = element.getparent()
        # Never the page, an element holding the headline, or half the page's text: a class
        # like "has-sidebar" on the article's own container must not take the article along.
        if parent is None or element.tag in _KEEP or element.find(".//h1") is not None:
            continue
        names = _names(element)
        if len(element.text_content()) > page_chars / 2:
            continue
        if not _STRONG.search(names) and _CONTENT.search(names):
            continue  # a layout word only, on what also says it is the content
        if sum(1 for p in element.iter("p") if len(p.text_content()) >= 150) >= 3:
            continue  # prose: an article's body, whatever its class says
        if element.tail:  # keep the text that follows the element
            previous = element.getprevious()
            if previous is not None:
                previous.tail = (previous.tail or "") + element.tail
            else:
                parent.text = (parent.text or "") + element.tail
        parent.remove(element)


def _names(element: etree._Element) -> str:
    return f"{element.get('class') or ''} {element.get('id') or ''}"


# -- trafilatura's XML body -> paragraphs ------------------------------------------------
# Elements that hold blocks; "code" is a block only among these (inside a <p> it is inline).
_CONTAINER = {"body", "list", "item", "quote", "div", "section"}
_BLOCK = {"p", "head", "list", "item", "quote", "table", "div", "section"}


def paragraphs(body: etree._Element) -> list[str]:
    out: list[str] = []
    _children(body, out)
    return [p for p in out if p]


def _children(el: etree._Element, out: list[str]) -> None:
    """The blocks of a container, with the loose text between them."""
    if el.text and el.text.strip():
        out.append(_collapse(el.text))
    for child in el:
        if child.tag in _BLOCK or (child.tag == "code" and el.tag in _CONTAINER):
            _block(child, out)
        else:
            out.append(_inline(child))
        if child.tail and child.tail.strip():
            out.append(_collapse(child.tail))


def _block(el: etree._Element, out: list[str]) -> None:
    tag = el.tag
    if tag == "table":
        rows = [" | ".join(_inline(cell) for cell in row) for row in el.iter("row")]
        out.append("\n".join(r for r in rows if r.strip(" |")))
    elif tag in ("list", "div", "section") or any(child.tag in _BLOCK for child in el):
        _children(el, out)
    elif tag == "code" or (tag == "quote" and "\n" in "".join(el.itertext()).strip()):
        out.append(_preformatted(el))
    else:
        text = _inline(el)
        out.append(_EDIT.sub("", text) if tag == "head" else text)


def _pieces(el: etree._Element) -> Iterator[str]:
    """The element's text as a browser lays it out: "\n" for a line break, else text."""
    if el.text:
        yield _SPACE.sub(" ", el.text)
    for child in el:
        if child.tag == "lb":
            yield "\n"
        else:
            yield from _pieces(child)
        if child.tail:
            yield _SPACE.sub(" ", child.tail)


def _inline(el: etree._Element) -> str:
    lines = (line.strip() for line in "".join(_pieces(el)).split("\n"))
    return "\n".join(line for line in lines if line)  # a paragraph never holds a blank line


def _preformatted(el: etree._Element) -> str:
    """Code and preformatted quotes keep their lines (blank ones dropped: they would split
    the block into paragraphs)."""
    lines = (line.rstrip() for line in "".join(_raw_pieces(el)).split("\n"))
    return "\n".join(line for line in lines if line.strip())


def _raw_pieces(el: etree._Element) -> Iterator[str]:
    yield el.text or ""
    for child in el:
        if child.tag == "lb":
            yield "\n"
        else:
            yield from _raw_pieces(child)
        yield child.tail or ""


def _collapse(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _is_furniture(paragraph: str) -> bool:
    if len(paragraph) > 300:
        return False
    return bool(_FURNITURE.match(paragraph) or _CREDIT_START.match(paragraph) or _CREDIT_LINE.match(paragraph))


def _author(author: str | None) -> str | None:
    if not author:
        return None
    author = _AUTHOR_PREFIX.sub("", author.strip()).strip()
    return author or None


def _title(result: TrafilaturaDocument) -> str | None:
    """The title without a trailing " | Site name" when the site name is known."""
    title = (result.title or "").strip()
    site = (result.sitename or "").strip()
    if title and site:
        for separator in (" | ", " - ", " – ", " — ", " · "):
            if title.endswith(separator + site) and len(title) > len(separator + site):
                return title[: -len(separator + site)].strip()
    return title or None
