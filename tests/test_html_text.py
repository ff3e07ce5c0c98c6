"""HTML loading: tag soup refused fast (item 11), the source's paragraphs kept (item 16),
boilerplate dropped (item 17), on real saved pages from shared/realweb and on pages made
here with the kinds of furniture real news sites carry."""

from __future__ import annotations

import time

import pytest

from retrieval.errors import UnsupportedSource
from retrieval.loaders import Limits, load_bytes
from retrieval.sentences import paragraphs, sentences
from tests.realweb import realweb


def texts(text: str) -> list[str]:
    return [text[s:e] for s, e in paragraphs(text)]


# -- item 11: tag soup -----------------------------------------------------------------------
def test_tag_soup_is_refused_quickly_with_a_clear_message():
    soup = b"<html><body>" + b"<p>x</p><b><i><u>" * 300_000 + b"</body></html>"  # 5 MB
    started = time.perf_counter()
    with pytest.raises(UnsupportedSource, match="elements"):
        load_bytes(soup, "soup.html")
    assert time.perf_counter() - started < 10  # it took minutes (and GBs) before


def test_markup_heavy_soup_under_the_element_cap_is_refused_by_its_ratio():
    soup = b"<html><body>" + b"<p>x</p><b><i><u>" * 20_000 + b"</body></html>"  # 340 KB
    with pytest.raises(UnsupportedSource, match="almost all markup"):
        load_bytes(soup, "soup.html")


def test_slow_html_is_stopped_at_the_time_limit():
    # More text per element passes the ratio check; the worker's time limit still holds.
    soup = b"<html><body>" + b"<p>twelve chars</p><b><i><u>" * 9_000 + b"</body></html>"
    with pytest.raises(UnsupportedSource, match=r"took longer than 0\.5 seconds"):
        load_bytes(soup, "soup.html", limits=Limits.shipped(max_seconds=0.5))


def test_big_real_page_is_not_refused():
    page = realweb("html/en.wikipedia.org.tsne.html").decode("utf-8")
    head, _, rest = page.partition("<body")
    body = "<body" + rest.rsplit("</body>", 1)[0]
    doc = load_bytes((head + body * 12 + "</body></html>").encode(), "tsne.html")  # ~1.3 MB, 18,000 elements
    assert "Laurens van der Maaten" in doc.text


# -- item 16: real paragraphs ----------------------------------------------------------------
def test_hard_line_breaks_inside_p_do_not_split_paragraphs_or_sentences():
    doc = load_bytes(realweb("html/gregoryszorc.com.python3.html"), "python3.html")
    sentence = (
        "The Mercurial version control tool was first released in April 2005 "
        "(the same month that Git was initially released)."
    )
    assert sentence in [doc.text[s.start : s.end] for s in sentences(doc.text)]
    para = next(t for t in texts(doc.text) if t.startswith("The Mercurial version control tool"))
    assert "nothing worth calling out." in para and "\n" not in para
    # Inline code stays inside its sentence.
    assert "remove 2 argument raise. There were a handful of commits in 2014" in doc.text


def test_code_blocks_keep_their_lines_in_one_paragraph():
    doc = load_bytes(realweb("html/caktusgroup.com.django.html"), "django.html")
    code = next(t for t in texts(doc.text) if t.startswith("import os"))
    assert "\nfrom django.conf import settings\n" in code
    assert "class QunitTests(StaticLiveServerTestCase):" in code


def test_table_rows_stay_together():
    doc = load_bytes(realweb("html/lemire.me.json.html"), "json.html")
    table = next(t for t in texts(doc.text) if "simdjson" in t and "GB/s" in t)
    assert "apache_builds | 2.3 GB/s | 0.098 GB/s\ngithub_events | 2.5 GB/s" in table


# -- item 17: boilerplate --------------------------------------------------------------------
def test_wikipedia_navbox_edit_links_and_reference_marks_are_dropped():
    doc = load_bytes(realweb("html/en.wikipedia.org.tsne.html"), "tsne.html")
    assert "[edit]" not in doc.text
    assert "Machine learning and data mining" not in doc.text
    assert "developed by Laurens van der Maaten and Geoffrey Hinton. It is" in doc.text
    assert "Details" in texts(doc.text)


def test_author_metadata_is_a_name():
    doc = load_bytes(realweb("html/lemire.me.json.html"), "json.html")
    assert doc.author == "Daniel Lemire"
    assert "View all posts" not in doc.text


def test_title_without_the_site_name():
    doc = load_bytes(realweb("html/caktusgroup.com.django.html"), "django.html")
    assert doc.title == "Testing Client-Side Applications with Django Post Mortem"


@pytest.mark.parametrize(
    ("page", "kept"),
    [
        ("blog.python.org.html", "Python 3.6.0 is the newest major release of the Python language"),
        ("nationalgeographic.co.uk.goats.html", "It takes four hours to sail to Redonda"),
        ("phys.org.tool.html", "evidence in small a cutting tool of Neanderthals using birch tar"),
        ("reuters.com.parasite.html", "was the upset winner at the Screen Actors Guild (SAG) awards"),
        ("theverge.com.ios13.html", "FaceTime Attention Correction"),
    ],
)
def test_real_pages_keep_their_article(page, kept):
    doc = load_bytes(realweb(f"html/{page}"), page)
    assert kept in doc.text
    assert "cookies" not in doc.text.lower()[:300]


NEWS = """<!doctype html><html><head><title>Dam Opens on the River | Planet Daily</title>
<meta property="og:site_name" content="Planet Daily">
<meta name="author" content="Lois Lane"></head><body>
<header><nav><a href="/">Home</a> <a href="/world">World</a></nav></header>
<main><article><h1>Dam Opens on the River</h1>
<p class="byline">By Lois Lane</p>
<figure><img src="dam.jpg"><figcaption>Jimmy Olsen/Planet Agency People watch the water rise behind
the new dam on Tuesday.</figcaption></figure>
<p>The new dam on the Blue River opened on Tuesday after eleven years of
construction, and its turbines will power forty thousand homes.</p>
<p>\t\t</p>
<div class="sponsored-content"><h3>Sponsored</h3><p>Buy the best garden hoses today with our partner,
and save twenty percent on every order you place this month.</p></div>
<p>Engineers said the reservoir would take two years to fill, and that the
valley's farms would get water from a new canal.</p>
<p class="photo-credit">Photo: Jimmy Olsen/Planet Agency</p>
<p>Critics argued that the flooded valley held rare orchids that no survey
had counted before the work began.</p>
<p>Submit your letter to the editor via this form.</p>
<p>Please let us know if you have any news tips about this story.</p>
<div class="related-posts"><h3>Related</h3><ul>
<li><a href="/a">Town votes on the new bridge</a> The council will meet again in May to decide.</li>
<li><a href="/b">Orchid hunters return</a> Botanists say the season was the best in years.</li></ul></div>
<div class="author-bio"><p>Lois Lane covers energy. View all posts by Lois Lane</p></div>
<h2>COMMENTS</h2>
</article></main>
<footer><p>Privacy policy</p></footer></body></html>"""


def test_news_page_furniture_is_dropped():
    doc = load_bytes(NEWS.encode(), "dam.html", url="https://planet.example/dam")
    for kept in (
        "The new dam on the Blue River opened on Tuesday after eleven years of construction, and its",
        "the reservoir would take two years to fill",
        "held rare orchids",
    ):
        assert kept in doc.text
    for dropped in (
        "People watch the water rise",
        "Jimmy Olsen/Planet Agency",
        "garden hoses",
        "Sponsored",
        "letter to the editor",
        "Please let us know",
        "Town votes on the new bridge",
        "Botanists say",
        "View all posts",
        "COMMENTS",
        "\t",
    ):
        assert dropped not in doc.text, dropped
    assert doc.title == "Dam Opens on the River"
    assert doc.author == "Lois Lane"
    assert texts(doc.text)[0] == "Dam Opens on the River" and len(texts(doc.text)) == 4
