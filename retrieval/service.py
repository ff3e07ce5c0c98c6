"""The service API: ingest, search, ask, cite, list and forget — per namespace.

Everything user-facing (CLI, Discord bot) goes through ``CitebotService``, a facade:
one method per command. ``CitebotService.from_settings`` is the composition root (the
catalog backend and its writer lock, the vector store, the frozen ``RetrievalConfig``).
Writes go through ``retrieval.indexing.Indexer``, which owns the crash-safe write order
and the journal; readers only see chunks whose document row is committed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from pathlib import Path

import numpy as np

from config import Settings
from retrieval.access import OPERATOR, Access, DocumentSet, parse_set_name, parse_set_names
from retrieval.answering import Answerer, ExtractiveAnswerer, abstention
from retrieval.catalog import Catalog, NamespaceInfo
from retrieval.catalogs import open_catalog
from retrieval.citations import citation_id, context_window, parse_citation_id
from retrieval.configuration import RetrievalConfig
from retrieval.decoding import SURROGATE as _SURROGATE
from retrieval.embedding import Embedder, load_embedder
from retrieval.errors import (
    CitebotError,
    IngestError,
    InvalidQuestion,
    NotFound,
    StoreError,
    StoreWriteError,
    check_length,
)
from retrieval.feed_values import Feed, FeedPollReport
from retrieval.feeds import FeedPoller
from retrieval.fetching import fetch
from retrieval.indexing import Indexer, Mismatch, RepairReport
from retrieval.llm_answering import LLMAnswerer, chat_model
from retrieval.loaders import expand_paths, load_bytes, load_path
from retrieval.locking import WriteLock
from retrieval.models import (
    Answer,
    CitationContext,
    Document,
    DocumentInfo,
    Evidence,
    IngestItem,
    IngestReport,
    SearchHit,
)
from retrieval.phrasing import question_text, resolve_follow_up
from retrieval.preparing import prepare
from retrieval.question_time import TimeWords, time_words
from retrieval.quota import Quota, check_quota
from retrieval.reranking import Reranker, load_reranker
from retrieval.scoping import Scope, parse_published, published_day
from retrieval.search import NamespaceIndex, Retrieved, Searcher
from retrieval.stats import DAY_SECONDS, MAX_DAYS, Stats, entry_for, read_stats
from retrieval.vectorstore import ChromaStore, VectorStore, chroma_server

log = logging.getLogger(__name__)
SAMPLE_NAME = "iran-rebuffs-russian-demand-to-withdraw-from-syria.txt"
# Any scheme: the fetcher refuses all but http(s) by name, rather than "no such file".
_URL = re.compile(r"^[a-z][a-z0-9+.-]+://", re.IGNORECASE)
ANSWER_MODES = ("extractive", "llm")
_ANSWER_MODE_KEY = "answer_mode"  # the catalog's per-namespace setting


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    source: str


ProgressCallback = Callable[[Progress], None]


def _refuse(message: str) -> Document:
    raise IngestError(message)


def check_answer_mode(mode: str) -> str:
    if mode not in ANSWER_MODES:
        raise CitebotError(f"unknown answer mode {mode!r}: choose {' or '.join(ANSWER_MODES)}")
    return mode


def newest_evidence(evidence: Evidence, newest: bool) -> Evidence:
    """For a question about the newest: the evidence of the first hit's article only (search
    put the most recent of the close matches first), so that the answer quotes that article
    and not an older one whose sentence scores a little higher. Undated articles are not
    ordered by time, so their evidence stays whole."""
    if not newest or not evidence.hits or parse_published(evidence.hits[0].published) is None:
        return evidence
    first = evidence.hits[0].hit.chunk.doc_id
    return replace(evidence, hits=tuple(h for h in evidence.hits if h.hit.chunk.doc_id == first))


def sample_path() -> Path:
    """The bundled sample article (AP via Breitbart, "Iran Rebuffs Russian Demand ...")."""
    return Path(str(resources.files("retrieval") / "samples" / SAMPLE_NAME))


class CitebotService:
    """The facade: one method per command of the README's table."""

    def __init__(
        self,
        config: RetrievalConfig,
        catalog: Catalog,
        store: VectorStore,
        lock: WriteLock,
        *,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.store = store
        self.indexer = Indexer(catalog, store, lock)
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._reranker = reranker
        self._searcher: Searcher | None = None
        self.answerer: Answerer = ExtractiveAnswerer(config.answer)
        self._llm: LLMAnswerer | None = None
        self.poller = FeedPoller(catalog, config.feeds, config.fetch, config.limits, self._ingest_feed_article)
        self.recover()
        # A deleted chroma/ folder or catalog: say so at open, and how to fix it.
        self.mismatches: list[Mismatch] = self.indexer.check()
        for mismatch in self.mismatches:
            log.warning(mismatch.message())

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        store: VectorStore | None = None,
        reranker: Reranker | None = None,
    ) -> CitebotService:
        """The service over the stores the settings name (the data dir's, by default)."""
        data_dir = settings.data_dir
        if data_dir.exists() and not data_dir.is_dir():
            raise CitebotError(f"the data dir {data_dir} is not a directory")
        catalog, lock = open_catalog(settings)
        if store is None:
            if settings.chroma_mode == "server":
                store = ChromaStore.server(chroma_server(settings))
            else:
                store = ChromaStore.embedded(data_dir / "chroma")
        config = RetrievalConfig.from_settings(settings)
        return cls(config, catalog, store, lock, embedder=embedder, reranker=reranker)

    # -- wiring -----------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use (listing or forgetting needs none)."""
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    e = self.config.embedding
                    self._embedder = load_embedder(e.model, e.device, e.batch_size, e.backend, e.cache_dir)
        return self._embedder

    @property
    def searcher(self) -> Searcher:
        if self._searcher is None:
            embedder = self.embedder
            self.catalog.check_embedding(embedder.name, embedder.dimension)
            reranker = self._reranker or load_reranker(self.config.reranker)
            self._searcher = Searcher(
                self.catalog, self.store, embedder, self.config.fusion, reranker, self.config.index_cache_bytes
            )
        return self._searcher

    def namespace(self, namespace: str | None) -> str:
        ns = (namespace or self.config.default_namespace).strip()
        if not ns or len(ns) > 100:
            raise CitebotError("a namespace is 1 to 100 characters")
        return ns

    # -- crash recovery and repair ----------------------------------------------------
    def recover(self) -> int:
        """Finish or roll back what a dead writer left (never a live one's). Entries fixed."""
        return self.indexer.recover()

    def repair(self, namespace: str | None = None) -> list[RepairReport]:
        """Re-embed chunks whose vectors are missing and drop vectors no document owns, in
        ``namespace`` or (None) in every namespace the catalog or the store knows."""
        if namespace is not None:
            names = [self.namespace(namespace)]
        else:
            names = sorted(set(self.catalog.namespace_names()) | set(self.store.namespaces()))
        if any(self.catalog.documents(ns) for ns in names):
            embedder = self.embedder
            self.catalog.check_embedding(embedder.name, embedder.dimension)

        def embed(texts: list[str]) -> np.ndarray:
            return self.embedder.embed_chunks(texts, [()] * len(texts))[0]  # chunk vectors only

        reports = [self.indexer.repair(ns, embed) for ns in names]
        self.mismatches = self.indexer.check(every=True)
        return reports

    # -- ingest -----------------------------------------------------------------------
    def ingest(
        self,
        sources: Iterable[str | Path],
        namespace: str | None = None,
        *,
        progress: ProgressCallback | None = None,
        quota: Quota | None = None,
        sets: Sequence[str] = (),
    ) -> IngestReport:
        """Ingest files, directories (recursively) and http(s) URLs; one item per document.
        ``sets``: the document sets each joins (see ``ingest_document``)."""
        ns = self.namespace(namespace)
        names = parse_set_names(sets)  # a bad name refuses the whole batch, before any work
        started = time.perf_counter()
        # A source that fails before loading stays in its input place (its "load" raises).
        planned: list[tuple[str, Callable[[], Document]]] = []
        for raw in sources:
            source = str(raw)
            if _URL.match(source):
                planned.append((source, partial(self._load_url, source)))
                continue
            path = Path(source).expanduser()
            if not path.exists():
                planned.append((source, partial(_refuse, f"{source}: no such file or directory")))
                continue
            files = expand_paths(path)
            if path.is_dir() and not files:
                planned.append((source, partial(_refuse, f"{source}: no .txt, .md, .html or .pdf files in it")))
            for file in files:
                planned.append((str(file), partial(load_path, file, self.config.limits)))
        items: list[IngestItem] = []
        stopped: str | None = None
        for done, (source, load) in enumerate(planned, start=1):
            if stopped is not None:  # the store cannot be written: say so for each, try none
                items.append(IngestItem(source, "failed", error=f"{source}: not tried ({stopped})"))
                continue
            try:
                items.append(self.ingest_document(load(), ns, quota=quota, refresh=False, sets=names))
            except IngestError as exc:
                items.append(IngestItem(source, "failed", error=str(exc)))
            except StoreWriteError as exc:
                message = str(exc) if str(exc).startswith(source) else f"{source}: {exc}"
                items.append(IngestItem(source, "failed", error=message))
                stopped = f"the batch stopped after a failed write: {str(exc).rsplit(': ', 1)[-1]}"
            if progress:
                progress(Progress(done, len(planned), source))
        if any(item.status in ("added", "replaced") for item in items):
            self.searcher.index(ns)  # once for the batch, not on the next question
        return IngestReport(tuple(items), time.perf_counter() - started)

    def ingest_bytes(
        self,
        data: bytes,
        filename: str,
        namespace: str | None = None,
        *,
        source: str | None = None,
        url: str | None = None,
        content_type: str | None = None,
        quota: Quota | None = None,
        sets: Sequence[str] = (),
    ) -> IngestReport:
        """Ingest an uploaded file (e.g. a Discord attachment)."""
        ns = self.namespace(namespace)
        names = parse_set_names(sets)
        started = time.perf_counter()
        try:
            doc = load_bytes(
                data, filename, source=source, url=url, content_type=content_type, limits=self.config.limits
            )
            item = self.ingest_document(doc, ns, quota=quota, sets=names)
        except (IngestError, StoreWriteError) as exc:
            item = IngestItem(source or filename, "failed", error=str(exc))
        return IngestReport((item,), time.perf_counter() - started)

    def _load_url(self, url: str) -> Document:
        fetched = fetch(url, self.config.fetch)
        return load_bytes(
            fetched.content,
            fetched.url,
            source=url,
            url=fetched.url,
            content_type=fetched.content_type,
            limits=self.config.limits,
        )

    def check_quota(self, namespace: str, quota: Quota, extra_bytes: int = 0, *, replacing: Sequence[str] = ()) -> None:
        """Raise ``LimitReached`` when one more ingest would pass the namespace's bounds."""
        check_quota(self.catalog, self.namespace(namespace), quota, extra_bytes, replacing=replacing)

    def ingest_document(
        self,
        doc: Document,
        namespace: str,
        *,
        quota: Quota | None = None,
        refresh: bool = True,
        sets: Sequence[str] = (),
    ) -> IngestItem:
        """Add (or replace, by source) one document. ``refresh``: rebuild the namespace's
        search index now rather than on the next question (a bulk load does it once, at the end).
        ``sets``: document sets it joins. The same content ingested again with other sets is
        "unchanged" and joins them too (memberships add up; ``forget`` drops them all); a new
        version of a source keeps the old version's sets."""
        ns = self.namespace(namespace)
        names = parse_set_names(sets)
        if _SURROGATE.search(doc.source + doc.title):  # an undecodable file name: SQLite takes only UTF-8
            doc = replace(doc, source=_SURROGATE.sub("\ufffd", doc.source), title=_SURROGATE.sub("\ufffd", doc.title))
        if self.catalog.has_document(ns, doc.id):
            return self._unchanged(doc, ns, names)
        size = len(doc.text.encode("utf-8"))
        if quota:  # early, before the embedding work; again under the write lock below
            self.check_quota(ns, quota, size, replacing=[d for d, _ in self.catalog.by_source(ns, doc.source)])
        searcher = self.searcher  # loads the model and checks it matches the data dir
        prepared = prepare(doc, self.config.chunker, self.embedder)

        def admit(replacing: list[str]) -> None:
            # Concurrent ingests each passed the early check; only one may use the last slot.
            if quota:
                self.check_quota(ns, quota, size, replacing=replacing)

        status = self.indexer.write(ns, prepared, admit=admit, sets=names)
        if status == "unchanged":
            return self._unchanged(doc, ns, names)
        if refresh:
            searcher.index(ns)
        return IngestItem(doc.source, status, doc.id, doc.title, len(prepared.chunks))

    def _unchanged(self, doc: Document, ns: str, sets: Sequence[str]) -> IngestItem:
        self.catalog.add_to_sets(ns, doc.id, sets)
        return IngestItem(doc.source, "unchanged", doc.id, doc.title)

    def ensure_sample(self, namespace: str | None = None) -> IngestReport | None:
        """Ingest the bundled sample article into a namespace that never held a document
        (its generation is still 0): forgetting the last document must not bring it back."""
        ns = self.namespace(namespace)
        if self.catalog.generation(ns):
            return None
        return self.ingest([sample_path()], ns)

    # -- forget -----------------------------------------------------------------------
    def resolve_document(self, ref: str, namespace: str | None = None, access: Access | None = None) -> DocumentInfo:
        """A document by id, unique id prefix (at least 6 characters), or exact title, among
        those ``access`` may see (one it may not is "no document", as if it did not exist)."""
        ns = self.namespace(namespace)
        ref = ref.strip()
        docs = self.sources(ns, access)
        exact = [d for d in docs if d.id == ref]
        if exact:
            return exact[0]
        matches = [d for d in docs if len(ref) >= 6 and d.id.startswith(ref.lower())] or [
            d for d in docs if d.title == ref
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise NotFound(f"{ref!r} matches {len(matches)} documents; use the full document id")
        raise NotFound(f"no document {ref[:100]!r} in this namespace")

    def forget(self, ref: str, namespace: str | None = None) -> DocumentInfo:
        ns = self.namespace(namespace)
        info = self.resolve_document(ref, ns)
        if self.indexer.forget(ns, info.id) is None:
            raise NotFound(f"no document {ref[:100]!r} in this namespace (forgotten meanwhile)")
        return info

    def sources(self, namespace: str | None = None, access: Access | None = None) -> list[DocumentInfo]:
        """The namespace's documents that ``access`` may see (None: all), each with its sets."""
        ns = self.namespace(namespace)
        docs = self.catalog.documents(ns)
        filed = self.catalog.document_sets(ns)
        if not filed:
            return docs
        restricted = self.catalog.set_roles(ns)
        who = access or OPERATOR
        none = frozenset[str]()
        return [
            replace(d, sets=tuple(sorted(filed.get(d.id, none))))
            for d in docs
            if who.may_see(filed.get(d.id, none), restricted)
        ]

    # -- document sets ------------------------------------------------------------------
    def sets(self, namespace: str | None = None, access: Access | None = None) -> list[DocumentSet]:
        """The namespace's sets (those holding a document or restricted), by name, with how
        many documents each holds and its roles; only those ``access`` may see."""
        ns = self.namespace(namespace)
        restricted = self.catalog.set_roles(ns)
        counts: dict[str, int] = dict.fromkeys(restricted, 0)
        for names in self.catalog.document_sets(ns).values():
            for name in names:
                counts[name] = counts.get(name, 0) + 1
        who = access or OPERATOR
        return [
            DocumentSet(name, counts[name], tuple(sorted(restricted.get(name, ()))))
            for name in sorted(counts)
            if who.may_see_set(name, restricted)
        ]

    def restrict_set(self, namespace: str | None, name: str, roles: Sequence[int | str]) -> DocumentSet:
        """Make the set visible only to members holding one of ``roles`` (empty: to everyone).
        Stored in the catalog and read on every question: it applies at once, in every process."""
        ns = self.namespace(namespace)
        set_name = parse_set_name(name)
        self.catalog.restrict_set(ns, set_name, [str(r) for r in dict.fromkeys(roles)])
        return self._set_info(ns, set_name)

    def _set_info(self, ns: str, name: str) -> DocumentSet:
        return next((s for s in self.sets(ns) if s.name == name), DocumentSet(name, 0, ()))

    def is_restricted(self, namespace: str | None, doc_ids: Iterable[str]) -> bool:
        """Whether any of these documents is in a restricted set (what a reply posted for a
        whole channel must not show)."""
        ns = self.namespace(namespace)
        restricted = self.catalog.set_roles(ns)
        if not restricted:
            return False
        filed = self.catalog.document_sets(ns)
        return any(filed.get(d, frozenset()) & restricted.keys() for d in doc_ids)

    def namespaces(self) -> list[NamespaceInfo]:
        """Every namespace that ever held a document, with what it holds now."""
        return self.catalog.namespaces()

    # -- search and answers -----------------------------------------------------------
    def check_question(self, question: str) -> str:
        # A lone surrogate (e.g. from a JSON "\\ud800" escape) is no text: the tokenizer and
        # SQLite would raise on it, so it becomes U+FFFD like any undecodable character.
        question = _SURROGATE.sub("\ufffd", question).strip()
        if not question:
            raise InvalidQuestion("the question is empty")
        return check_length(question, self.config.max_question_chars)

    def search(
        self,
        query: str,
        namespace: str | None = None,
        k: int | None = None,
        *,
        scope: Scope | None = None,
        access: Access | None = None,
    ) -> list[SearchHit]:
        """The passages that best match ``query``; ``scope``, ``access``: of the documents they allow only."""
        query = question_text(self.check_question(query))
        ns = self.namespace(namespace)
        return self.searcher.retrieve(ns, query, k or self.config.search_k, scope=scope, access=access).hits

    @property
    def llm(self) -> LLMAnswerer:
        """LLM mode's answerer (made on first use: the provider package is an optional extra)."""
        if self._llm is None:
            config = self.config.llm
            self._llm = LLMAnswerer(chat_model(config), self.embedder, self.answerer, config)
        return self._llm

    # -- the answer mode: the settings' default, overridable per namespace ------------
    def answer_mode(self, namespace: str | None = None) -> str:
        """The mode the namespace's questions are answered in: its override, else the default."""
        return self.answer_mode_override(namespace) or self.config.answer_mode

    def answer_mode_override(self, namespace: str | None = None) -> str | None:
        """The namespace's own choice (None: it follows the settings' default)."""
        stored = self.catalog.namespace_setting(self.namespace(namespace), _ANSWER_MODE_KEY)
        return stored if stored in ANSWER_MODES else None

    def set_answer_mode(self, namespace: str | None, mode: str | None) -> str:
        """Override the namespace's answer mode (None: back to the default); the mode now in
        effect. Stored in the catalog: it survives a restart and every process sees it.
        ``llm`` is refused when the configured model cannot be made (e.g. its provider
        package is missing), so an override never silently falls back."""
        ns = self.namespace(namespace)
        if mode is not None:
            mode = check_answer_mode(mode)
            if mode == "llm":
                chat_model(self.config.llm)  # CitebotError: a one-line reason
        self.catalog.set_namespace_setting(ns, _ANSWER_MODE_KEY, mode)
        return self.answer_mode(ns)

    def ask(
        self,
        question: str,
        namespace: str | None = None,
        history: Sequence[str] = (),
        *,
        mode: str | None = None,
        on_token: Callable[[str], None] | None = None,
        log: bool = False,
        scope: Scope | None = None,
        asked_at: datetime | None = None,
        access: Access | None = None,
    ) -> Answer:
        """Answer from the namespace's documents, or abstain. ``history``: earlier questions of a thread.
        ``mode``: "extractive" or "llm" (default: the namespace's, see ``answer_mode``);
        ``on_token``: LLM mode's raw stream, for display only (the returned answer holds only
        verified sentences). ``log``: record the question in the namespace's question log (the
        bot's questions, for /stats; a CLI ask is the operator's own, not logged unless asked).
        ``scope``: answer from the documents it allows only (a date window, a site);
        ``access``: from the documents the reader may see and asked for (``retrieval.access``).
        A question that names its time ("this week", "in 2019", "recently"; relative to
        ``asked_at``, default now) is answered from the articles of that window, the most
        recent of equal matches first, and the answer's note gives the article's date; when
        nothing in the window answers, from any time, and the note says so."""
        asked = self.check_question(question)
        ns = self.namespace(namespace)
        llm = (check_answer_mode(mode) if mode is not None else self.answer_mode(ns)) == "llm"
        started = time.perf_counter()
        # Search and answer see the question itself: no greeting, mention or politeness, and
        # a follow-up made standalone with the thread's previous question.
        earlier = [
            question_text(self.check_question(h[: self.config.max_question_chars])) for h in history if h.strip()
        ]
        query = (self.llm.condense(question_text(asked), earlier) if llm and earlier else None) or resolve_follow_up(
            question_text(asked), earlier
        )
        words = time_words(query, asked_at)
        retrieved, evidence, answer, widened = self._extract(ns, query, scope, access, words)
        retrieved_at = time.perf_counter()
        if llm and evidence.hits:
            answer = self.llm.answer(evidence, on_token)
        if words is not None and not answer.abstained:
            answer = replace(answer, note=self._dated_note(ns, words, answer, retrieved.index, widened))
        done = time.perf_counter()
        timings = {
            "retrieve": (retrieved_at - started) * 1000,
            "answer": (done - retrieved_at) * 1000,
            "total": (done - started) * 1000,
        }
        bylines = retrieved.index.bylines
        # Every answerer's citations get their document's date here, in one place.
        citations = tuple(
            replace(c, published=bylines[c.doc_id][1]) if c.doc_id in bylines else c for c in answer.citations
        )
        answer = replace(answer, question=asked, timings_ms=timings, citations=citations)
        if log:
            self.log_question(ns, answer)
        return answer

    def _extract(
        self, ns: str, query: str, scope: Scope | None, access: Access | None, words: TimeWords | None
    ) -> tuple[Retrieved, Evidence, Answer, bool]:
        """Retrieval, evidence and the extractive answer (cheap; LLM mode then writes its own
        from the same evidence) — in the question's own time window first, if it names one;
        the flag: nothing in that window answered, so any time was searched."""
        k = self.config.search_k
        newest = words is not None
        windowed = scope
        if words is not None and (words.since or words.until):
            windowed = (scope or Scope()).within(words.since, words.until)
        retrieved = self.searcher.retrieve(ns, query, k, scope=windowed, access=access, newest_first=newest)
        evidence = newest_evidence(retrieved.evidence(query, k), newest)
        if windowed is not scope:  # the question's window: nothing in it answers -> any time
            answer = self.answerer.answer(evidence) if evidence.hits else abstention(query)
            if not answer.abstained:
                return retrieved, evidence, answer, False
            retrieved = self.searcher.retrieve(ns, query, k, scope=scope, access=access, newest_first=newest)
            evidence = newest_evidence(retrieved.evidence(query, k), newest)
        if retrieved.in_scope == 0:
            described = [scope.describe()] if scope is not None else []
            described += [access.describe()] if access is not None and access.narrows else []
            answer = replace(abstention(query), text=f"No documents match the filter ({' and '.join(described)}).")
        else:
            answer = self.answerer.answer(evidence) if evidence.hits else abstention(query)
        return retrieved, evidence, answer, windowed is not scope

    def _dated_note(self, ns: str, words: TimeWords, answer: Answer, index: NamespaceIndex, widened: bool) -> str:
        """The answer's article date, for a question that asked about a time."""
        doc_id = answer.citations[0].doc_id if answer.citations else ""
        day = published_day(index.bylines[doc_id][1]) if doc_id in index.bylines else None
        if day is None:
            ingested = next((d.ingested_at for d in self.catalog.documents(ns) if d.id == doc_id), None)
            day = (
                "an unknown date"
                if ingested is None
                else f"{datetime.fromtimestamp(ingested, UTC):%Y-%m-%d} (ingested)"
            )
        said = f"“{' '.join(words.phrase.split())}”"
        if widened:
            text = f"Nothing published {said} answers this; the newest matching article is from {day}"
        else:
            text = f"From {day}: the most recent matching article for {said}"
        return f"{answer.note} · {text}" if answer.note else text

    # -- citations --------------------------------------------------------------------
    def cite(self, cid: str, namespace: str | None = None, access: Access | None = None) -> CitationContext:
        """The passage behind a citation id, with the paragraph(s) around it. A document
        ``access`` may not see is answered exactly as one never ingested."""
        ns = self.namespace(namespace)
        parsed = parse_citation_id(cid)
        if parsed is None:
            raise NotFound(f"{cid.strip()[:100]!r} is not a citation id (they look like 6f75d72f-1923-2021)")
        prefix, start, end = parsed
        docs = [d for d in self.sources(ns, access) if d.id.startswith(prefix)]
        if not docs:  # the catalog keeps no history: it cannot tell "never existed" from "forgotten"
            raise NotFound(
                f"no document with id prefix {prefix!r} in this namespace "
                "(never ingested here, or no longer in the store: forgotten or replaced)"
            )
        info = docs[0]
        text = self.catalog.text(ns, info.id)
        if text is None:  # forgotten or replaced since the lookup above
            raise NotFound("the document behind that citation is no longer in the store (it was forgotten or replaced)")
        if end > len(text):
            raise NotFound("that citation points past the end of its document")
        return self._context(info, text, start, end, exact=True)

    def find_quote(
        self, quote: str, namespace: str | None = None, access: Access | None = None
    ) -> CitationContext | None:
        """Where ``quote`` occurs in the namespace's documents ``access`` allows (exactly or nearly), or None."""
        ns = self.namespace(namespace)
        quote = quote.strip()
        if not quote:
            raise InvalidQuestion("the quote is empty")
        check_length(quote, self.config.max_question_chars, "quote")
        match = self.searcher.find_quote(ns, quote, access)
        info = self.catalog.document(ns, match.doc_id) if match else None
        text = self.searcher.index(ns).texts.get(match.doc_id) if match else None
        if match is None or info is None or text is None:  # none, or forgotten meanwhile
            return None
        return self._context(info, text, match.start, match.end, exact=match.exact)

    def lookup(
        self, id_or_quote: str, namespace: str | None = None, access: Access | None = None
    ) -> CitationContext | None:
        """A citation id or a quote, whichever ``id_or_quote`` is."""
        if parse_citation_id(id_or_quote):
            return self.cite(id_or_quote, namespace, access)
        return self.find_quote(id_or_quote, namespace, access)

    def _context(self, info: DocumentInfo, text: str, start: int, end: int, *, exact: bool) -> CitationContext:
        c_start, c_end, paragraph = context_window(text, start, end)
        return CitationContext(
            id=citation_id(info.id, start, end),
            doc_id=info.id,
            title=info.title,
            url=info.url,
            start=start,
            end=end,
            quote=text[start:end],
            context=text[c_start:c_end],
            context_start=c_start,
            paragraph=paragraph,
            exact=exact,
        )

    # -- feedback ---------------------------------------------------------------------
    def record_feedback(self, namespace: str, user_id: str, answer: Answer, vote: int) -> tuple[int, int]:
        ns = self.namespace(namespace)
        self.catalog.add_feedback(
            ns, user_id, answer.question, answer.text, [c.to_dict() for c in answer.citations], 1 if vote > 0 else -1
        )
        return self.catalog.feedback_counts(ns)

    def feedback_counts(self, namespace: str) -> tuple[int, int]:
        return self.catalog.feedback_counts(self.namespace(namespace))

    # -- question log and stats (issue 13) --------------------------------------------
    def setting(self, namespace: str | None, key: str) -> str | None:
        """A client's own per-namespace setting (e.g. the bot's escalation channel); None: unset."""
        return self.catalog.namespace_setting(self.namespace(namespace), key)

    def set_setting(self, namespace: str | None, key: str, value: str | None) -> None:
        """Store (None: remove) a client's per-namespace setting; it survives a restart."""
        self.catalog.set_namespace_setting(self.namespace(namespace), key, value)

    def add_feedback_note(self, namespace: str, user_id: str, question: str, note: str) -> bool:
        """The note a user gave with their 👎 on ``question`` (False: no such vote)."""
        return self.catalog.add_feedback_note(self.namespace(namespace), user_id, question, note[:2000])

    def log_question(self, namespace: str, answer: Answer) -> None:
        """Record an answered or abstained question (entries older than ``MAX_DAYS`` go).
        A log that cannot be written (read-only media, a full disk) costs the answer nothing."""
        ns = self.namespace(namespace)
        entry = entry_for(answer)
        try:
            self.catalog.log_question(ns, entry, entry.asked_at - MAX_DAYS * DAY_SECONDS)
        except StoreError as exc:
            log.warning("the question was not logged: %s", exc)

    def stats(self, namespace: str | None = None, days: int = 7) -> Stats:
        """The namespace's questions over the last ``days`` UTC days (1 to ``MAX_DAYS``), today included."""
        if not 1 <= days <= MAX_DAYS:
            raise CitebotError(f"days must be 1 to {MAX_DAYS}")
        return read_stats(self.catalog, self.namespace(namespace), days)

    # -- feeds (issue 13; the work is in retrieval/feeds.py) ---------------------------
    def add_feed(
        self, url: str, namespace: str | None = None, *, set_name: str | None = None, announce: str | None = None
    ) -> Feed:
        """Subscribe the namespace to an RSS or Atom feed (checked by one fetch); its
        articles arrive with the next poll. ``announce``: where a front end posts new ones."""
        named = parse_set_name(set_name) if set_name and set_name.strip() else None
        return self.poller.add(self.namespace(namespace), url, set_name=named, announce=announce)

    def feeds(self, namespace: str | None = None) -> list[Feed]:
        return self.catalog.feeds(self.namespace(namespace))

    def remove_feed(self, ref: str, namespace: str | None = None) -> Feed:
        """Unsubscribe (by id, id prefix or URL); the articles it brought stay."""
        return self.poller.remove(self.namespace(namespace), ref)

    def poll_feeds(
        self,
        namespace: str | None = None,
        *,
        every_namespace: bool = False,
        force: bool = False,
        quota: Quota | None = None,
    ) -> FeedPollReport:
        """Poll the namespace's due feeds (``every_namespace``: every namespace's; ``force``:
        due or not) and ingest their new and changed articles."""
        feeds = self.catalog.feeds(None if every_namespace else self.namespace(namespace))
        report = self.poller.poll(feeds, force=force, quota=quota)
        for ns in sorted({i.namespace for i in report.items if i.added or i.replaced}):
            self.searcher.index(ns)  # once per namespace, not per article
        return report

    def _ingest_feed_article(
        self, doc: Document, namespace: str, quota: Quota | None, set_name: str | None
    ) -> IngestItem:
        # ``set_name``: the feed's document set: every article it brings joins it.
        return self.ingest_document(doc, namespace, quota=quota, refresh=False, sets=[set_name] if set_name else ())
