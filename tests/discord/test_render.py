"""bot.render, bot.views and bot.permissions without Discord: every output within Discord's limits.

Hypothesis drives adversarial text (huge, astral, combining marks, Markdown, mentions)
through every renderer and checks the documented limits on the serialised payloads.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re

import discord
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot import messages, render, views
from bot.permissions import Cooldowns, namespace_for, namespace_tag
from bot.runner import REDACTED, RedactingFilter, redact_record
from retrieval.models import (
    Answer,
    Citation,
    CitationContext,
    DocumentInfo,
    IngestItem,
    IngestReport,
    SearchHit,
    Span,
)

NASTY = [
    "@everyone",
    "@here",
    "<@&123456789012345678>",
    "<@123456789012345678>",
    "```py\nprint('x')\n```",
    "**bold** __u__ ~~s~~ ||spoiler|| `code`",
    "[click](https://evil.example/x)",
    "> quote\n# heading\n- item",
    "Z̴̢̛̗̈́a̷̦̓l̸̰̾g̶̱̏o̵͖͊",
    "😀👍🏽🇺🇳",
    "\\",
    "\u200b\u202e",
    "lone \ud800 surrogate \udfff",
]

piece = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=20),
    st.sampled_from([". ", "! ", "? ", "\n", "\n\n", " ", "word "]),
)
text = st.lists(piece, max_size=30).map("".join)
big_text = st.builds(lambda chunk, times: chunk * times, text, st.integers(1, 400))
any_text = st.one_of(text, big_text)
urls = st.one_of(
    st.none(),
    st.just("https://example.com/a_(b)?q=1 2#x"),
    st.just("javascript:alert(1)"),
    st.builds(lambda s: "https://example.com/" + s, st.text(max_size=3000)),
)
cids = st.builds(
    lambda d, s, n: f"{d}-{s}-{s + n}",
    st.text(alphabet="0123456789abcdef", min_size=8, max_size=8),
    st.integers(0, 999_999_999 // 2),
    st.integers(1, 999_999),
)

HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_embed(embed: discord.Embed) -> None:
    data = embed.to_dict()
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # sendable: no lone surrogates
    lengths = []
    for key, limit in (("title", 256), ("description", 4096)):
        if key in data:
            assert 0 < render.dlen(data[key]) <= limit, key
            lengths.append(data[key])
    fields = data.get("fields", [])
    assert len(fields) <= 25
    for field in fields:
        assert 0 < render.dlen(field["name"]) <= 256
        assert 0 < render.dlen(field["value"]) <= 1024
        lengths += [field["name"], field["value"]]
    if "footer" in data:
        assert render.dlen(data["footer"]["text"]) <= 2048
        lengths.append(data["footer"]["text"])
    if "author" in data:
        assert render.dlen(data["author"]["name"]) <= 256
        lengths.append(data["author"]["name"])
    assert sum(len(s) for s in lengths) <= 6000
    assert sum(render.dlen(s) for s in lengths) <= 6000
    if "url" in data:
        assert data["url"].startswith(("http://", "https://")) and " " not in data["url"]


def check_view(view: discord.ui.View | None) -> None:
    if view is None:
        return
    rows = view.to_components()
    assert len(rows) <= 5
    ids = []
    for row in rows:
        assert len(row["components"]) <= 5
        for button in row["components"]:
            assert 1 <= len(button["custom_id"]) <= 100
            assert len(button.get("label") or "") <= 80
            ids.append(button["custom_id"])
    assert len(ids) == len(set(ids))
    templates = [item.__discord_ui_compiled_template__ for item in views.DYNAMIC_ITEMS]
    for custom_id in ids:
        assert any(t.fullmatch(custom_id) for t in templates), custom_id


def unescaped(text: str, char: str) -> bool:
    """Whether ``char`` occurs without a backslash before it (an even run of them)."""
    for match in re.finditer(re.escape(char), text):
        run = len(text[: match.start()]) - len(text[: match.start()].rstrip("\\"))
        if run % 2 == 0:
            return True
    return False


# -- clip and escape ------------------------------------------------------------------------------
@HYPOTHESIS
@given(any_text, st.integers(0, 7000), st.sampled_from(["", messages.TRUNCATED_CITE.format(cid="6f75d72f-1-2")]))
def test_clip_never_exceeds_the_limit(value, limit, more):
    out = render.clip(value, limit, more)
    assert render.dlen(out) <= limit
    if render.dlen(value) <= limit:
        assert out == value
    elif limit >= 1:
        assert render.ELLIPSIS in out


@HYPOTHESIS
@given(any_text, st.integers(1, 3000))
def test_clip_of_escaped_text_leaves_no_dangling_backslash(value, limit):
    out = render.clip(render.escape(value), limit)
    if out.endswith(render.ELLIPSIS):
        head = out[: -len(render.ELLIPSIS)]
        assert (len(head) - len(head.rstrip("\\"))) % 2 == 0


@HYPOTHESIS
@given(any_text, st.integers(1, 3000))
def test_clipped_escaped_text_stays_escaped(value, limit):
    # Inside a bare URL Discord formats nothing, and escape() leaves URLs alone: skip those.
    assume("://" not in value)
    escaped = render.escape(value)
    for out in (render.clip(escaped, limit), render.clip_left(escaped, limit)):
        for char in "*_~|`":
            assert not unescaped(out, char), (value, out)


@HYPOTHESIS
@given(any_text, st.integers(0, 3000))
def test_clip_left_keeps_the_end(value, limit):
    out = render.clip_left(value, limit)
    assert render.dlen(out) <= limit
    if render.dlen(value) <= limit:
        assert out == value


def test_clip_cuts_at_a_sentence_then_a_word():
    value = "First sentence here. Second sentence is longer than the room we have left."
    assert render.clip(value, 40) == "First sentence here.…"
    assert render.clip("alpha beta gamma delta epsilon", 20) == "alpha beta gamma…"
    assert render.clip("x" * 50, 10) == "x" * 9 + "…"
    assert render.clip("abc", 0) == ""
    long = "One. " + "word " * 500
    cut = render.clip(long, 100, " (full text: /cite 6f75d72f-1-2)")
    assert cut.endswith("… (full text: /cite 6f75d72f-1-2)") and len(cut) <= 100


@pytest.mark.parametrize("nasty", NASTY)
def test_escape_neutralises_markdown(nasty):
    out = render.escape(nasty)
    for char in "*_~|`":
        assert not unescaped(out, char), (nasty, out)
    assert "](" not in out or "\\[" in out


def test_links_and_urls():
    assert render.safe_url("javascript:alert(1)") is None
    assert render.safe_url("https://example.com/a_(b) c") == "https://example.com/a_%28b%29%20c"
    assert render.link("A *title*", None) == "**A \\*title\\***"
    assert render.link("T", "https://x.org/(y)") == "[T](https://x.org/%28y%29)"


def test_question_title_round_trip():
    question = "What did *Russia* want from `Iran` @everyone?"
    assert render.question_from_title(render.question_title(question)) == question
    assert render.question_from_title("Something else") is None


# -- embeds ---------------------------------------------------------------------------------------
def citation(n: int, cid: str, title: str, url: str | None, quote: str, published: str | None = None) -> Citation:
    return Citation(n, cid, cid[:8] + "00000000", title, url, n, 0, len(quote), quote, published=published)


published_dates = st.one_of(st.none(), any_text, st.just("Thu, 14 Mar 2019 09:00:00 GMT"), st.just("2024-05-01"))
citations = st.builds(citation, st.integers(1, 999), cids, any_text, urls, any_text, published_dates)


def test_a_citation_shows_its_outlet_and_publication_day():
    cite = citation(1, "6f75d72f-95-160", "Bridge", "https://www.reuters.com/x", "A quote.", "2019-03-14T09:00:00Z")
    assert render.citation_value(cite).split("\n")[1] == "reuters.com · 2019-03-14"
    undated = citation(1, "6f75d72f-95-160", "Bridge", "https://apnews.com/x", "A quote.", "not a date")
    assert render.citation_value(undated).split("\n")[1] == "apnews.com · not a date"  # as given, as the CLI shows it
    bare = citation(1, "6f75d72f-95-160", "Bridge", None, "A quote.")
    assert render.citation_value(bare).split("\n")[1].startswith(">>> ")  # nothing known: no line


@HYPOTHESIS
@given(any_text, any_text, st.lists(citations, max_size=40), st.booleans(), st.floats(0, 1e6))
def test_answer_embed_within_limits(question, answer_text, cites, abstained, seconds):
    cites = [dataclasses.replace(c, n=i + 1) for i, c in enumerate(cites)]
    answer = Answer(question, answer_text, abstained, tuple(cites), 0.5, {"total": 12.0})
    embed = render.answer_embed(answer, seconds=seconds)
    check_embed(embed)
    shown = min(len(cites), 24 if len(cites) > 25 else 25)
    assert len(embed.fields) >= min(shown, 1) if cites else len(embed.fields) == 0
    for tag in ("dm", "1" * 20):
        check_view(views.answer_view(answer, tag, private=True))
        check_view(views.answer_view(answer, tag, private=False))


def test_the_answer_span_is_bold_inside_the_escaped_quote():
    quote = "The *Treasury* Department issued sanctions against Iran on Tuesday."
    start = quote.index("Tuesday")
    cite = dataclasses.replace(
        citation(1, "6f75d72f-95-160", "Sanctions", None, quote), answer_span=(start, start + len("Tuesday"))
    )
    answer = Answer("When were sanctions issued?", f"“{quote}” [1]", False, (cite,), 0.6, {"total": 5.0})
    description = render.answer_embed(answer).description or ""
    assert description == "“The \\*Treasury\\* Department issued sanctions against Iran on **Tuesday**.” [1]"
    plain = Answer("When?", f"“{quote}” [1]", False, (dataclasses.replace(cite, answer_span=None),), 0.6, {})
    assert "**" not in (render.answer_embed(plain).description or "")


@HYPOTHESIS
@given(any_text, st.integers(0, 50), st.integers(0, 50))
def test_bold_spans_stay_within_the_limits(quote, a, b):
    start, end = sorted((min(a, len(quote)), min(b, len(quote))))
    cite = dataclasses.replace(citation(1, "6f75d72f-0-1", "T", None, quote), answer_span=(start, end))
    check_embed(render.answer_embed(Answer("q", f"“{quote}” [1]", False, (cite,), 0.5, {})))


def test_answer_embed_layout():
    quote = "Iran reportedly rejected Russia’s demands."
    answer = Answer(
        "What did Russia demand?",
        f"“{quote}” [1]",
        False,
        (citation(1, "6f75d72f-95-334", "Iran Rebuffs *Russian* Demand", "https://example.com/a", quote),),
        0.6,
        {"total": 5.0},
    )
    embed = render.answer_embed(answer, seconds=0.25)
    assert embed.title == "Q: What did Russia demand?"
    assert embed.description.endswith("[1]")
    assert embed.fields[0].name == "[1]"
    value = embed.fields[0].value
    assert value.startswith("[Iran Rebuffs \\*Russian\\* Demand](https://example.com/a), paragraph 1")
    assert "`6f75d72f-95-334`" in value and value.endswith(quote)
    assert embed.footer.text.startswith("Answered in 0.25 s")


@HYPOTHESIS
@given(any_text, any_text, st.integers(0, 5000), st.integers(0, 5000), urls, st.booleans())
def test_citation_embed_within_limits(title, context, start, length, url, exact):
    start = min(start, len(context))
    end = min(start + length, len(context))
    ctx = CitationContext(
        "6f75d72f-1-2", "6f75d72f00", title, url, start, end, context[start:end], context, 0, 3, exact
    )
    check_embed(render.citation_embed(ctx, label="[3]"))


def test_citation_embed_bolds_the_quote_in_context():
    context = "Before it. The quoted sentence. After it."
    ctx = CitationContext("6f75d72f-11-31", "6f75d72f", "T", None, 11, 31, context[11:31], context, 0, 2)
    embed = render.citation_embed(ctx)
    assert embed.description == "Before it. **The quoted sentence.** After it."
    assert "exact quote" in embed.footer.text


@HYPOTHESIS
@given(st.lists(st.tuples(any_text, any_text, urls, st.booleans()), max_size=30))
def test_sources_embed_within_limits(items):
    rendered = []
    for n, (title, ctx_text, url, gone) in enumerate(items, start=1):
        ctx = None if gone else CitationContext("6f75d72f-0-1", "6f", title, url, 0, 1, ctx_text[:1], ctx_text, 0, n)
        rendered.append((n, "6f75d72f-0-1", ctx))
    embed = render.sources_embed(rendered)
    check_embed(embed)
    if any(gone for *_, gone in items[:25]):
        assert any(messages.SOURCE_GONE in f.value for f in embed.fields)


@HYPOTHESIS
@given(any_text, st.lists(st.tuples(any_text, any_text, urls), max_size=60))
def test_search_embed_within_limits(query, hits):
    hit_objects = [
        SearchHit(i + 1, f"6f75d72f-{i}-{i + 1}", Span("6f75d72f", i, i, i + 1, i, body), title, url, 0.5)
        for i, (title, body, url) in enumerate(hits)
    ]
    check_embed(render.search_embed(query, hit_objects))


def doc(i: int, title: str, url: str | None = None) -> DocumentInfo:
    return DocumentInfo(f"{i:016x}", "1", "src", title, url, None, None, "h", 1000 * i, i, 0.0)


@HYPOTHESIS
@given(st.lists(st.tuples(any_text, urls), max_size=45), st.integers(-3, 10), st.booleans())
def test_documents_embed_pages(titles, page, dm):
    docs = [doc(i, t, u) for i, (t, u) in enumerate(titles)]
    embed, shown, pages = render.documents_embed(docs, page, dm=dm)
    check_embed(embed)
    assert 0 <= shown < pages
    assert pages == max(1, -(-len(docs) // render.DOCUMENTS_PER_PAGE))
    check_view(views.documents_view("dm" if dm else "123", shown, pages))
    for d in docs:
        name = render.choice_name(d)
        assert 1 <= len(name) <= 100


@HYPOTHESIS
@given(st.lists(st.tuples(st.sampled_from(["added", "replaced", "unchanged", "failed"]), any_text), max_size=30))
def test_ingest_embed_within_limits(items):
    report = IngestReport(tuple(IngestItem(t, status, "6f75d72f00000000", t, 3, error=t) for status, t in items), 1.5)
    check_embed(render.ingest_embed(report))


def test_help_embed_and_small_pieces():
    embed = render.help_embed([("ask", "Ask", False), ("ingest", "Add", True)], ["Find source"])
    check_embed(embed)
    assert "`/ingest`" in embed.fields[0].value and messages.HELP_MANAGE in embed.fields[0].value
    assert render.thread_name("  \n ") == "Citebot"
    assert len(render.thread_name("x " * 200)) <= 100
    assert render.content("") == render.BLANK
    assert len(render.content("y" * 5000)) <= 2000
    assert render.error_text("the question is empty") == "The question is empty."


# -- views and custom ids -------------------------------------------------------------------------
@HYPOTHESIS
@given(st.lists(st.tuples(st.integers(1, 999), cids), max_size=40), st.sampled_from(["dm", "9" * 20, "1"]))
def test_custom_ids_fit_and_parse_back(cited, tag):
    view = views.citation_view(cited, tag, private=True)
    check_view(view)
    parsed = [
        (int(m["n"]), m["cid"])
        for item in view.children
        if (m := views.CITE_RE.fullmatch(getattr(item, "custom_id", "")))
    ]
    expected = list(dict.fromkeys(cited))[:20]
    assert parsed == expected[: len(parsed)] and len(parsed) == min(len(expected), 20)


# -- permissions, cooldowns, redaction ------------------------------------------------------------
def test_namespaces(make_settings):
    s = make_settings(dm_namespace="direct")
    assert namespace_tag(None) == "dm" and namespace_tag(42) == "42"
    assert namespace_for(None, s) == "direct" and namespace_for(42, s) == "42"


def test_cooldowns_sliding_window():
    now = [0.0]
    cd = Cooldowns(rate=2, per=10, clock=lambda: now[0])
    assert cd.retry_after(1) == 0 and cd.retry_after(1) == 0
    assert cd.retry_after(1) == pytest.approx(10)
    assert cd.retry_after(2) == 0  # per user
    now[0] = 10.5
    assert cd.retry_after(1) == 0
    assert Cooldowns(1, 0).retry_after(1) == 0 and Cooldowns(1, 0).retry_after(1) == 0


def test_redaction_of_messages_arguments_and_tracebacks():
    token = "MTAx.FAKE-TOKEN.abc123"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token is %s", (token,), None)
    redact_record(record, [token])
    assert token not in record.getMessage() and REDACTED in record.getMessage()
    try:
        raise RuntimeError(f"bad {token}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    RedactingFilter(token).filter(record)
    formatted = logging.Formatter().format(record)
    assert token not in formatted and REDACTED in formatted


def test_the_stats_embed_shows_failing_feeds_and_leaves_the_field_out_without_feeds():
    from bot import messages
    from bot.admin_render import stats_embed
    from retrieval.stats import FailingFeed, FeedHealth, Stats

    def stats(health: FeedHealth) -> Stats:
        return Stats("g", 7, "2026-12-01", 0, 0, 0, (), (), 0, 0, (), health)

    failing = FeedHealth(2, (FailingFeed("https://b.example/rss", 3, "HTTP 500\nfrom *the* server"),), 70.0)
    fields = {f.name: f.value for f in stats_embed(stats(failing), chart=None).fields}
    assert fields[messages.STATS_FEEDS].splitlines() == [
        "2 feed(s), 1 failing (worst: https://b.example/rss, 3x)",
        "https://b.example/rss: 3x, HTTP 500 from \\*the\\* server",
    ]
    quiet = stats_embed(stats(FeedHealth(0, (), None)), chart=None)
    assert messages.STATS_FEEDS not in {f.name for f in quiet.fields}
