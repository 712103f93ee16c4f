"""The hybrid retriever's mechanics on the real index: filtered dense search, near-duplicate check,
diversity cut-off, and which text the query embedding sees."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant import retrieve
from assistant.answer import Assistant
from assistant.question import Intent
from assistant.retrieve import Filters, HybridRetriever, _near_duplicate
from assistant.types import HistoryTurn
from ingest.models import IngestReport
from ingest.settings import Settings


@pytest.fixture(scope="module")
def assistant(built_index: tuple[Settings, IngestReport]) -> Assistant:
    settings, _ = built_index
    return Assistant(settings)


@pytest.fixture(scope="module")
def retriever(assistant: Assistant) -> HybridRetriever:
    return assistant.retriever


def _where(retriever: HybridRetriever, vector, allowed: set[str], n: int) -> list[str]:
    return retriever._nearest(vector, n, {"source_id": {"$in": sorted(allowed)}})


@given(st.sets(st.integers(0, 40)), st.sets(st.integers(0, 40)))
def test_near_duplicate_is_jaccard_above_threshold(a: set[int], b: set[int]) -> None:
    jaccard = len(a & b) / len(a | b) if a and b else 0.0
    assert _near_duplicate(a, b) == (jaccard > retrieve.NEAR_DUPLICATE)


def test_filtered_dense_equals_the_where_query(retriever: HybridRetriever) -> None:
    """Filtering unfiltered neighbours gives the candidates the filtered search gives, and only
    allowed sources; a source too small to fill n among them takes the `where` path."""
    vector = retriever.embedder.embed_query("Hoeveel vacatures stonden er open in regio Amersfoort?")
    sizes: dict[str, int] = {}
    for passage in retriever.passages.values():
        sizes[passage.source_id] = sizes.get(passage.source_id, 0) + 1
    assert len(sizes) >= 2
    checked = 0
    for source_id, size in sizes.items():
        for n in (5, min(60, size)):
            got = retriever.dense("", {source_id}, n=n, vector=vector)
            assert got, source_id
            assert {retriever.passages[cid].source_id for cid in got} == {source_id}
            expected = _where(retriever, vector, {source_id}, n)
            assert got == expected, (source_id, n)  # the search is exact: no tail differences
            checked += 1
    assert checked == 2 * len(sizes)


def test_filtered_dense_falls_back_to_where_when_pool_too_small(
    retriever: HybridRetriever, monkeypatch: pytest.MonkeyPatch,
) -> None:
    vector = retriever.embedder.embed_query("Wat is een leerwerktraject?")
    calls: list[dict | None] = []
    nearest = retriever._nearest

    def spy(vec, count, where=None):
        calls.append(where)
        return nearest(vec, count, where)

    monkeypatch.setattr(retriever, "_nearest", spy)
    monkeypatch.setattr(retrieve, "OVERFETCH", 1)  # 60 unfiltered neighbours cannot hold 60 of one source
    source_id = next(iter(retriever.passages.values())).source_id
    got = retriever.dense("", {source_id}, n=60, vector=vector)
    assert calls[0] is None and calls[-1] == {"source_id": {"$in": [source_id]}}
    assert {retriever.passages[cid].source_id for cid in got} == {source_id}


def test_empty_filter_and_unknown_source_give_nothing(retriever: HybridRetriever) -> None:
    vector = retriever.embedder.embed_query("vacatures")
    assert retriever.dense("", set(), vector=vector) == []
    assert retriever.search("vacatures", k=5, filters=Filters(sources=["bestaat-niet"]), vector=vector) == []


def test_search_returns_no_near_duplicates(retriever: HybridRetriever) -> None:
    query = "Wat zeg ik tegen een werkgever die geen personeel kan vinden?"
    vector = retriever.embedder.embed_query(query)
    found = retriever.search(query, k=8, vector=vector)
    assert len(found) == 8
    shingles = [retrieve._shingles(p.text) for p in found]
    for i in range(len(found)):
        for j in range(i):
            assert not _near_duplicate(shingles[i], shingles[j])


def test_comparison_interleaves_places(assistant: Assistant) -> None:
    analysis = assistant.analyzer.analyze("Waar is de werkloosheid hoger, in Groningen of in Amersfoort?")
    assert analysis.intent is Intent.comparison
    groups = [set(p.covered_by) for p in analysis.places if p.covered_by]
    assert len(groups) == 2
    vector = assistant.retriever.embedder.embed_query(analysis.dense_text)
    found = assistant.retriever.search(analysis.retrieval_text, analysis, k=4, vector=vector)
    top_two = {p.source_id for p in found[:2]}
    assert all(top_two & group for group in groups)  # each place's best passage comes first


def test_dense_text_is_the_question_without_bm25_synonyms(assistant: Assistant) -> None:
    analysis = assistant.analyzer.analyze("Hoeveel zzp'ers werken er in de bouw?")
    assert analysis.retrieval_text != analysis.text  # synonyms added for BM25
    assert analysis.dense_text == analysis.text
    follow = assistant.analyzer.analyze(
        "En in Groningen?", history=[_turn("Hoeveel vacatures stonden er open in regio Amersfoort?")],
    )
    assert "vacatures" in follow.dense_text  # follow-up context reaches the embedding


def _turn(question: str) -> HistoryTurn:
    return HistoryTurn(question=question, answer="")


def test_dense_search_is_exact_over_the_collection_and_the_same_on_every_load(
    retriever: HybridRetriever, built_index: tuple[Settings, IngestReport],
) -> None:
    """The nearest chunks are the exact cosine top n over the embeddings Chroma holds, and a second
    load (another handle, as another process would have) gives the same list."""
    import numpy as np

    from ingest.store import open_index

    vector = retriever.embedder.embed_query("Welke beroepen hebben de grootste tekorten?")
    got = retriever._nearest(vector, 40)
    stored = retriever.handle.collection.get(include=["embeddings"])
    matrix = np.asarray(stored["embeddings"], dtype=np.float64)
    cosine = matrix @ vector / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector))
    best = [stored["ids"][i] for i in np.argsort(-cosine, kind="stable")[:40]]
    assert len(got) == 40
    assert got[:30] == best[:30]  # float32 vs float64 may only swap near-ties at the tail
    assert set(got) >= set(best[:35])
    settings, _ = built_index
    again = HybridRetriever(open_index(settings.index_dir, settings.chroma_url), retriever.embedder, {})
    assert again._nearest(vector, 40) == got
