"""Service API: ingest, answer, cite, forget — real Chroma, real model where it matters."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from retrieval.catalog import chunk_ids
from retrieval.errors import InvalidQuestion, LimitReached, NotFound, StoreError
from retrieval.service import CitebotService, Quota, sample_path
from tests.builders import article, doc
from tests.doubles import HashingEmbedder

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)

POMPEO = "Iran must withdraw all forces under Iranian command throughout the entirety Syria"


def store_state(svc: CitebotService, ns: str = "default"):
    """Everything a reader can see: catalog rows and vector ids."""
    return (
        [(d.id, d.source, d.chunks) for d in svc.sources(ns)],
        sorted(svc.store.all_ids(ns)),
    )


# -- real model ---------------------------------------------------------------------
def test_pompeo_question_quotes_the_pompeo_sentence(fresh_real_service):
    fresh_real_service.ensure_sample()
    answer = fresh_real_service.ask("What did Pompeo demand?")
    assert not answer.abstained
    assert any(POMPEO in c.quote for c in answer.citations)
    text = sample_path().read_text()
    stored = fresh_real_service.catalog.text("default", answer.citations[0].doc_id)
    for c in answer.citations:
        assert c.quote == stored[c.start : c.end]
        assert c.title == "Iran Rebuffs Russian Demand to Withdraw from Syria"
    assert "Pompeo" in text and answer.timings_ms["total"] > 0


def test_hybrid_search_finds_the_spokesman_passage_first(fresh_real_service):
    fresh_real_service.ensure_sample()
    hits = fresh_real_service.search("Who is the spokesman for Iran's Foreign Ministry?", k=3)
    assert "Bahram Ghasemi, spokesman for Iran\u2019s Foreign Ministry" in hits[0].chunk.text
    answer = fresh_real_service.ask("Who is the spokesman for Iran's Foreign Ministry?")
    assert "Bahram Ghasemi" in answer.citations[0].quote


@pytest.mark.parametrize(
    "question", ["Who won the Super Bowl in 1995?", "What is the boiling point of mercury?", "Best pizza recipe?"]
)
def test_unanswerable_questions_abstain_without_citations(fresh_real_service, question):
    fresh_real_service.ensure_sample()
    answer = fresh_real_service.ask(question)
    assert answer.abstained
    assert answer.citations == ()
    assert "couldn't find" in answer.text


def test_empty_namespace_abstains(fresh_real_service):
    answer = fresh_real_service.ask("What did Pompeo demand?", "empty-ns")
    assert answer.abstained and not answer.citations


def test_follow_up_uses_thread_history(fresh_real_service):
    text = article(
        "Harbor Bridge Reopens",
        [
            "The Harbor Bridge reopened on Friday after a two-year repair costing 40 million dollars.",
            "Mayor Lena Ortiz cut the ribbon and thanked the construction crews.",
            "The old ferry service will stop running at the end of the month.",
        ],
    )
    fresh_real_service.ingest_document(doc(text, "bridge"), "followups")
    answer = fresh_real_service.ask(
        "How much did it cost?", "followups", history=["When did the Harbor Bridge reopen?"]
    )
    assert "40 million dollars" in answer.citations[0].quote


# -- ingest semantics (hashing embedder: fast, counts embeddings) --------------------
def test_reingest_identical_content_is_a_noop_without_embeddings(fast_service):
    first = fast_service.ingest([sample_path()])
    assert first.count("added") == 1 and first.chunks > 0
    embedded = fast_service.embedder.texts_embedded
    before = store_state(fast_service)
    again = fast_service.ingest([sample_path()])
    assert again.count("unchanged") == 1 and again.chunks == 0
    assert fast_service.embedder.texts_embedded == embedded
    assert store_state(fast_service) == before


def test_changed_content_replaces_the_old_version_atomically(fast_service, tmp_path: Path):
    path = tmp_path / "story.txt"
    path.write_text(article("Story", ["The old version says the vote was on Monday."]))
    fast_service.ingest([path])
    old = fast_service.sources()[0]
    path.write_text(article("Story", ["The new version says the vote was on Thursday.", "It adds a sentence."]))
    report = fast_service.ingest([path])
    assert report.count("replaced") == 1
    docs = fast_service.sources()
    assert len(docs) == 1 and docs[0].id != old.id
    ids = fast_service.store.all_ids("default")
    assert sorted(ids) == sorted(chunk_ids(docs[0].id, docs[0].chunks))
    for hit in fast_service.search("vote Monday Thursday", k=5):
        assert hit.chunk.doc_id == docs[0].id


def test_failed_items_leave_the_store_unchanged_and_others_go_in(fast_service, tmp_path: Path):
    fast_service.ingest([sample_path()])
    before = store_state(fast_service)
    good = tmp_path / "good.txt"
    good.write_text(article("Good", ["A perfectly fine article about rivers."]))
    (tmp_path / "empty.txt").write_text("  ")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02\x03")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    report = fast_service.ingest(
        [tmp_path / "empty.txt", tmp_path / "binary.txt", tmp_path / "image.png", tmp_path / "missing.md", good]
    )
    assert [i.status for i in report.items] == ["failed", "failed", "failed", "failed", "added"]
    assert report.failed
    assert all(i.error for i in report.items if i.status == "failed")
    after = store_state(fast_service)
    assert set(before[0]) < set(after[0]) and len(after[0]) == len(before[0]) + 1


def test_forget_removes_catalog_rows_and_vectors(fast_service):
    fast_service.ingest([sample_path()])
    info = fast_service.sources()[0]
    forgotten = fast_service.forget(info.id[:8])
    assert forgotten.id == info.id
    assert store_state(fast_service) == ([], [])
    with pytest.raises(NotFound):
        fast_service.forget(info.id)
    with pytest.raises(NotFound, match="no longer in the store"):
        fast_service.cite(f"{info.id[:8]}-0-10")


def test_namespaces_are_isolated(fast_service):
    fast_service.ingest_document(doc("Alpha guild secret: the password is swordfish.", "a"), "guild-a")
    fast_service.ingest_document(doc("Beta guild notes about gardening and tomatoes.", "b"), "guild-b")
    assert [d.source for d in fast_service.sources("guild-a")] == ["a"]
    for hit in fast_service.search("password swordfish", "guild-b", 5):
        assert "swordfish" not in hit.chunk.text
    assert fast_service.find_quote("the password is swordfish", "guild-b") is None
    assert fast_service.find_quote("the password is swordfish", "guild-a") is not None
    with pytest.raises(NotFound):
        fast_service.forget(fast_service.sources("guild-a")[0].id, "guild-b")


def test_questions_are_validated(fast_service, make_settings):
    for bad in ("", "   \n\t"):
        with pytest.raises(InvalidQuestion, match="empty"):
            fast_service.ask(bad)
    with pytest.raises(InvalidQuestion, match="limit is 1,000"):
        fast_service.ask("x" * 1001)


def test_quota_refuses_with_clear_messages(fast_service):
    quota = Quota(max_documents=1)
    fast_service.ingest_document(doc("First document text.", "1"), "q", quota=quota)
    report = fast_service.ingest_bytes(b"Second document text.", "two.txt", "q", quota=quota)
    assert report.items[0].status == "failed" and "limit is 1" in report.items[0].error
    with pytest.raises(LimitReached, match="bytes"):
        fast_service.check_quota("q", Quota(max_bytes=10), 5)
    with pytest.raises(LimitReached, match="per hour"):
        fast_service.check_quota("q", Quota(ingests_per_hour=1))


def test_cite_and_find_quote(fast_service):
    fast_service.ingest([sample_path()])
    found = fast_service.find_quote("\u201cNo one can force Iran to do anything,\u201d Ghasemi")
    assert found.exact and found.quote.startswith("\u201cNo one")
    near = fast_service.find_quote('"no one can force iran to do anything," ghasemi reportedly said')
    assert near is not None and not near.exact and "Ghasemi reportedly said" in near.quote
    assert fast_service.find_quote("Aliens landed in Tehran on Sunday morning") is None
    opened = fast_service.cite(found.id)
    assert opened.quote == found.quote and opened.context.count("\n\n") >= 1
    with pytest.raises(NotFound, match="not a citation id"):
        fast_service.cite("nonsense")
    with pytest.raises(NotFound, match="past the end"):
        fast_service.cite(f"{found.doc_id[:8]}-0-999999")


# -- storage robustness ---------------------------------------------------------------
@pytest.mark.embedded_only
def test_corrupt_catalog_is_a_clear_error(make_settings, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "catalog.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="unreadable or corrupt"):
        CitebotService.from_settings(make_settings(data_dir=data), embedder=HashingEmbedder())


def test_data_dir_that_is_a_file_is_a_clear_error(make_settings, tmp_path: Path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(Exception, match="not a directory"):
        CitebotService.from_settings(make_settings(data_dir=tmp_path / "file"), embedder=HashingEmbedder())


def test_a_data_dir_refuses_a_different_embedding_model(make_settings):
    settings = make_settings()
    CitebotService.from_settings(settings, embedder=HashingEmbedder(64)).ingest([sample_path()])
    other = CitebotService.from_settings(settings, embedder=HashingEmbedder(32))
    with pytest.raises(StoreError, match="built with embedding model"):
        other.ask("anything?")


def test_recover_rolls_back_a_crashed_ingest(fast_service, settings, make_settings):
    """Vectors written, catalog commit never happened: they must vanish on reopen."""
    ns = "default"
    fast_service.ingest([sample_path()])
    visible = store_state(fast_service)
    d = doc("A half written document about volcanoes.", "volcano")
    fast_service.catalog.journal_begin(ns, "add", d.id, 1, [])
    vectors = fast_service.embedder.embed_documents([d.text])
    fast_service.store.upsert(ns, chunk_ids(d.id, 1), vectors, [d.text], [{"doc_id": d.id}])
    assert store_state(fast_service) != visible
    reopened = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    assert store_state(reopened) == visible
    assert reopened.catalog.journal() == []


def test_recover_finishes_a_crashed_replacement(fast_service, settings):
    ns = "default"
    old = doc("Old text of the story.", "story")
    fast_service.ingest_document(old, ns)
    new = doc("New text of the story, longer now.", "story")
    # Crash after the catalog switch, before the old vectors were deleted.
    fast_service.catalog.journal_begin(ns, "add", new.id, 1, [(old.id, 1)])
    fast_service.store.upsert(
        ns, chunk_ids(new.id, 1), fast_service.embedder.embed_documents([new.text]), [new.text], [{"doc_id": new.id}]
    )
    from retrieval.chunking import segment

    seg = segment(new.id, new.text, fast_service.config.chunker)
    fast_service.catalog.commit_document(ns, new, seg.chunks, seg.sentences, None, [old.id])
    reopened = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    assert store_state(reopened) == ([(new.id, "story", 1)], chunk_ids(new.id, 1))


@pytest.mark.embedded_only
def test_catalog_is_plain_sqlite(fast_service):
    fast_service.ingest([sample_path()])
    with sqlite3.connect(fast_service.catalog.path) as db:
        assert db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 1


def test_a_batch_ingest_rebuilds_the_search_index_once(fast_service, tmp_path: Path, monkeypatch):
    import retrieval.search as search

    builds = []
    real_build = search.NamespaceIndex.build.__func__

    def counted(cls, catalog, namespace):
        builds.append(namespace)
        return real_build(cls, catalog, namespace)

    monkeypatch.setattr(search.NamespaceIndex, "build", classmethod(counted))
    paths = []
    for n in range(3):
        paths.append(tmp_path / f"story-{n}.txt")
        paths[-1].write_text(article(f"Story {n}", [f"Story {n} says the harbour vote was held on day {n}."]))
    report = fast_service.ingest(paths)
    assert report.count("added") == 3
    assert builds == ["default"]  # once, after the batch, not once per document
    hits = fast_service.search("harbour vote day 2", k=1)  # and it is current: no rebuild on the question
    assert builds == ["default"] and "day 2" in hits[0].chunk.text
    fast_service.ingest_document(doc(article("One", ["A single document refreshes at once."]), "one"), "default")
    assert builds == ["default", "default"]


# -- the answer mode: global default, per-namespace override ------------------------------
def test_the_answer_mode_is_the_default_until_a_namespace_overrides_it(make_settings):
    settings = make_settings(llm_model="openai:scripted", llm_base_url="http://127.0.0.1:9/v1")
    svc = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    assert svc.answer_mode("guild-1") == "extractive" == svc.answer_mode("guild-2")
    assert svc.set_answer_mode("guild-1", "llm") == "llm"
    assert svc.answer_mode("guild-1") == "llm" and svc.answer_mode("guild-2") == "extractive"
    # Stored in the catalog: another process (or the next start) sees it.
    again = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    assert again.answer_mode("guild-1") == "llm"
    assert again.set_answer_mode("guild-1", None) == "extractive"  # back to the default
    assert svc.answer_mode("guild-1") == "extractive"
    # An override of "extractive" holds when the default is llm.
    svc.set_answer_mode("guild-2", "extractive")
    llm_default = CitebotService.from_settings(
        make_settings(answer_mode="llm", llm_model="openai:scripted"), embedder=HashingEmbedder()
    )
    assert llm_default.answer_mode("guild-2") == "extractive" and llm_default.answer_mode("guild-1") == "llm"


def test_an_unknown_or_unusable_answer_mode_is_one_line_and_stores_nothing(make_settings):
    from retrieval.errors import CitebotError

    svc = CitebotService.from_settings(make_settings(llm_model="nosuchprovider:model"), embedder=HashingEmbedder())
    with pytest.raises(CitebotError, match="unknown answer mode 'fast': choose extractive or llm") as exc:
        svc.set_answer_mode("guild-1", "fast")
    assert "\n" not in str(exc.value)
    with pytest.raises(CitebotError) as exc:
        svc.set_answer_mode("guild-1", "llm")  # the configured model cannot be made
    assert "\n" not in str(exc.value) and "nosuchprovider" in str(exc.value)
    assert svc.answer_mode("guild-1") == "extractive"
    with pytest.raises(CitebotError, match="unknown answer mode"):
        svc.ask("Who?", "guild-1", mode="fast")


def test_ask_answers_in_the_namespaces_mode(make_settings):
    from tests.openai_server import ScriptedModel, quoting_responder

    model = ScriptedModel(responder=quoting_responder)
    with model.serve() as origin:
        settings = make_settings(llm_model="openai:scripted", llm_base_url=origin + "/v1")
        svc = CitebotService.from_settings(settings, embedder=HashingEmbedder())
        for ns in ("llm-guild", "plain-guild"):
            svc.ingest([sample_path()], ns)
        svc.set_answer_mode("llm-guild", "llm")
        question = "What did Russia demand from Iran?"
        assert svc.ask(question, "llm-guild").mode == "llm" and len(model.requests) == 1
        assert svc.ask(question, "plain-guild").mode == "extractive" and len(model.requests) == 1
        assert svc.ask(question, "plain-guild", mode="llm").mode == "llm"  # an explicit mode wins
        assert svc.ask(question, "llm-guild", mode="extractive").mode == "extractive"
