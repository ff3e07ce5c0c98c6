from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.chunking import ChunkerConfig, SentenceChunker, segment
from retrieval.sentences import sentences

WORDS = st.sampled_from(["Iran", "said", "the", "troops", "Mr.", "U.S.", "war", "3.5", "\u201cno\u201d", "ok"])
PARAGRAPH = st.lists(
    st.lists(WORDS, min_size=1, max_size=25).map(lambda ws: " ".join(ws) + "."), min_size=1, max_size=8
)
DOCUMENT = st.lists(PARAGRAPH.map(" ".join), min_size=1, max_size=6).map("\n\n".join)


@settings(max_examples=150, deadline=None)
@given(DOCUMENT, st.integers(100, 900), st.integers(0, 2))
def test_chunks_are_exact_whole_sentence_spans(text, size, overlap):
    seg = segment("d", text, ChunkerConfig(size, overlap))
    starts = {s.start for s in seg.sentences}
    ends = {s.end for s in seg.sentences}
    assert seg.chunks, "a non-empty document has chunks"
    for chunk in seg.chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.start in starts and chunk.end in ends  # never cuts a sentence
        assert chunk.paragraph >= 1
    # Chunks cover every sentence, in order.
    covered = set()
    for chunk in seg.chunks:
        covered |= {s.index for s in seg.sentences if s.start >= chunk.start and s.end <= chunk.end}
    assert covered == {s.index for s in seg.sentences}
    assert [c.start for c in seg.chunks] == sorted(c.start for c in seg.chunks)


def test_chunks_respect_size_and_overlap_by_whole_sentences():
    para = " ".join(f"Sentence number {i} is about the war in Syria." for i in range(30))
    seg = segment("d", para, ChunkerConfig(200, 1))
    assert len(seg.chunks) > 3
    for a, b in zip(seg.chunks, seg.chunks[1:], strict=False):
        assert b.start < a.end  # one sentence of overlap
        assert len(a.text) <= 200


def test_paragraph_numbers_are_recorded():
    text = "First para one. First para two.\n\nSecond para.\n\nThird para is here."
    seg = segment("d", text, ChunkerConfig(100, 0))
    assert [s.paragraph for s in seg.sentences] == [1, 1, 2, 3]
    assert seg.chunks[0].paragraph == 1


def test_langchain_splitter_interface_keeps_offsets():
    text = "Alpha beta gamma. Delta epsilon.\n\nZeta eta theta."
    docs = SentenceChunker(chunk_size=100).create_documents([text], [{"source": "x"}])
    for doc in docs:
        start = doc.metadata["start_index"]
        assert text[start : start + len(doc.page_content)] == doc.page_content
        assert doc.metadata["source"] == "x"
    assert SentenceChunker(chunk_size=100).split_text(text) == [d.page_content for d in docs]


def test_sentences_of_empty_text():
    assert sentences("   \n\n  ") == []
