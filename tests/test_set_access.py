"""Set access, property-based: a reader never gets anything from a set they may not see.

A hypothesis state machine (like tests/test_isolation.py) ingests random documents into
random sets of two namespaces (guilds), files the same content again into other sets,
restricts random sets to random roles and lifts restrictions, replaces and forgets. Probes
then ask as random readers — random roles, sometimes a manager (sees everything), in a
channel bound to random sets or not, narrowing to a random set or not — about a random
document, on every read path: ``search``, ``ask`` (answers and citations), ``find_quote``,
``cite`` and ``lookup`` by citation id, ``resolve_document`` by id, prefix and title (what
autocomplete uses), ``sources`` and the ``sets`` listing. The model below decides who may
see what from the README's rules on its own (it does not call ``retrieval.access``), so a
broken rule there fails here.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from config import load_settings
from retrieval.access import Access
from retrieval.citations import citation_id
from retrieval.errors import NotFound
from retrieval.models import Document
from retrieval.service import CitebotService
from tests.doubles import HashingEmbedder
from tests.test_isolation import Spec, make_spec, make_spec_version

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

ROLES = ["101", "102", "103", "104"]
SETS = ["alpha", "beta", "gamma", "delta"]
_service: CitebotService | None = None
_runs = itertools.count()
STATS: Counter = Counter()


@pytest.fixture(scope="module")
def service(tmp_path_factory, module_store_config):
    global _service
    settings = load_settings(data_dir=tmp_path_factory.mktemp("set-access") / "data", **module_store_config)
    _service = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    yield _service
    _service = None
    print(f"\nset access: {dict(sorted(STATS.items()))}")


@dataclass(frozen=True)
class Reader:
    roles: frozenset[str]
    manager: bool
    within: frozenset[str] | None  # the channel's bound sets
    narrow: str | None

    def access(self) -> Access:
        return Access.of(
            self.roles,
            everything=self.manager,
            within=self.within,
            narrow=None if self.narrow is None else [self.narrow],
        )


@dataclass
class Space:
    """What one namespace holds, by the model."""

    docs: dict[str, Document] = field(default_factory=dict)  # source -> visible version
    sets: dict[str, set[str]] = field(default_factory=dict)  # doc id -> its sets
    restricted: dict[str, frozenset[str]] = field(default_factory=dict)  # set -> roles

    def visible(self, doc_id: str, reader: Reader) -> bool:
        if doc_id not in {d.id for d in self.docs.values()}:
            return False
        if reader.manager:
            return True
        for name in self.sets.get(doc_id, set()):
            roles = self.restricted.get(name)
            if roles is not None and not roles & reader.roles:
                return False
        return True

    def searched(self, doc_id: str, reader: Reader) -> bool:
        mine = self.sets.get(doc_id, set())
        if reader.within is not None and not mine & reader.within:
            return False
        if reader.narrow is not None and reader.narrow not in mine:
            return False
        return self.visible(doc_id, reader)


readers = st.builds(
    Reader,
    st.frozensets(st.sampled_from(ROLES), max_size=2),
    st.sampled_from([False, False, False, True]),  # a manager now and then
    st.none() | st.frozensets(st.sampled_from(SETS), max_size=2),
    st.none() | st.sampled_from(SETS),
)


class SetAccess(RuleBasedStateMachine):
    specs = Bundle("specs")

    def __init__(self) -> None:
        super().__init__()
        assert _service is not None
        self.svc = _service
        run = next(_runs)
        self.namespaces = [f"sets{run}:1", f"sets{run}:2"]
        self.spaces = {ns: Space() for ns in self.namespaces}
        self.seen: dict[str, Document] = {}
        self.versions: dict[tuple[str, str], int] = {}
        self.spec_of: dict[str, Spec] = {}

    # -- writes ---------------------------------------------------------------------------
    @rule(target=specs, seed=st.integers(0, 10**6), title=st.integers(0, 4))
    def new_spec(self, seed: int, title: int) -> Spec:
        return make_spec(seed, title)

    @rule(spec=specs, ns=st.integers(0, 1), sets=st.frozensets(st.sampled_from(SETS), max_size=2))
    def ingest(self, spec: Spec, ns: int, sets: frozenset[str]) -> None:
        """A new document, or the same content again (then its sets add up)."""
        name = self.namespaces[ns]
        space = self.spaces[name]
        doc = make_spec_version(spec, self.versions.get((name, spec.source), 0)).document()
        item = self.svc.ingest_document(doc, name, sets=sorted(sets))
        assert item.status in ("added", "unchanged"), item
        if item.status == "added":
            space.sets.pop(doc.id, None)
        space.docs[spec.source] = doc
        space.sets.setdefault(doc.id, set()).update(sets)
        self.seen[doc.id] = doc
        self.spec_of[doc.id] = spec
        STATS[f"ingest ({item.status}, {len(sets)} sets)"] += 1

    @rule(ns=st.integers(0, 1), name=st.sampled_from(SETS), roles=st.frozensets(st.sampled_from(ROLES), max_size=2))
    def restrict(self, ns: int, name: str, roles: frozenset[str]) -> None:
        space = self.spaces[self.namespaces[ns]]
        self.svc.restrict_set(self.namespaces[ns], name, sorted(roles))
        if roles:
            space.restricted[name] = roles
        else:
            space.restricted.pop(name, None)
        STATS["restrict" if roles else "unrestrict"] += 1

    def present(self) -> list[tuple[str, Document]]:
        return sorted(((ns, d) for ns, s in self.spaces.items() for d in s.docs.values()), key=lambda x: x[1].id)

    @precondition(lambda self: any(s.docs for s in self.spaces.values()))
    @rule(data=st.data())
    def replace(self, data) -> None:
        """A new version of a source keeps the old version's sets."""
        name, old = data.draw(st.sampled_from(self.present()))
        space, spec = self.spaces[name], self.spec_of[old.id]
        version = self.versions[(name, spec.source)] = self.versions.get((name, spec.source), 0) + 1
        doc = make_spec_version(spec, version).document()
        assert self.svc.ingest_document(doc, name).status == "replaced"
        space.docs[spec.source] = doc
        space.sets[doc.id] = space.sets.pop(old.id, set())
        self.seen[doc.id] = doc
        self.spec_of[doc.id] = spec
        STATS["replace"] += 1

    @precondition(lambda self: any(s.docs for s in self.spaces.values()))
    @rule(data=st.data())
    def forget(self, data) -> None:
        name, doc = data.draw(st.sampled_from(self.present()))
        space = self.spaces[name]
        assert self.svc.forget(doc.id, name).id == doc.id
        del space.docs[next(s for s, d in space.docs.items() if d.id == doc.id)]
        space.sets.pop(doc.id, None)
        STATS["forget"] += 1

    # -- reads ----------------------------------------------------------------------------
    @precondition(lambda self: self.seen)
    @rule(data=st.data(), ns=st.integers(0, 1), reader=readers)
    def probe(self, data, ns: int, reader: Reader) -> None:
        doc = data.draw(st.sampled_from(sorted(self.seen.values(), key=lambda d: d.id)))
        self.check_reads(self.namespaces[ns], doc, reader)

    @precondition(lambda self: any(s.docs for s in self.spaces.values()))
    @rule(data=st.data(), reader=readers)
    def probe_present(self, data, reader: Reader) -> None:
        self.check_reads(*data.draw(st.sampled_from(self.present())), reader)

    def check_reads(self, name: str, doc: Document, reader: Reader) -> None:
        space, access = self.spaces[name], reader.access()
        visible = {d.id: d for d in space.docs.values() if space.visible(d.id, reader)}
        searched = {i for i in visible if space.searched(i, reader)}
        seen_as = "visible" if doc.id in visible else "hidden"
        STATS[f"probe ({seen_as}, {'searched' if doc.id in searched else 'not searched'})"] += 1
        marker = doc.text.split("The ", 1)[1].split(" ", 1)[0]
        sentence = next(line for line in doc.text.split("\n\n") if line.startswith("The "))

        for query in (f"What about {marker}?", sentence):
            hits = self.svc.search(query, name, 10, access=access)
            assert {h.chunk.doc_id for h in hits} <= searched, "search returned a chunk the reader may not search"
            if doc.id in searched and query == sentence:  # not vacuous: what may be found is found
                assert doc.id in {h.chunk.doc_id for h in hits}
        answer = self.svc.ask(sentence, name, access=access)
        assert {c.doc_id for c in answer.citations} <= searched, "an answer cited a document the reader may not see"
        if not searched and reader.within is None and reader.narrow is None:
            assert "No documents match" not in answer.text  # visibility alone is never told

        found = self.svc.find_quote(sentence, name, access)
        if found is not None:
            assert found.doc_id in searched, "find_quote found it where the reader may not look"
        if any(sentence in visible[i].text for i in searched):
            assert found is not None and found.exact

        cid = citation_id(doc.id, 0, len(sentence))
        for lookup in (self.svc.cite, self.svc.lookup):
            if doc.id[:8] in {i[:8] for i in visible}:
                got = lookup(cid, name, access)
                assert got is not None and got.doc_id in visible
            else:
                with pytest.raises(NotFound) as err:
                    lookup(cid, name, access)
                assert "never ingested here, or no longer in the store" in str(err.value)

        for ref in (doc.id, doc.id[:8], doc.title):
            try:
                info = self.svc.resolve_document(ref, name, access)
            except NotFound:
                assert ref != doc.id or doc.id not in visible
                continue
            assert info.id in visible, "resolve_document (autocomplete) offered a document the reader may not see"

        assert {d.id for d in self.svc.sources(name, access)} == set(visible)
        listed = {s.name for s in self.svc.sets(name, access)}
        hidden_sets = {s for s, roles in space.restricted.items() if not reader.manager and not roles & reader.roles}
        assert not listed & hidden_sets, "the set listing named a set the reader may not see"

    # -- after every step -----------------------------------------------------------------
    @invariant()
    def memberships_match_the_model(self) -> None:
        for ns, space in self.spaces.items():
            stored = self.svc.catalog.document_sets(ns)
            want = {i: frozenset(s) for i, s in space.sets.items() if s and i in {d.id for d in space.docs.values()}}
            assert stored == want, ns
            assert self.svc.catalog.set_roles(ns) == space.restricted, ns


def test_readers_see_exactly_the_sets_their_roles_open(service):
    # A plain test running the machine, so it runs once per store configuration.
    run_state_machine_as_test(
        SetAccess,
        settings=settings(
            max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
