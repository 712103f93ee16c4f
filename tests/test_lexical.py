"""Unit tests of the Dutch lexical index: tokenizer and BM25 index (real bm25s, real stemmer)."""

from __future__ import annotations

import ingest  # noqa: F401  (offline environment first)

from pathlib import Path

import unicodedata

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.lexical import APOSTROPHE, APOSTROPHE_S, LexicalIndex, _fold, tokenize

DOCS = {
    "zorg": "Het aantal vacatures in de zorg in Amersfoort steeg tot 9.500; de werkloosheid bleef 3,5 procent.",
    "bouw": "De bouw kampt met krapte aan technici en installateurs in de hele regio.",
    "onderwijs": "Scholen zoeken leraren voor het primair onderwijs, vooral in de grote steden.",
    "financieel": "De financiële positie van gemeenten verslechtert door hogere uitgaven aan re-integratie.",
}


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex.build(list(DOCS), list(DOCS.values()))


# --- tokenize -------------------------------------------------------------------------------------


def test_tokenize_folds_case_and_accents() -> None:
    assert tokenize("FINANCIËLE") == tokenize("financiële") == tokenize("financiele")
    assert tokenize("Één") == tokenize("een") == []  # "een" is a stop word, accented or not
    assert tokenize("Coördinatie") == tokenize("coordinatie")


def _fold_per_character(text: str) -> str:
    """The reference folding: NFKD, then every combining character dropped one by one."""
    decomposed = unicodedata.normalize("NFKD", APOSTROPHE.sub("", APOSTROPHE_S.sub("", text.lower())))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | st.sampled_from(
    ["financiële coöperatie", "Curaçao één", "naïef’s zzp'ers", "ŞEHİR ﬁnance ½", "e\u0301\u0327 ǅ"]))
def test_fold_equals_the_per_character_reference(text: str) -> None:
    # Tokens at query time must equal the tokens BM25 was built with, whichever way folding runs.
    assert _fold(text) == _fold_per_character(text)


def test_tokenize_drops_dutch_stop_words() -> None:
    assert tokenize("de het een en van in op met voor") == []
    tokens = tokenize("De werkgevers en het onderwijs")
    assert len(tokens) == 2
    assert tokens == tokenize("werkgevers onderwijs")


def test_tokenize_stems_plurals_to_the_same_token() -> None:
    assert tokenize("vacatures") == tokenize("vacature")
    assert tokenize("werkgevers") == tokenize("werkgever")
    assert tokenize("banen") == tokenize("baan")
    assert tokenize("regio's") == tokenize("regio")


def test_tokenize_keeps_dutch_numbers_as_single_tokens() -> None:
    tokens = tokenize("Er zijn 9.500 vacatures en de werkloosheid is 3,5 procent (2024-2027).")
    assert "9.500" in tokens
    assert "3,5" in tokens
    assert "2024" in tokens and "2027" in tokens
    assert "9" not in tokens and "500" not in tokens and "5" not in tokens
    assert tokenize("1.234.567") == ["1.234.567"]
    assert tokenize("9.500.") == ["9.500"]  # a sentence-ending period is not part of the number


def test_tokenize_drops_single_letters_but_keeps_single_digits() -> None:
    assert tokenize("x y z") == []
    assert tokenize("7") == ["7"]


def test_tokenize_of_empty_or_punctuation_only_text() -> None:
    assert tokenize("") == []
    assert tokenize("... ,;: – !?") == []


def test_tokenize_treats_typographic_and_straight_apostrophes_alike() -> None:
    assert tokenize("regio’s") == tokenize("regio's") == tokenize("regio")


# --- LexicalIndex ---------------------------------------------------------------------------------


def test_matching_document_ranks_first(index: LexicalIndex) -> None:
    top = index.top("Hoeveel vacatures zijn er in de zorg?", k=3)
    assert top[0][0] == "zorg"
    assert top[0][1] > 0
    assert index.top("krapte technici")[0][0] == "bouw"
    assert index.top("leraren")[0][0] == "onderwijs"


def test_query_matches_across_accents_case_and_inflection(index: LexicalIndex) -> None:
    assert index.top("FINANCIELE GEMEENTE")[0][0] == "financieel"
    assert index.top("vacature")[0][0] == "zorg"


def test_query_on_a_number_finds_the_document_with_it(index: LexicalIndex) -> None:
    assert [doc for doc, _ in index.top("9.500")] == ["zorg"]
    assert [doc for doc, _ in index.top("3,5")] == ["zorg"]


def test_top_only_returns_documents_with_a_positive_score(index: LexicalIndex) -> None:
    results = index.top("technici", k=10)
    assert [doc for doc, _ in results] == ["bouw"]
    scores = [score for _, score in index.top("vacatures zorg regio", k=10)]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)


def test_top_respects_k(index: LexicalIndex) -> None:
    assert len(index.top("de regio zorg bouw onderwijs gemeenten", k=2)) == 2


def test_scores_are_aligned_with_ids(index: LexicalIndex) -> None:
    scores = index.scores("leraren onderwijs")
    assert scores.shape == (len(DOCS),)
    assert scores.dtype == np.float32
    assert int(np.argmax(scores)) == index.ids.index("onderwijs")


def test_save_and_load_round_trip_gives_identical_scores(index: LexicalIndex, tmp_path: Path) -> None:
    directory = tmp_path / "lexical"
    index.save(directory)
    loaded = LexicalIndex.load(directory)
    assert loaded.ids == index.ids
    for query in ["vacatures in de zorg", "krapte technici", "financiële gemeenten", "9.500", "onbekendwoord"]:
        np.testing.assert_array_equal(loaded.scores(query), index.scores(query))
        assert loaded.top(query) == index.top(query)


def test_empty_index_returns_no_results(tmp_path: Path) -> None:
    empty = LexicalIndex.build([], [])
    assert empty.top("vacatures zorg") == []
    assert empty.scores("vacatures zorg").shape == (0,)
    empty.save(tmp_path / "leeg")
    loaded = LexicalIndex.load(tmp_path / "leeg")
    assert loaded.ids == []
    assert loaded.top("vacatures") == []


def test_stop_word_only_and_unknown_queries_return_no_results(index: LexicalIndex) -> None:
    assert index.top("de het een en van") == []
    assert index.top("") == []
    assert index.top("xylofoonquiz") == []
    assert not index.scores("de het een").any()


def test_document_of_only_stop_words_is_indexed_without_error() -> None:
    index = LexicalIndex.build(["leeg", "vol"], ["de het een", "Vacatures in de zorg."])
    assert index.top("vacatures") == [("vol", pytest.approx(index.top("vacatures")[0][1]))]
    assert index.top("de") == []
