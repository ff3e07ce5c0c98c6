"""The service API: ingest, search, ask, cite, list and forget — per namespace.

Everything user-facing (CLI, Discord bot) goes through ``CitebotService``. Writes go
through ``retrieval.indexing.Indexer``, which owns the crash-safe write order, the
journal and the data dir's writer lock; readers only see chunks whose document row is
committed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from importlib import resources
from pathlib import Path

import numpy as np

from config import Settings
from retrieval.answering import AnswerConfig, Answerer, ExtractiveAnswerer, abstention
from retrieval.catalog import Catalog, NamespaceInfo
from retrieval.chunking import ChunkerConfig, segment
from retrieval.citations import citation_id, context_window, find_in_text, parse_citation_id
from retrieval.embedding import Embedder, load_embedder
from retrieval.errors import CitebotError, IngestError, InvalidQuestion, LimitReached, NotFound, StoreWriteError
from retrieval.fetching import FetchPolicy, fetch
from retrieval.indexing import Indexer, Mismatch, PreparedDocument, RepairReport
from retrieval.lexical import tokenize
from retrieval.loaders import Limits, expand_paths, load_bytes, load_path
from retrieval.locking import WriterLock
from retrieval.models import (
    Answer,
    CitationContext,
    Document,
    DocumentInfo,
    IngestItem,
    IngestReport,
    SearchHit,
)
from retrieval.phrasing import question_text, resolve_follow_up
from retrieval.reranking import Reranker, RerankerConfig, load_reranker
from retrieval.search import FusionConfig, Searcher
from retrieval.vectorstore import ChromaStore, VectorStore

log = logging.getLogger(__name__)
SAMPLE_NAME = "iran-rebuffs-russian-demand-to-withdraw-from-syria.txt"
# Any scheme: the fetcher refuses all but http(s) by name, rather than "no such file".
_URL = re.compile(r"^[a-z][a-z0-9+.-]+://", re.IGNORECASE)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Quota:
    """Bounds for one namespace (0 = unlimited), e.g. a Discord guild's."""

    max_documents: int = 0
    max_bytes: int = 0
    ingests_per_hour: int = 0


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    source: str


ProgressCallback = Callable[[Progress], None]


def _refuse(message: str) -> Document:
    raise IngestError(message)


def sample_path() -> Path:
    """The bundled sample article (AP via Breitbart, "Iran Rebuffs Russian Demand ...")."""
    return Path(str(resources.files("retrieval") / "samples" / SAMPLE_NAME))


class CitebotService:
    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        store: VectorStore | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        data_dir = settings.data_dir
        if data_dir.exists() and not data_dir.is_dir():
            raise CitebotError(f"the data dir {data_dir} is not a directory")
        self.catalog = Catalog(data_dir / "catalog.sqlite3")
        if store is None:
            if settings.chroma_mode == "server":
                store = ChromaStore.server(settings.chroma_host, settings.chroma_port)
            else:
                store = ChromaStore.embedded(data_dir / "chroma")
        self.store = store
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._searcher: Searcher | None = None
        self.indexer = Indexer(self.catalog, store, WriterLock(data_dir / "write.lock", settings.write_wait_seconds))
        self.chunker = ChunkerConfig(settings.chunk_size, settings.chunk_overlap_sentences)
        self.limits = Limits(settings.max_file_bytes, settings.max_document_chars)
        self.fetch_policy = FetchPolicy(
            timeout_seconds=settings.url_timeout_seconds,
            max_redirects=settings.url_max_redirects,
            max_bytes=settings.max_file_bytes,
            allow_private=settings.url_allow_private,
            allowlist=tuple(settings.url_allowlist),
        )
        self._reranker = reranker
        self.answerer: Answerer = ExtractiveAnswerer(
            AnswerConfig(
                max_sentences=settings.answer_max_sentences,
                max_chars=settings.answer_max_chars,
                abstain_threshold=settings.abstain_threshold,
            )
        )
        self.recover()
        # A deleted chroma/ folder or catalog: say so at open, and how to fix it.
        self.mismatches: list[Mismatch] = self.indexer.check()
        for mismatch in self.mismatches:
            log.warning(mismatch.message())

    # -- wiring -----------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use (listing or forgetting needs none)."""
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    s = self.settings
                    self._embedder = load_embedder(
                        s.embedding_model,
                        s.embedding_device,
                        s.embedding_batch_size,
                        s.embedding_backend,
                        s.model_cache_dir,
                    )
        return self._embedder

    @property
    def searcher(self) -> Searcher:
        if self._searcher is None:
            embedder = self.embedder
            self.catalog.check_embedding(embedder.name, embedder.dimension)
            s = self.settings
            reranker = self._reranker or load_reranker(
                RerankerConfig(s.reranker_model, s.reranker_max_tokens, s.reranker_threads)
            )
            self._searcher = Searcher(
                self.catalog,
                self.store,
                embedder,
                FusionConfig(s.candidate_k, s.rrf_k, s.dense_weight, s.lexical_weight),
                reranker,
            )
        return self._searcher

    def namespace(self, namespace: str | None) -> str:
        ns = (namespace or self.settings.default_namespace).strip()
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
        self.mismatches = self.indexer.check()
        return reports

    # -- ingest -----------------------------------------------------------------------
    def ingest(
        self,
        sources: Iterable[str | Path],
        namespace: str | None = None,
        *,
        progress: ProgressCallback | None = None,
        quota: Quota | None = None,
    ) -> IngestReport:
        """Ingest files, directories (recursively) and http(s) URLs; one item per document."""
        ns = self.namespace(namespace)
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
                planned.append((str(file), partial(load_path, file, self.limits)))
        items: list[IngestItem] = []
        stopped: str | None = None
        for done, (source, load) in enumerate(planned, start=1):
            if stopped is not None:  # the store cannot be written: say so for each, try none
                items.append(IngestItem(source, "failed", error=f"{source}: not tried ({stopped})"))
                continue
            try:
                items.append(self.ingest_document(load(), ns, quota=quota, refresh=False))
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
    ) -> IngestReport:
        """Ingest an uploaded file (e.g. a Discord attachment)."""
        ns = self.namespace(namespace)
        started = time.perf_counter()
        try:
            doc = load_bytes(data, filename, source=source, url=url, content_type=content_type, limits=self.limits)
            item = self.ingest_document(doc, ns, quota=quota)
        except (IngestError, StoreWriteError) as exc:
            item = IngestItem(source or filename, "failed", error=str(exc))
        return IngestReport((item,), time.perf_counter() - started)

    def _load_url(self, url: str) -> Document:
        fetched = fetch(url, self.fetch_policy)
        return load_bytes(
            fetched.content,
            fetched.url,
            source=url,
            url=fetched.url,
            content_type=fetched.content_type,
            limits=self.limits,
        )

    def check_quota(self, namespace: str, quota: Quota, extra_bytes: int = 0, *, replacing: Sequence[str] = ()) -> None:
        """Raise ``LimitReached`` when one more ingest would pass the namespace's bounds.
        ``replacing``: doc ids the ingest replaces (they stop counting)."""
        count, used = self.catalog.usage(namespace, exclude=replacing)
        if quota.max_documents and count >= quota.max_documents:
            raise LimitReached(f"this server already has {count} documents (the limit is {quota.max_documents})")
        if quota.max_bytes and used + extra_bytes > quota.max_bytes:
            raise LimitReached(f"this server's documents would exceed {quota.max_bytes:,} bytes")
        if quota.ingests_per_hour:
            recent = self.catalog.ingests_since(namespace, time.time() - 3600)
            if recent >= quota.ingests_per_hour:
                raise LimitReached(f"this server reached its limit of {quota.ingests_per_hour} ingests per hour")

    def ingest_document(
        self, doc: Document, namespace: str, *, quota: Quota | None = None, refresh: bool = True
    ) -> IngestItem:
        """Add (or replace, by source) one document. ``refresh``: rebuild the namespace's
        search index now rather than on the next question (a bulk load does it once, at the end)."""
        ns = self.namespace(namespace)
        if _SURROGATE.search(doc.source + doc.title):  # an undecodable file name: SQLite takes only UTF-8
            doc = replace(doc, source=_SURROGATE.sub("\ufffd", doc.source), title=_SURROGATE.sub("\ufffd", doc.title))
        if self.catalog.has_document(ns, doc.id):
            return IngestItem(doc.source, "unchanged", doc.id, doc.title)
        size = len(doc.text.encode("utf-8"))
        if quota:  # early, before the embedding work; again under the write lock below
            self.check_quota(ns, quota, size, replacing=[d for d, _ in self.catalog.by_source(ns, doc.source)])
        segmented = segment(doc.id, doc.text, self.chunker)
        if not segmented.chunks:
            raise IngestError(f"{doc.source}: the document has no text to index")
        searcher = self.searcher  # loads the model and checks it matches the data dir
        chunks = segmented.chunks
        sents = segmented.sentences
        spans = [
            [(sents[i].start - c.start, sents[i].end - c.start) for i in members]
            for c, members in zip(chunks, segmented.members, strict=True)
        ]
        chunk_vectors, span_vectors = self.embedder.embed_chunks([c.text for c in chunks], spans)
        # Each sentence keeps the vector from the first chunk that holds it.
        sentence_vectors = np.zeros((len(sents), self.embedder.dimension), dtype=np.float32)
        for members, vectors in zip(reversed(segmented.members), reversed(span_vectors), strict=True):
            sentence_vectors[list(members)] = vectors
        sentence_terms = [" ".join(tokenize(s.text)) for s in sents]
        prepared = PreparedDocument(doc, chunks, sents, chunk_vectors, sentence_vectors, sentence_terms)

        def admit(replacing: list[str]) -> None:
            # Concurrent ingests each passed the early check; only one may use the last slot.
            if quota:
                self.check_quota(ns, quota, size, replacing=replacing)

        status = self.indexer.write(ns, prepared, admit=admit)
        if status == "unchanged":
            return IngestItem(doc.source, "unchanged", doc.id, doc.title)
        if refresh:
            searcher.index(ns)
        return IngestItem(doc.source, status, doc.id, doc.title, len(chunks))

    def ensure_sample(self, namespace: str | None = None) -> IngestReport | None:
        """Ingest the bundled sample article into a namespace that never held a document
        (its generation is still 0): forgetting the last document must not bring it back."""
        ns = self.namespace(namespace)
        if self.catalog.generation(ns):
            return None
        return self.ingest([sample_path()], ns)

    # -- forget -----------------------------------------------------------------------
    def resolve_document(self, ref: str, namespace: str | None = None) -> DocumentInfo:
        """A document by id, unique id prefix (at least 6 characters), or exact title."""
        ns = self.namespace(namespace)
        ref = ref.strip()
        docs = self.catalog.documents(ns)
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

    def sources(self, namespace: str | None = None) -> list[DocumentInfo]:
        return self.catalog.documents(self.namespace(namespace))

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
        if len(question) > self.settings.max_question_chars:
            raise InvalidQuestion(
                f"the question is {len(question):,} characters; the limit is {self.settings.max_question_chars:,}"
            )
        return question

    def search(self, query: str, namespace: str | None = None, k: int | None = None) -> list[SearchHit]:
        query = question_text(self.check_question(query))
        return self.searcher.retrieve(self.namespace(namespace), query, k or self.settings.search_k).hits

    def ask(self, question: str, namespace: str | None = None, history: Sequence[str] = ()) -> Answer:
        """Answer from the namespace's documents, or abstain. ``history``: earlier questions of a thread."""
        asked = self.check_question(question)
        ns = self.namespace(namespace)
        started = time.perf_counter()
        # Search and answer see the question itself: no greeting, mention or politeness, and
        # a follow-up made standalone with the thread's previous question.
        earlier = [
            question_text(self.check_question(h[: self.settings.max_question_chars])) for h in history if h.strip()
        ]
        query = resolve_follow_up(question_text(asked), earlier)
        retrieved = self.searcher.retrieve(ns, query, self.settings.search_k)
        retrieved_at = time.perf_counter()
        evidence = retrieved.evidence(query, self.settings.search_k)
        answer = self.answerer.answer(evidence) if evidence.hits else abstention(query)
        done = time.perf_counter()
        timings = {
            "retrieve": (retrieved_at - started) * 1000,
            "answer": (done - retrieved_at) * 1000,
            "total": (done - started) * 1000,
        }
        return Answer(asked, answer.text, answer.abstained, answer.citations, answer.confidence, timings)

    # -- citations --------------------------------------------------------------------
    def cite(self, cid: str, namespace: str | None = None) -> CitationContext:
        """The passage behind a citation id, with the paragraph(s) around it."""
        ns = self.namespace(namespace)
        parsed = parse_citation_id(cid)
        if parsed is None:
            raise NotFound(f"{cid.strip()[:100]!r} is not a citation id (they look like 6f75d72f-1923-2021)")
        prefix, start, end = parsed
        docs = [d for d in self.catalog.documents(ns) if d.id.startswith(prefix)]
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

    def find_quote(self, quote: str, namespace: str | None = None) -> CitationContext | None:
        """Where ``quote`` occurs in the namespace's documents (exactly or nearly), or None."""
        ns = self.namespace(namespace)
        quote = quote.strip()
        if not quote:
            raise InvalidQuestion("the quote is empty")
        if len(quote) > self.settings.max_question_chars:
            raise InvalidQuestion(f"the quote is over {self.settings.max_question_chars:,} characters")
        # The index's cached texts, not one catalog read per document per lookup; documents
        # forgotten since the index was built are skipped by ``by_id``.
        index = self.searcher.index(ns)
        texts = index.texts
        docs = [d for d in self.catalog.documents(ns) if d.id in texts]
        for info in docs:  # exact occurrences anywhere win over near ones
            at = texts[info.id].find(quote)
            if at >= 0:
                return self._context(info, texts[info.id], at, at + len(quote), exact=True)
        # Near matches: look only in the documents lexical search ranks highest.
        ranked_docs: list[str] = []
        for row, _ in index.bm25.top(tokenize(quote), 20):
            doc_id = index.chunks[row].doc_id
            if doc_id not in ranked_docs:
                ranked_docs.append(doc_id)
        by_id = {d.id: d for d in docs}
        for doc_id in ranked_docs[:5]:
            if doc_id not in by_id:
                continue
            found = find_in_text(quote, texts[doc_id])
            if found:
                start, end, exact = found
                return self._context(by_id[doc_id], texts[doc_id], start, end, exact=exact)
        return None

    def lookup(self, id_or_quote: str, namespace: str | None = None) -> CitationContext | None:
        """A citation id or a quote, whichever ``id_or_quote`` is."""
        if parse_citation_id(id_or_quote):
            return self.cite(id_or_quote, namespace)
        return self.find_quote(id_or_quote, namespace)

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
