"""The question log behind ``/stats`` and ``citebot stats`` (issue 13), on both catalog
backends: entries are per namespace, counted per UTC day, the most frequent abstentions and
the most cited documents come first, the retention drops old entries, a 👎 takes a note,
and a second handle (another process) reads what the first one wrote."""

from __future__ import annotations

import dataclasses

import pytest

from retrieval.catalog import QuestionEntry
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.test_catalog_backends import backend, catalog  # noqa: F401  (fixtures)

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)

DAY = 86400.0
T0 = 20_000 * DAY  # the start of UTC day 20000 (2024-10-04)


def entry(at: float, question: str, answered: bool, *doc_ids: str) -> QuestionEntry:
    return QuestionEntry(at, question, question.lower().rstrip("?"), answered, tuple(doc_ids))


def test_an_empty_log(catalog):  # noqa: F811
    assert catalog.question_days("ns", 0) == []
    assert catalog.top_unanswered("ns", 0, 5) == [] and catalog.top_cited("ns", 0, 5) == []
    assert catalog.feedback_counts_since("ns", 0) == (0, 0)


def test_questions_are_counted_per_utc_day_and_per_namespace(catalog):  # noqa: F811
    catalog.log_question("ns", entry(T0 + 10, "What?", True, "d1"), 0)
    catalog.log_question("ns", entry(T0 + DAY - 1, "Why?", False), 0)  # the last second of day 20000
    catalog.log_question("ns", entry(T0 + DAY, "Who?", False), 0)  # the first of day 20001
    catalog.log_question("ns", entry(T0 + 3 * DAY, "When?", True, "d2"), 0)
    catalog.log_question("other", entry(T0 + 10, "Elsewhere?", False), 0)
    assert catalog.question_days("ns", 0) == [(20000, 1, 1), (20001, 0, 1), (20003, 1, 0)]
    assert catalog.question_days("ns", T0 + DAY) == [(20001, 0, 1), (20003, 1, 0)]
    assert catalog.question_days("other", 0) == [(20000, 0, 1)]
    assert catalog.question_days("none", 0) == []
    assert catalog.generation("ns") == 0 and catalog.namespaces() == []  # no visible change


def test_the_most_frequent_abstentions_come_first(catalog):  # noqa: F811
    for i, q in enumerate(["Why?", "why", "Who?", "WHY?", "Who?", "When?", "Answered?"]):
        catalog.log_question("ns", entry(T0 + i, q, q == "Answered?"), 0)
    # why x3, who x2, when x1 (answered ones never count); a tie goes to the most recent.
    assert catalog.top_unanswered("ns", 0, 5) == [("why", 3), ("who", 2), ("when", 1)]
    assert catalog.top_unanswered("ns", 0, 2) == [("why", 3), ("who", 2)]
    assert catalog.top_unanswered("ns", T0 + 4, 5) == [("when", 1), ("who", 1)]  # a tie: "when" is newer
    assert catalog.top_unanswered("other", 0, 5) == []


def test_the_most_cited_documents_count_each_answer_once(catalog):  # noqa: F811
    catalog.log_question("ns", entry(T0, "a", True, "d1", "d2", "d1"), 0)  # d1 twice in one answer: once
    catalog.log_question("ns", entry(T0 + 1, "b", True, "d2"), 0)
    catalog.log_question("ns", entry(T0 + 2, "c", True, "d3", "d2"), 0)
    catalog.log_question("other", entry(T0, "d", True, "d9"), 0)
    assert catalog.top_cited("ns", 0, 10) == [("d2", 3), ("d1", 1), ("d3", 1)]
    assert catalog.top_cited("ns", 0, 1) == [("d2", 3)]
    assert catalog.top_cited("ns", T0 + 2, 10) == [("d2", 1), ("d3", 1)]
    assert catalog.top_cited("other", 0, 10) == [("d9", 1)]


def test_the_retention_drops_the_namespaces_old_entries_only(catalog):  # noqa: F811
    catalog.log_question("ns", entry(T0, "old?", False, "d1"), 0)
    catalog.log_question("other", entry(T0, "kept?", False), 0)
    catalog.log_question("ns", entry(T0 + 10 * DAY, "new?", True, "d2"), T0 + DAY)
    assert catalog.question_days("ns", 0) == [(20010, 1, 0)]
    assert catalog.top_cited("ns", 0, 10) == [("d2", 1)] and catalog.top_unanswered("ns", 0, 5) == []
    assert catalog.question_days("other", 0) == [(20000, 0, 1)]


def test_feedback_since_a_time_and_a_note_on_a_thumbs_down(catalog):  # noqa: F811
    catalog.add_feedback("ns", "u1", "What?", "That.", [], 1)
    catalog.add_feedback("ns", "u1", "What?", "That.", [], -1)
    catalog.add_feedback("other", "u1", "What?", "That.", [], -1)
    assert catalog.feedback_counts_since("ns", 0) == (1, 1)
    assert catalog.feedback_counts_since("ns", 4e9) == (0, 0)  # a time after every vote
    assert catalog.add_feedback_note("ns", "u1", "What?", "It quotes the wrong article") is True
    assert catalog.add_feedback_note("ns", "u2", "What?", "not theirs") is False  # u2 never voted
    assert catalog.add_feedback_note("ns", "u1", "Other?", "no such vote") is False
    assert catalog.feedback_counts("ns") == (1, 1)  # a note is no vote


def test_another_handle_reads_the_log(backend):  # noqa: F811
    writer, reader = backend(), backend()
    writer.log_question("ns", entry(T0, "Why?", False), 0)
    writer.log_question("ns", entry(T0 + 1, "What?", True, "d1"), 0)
    assert reader.question_days("ns", 0) == [(20000, 1, 1)]
    assert reader.top_unanswered("ns", 0, 5) == [("why", 1)] and reader.top_cited("ns", 0, 5) == [("d1", 1)]


def test_both_backends_agree(make_settings, postgres_url):  # noqa: F811
    from retrieval.catalogs import open_catalog

    def script(c) -> list:
        for i in range(30):
            e = entry(T0 + i * 7000.0, f"Question {i % 4}?", i % 3 == 0, *[f"d{i % 5}", f"d{i % 2}"])
            c.log_question("ns", dataclasses.replace(e), T0 + 3000.0)
        c.add_feedback("ns", "u", "q", "a", [], -1)
        return [c.question_days("ns", 0), c.top_unanswered("ns", 0, 3), c.top_cited("ns", 0, 4)]

    sqlite, _ = open_catalog(make_settings())
    postgres, lock = open_catalog(make_settings(catalog_url=postgres_url))
    try:
        assert script(sqlite) == script(postgres)
    finally:
        postgres.close()  # type: ignore[attr-defined]
        lock.close()  # type: ignore[attr-defined]
