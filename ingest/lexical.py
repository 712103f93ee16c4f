"""Dutch lexical index: BM25 (bm25s) over Snowball-stemmed tokens with Dutch stop words."""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_DUTCH

# Numbers keep their Dutch notation as one token ("9.500", "3,5"), words are letter runs.
TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+", re.UNICODE)
APOSTROPHE_S = re.compile(r"(?<=[^\W\d_])['’`´]s\b")  # "regio’s" -> "regio" (plural after a vowel)
APOSTROPHE = re.compile(r"(?<=[^\W\d_])['’`´](?=[^\W\d_])")  # "zzp'ers" -> "zzpers"
STOPWORDS = frozenset(STOPWORDS_DUTCH)
IDS_FILE = "ids.json"


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("dutch")


def _fold(text: str) -> str:
    """Lower case without diacritics, so 'financiële' and 'financiele' meet."""
    decomposed = unicodedata.normalize("NFKD", APOSTROPHE.sub("", APOSTROPHE_S.sub("", text.lower())))
    if decomposed.isascii():
        return decomposed
    # Delete the combining marks in one C-level pass (a per-character generator made this 80% of
    # the assistant's start-up: IDF over every passage at load).
    marks = {ord(ch): None for ch in set(decomposed) if unicodedata.combining(ch)}
    return decomposed.translate(marks) if marks else decomposed


def tokenize(text: str) -> list[str]:
    words = [w for w in TOKEN.findall(_fold(text)) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return _stemmer().stemWords(words)


class LexicalIndex:
    """BM25 over chunk texts, in the order of `ids`."""

    def __init__(self, ids: list[str], model: bm25s.BM25 | None) -> None:
        self.ids = ids
        self._model = model

    @classmethod
    def build(cls, ids: list[str], texts: list[str]) -> LexicalIndex:
        if not ids:
            return cls([], None)
        model = bm25s.BM25(k1=1.2, b=0.75)
        model.index([tokenize(text) or [""] for text in texts], show_progress=False)
        return cls(list(ids), model)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self._model is not None:
            self._model.save(str(directory), show_progress=False)
        (directory / IDS_FILE).write_text(json.dumps(self.ids), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        ids = json.loads((directory / IDS_FILE).read_text(encoding="utf-8"))
        if not ids:
            return cls([], None)
        return cls(ids, bm25s.BM25.load(str(directory), mmap=False, show_progress=False))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for `query` (aligned with `ids`)."""
        tokens = tokenize(query)
        if self._model is None or not tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        vocab = self._model.vocab_dict
        known = [token for token in tokens if token in vocab]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._model.get_scores(known), dtype=np.float32)

    def top(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        scores = self.scores(query)
        order = np.argsort(-scores)[:k]
        return [(self.ids[i], float(scores[i])) for i in order if scores[i] > 0]
