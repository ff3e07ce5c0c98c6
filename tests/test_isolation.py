"""Namespace isolation, property-based: guilds and DMs never see each other's documents.

A hypothesis state machine ingests, replaces and forgets random documents across several
namespaces (two guilds, the DM namespace, and a fourth whose Chroma collection slug equals
the DM one's, so only the digest in the collection name tells them apart). The same
content may be ingested in two namespaces (same document id in both), and titles collide
on purpose. After every step each namespace's catalog and vector ids must match a model
of what was done to that namespace alone; probes check every read path — ``search``,
``ask``, ``cite``, ``find_quote``, ``lookup``, ``resolve_document`` (what autocomplete
uses) and ``sources`` — with questions, quotes, citation ids, id prefixes and titles of
documents from *other* namespaces: nothing may come back that the namespace does not
hold itself, and ``forget`` in one namespace never touches another.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from config import load_settings
from retrieval.catalog import chunk_ids
from retrieval.citations import citation_id
from retrieval.errors import NotFound
from retrieval.loaders import load_bytes
from retrieval.models import Document
from retrieval.service import CitebotService
from retrieval.vectorstore import collection_name
from tests.doubles import HashingEmbedder

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

WORDS = "harbor council budget river school bridge market station library museum ferry tunnel".split()
TITLES = ["Weekly Notes", "Council Minutes", "Harbor Report"]  # shared on purpose
_service: CitebotService | None = None
_runs = itertools.count()
STATS: Counter = Counter()


@pytest.fixture(scope="module")
def service(tmp_path_factory, module_store_config):
    global _service
    settings = load_settings(data_dir=tmp_path_factory.mktemp("isolation") / "data", **module_store_config)
    _service = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    yield _service
    _service = None
    print(f"\nisolation: {dict(sorted(STATS.items()))}")


@dataclass(frozen=True)
class Spec:
    """A document to ingest: a marker word only it contains, a title, a source name."""

    marker: str
    title: str
    source: str
    sentences: tuple[str, ...]

    def document(self) -> Document:
        body = "\n\n".join(self.sentences)
        return load_bytes(f"{self.title}\n\n{body}\n".encode(), self.source, source=self.source)


def make_spec(seed: int, title: int, version: int = 0) -> Spec:
    rng = random.Random(seed)
    marker = "zq" + "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))
    sentences = tuple(
        f"The {marker} {' '.join(rng.choice(WORDS) for _ in range(6))} item {n} revision {version}."
        for n in range(rng.randint(2, 9))
    )
    name = TITLES[title] if title < len(TITLES) else f"Notes {marker}"
    return Spec(marker, name, f"doc-{seed}-{title}.txt", sentences)


class Isolation(RuleBasedStateMachine):
    docs = Bundle("docs")

    def __init__(self) -> None:
        super().__init__()
        assert _service is not None
        self.svc = _service
        run = next(_runs)
        # Two guilds, the DM namespace, and one whose collection slug equals the DM one's.
        self.namespaces = [f"{run}:111111111111111111", f"{run}:222222222222222222", f"{run}:dm", f"{run}/dm"]
        a, b = collection_name(self.namespaces[2]), collection_name(self.namespaces[3])
        assert a != b and a.rsplit("-", 1)[0] == b.rsplit("-", 1)[0]
        self.model: dict[str, dict[str, Document]] = {ns: {} for ns in self.namespaces}  # ns -> source -> doc
        self.versions: dict[tuple[str, str], int] = {}
        self.seen: dict[str, Document] = {}  # every document ever ingested anywhere, by id
        self.specs: dict[str, Spec] = {}  # doc id -> the spec it was made from

    # -- writes -------------------------------------------------------------------------
    @rule(target=docs, seed=st.integers(0, 10**6), title=st.integers(0, 4))
    def new_doc(self, seed: int, title: int) -> Spec:
        return make_spec(seed, title)

    @rule(spec=docs, ns=st.integers(0, 3), upload=st.booleans())
    def ingest(self, spec: Spec, ns: int, upload: bool) -> None:
        name = self.namespaces[ns]
        version = self.versions.get((name, spec.source), 0)
        doc = make_spec_version(spec, version).document()
        if upload:
            item = self.svc.ingest_bytes(doc.text.encode(), spec.source, name, source=spec.source).items[0]
        else:
            item = self.svc.ingest_document(doc, name)
        assert item.status in ("added", "unchanged"), item
        assert item.doc_id == doc.id
        self.model[name][spec.source] = doc
        self.seen[doc.id] = doc
        self.specs[doc.id] = spec
        STATS["ingest"] += 1
        if sum(doc.id in {d.id for d in m.values()} for m in self.model.values()) > 1:
            STATS["same document in two namespaces"] += 1

    @precondition(lambda self: any(self.model.values()))
    @rule(data=st.data())
    def replace(self, data) -> None:
        """A changed version of a document one namespace holds: only that namespace changes."""
        name, old = data.draw(st.sampled_from(self.present()))
        spec = self.specs[old.id]
        before = self.snapshot()
        version = self.versions[(name, spec.source)] = self.versions.get((name, spec.source), 0) + 1
        doc = make_spec_version(spec, version).document()
        item = self.svc.ingest_document(doc, name)
        assert item.status == "replaced", item
        self.model[name][spec.source] = doc
        self.seen[doc.id] = doc
        self.specs[doc.id] = spec
        STATS["replace"] += 1
        self.check_others_untouched(name, before)

    def present(self) -> list[tuple[str, Document]]:
        return sorted(((ns, d) for ns, m in self.model.items() for d in m.values()), key=lambda x: (x[0], x[1].id))

    @precondition(lambda self: any(self.model.values()))
    @rule(data=st.data(), how=st.sampled_from(["id", "prefix", "title"]))
    def forget(self, data, how: str) -> None:
        name, doc = data.draw(st.sampled_from(self.present()))
        before = self.snapshot()
        ref = {"id": doc.id, "prefix": doc.id[:8], "title": doc.title}[how]
        if how == "title" and sum(d.title == doc.title for d in self.model[name].values()) > 1:
            with pytest.raises(NotFound, match="matches"):
                self.svc.forget(ref, name)
            STATS["forget refused (ambiguous title)"] += 1
            return
        assert self.svc.forget(ref, name).id == doc.id
        del self.model[name][doc.source]
        STATS[f"forget by {how}"] += 1
        self.check_others_untouched(name, before)

    @precondition(lambda self: self.seen)
    @rule(data=st.data())
    def forget_elsewhere(self, data) -> None:
        """Forgetting, in one namespace, a document only other namespaces hold: refused."""
        doc = data.draw(st.sampled_from(sorted(self.seen.values(), key=lambda d: d.id)))
        name = data.draw(st.sampled_from(self.namespaces))
        if doc.id in {d.id for d in self.model[name].values()}:
            return
        before = self.snapshot()
        with pytest.raises(NotFound):
            self.svc.forget(doc.id, name)
        STATS["forget refused (not in this namespace)"] += 1
        self.check_others_untouched(name, before)
        assert self.snapshot()[name] == before[name]

    def check_others_untouched(self, name: str, before: dict[str, tuple]) -> None:
        after = self.snapshot()
        for other in self.namespaces:
            if other != name:
                assert after[other] == before[other], f"forget in {name} changed {other}"

    # -- reads ----------------------------------------------------------------------------
    @precondition(lambda self: self.seen)
    @rule(data=st.data(), ns=st.integers(0, 3))
    def probe(self, data, ns: int) -> None:
        """Every read path, asked in ``ns`` about a document that may live elsewhere."""
        self.check_reads(
            self.namespaces[ns], data.draw(st.sampled_from(sorted(self.seen.values(), key=lambda d: d.id)))
        )

    @precondition(lambda self: any(self.model.values()))
    @rule(data=st.data())
    def probe_own(self, data) -> None:
        """The same, about a document the namespace holds (other namespaces may hold it too)."""
        self.check_reads(*data.draw(st.sampled_from(self.present())))

    def check_reads(self, name: str, doc: Document) -> None:
        own = {d.id: d for d in self.model[name].values()}
        texts = {d.id: d.text for d in own.values()}
        marker = doc.text.split("The ", 1)[1].split(" ", 1)[0]
        sentence = next(line for line in doc.text.split("\n\n") if line.startswith("The "))
        STATS["probe (own document)" if doc.id in own else "probe (another namespace's document)"] += 1

        for hit in self.svc.search(f"What about {marker}?", name, 10):
            assert hit.chunk.doc_id in own, "search returned another namespace's chunk"
            assert texts[hit.chunk.doc_id][hit.chunk.start : hit.chunk.end] == hit.chunk.text
        hits = self.svc.search(sentence, name, 10)
        assert {h.chunk.doc_id for h in hits} <= set(own), "search returned another namespace's chunk"
        if doc.id in own:  # the probe is not vacuous: the namespace finds its own document
            assert doc.id in {h.chunk.doc_id for h in hits}
        answer = self.svc.ask(sentence, name)
        for c in answer.citations:
            assert c.doc_id in own, "an answer cited another namespace's document"
            assert texts[c.doc_id][c.start : c.end] == c.quote

        found = self.svc.find_quote(sentence, name)
        if found is not None:
            assert found.doc_id in own, "find_quote found it in another namespace's document"
            assert texts[found.doc_id][found.start : found.end] == found.quote
        if any(sentence in t for t in texts.values()):
            assert found is not None and found.exact

        cid = citation_id(doc.id, 0, len(sentence))
        for lookup in (self.svc.cite, self.svc.lookup):
            if doc.id[:8] in {i[:8] for i in own}:
                got = lookup(cid, name)
                assert got.doc_id in own
            else:
                with pytest.raises(NotFound):
                    lookup(cid, name)

        for ref in (doc.id, doc.id[:8], doc.title):
            try:
                info = self.svc.resolve_document(ref, name)
            except NotFound:
                assert ref != doc.id or doc.id not in own
                continue
            assert info.id in own and info.namespace == name, "resolve_document crossed namespaces"

        listed = self.svc.sources(name)
        assert {d.id for d in listed} == set(own) and all(d.namespace == name for d in listed)

    # -- after every step -----------------------------------------------------------------
    def snapshot(self) -> dict[str, tuple]:
        return {
            ns: (
                sorted((d.source, d.id, d.chunks) for d in self.svc.sources(ns)),
                sorted(self.svc.store.all_ids(ns)),
            )
            for ns in self.namespaces
        }

    @invariant()
    def each_namespace_holds_exactly_its_own(self) -> None:
        for ns, (docs, ids) in self.snapshot().items():
            want = self.model[ns]
            assert [(s, i) for s, i, _ in docs] == sorted((s, d.id) for s, d in want.items()), ns
            assert ids == sorted(c for _s, i, n in docs for c in chunk_ids(i, n)), ns


def make_spec_version(spec: Spec, version: int) -> Spec:
    if version == 0:
        return spec
    sentences = tuple(s.replace("revision 0.", f"revision {version}.") for s in spec.sentences)
    return Spec(spec.marker, spec.title, spec.source, sentences)


def test_namespaces_never_see_each_others_documents(service):
    # A plain test running the machine, so it runs once per store configuration.
    run_state_machine_as_test(
        Isolation,
        settings=settings(
            max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
