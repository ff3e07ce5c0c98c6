import pytest

from retrieval.langchain_adapters import CitebotRetriever, LangChainEmbeddings
from retrieval.service import sample_path
from tests.doubles import HashingEmbedder

pytestmark = pytest.mark.stores  # embedded and server (tests/store_configs.py)


def test_retriever_returns_documents_with_exact_citations(fast_service):
    fast_service.ingest([sample_path()])
    docs = CitebotRetriever(service=fast_service, k=3).invoke("Pompeo Heritage Foundation speech")
    assert len(docs) == 3
    text = fast_service.catalog.text("default", docs[0].metadata["doc_id"])
    for d in docs:
        m = d.metadata
        assert text[m["start"] : m["end"]] == d.page_content
        assert m["id"] == f"{m['doc_id'][:8]}-{m['start']}-{m['end']}"
    assert "Pompeo" in docs[0].page_content


def test_embeddings_adapter_matches_the_embedder():
    embedder = HashingEmbedder(16)
    adapter = LangChainEmbeddings(embedder)
    assert adapter.embed_query("alpha") == embedder.embed_query("alpha").tolist()
    assert len(adapter.embed_documents(["a b", "c"])) == 2


async def test_retriever_takes_k_per_call_sync_and_async(fast_service):
    fast_service.ingest([sample_path()])
    retriever = CitebotRetriever(service=fast_service)  # k=5 by default
    assert len(retriever.invoke("Pompeo Heritage Foundation speech", k=1)) == 1
    assert len(await retriever.ainvoke("Pompeo Heritage Foundation speech", k=2)) == 2
    assert len(retriever.invoke("Pompeo Heritage Foundation speech", verbose=True)) == 5
    with pytest.raises(TypeError, match="top_k"):
        retriever.invoke("Pompeo", top_k=1)
