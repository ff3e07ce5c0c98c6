"""Per-namespace (per-guild) resource bounds: documents, total bytes, ingests per hour.

``Quota`` is enforced by the service on every ingest path (``ingest`` of files and URLs,
``ingest_bytes`` for uploads, ``ingest_document``) and by ``check_quota`` (the bot's
refusal before it downloads anything). These tests pin the boundaries exactly, check that
a refused item leaves the store untouched, that re-ingesting or replacing an existing
document is not a new document, that the hourly count survives restarts and forgets, that
limits are per namespace, that concurrent ingests cannot pass a bound together, and
(property-based) that no sequence of ingests, replacements and forgets ever ends above
any bound while everything within the bounds is accepted.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retrieval.postgres_catalog as postgres_catalog_module
import retrieval.quota as quota_module
import retrieval.sqlite_catalog as sqlite_catalog_module
from config import load_settings
from retrieval.catalog import chunk_ids
from retrieval.errors import LimitReached
from retrieval.loaders import load_bytes
from retrieval.service import CitebotService, Quota
from tests.builders import article
from tests.doubles import Clock, HashingEmbedder

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)


def text(i: int, version: int = 0, filler: int = 0) -> str:
    return article(
        f"Council Report {i}",
        [f"Item {i} version {version}: the council met on day {i} and approved budget line {version}."]
        + ["The river committee reviewed the harbor plans in detail." for _ in range(filler)],
    )


def doc(i: int, version: int = 0, filler: int = 0, source: str | None = None):
    name = source or f"report-{i}.txt"
    return load_bytes(text(i, version, filler).encode(), name, source=name)


def size(d) -> int:
    return len(d.text.encode("utf-8"))


def consistent(svc: CitebotService, ns: str) -> list:
    docs = svc.sources(ns)
    assert sorted(svc.store.all_ids(ns)) == sorted(c for d in docs for c in chunk_ids(d.id, d.chunks))
    assert svc.catalog.journal() == []
    return docs


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(quota_module, "time", c)
    for catalog_module in (sqlite_catalog_module, postgres_catalog_module):  # the ingest events' timestamps
        monkeypatch.setattr(catalog_module, "time", c)
    return c


@pytest.fixture(scope="module")
def shared(tmp_path_factory, module_store_config) -> CitebotService:
    """One service for the property test (fresh namespaces per example)."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("quota") / "data", **module_store_config)
    return CitebotService.from_settings(settings, embedder=HashingEmbedder())


def check_message(exc: BaseException, *needles: str) -> None:
    message = str(exc)
    assert "\n" not in message and "Traceback" not in message and len(message) < 200
    for needle in needles:
        assert needle in message, (needle, message)


def test_document_limit_is_exact_and_refusals_leave_no_trace(fast_service, tmp_path: Path):
    quota = Quota(max_documents=3)
    paths = []
    for i in range(5):
        path = tmp_path / f"report-{i}.txt"
        path.write_text(text(i))
        paths.append(path)
    report = fast_service.ingest(paths, "g", quota=quota)
    assert [i.status for i in report.items] == ["added"] * 3 + ["failed"] * 2
    for item in report.items[3:]:
        assert item.error == "this namespace already has 3 documents (the limit is 3)"
    assert len(consistent(fast_service, "g")) == 3
    with pytest.raises(LimitReached) as refused:
        fast_service.check_quota("g", quota)
    check_message(refused.value, "3 documents", "limit is 3")
    # Structured, so each interface words it for its users ("This server ..." in Discord).
    assert (refused.value.bound, refused.value.limit, refused.value.current) == ("documents", 3, 3)

    # At the limit: the same content again is no new document, and neither is a new
    # version of a document already there (a replacement keeps the count).
    assert fast_service.ingest(paths[:1], "g", quota=quota).items[0].status == "unchanged"
    paths[0].write_text(text(0, version=1))
    assert fast_service.ingest(paths[:1], "g", quota=quota).items[0].status == "replaced"
    assert len(consistent(fast_service, "g")) == 3
    # Uploads are bounded the same way.
    upload = fast_service.ingest_bytes(text(9).encode(), "new.txt", "g", quota=quota)
    assert upload.items[0].status == "failed" and "limit is 3" in upload.items[0].error
    # Forgetting frees a slot.
    fast_service.forget(fast_service.sources("g")[0].id, "g")
    assert fast_service.ingest(paths[3:4], "g", quota=quota).items[0].status == "added"
    assert len(consistent(fast_service, "g")) == 3


def test_byte_limit_boundary(fast_service):
    a, b, c = doc(1), doc(2), doc(3)
    quota = Quota(max_bytes=size(a) + size(b))
    assert fast_service.ingest_document(a, "g", quota=quota).status == "added"
    assert fast_service.ingest_document(b, "g", quota=quota).status == "added"  # exactly at the limit
    with pytest.raises(LimitReached) as refused:
        fast_service.ingest_document(c, "g", quota=quota)
    check_message(refused.value, f"{quota.max_bytes:,} bytes")
    assert fast_service.catalog.usage("g") == (2, quota.max_bytes)
    # The bot's early check with the upload's size: one byte over is refused.
    fast_service.check_quota("g", Quota(max_bytes=quota.max_bytes + 1), 1)
    with pytest.raises(LimitReached):
        fast_service.check_quota("g", Quota(max_bytes=quota.max_bytes + 1), 2)
    # A replacement counts its new size instead of the old one: shrinking fits, growing
    # past the limit does not (and leaves the old version in place).
    smaller = load_bytes(text(1)[:-20].encode() + b"\n", "report-1.txt", source="report-1.txt")
    assert size(smaller) < size(a)
    assert fast_service.ingest_document(smaller, "g", quota=quota).status == "replaced"
    bigger = doc(1, version=2, filler=3)
    with pytest.raises(LimitReached):
        fast_service.ingest_document(bigger, "g", quota=quota)
    assert {d.id for d in consistent(fast_service, "g")} == {smaller.id, b.id}


def test_hourly_limit_counts_committed_ingests_and_survives_restarts(fast_service, settings, clock, tmp_path: Path):
    quota = Quota(ingests_per_hour=2)
    assert fast_service.ingest_document(doc(1), "g", quota=quota).status == "added"
    # Neither an unchanged re-ingest nor a failed one uses the allowance.
    assert fast_service.ingest_document(doc(1), "g", quota=quota).status == "unchanged"
    bad = fast_service.ingest_bytes(b"\x00\x01binary", "x.txt", "g", quota=quota)
    assert bad.items[0].status == "failed" and "binary" in bad.items[0].error
    assert fast_service.ingest_document(doc(2), "g", quota=quota).status == "added"
    with pytest.raises(LimitReached) as refused:
        fast_service.ingest_document(doc(3), "g", quota=quota)
    check_message(refused.value, "2 ingests per hour")
    # Forgetting does not give the allowance back, and neither does a restart.
    fast_service.forget(doc(2).id, "g")
    reopened = CitebotService.from_settings(settings, embedder=HashingEmbedder())
    with pytest.raises(LimitReached, match="per hour"):
        reopened.check_quota("g", quota)
    report = reopened.ingest_bytes(text(3).encode(), "r3.txt", "g", quota=quota)
    assert report.items[0].status == "failed" and "per hour" in report.items[0].error
    # An hour later the window has moved on.
    clock.offset = 3601
    assert reopened.ingest_document(doc(3), "g", quota=quota).status == "added"
    assert reopened.ingest_document(doc(4), "g", quota=quota).status == "added"
    with pytest.raises(LimitReached):
        reopened.ingest_document(doc(5), "g", quota=quota)
    consistent(reopened, "g")


def test_limits_are_per_namespace(fast_service):
    quota = Quota(max_documents=1, max_bytes=10_000, ingests_per_hour=1)
    for ns in ("111111111111111111", "222222222222222222", "dm"):
        assert fast_service.ingest_document(doc(1), ns, quota=quota).status == "added"
        with pytest.raises(LimitReached):
            fast_service.ingest_document(doc(2), ns, quota=quota)
    for ns in ("111111111111111111", "222222222222222222", "dm"):
        assert [d.id for d in consistent(fast_service, ns)] == [doc(1).id]


def test_zero_is_unlimited_and_settings_configure_the_bounds(fast_service, settings, monkeypatch):
    for i in range(12):
        assert fast_service.ingest_document(doc(i), "g", quota=Quota()).status == "added"
    fast_service.check_quota("g", Quota(), 10**12)
    monkeypatch.setenv("CITEBOT_GUILD_MAX_DOCUMENTS", "7")
    monkeypatch.setenv("CITEBOT_GUILD_MAX_BYTES", "12345")
    monkeypatch.setenv("CITEBOT_GUILD_INGESTS_PER_HOUR", "4")
    s = load_settings(data_dir=settings.data_dir)
    assert (s.guild_max_documents, s.guild_max_bytes, s.guild_ingests_per_hour) == (7, 12345, 4)
    monkeypatch.delenv("CITEBOT_GUILD_MAX_DOCUMENTS")
    assert load_settings(data_dir=settings.data_dir).guild_max_documents > 0  # a default bound
    with pytest.raises(ValueError):  # pydantic's ValidationError: a negative bound is a config error
        load_settings(data_dir=settings.data_dir, guild_max_documents=-1)


@pytest.mark.parametrize("bound", ["documents", "bytes", "hourly"])
def test_concurrent_ingests_cannot_pass_a_bound_together(fast_service, bound):
    docs = [doc(i) for i in range(16)]
    limit = 5
    quota = {
        "documents": Quota(max_documents=limit),
        "bytes": Quota(max_bytes=sum(sorted(size(d) for d in docs)[:limit])),
        "hourly": Quota(ingests_per_hour=limit),
    }[bound]
    barrier = threading.Barrier(8)

    def worker(n: int) -> list[str]:
        barrier.wait()
        out = []
        for d in docs[n::8]:
            try:
                out.append(fast_service.ingest_document(d, "race", quota=quota).status)
            except LimitReached:
                out.append("refused")
        return out

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for result in pool.map(worker, range(8)) for s in result]
    count, used = fast_service.catalog.usage("race")
    assert len(consistent(fast_service, "race")) == count == statuses.count("added")
    assert statuses.count("added") + statuses.count("refused") == len(docs)
    if bound == "bytes":
        assert used <= quota.max_bytes and count >= 1
    else:
        assert count == limit


# -- the property: any sequence of operations stays within the bounds ----------------
OPS = st.lists(
    st.tuples(st.sampled_from(["add", "add", "replace", "forget", "again"]), st.integers(0, 5), st.integers(0, 3)),
    min_size=1,
    max_size=10,
)
QUOTAS = st.builds(
    Quota,
    max_documents=st.integers(0, 4),
    max_bytes=st.sampled_from([0, 300, 600, 1200]),
    ingests_per_hour=st.integers(0, 5),
)
_counter = iter(range(10**9))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(quota=QUOTAS, ops=OPS)
def test_no_sequence_of_operations_passes_a_bound(shared, quota, ops):
    svc = shared
    ns = f"prop-{next(_counter)}"
    present: dict[str, object] = {}  # source -> Document
    versions: dict[int, int] = {}
    events = 0
    for op, i, filler in ops:
        source = f"report-{i}.txt"
        if op == "forget":
            if source in present:
                svc.forget(present.pop(source).id, ns)
            continue
        if op == "replace" and source in present:
            versions[i] = versions.get(i, 0) + 1
        d = doc(i, versions.get(i, 0), filler if op != "again" else 0, source)
        if op == "again" and source in present:
            d = present[source]
        old = present.get(source)
        if old is not None and old.id == d.id:
            assert svc.ingest_document(d, ns, quota=quota).status == "unchanged"
            continue
        # The model: would this ingest pass every bound?
        count = len(present) - (old is not None)
        used = sum(size(x) for x in present.values()) - (size(old) if old else 0)
        fits = (
            (not quota.max_documents or count < quota.max_documents)
            and (not quota.max_bytes or used + size(d) <= quota.max_bytes)
            and (not quota.ingests_per_hour or events < quota.ingests_per_hour)
        )
        try:
            status = svc.ingest_document(d, ns, quota=quota).status
        except LimitReached as exc:
            assert not fits, f"refused within the bounds: {exc}"
            check_message(exc)
            continue
        assert fits, "accepted past a bound"
        assert status == ("replaced" if old else "added")
        present[source] = d
        events += 1
        n, used_now = svc.catalog.usage(ns)
        assert not quota.max_documents or n <= quota.max_documents
        assert not quota.max_bytes or used_now <= quota.max_bytes
    assert {x.source: x.id for x in consistent(svc, ns)} == {s: x.id for s, x in present.items()}
