"""Document sets: memberships, restrictions and narrowing, at the service (both catalog
backends' storage is in tests/test_catalog_backends.py; the property test is tests/test_set_access.py)."""

from __future__ import annotations

import pytest

from retrieval.access import OPERATOR, PUBLIC, Access, parse_set_name, parse_set_names
from retrieval.citations import citation_id
from retrieval.errors import InvalidQuestion, InvalidSet, NotFound
from retrieval.loaders import content_id
from retrieval.models import Document
from retrieval.service import CitebotService
from tests.doubles import HashingEmbedder

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)

NS = "sets"
HR = "The zqhrpolicy says parental leave is sixteen weeks at full pay for every employee."
OPEN = "The zqcanteen opens at eight and serves soup from noon until two every weekday."
LOOSE = "The zqloose notice says the car park closes for repairs on the first Monday of May."


def doc(text: str, source: str) -> Document:
    return Document(content_id(text), text, source, source.split(".")[0].title())


@pytest.fixture
def svc(fast_service: CitebotService) -> CitebotService:
    fast_service.ingest_document(doc(HR, "hr.txt"), NS, sets=["hr"])
    fast_service.ingest_document(doc(OPEN, "canteen.txt"), NS, sets=["general"])
    fast_service.ingest_document(doc(LOOSE, "notice.txt"), NS)
    fast_service.restrict_set(NS, "hr", ["111"])
    return fast_service


def test_set_names_are_checked_and_normalised():
    assert parse_set_name(" Team-Docs ") == "team-docs"
    assert parse_set_names("a, b,a") == ("a", "b")
    assert parse_set_names(["a,b", "c"]) == ("a", "b", "c")
    for bad in ["", "a b", "x" * 41, "-a", "ä"]:
        with pytest.raises(InvalidSet) as err:
            parse_set_name(bad)
        assert "\n" not in str(err.value) and isinstance(err.value, InvalidQuestion)


def test_a_bad_set_name_refuses_the_ingest_before_any_work(fast_service: CitebotService, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(OPEN)
    with pytest.raises(InvalidSet, match="not a set name"):
        fast_service.ingest([path], NS, sets=["no spaces"])
    assert fast_service.sources(NS) == []


def test_a_restricted_document_is_invisible_without_the_role(svc: CitebotService):
    hr_id = content_id(HR)
    outsider, member = Access.of(["222"]), Access.of(["111"])
    assert hr_id not in {d.id for d in svc.sources(NS, outsider)}
    assert hr_id in {d.id for d in svc.sources(NS, member)}
    assert {d.id for d in svc.sources(NS, PUBLIC)} == {content_id(OPEN), content_id(LOOSE)}
    assert all(h.chunk.doc_id != hr_id for h in svc.search("zqhrpolicy parental leave", NS, 10, access=outsider))
    assert svc.search("zqhrpolicy parental leave", NS, 10, access=member)[0].chunk.doc_id == hr_id
    assert all(
        c.doc_id != hr_id for c in svc.ask("How long is zqhrpolicy parental leave?", NS, access=outsider).citations
    )
    cid = citation_id(hr_id, 0, 20)
    with pytest.raises(NotFound) as hidden:
        svc.cite(cid, NS, outsider)
    with pytest.raises(NotFound) as never:
        svc.cite(citation_id("0123456789abcdef", 0, 20), NS, outsider)
    # Exactly the words of a document never ingested, but for the prefix.
    assert str(hidden.value).replace(hr_id[:8], "X") == str(never.value).replace("01234567", "X")
    assert svc.cite(cid, NS, member).doc_id == hr_id
    assert svc.find_quote(HR[4:40], NS, outsider) is None
    assert svc.find_quote(HR[4:40], NS, member) is not None
    with pytest.raises(NotFound):
        svc.resolve_document(hr_id[:8], NS, outsider)
    assert svc.resolve_document("Hr", NS, member).id == hr_id
    assert [s.name for s in svc.sets(NS, outsider)] == ["general"]
    assert [(s.name, s.documents, s.roles) for s in svc.sets(NS, member)] == [("general", 1, ()), ("hr", 1, ("111",))]


def test_the_operator_and_managers_see_everything(svc: CitebotService):
    hr_id = content_id(HR)
    assert hr_id in {d.id for d in svc.sources(NS)}  # no access given: the operator
    assert hr_id in {d.id for d in svc.sources(NS, OPERATOR)}
    assert svc.search("zqhrpolicy parental leave", NS, 10, access=Access(everything=True))[0].chunk.doc_id == hr_id


def test_the_strictest_membership_wins(svc: CitebotService):
    """Adding a restricted document to an open set does not open it."""
    item = svc.ingest_document(doc(HR, "hr.txt"), NS, sets=["general"])
    assert item.status == "unchanged"
    assert content_id(HR) not in {d.id for d in svc.sources(NS, PUBLIC)}
    assert {d.sets for d in svc.sources(NS) if d.id == content_id(HR)} == {("general", "hr")}


def test_narrowing_searches_only_those_sets_and_says_so_when_empty(svc: CitebotService):
    general = Access.of(narrow=["general"])
    assert {h.chunk.doc_id for h in svc.search("zqloose zqcanteen notice soup", NS, 10, access=general)} == {
        content_id(OPEN)
    }
    answer = svc.ask("When does the zqcanteen open?", NS, access=Access.of(narrow=["nosuch"]))
    assert answer.abstained and answer.text == "No documents match the filter (in set nosuch)."
    # A restricted set named by an outsider looks exactly like a set that does not exist.
    hidden = svc.ask("How long is zqhrpolicy leave?", NS, access=Access.of(["222"], narrow=["hr"]))
    assert hidden.text == "No documents match the filter (in set hr)." and not hidden.citations
    # A channel's sets leave unfiled documents out.
    channel = Access.of(within=["general", "hr"])
    assert {h.chunk.doc_id for h in svc.search("zqloose notice car park", NS, 10, access=channel)} <= {content_id(OPEN)}


def test_a_restriction_applies_at_once_and_can_be_lifted(svc: CitebotService):
    outsider = Access.of(["222"])
    assert svc.search("zqhrpolicy parental leave", NS, 10, access=outsider)[0].chunk.doc_id != content_id(HR)
    svc.restrict_set(NS, "hr", [])
    assert svc.search("zqhrpolicy parental leave", NS, 10, access=outsider)[0].chunk.doc_id == content_id(HR)
    svc.restrict_set(NS, "hr", ["333"])
    assert content_id(HR) not in {d.id for d in svc.sources(NS, Access.of(["111"]))}


def test_a_new_version_keeps_its_sets_and_forget_drops_them(svc: CitebotService):
    changed = HR.replace("sixteen", "eighteen")
    item = svc.ingest_document(doc(changed, "hr.txt"), NS)
    assert item.status == "replaced"
    assert content_id(changed) not in {d.id for d in svc.sources(NS, PUBLIC)}  # still restricted
    svc.forget(content_id(changed), NS)
    assert svc.catalog.document_sets(NS).get(content_id(changed)) is None
    assert [s.name for s in svc.sets(NS)] == ["general", "hr"]  # hr stays listed: it is restricted
    again = svc.ingest_document(doc(changed, "hr.txt"), NS)  # back, unfiled: its old sets went with the forget
    assert again.status == "added" and content_id(changed) in {d.id for d in svc.sources(NS, PUBLIC)}


def test_is_restricted(svc: CitebotService):
    assert svc.is_restricted(NS, [content_id(OPEN), content_id(HR)])
    assert not svc.is_restricted(NS, [content_id(OPEN), content_id(LOOSE)])


def test_sets_survive_a_restart(settings, svc: CitebotService):
    again = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    assert [(s.name, s.documents, s.roles) for s in again.sets(NS)] == [("general", 1, ()), ("hr", 1, ("111",))]
    assert content_id(HR) not in {d.id for d in again.sources(NS, Access.of(["222"]))}


def test_sets_are_per_namespace(svc: CitebotService):
    svc.ingest_document(doc(HR, "hr.txt"), "other")
    assert svc.sets("other") == []
    assert content_id(HR) in {d.id for d in svc.sources("other", PUBLIC)}  # unfiled there: hr is this namespace's


def test_feed_set_names_are_checked(fast_service: CitebotService):
    with pytest.raises(InvalidSet):
        fast_service.add_feed("https://example.com/feed.xml", NS, set_name="two words")


def test_a_feeds_articles_join_its_set(make_settings):
    """``/feed add … set:`` and ``citebot feed add --set``: every article the feed brings is in the set."""
    from tests.feed_site import site
    from tests.test_feeds import news_feed

    service = CitebotService.from_settings(make_settings(url_allowlist=["127.0.0.1"]), embedder=HashingEmbedder())
    with site() as news:
        service.add_feed(news_feed(news, n=2), NS, set_name="World")  # names are stored lowercase
        assert service.poll_feeds(NS).items[0].added == 2
    docs = service.sources(NS)
    assert len(docs) == 2 and all(d.sets == ("world",) for d in docs)
    service.restrict_set(NS, "world", ["9"])
    assert service.sources(NS, PUBLIC) == []
