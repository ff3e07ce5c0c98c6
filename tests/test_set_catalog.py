"""Document sets in both catalog backends (SQLite and PostgreSQL): the same meaning."""

from __future__ import annotations

from retrieval import migrations
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.test_catalog_backends import TEXT_1, TEXT_2, backend, catalog, make_doc  # noqa: F401  (fixtures)


def test_schema_6_adds_the_set_tables():
    assert migrations.latest("sqlite") == migrations.latest("postgresql") == 6


def test_memberships_commit_with_the_document_add_up_and_go_with_it(catalog):  # noqa: F811
    doc, chunks, sentences, vectors, terms = make_doc(TEXT_1)
    before = catalog.generation("ns")
    catalog.commit_document("ns", doc, chunks, sentences, vectors, [], terms, sets=["b", "a"])
    assert catalog.document_sets("ns") == {doc.id: frozenset({"a", "b"})}
    assert catalog.snapshot("ns").sets == {doc.id: frozenset({"a", "b"})}
    gen = catalog.generation("ns")
    assert gen > before
    assert catalog.add_to_sets("ns", doc.id, ["a", "c"]) is True and catalog.generation("ns") > gen
    assert catalog.add_to_sets("ns", doc.id, ["a"]) is False  # nothing new: no generation bump
    assert catalog.add_to_sets("ns", "0123456789abcdef", ["a"]) is False  # no such document: no row
    assert catalog.document_sets("ns") == {doc.id: frozenset({"a", "b", "c"})}
    assert catalog.document_sets("other") == {}
    # A new version of the source keeps the old version's sets.
    new, chunks2, sentences2, vectors2, terms2 = make_doc(TEXT_2)
    catalog.commit_document("ns", new, chunks2, sentences2, vectors2, [doc.id], terms2, sets=["d"])
    assert catalog.document_sets("ns") == {new.id: frozenset({"a", "b", "c", "d"})}
    assert catalog.delete_document("ns", new.id)
    assert catalog.document_sets("ns") == {}


def test_restrictions_per_namespace(catalog):  # noqa: F811
    catalog.restrict_set("ns", "hr", ["1", "2"])
    catalog.restrict_set("other", "hr", ["3"])
    assert catalog.set_roles("ns") == {"hr": frozenset({"1", "2"})}
    catalog.restrict_set("ns", "hr", ["2"])
    assert catalog.set_roles("ns") == {"hr": frozenset({"2"})}
    catalog.restrict_set("ns", "hr", [])
    assert catalog.set_roles("ns") == {} and catalog.set_roles("other") == {"hr": frozenset({"3"})}
