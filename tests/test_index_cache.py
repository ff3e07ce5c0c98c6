"""The in-memory search indexes are a cache bound by ``index_cache_mb``: least recently used
namespaces are dropped and rebuilt from the catalog on their next question, same answers."""

from __future__ import annotations

import pytest

from retrieval.loaders import load_bytes
from retrieval.service import CitebotService
from tests.doubles import HashingEmbedder

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)


def story(n: int, paragraphs: int = 200) -> bytes:
    body = "\n\n".join(
        f"Paragraph {i} of report {n}: the harbour council of town {n} met on day {i} about ferry {i * n}."
        for i in range(paragraphs)
    )
    return f"Report {n}\n\n{body}\n\nThe mayor of town {n} is called Mayor{n}.".encode()


def test_least_recently_used_indexes_are_dropped_past_the_budget_and_rebuilt(make_settings):
    svc = CitebotService.from_settings(make_settings(index_cache_mb=1), embedder=HashingEmbedder())
    for n in range(4):
        svc.ingest_document(load_bytes(story(n), f"r{n}.txt"), f"ns{n}")
    first = {n: svc.ask(f"Who is the mayor of town {n}?", f"ns{n}") for n in range(4)}
    index = svc.searcher.index("ns3")
    assert 512 * 1024 < index.approx_bytes() < 1024 * 1024  # one fits, two do not
    assert svc.searcher.cached_namespaces() == ["ns3"]
    svc.ask("Who is the mayor of town 1?", "ns1")
    assert svc.searcher.cached_namespaces() == ["ns1"]
    for n in range(4):  # rebuilt from the catalog: the same answers and citations
        again = svc.ask(f"Who is the mayor of town {n}?", f"ns{n}")
        assert f"Mayor{n}" in again.text
        assert [c.id for c in again.citations] == [c.id for c in first[n].citations]


def test_no_bound_keeps_every_index_and_a_hit_keeps_an_index_recent(make_settings):
    svc = CitebotService.from_settings(make_settings(index_cache_mb=0), embedder=HashingEmbedder())
    for n in range(3):
        svc.ingest_document(load_bytes(story(n, 5), f"r{n}.txt"), f"ns{n}")
        svc.ask("Who is the mayor?", f"ns{n}")
    svc.ask("Who is the mayor?", "ns0")
    assert svc.searcher.cached_namespaces() == ["ns1", "ns2", "ns0"]
