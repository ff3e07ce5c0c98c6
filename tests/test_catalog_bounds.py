"""The index build's sentence join is bounded per chunk (item 12 of "Fixes from outside").

A chunk's sentences are a short run of positions; a join with only a lower bound on
``s.start`` visits every later sentence of the document for each chunk, O(chunks x
sentences) per document. These tests pin the rows (same as the unbounded join's) and the
time on a large document of short paragraphs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from retrieval.chunking import ChunkerConfig, segment
from retrieval.lexical import tokenize
from retrieval.loaders import load_bytes
from retrieval.sqlite_catalog import SqliteCatalog


def _commit(catalog: SqliteCatalog, text: str, chunk_size: int = 200) -> str:
    doc = load_bytes(text.encode(), "short-paragraphs.txt")
    seg = segment(doc.id, doc.text, ChunkerConfig(chunk_size, 1))
    terms = [" ".join(tokenize(s.text)) for s in seg.sentences]
    catalog.commit_document("ns", doc, seg.chunks, seg.sentences, None, [], terms)
    return doc.id


def _unbounded_chunk_rows(catalog: SqliteCatalog) -> list[tuple]:
    """The join as it was, without an upper bound on ``s.start``: the reference rows."""
    return catalog._read(
        'SELECT c.doc_id, c.idx, c.start, c."end", c.paragraph, '
        "CASE WHEN count(s.idx) = count(s.terms) THEN group_concat(s.terms, ' ') END "
        "FROM chunks c LEFT JOIN sentences s ON s.namespace = c.namespace AND s.doc_id = c.doc_id "
        'AND s.start >= c.start AND s."end" <= c."end" '
        "WHERE c.namespace=? GROUP BY c.doc_id, c.idx ORDER BY c.doc_id, c.idx",
        ("ns",),
    )


def _paragraphs(n: int) -> str:
    return "\n\n".join(f"Item {i} is short. It has two sentences." for i in range(n))


def test_snapshot_and_sentence_rows_return_the_unbounded_joins_rows(tmp_path: Path):
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite3")
    doc_id = _commit(catalog, _paragraphs(300))
    # A second document so that the join's doc_id condition matters too.
    _commit(catalog, "Another document. With a few sentences.\n\nAnd a second paragraph here.")
    snap = catalog.snapshot("ns")
    assert snap.chunks == _unbounded_chunk_rows(catalog)
    assert all(row[5] for row in snap.chunks)  # every chunk got its sentences' terms

    spans = [(doc_id, row[2], row[3]) for row in snap.chunks if row[0] == doc_id]
    spans.append((doc_id, 0, len(catalog.text("ns", doc_id) or "")))
    got = catalog.sentence_rows("ns", spans, 4)
    for (d, start, end), rows in zip(spans, got, strict=True):
        want = catalog._read(
            'SELECT idx, start, "end", paragraph, terms FROM sentences '
            'WHERE namespace=? AND doc_id=? AND start>=? AND "end"<=? ORDER BY start',
            ("ns", d, start, end),
        )
        assert [int(i) for i in rows.indices] == [r[0] for r in want]
        assert [int(s) for s in rows.starts] == [r[1] for r in want]
        assert [int(e) for e in rows.ends] == [r[2] for r in want]
        assert rows.terms == [r[4] for r in want]
        assert len(rows) > 0


@pytest.mark.timeout(120)
def test_large_short_paragraph_document_snapshot_is_fast(tmp_path: Path):
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite3")
    # ~0.2 MB of short paragraphs: 5,000 chunks (one paragraph each), 10,000 sentences.
    doc_id = _commit(catalog, _paragraphs(5_000), chunk_size=60)
    started = time.perf_counter()
    snap = catalog.snapshot("ns")
    snapshot_seconds = time.perf_counter() - started
    assert len(snap.chunks) == 5_000
    # The first chunks: a seek without an upper bound reads from each to the end of the document.
    spans = [(doc_id, row[2], row[3]) for row in snap.chunks[:200]]
    started = time.perf_counter()
    rows = catalog.sentence_rows("ns", spans, 4)
    rows_seconds = time.perf_counter() - started
    assert sum(len(r) for r in rows) >= 2 * len(spans)
    # Linear work is well under a second here; the unbounded join took many seconds.
    print(f"snapshot {snapshot_seconds:.3f}s, sentence_rows {rows_seconds:.3f}s")
    assert snapshot_seconds < 2.0, f"snapshot took {snapshot_seconds:.1f}s"
    assert rows_seconds < 1.0, f"sentence_rows took {rows_seconds:.1f}s"
