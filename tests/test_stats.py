"""Question statistics (issue 13): what the service logs, ``service.stats``'s numbers, the
question detector of auto-answer channels, and ``citebot stats`` as a real process."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from config import load_settings
from retrieval import CitebotError, reads_as_question
from retrieval.service import CitebotService, sample_path
from retrieval.stats import DAY_SECONDS, MAX_DAYS, normalize, window_start
from tests.doubles import HashingEmbedder
from tests.test_cli_process import citebot

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)

ANSWERED = "What did Russia demand from Iran?"
GAPS = [
    "What is the recipe for sourdough bread?",
    "how do penguins keep their eggs warm",
    "Who won the 1998 World Cup?",
]
SAMPLE_TITLE = "Iran Rebuffs Russian Demand to Withdraw from Syria"


@pytest.fixture
def service(tmp_path: Path) -> CitebotService:
    svc = CitebotService.from_settings(load_settings(data_dir=tmp_path / "data"), embedder=HashingEmbedder())
    svc.ingest([sample_path()], "g1")
    svc.ingest([sample_path()], "g2")
    return svc


def test_normalize_groups_rewordings():
    assert normalize("What is the recipe for sourdough bread?") == "what is the recipe for sourdough bread"
    assert normalize("hey <@123> what is the RECIPE for sourdough bread??") == normalize(
        "What is the recipe for sourdough bread"
    )
    assert normalize("Why?") != normalize("Who?")


@pytest.mark.parametrize(
    "text",
    [
        "What did Russia demand from Iran?",
        "who won the vote in the end",
        "Is the bridge open again",
        "<@123> anyone know when the dam opened?",
        "the council met how many times this year?",
    ],
)
def test_questions_read_as_questions(text):
    assert reads_as_question(text)


@pytest.mark.parametrize(
    "text",
    ["why?", "ok?", "lol", "Thanks, that helped a lot.", "https://example.com/article?id=3", "```what is this?```", ""],
)
def test_remarks_links_and_code_do_not(text):
    assert not reads_as_question(text)


def test_only_asks_with_log_are_logged_and_counted_per_namespace(service: CitebotService):
    service.ask(ANSWERED, "g1")  # the default (a CLI ask, an evaluation): not logged
    assert service.stats("g1", 7).asked == 0
    service.ask(ANSWERED, "g1", log=True)
    service.ask(ANSWERED.lower(), "g1", log=True)
    for question in GAPS + GAPS[:2] + GAPS[:1]:
        assert service.ask(question, "g1", log=True).abstained
    service.ask(GAPS[0], "g2", log=True)
    stats = service.stats("g1", 7)
    assert (stats.asked, stats.answered, stats.abstained) == (8, 2, 6)
    assert [(q.question, q.count) for q in stats.unanswered] == [
        (normalize(GAPS[0]), 3),
        (normalize(GAPS[1]), 2),
        (normalize(GAPS[2]), 1),
    ]
    assert len(stats.per_day) == 7 and stats.per_day[-1].day == time.strftime("%Y-%m-%d", time.gmtime())
    assert (stats.per_day[-1].answered, stats.per_day[-1].abstained) == (2, 6)
    assert sum(d.answered + d.abstained for d in stats.per_day[:-1]) == 0
    [cited] = stats.top_cited
    assert (cited.title, cited.answers) == (SAMPLE_TITLE, 2)
    other = service.stats("g2", 7)
    assert (other.asked, other.abstained, other.top_cited) == (1, 1, ())
    assert service.stats("g3", 1).asked == 0


def test_votes_ratio_and_a_forgotten_document(service: CitebotService):
    answer = service.ask(ANSWERED, "g1", log=True)
    for user, vote in (("u1", 1), ("u2", 1), ("u3", -1)):
        service.record_feedback("g1", user, answer, vote)
    stats = service.stats("g1", 1)
    assert (stats.helpful, stats.not_helpful) == (2, 1) and stats.helpful_ratio == pytest.approx(2 / 3)
    assert service.stats("g2", 1).helpful_ratio is None
    service.forget(answer.citations[0].doc_id, "g1")
    assert [(d.title, d.answers) for d in service.stats("g1", 1).top_cited] == [(None, 1)]


def test_days_are_bounded(service: CitebotService):
    for days in (0, -1, MAX_DAYS + 1):
        with pytest.raises(CitebotError, match="days must be 1 to 90"):
            service.stats("g1", days)
    assert len(service.stats("g1", MAX_DAYS).per_day) == MAX_DAYS


def test_the_window_starts_at_a_utc_midnight():
    now = 20_000 * DAY_SECONDS + 5000
    assert window_start(1, now) == 20_000 * DAY_SECONDS
    assert window_start(7, now) == 19_994 * DAY_SECONDS


def test_a_log_that_cannot_be_written_costs_the_answer_nothing(service: CitebotService, caplog):
    def refuse(*args, **kwargs):
        from retrieval import StoreWriteError

        raise StoreWriteError("the catalog could not be written: the disk is full")

    service.catalog.log_question = refuse  # type: ignore[method-assign]
    answer = service.ask(ANSWERED, "g1", log=True)
    assert not answer.abstained and "the question was not logged" in caplog.text


def test_citebot_stats_prints_the_same_numbers(service: CitebotService, tmp_path: Path):
    service.ask(ANSWERED, "g1", log=True)
    service.ask(GAPS[0], "g1", log=True)
    service.record_feedback("g1", "u1", service.ask(ANSWERED, "g1"), -1)
    expected = service.stats("g1", 3).to_dict()
    done = citebot("stats", "--days", "3", "--namespace", "g1", "--json", data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed == json.loads(json.dumps(expected))
    assert (printed["asked"], printed["answered"], printed["not_helpful"], printed["helpful_ratio"]) == (2, 1, 1, 0.0)
    assert printed["unanswered"] == [{"question": normalize(GAPS[0]), "count": 1}]
    assert printed["feeds"] == {"feeds": 0, "failing": [], "last_poll_at": None}
    text = citebot("stats", "-n", "g1", data_dir=tmp_path / "data")
    assert text.returncode == 0 and "2 asked, 1 answered, 1 abstained" in text.stdout.decode()
    bad = citebot("stats", "--days", "0", data_dir=tmp_path / "data")
    assert bad.returncode == 2 and b"Traceback" not in bad.stderr and b"0 is not 1 to 90" in bad.stderr


def test_stats_report_the_namespaces_feeds_health(service: CitebotService):
    from retrieval.feed_values import Feed, FeedState, feed_id

    def feed(namespace: str, url: str, **state: object) -> Feed:
        return Feed(feed_id(url), namespace, url, None, None, 1.0, FeedState(**state))  # type: ignore[arg-type]

    service.catalog.add_feed(feed("g1", "https://a.example/rss", last_poll_at=50.0))
    service.catalog.add_feed(
        feed("g1", "https://b.example/rss", last_poll_at=70.0, failures=3, last_error="HTTP 500 from the server")
    )
    service.catalog.add_feed(feed("g2", "https://c.example/rss", failures=9, last_error="other guild"))
    health = service.stats("g1", 7).feeds
    assert (health.feeds, health.last_poll_at) == (2, 70.0)
    assert [(f.url, f.failures, f.last_error) for f in health.failing] == [
        ("https://b.example/rss", 3, "HTTP 500 from the server")
    ]
    assert health.summary() == "2 feed(s), 1 failing (worst: https://b.example/rss, 3x)"
    assert service.stats("g3", 7).feeds.summary() == "no feeds"
