"""``citebot feed add|list|remove|poll`` as users (and cron) run them: real ``python -m
citebot`` processes against a local news site on 127.0.0.1; errors are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.feed_site import FeedDoc, Item, article_html, site
from tests.http_server import send
from tests.test_cli_process import citebot, one_error_line, text

pytestmark = pytest.mark.slow  # a process per command, and the first poll loads the embedding model

LOCAL = {"CITEBOT_URL_ALLOWLIST": '["127.0.0.1"]'}
PARAGRAPHS = [
    "The lighthouse keepers union signed a new agreement with the coastal authority on Friday.",
    "Under the deal, every lighthouse on the northern coast will be staffed again by next winter.",
]


def test_add_list_poll_remove(tmp_path: Path):
    data = tmp_path / "data"
    with site() as news:
        feed = FeedDoc("rss", "Coast News", [Item("c1", "Keepers return", "/coast/1.html")])
        news.feeds["coast"] = feed
        news.pages["/coast/1.html"] = ("text/html", article_html("Keepers return", PARAGRAPHS))
        url = news.url("/feeds/coast")

        added = citebot("feed", "add", url, "--set", "coast", "-n", "g1", "--json", data_dir=data, **LOCAL)
        assert added.returncode == 0, text(added.stderr)
        feed_json = json.loads(text(added.stdout))["feed"]
        assert (feed_json["url"], feed_json["set_name"], feed_json["title"]) == (url, "coast", "Coast News")

        again = citebot("feed", "add", url, "-n", "g1", data_dir=data, **LOCAL)
        assert again.returncode == 1 and "already subscribed" in one_error_line(again)

        polled = citebot("feed", "poll", "--json", data_dir=data, **LOCAL)  # every namespace: cron's call
        assert polled.returncode == 0, text(polled.stderr)
        report = json.loads(text(polled.stdout))
        assert (report["feeds"], report["added"]) == (1, 1)
        assert report["items"][0]["articles"][0]["title"] == "Keepers return"

        idle = citebot("feed", "poll", data_dir=data, **LOCAL)
        assert idle.returncode == 0 and "No feed is due." in text(idle.stdout)

        listed = citebot("feed", "list", "-n", "g1", data_dir=data)
        line = text(listed.stdout).strip()
        assert feed_json["id"] in line and "1 entries" in line and ", ok)" in line and "set coast" in line
        assert "No feeds" in text(citebot("feed", "list", "-n", "g2", data_dir=data).stdout)

        asked = citebot("ask", "When will the northern lighthouses be staffed?", "-n", "g1", "--json", data_dir=data)
        assert "next winter" in json.loads(text(asked.stdout))["citations"][0]["quote"]

        news.extra["/feeds/coast"] = lambda h: send(h, 500, b"down", "text/plain")
        failing = citebot("feed", "poll", "--force", "-n", "g1", data_dir=data, **LOCAL)
        assert failing.returncode == 1 and "HTTP error 500" in text(failing.stdout)
        assert "Traceback" not in text(failing.stderr)
        state = json.loads(text(citebot("feed", "list", "-n", "g1", "--json", data_dir=data).stdout))["feeds"][0]
        assert state["failures"] == 1 and "HTTP error 500" in state["last_error"]

        wrong_guild = citebot("feed", "remove", url, "-n", "g2", data_dir=data)
        assert wrong_guild.returncode == 1 and "no feed" in one_error_line(wrong_guild)
        removed = citebot("feed", "remove", feed_json["id"], "-n", "g1", data_dir=data)
        assert removed.returncode == 0 and "Removed feed" in text(removed.stdout)
        assert "No feeds" in text(citebot("feed", "list", "-n", "g1", data_dir=data).stdout)


def test_bad_feeds_are_one_line_errors(tmp_path: Path):
    data = tmp_path / "data"
    with site() as news:
        news.pages["/page.html"] = ("text/html", article_html("T", PARAGRAPHS))
        not_a_feed = citebot("feed", "add", news.url("/page.html"), data_dir=data, **LOCAL)
        assert not_a_feed.returncode == 1 and "not an RSS or Atom feed" in one_error_line(not_a_feed)
    private = citebot("feed", "add", "http://10.1.2.3/rss", data_dir=data)
    assert private.returncode == 1 and "refused" in one_error_line(private)
    scheme = citebot("feed", "add", "file:///etc/passwd", data_dir=data)
    assert scheme.returncode == 1 and "only http and https" in one_error_line(scheme)
