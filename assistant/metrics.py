"""Prometheus metrics of the API: requests and latency per route, answers and refusals, index size."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ingest.store import IndexNotReady, current_generation

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class IndexCollector(Collector):
    """Index size read from the serving generation at scrape time."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir

    def collect(self) -> Iterator[GaugeMetricFamily]:
        sources = GaugeMetricFamily("marktwijzer_index_sources", "Sources in the serving index generation.")
        chunks = GaugeMetricFamily("marktwijzer_index_chunks", "Chunks (passages) in the serving index generation.")
        size = GaugeMetricFamily("marktwijzer_index_bytes", "Bytes on disk of the serving index generation.")
        generation = current_generation(self.index_dir)
        if generation is not None:
            try:
                manifest = generation.read_manifest()
                sources.add_metric([], len(manifest.sources))
                chunks.add_metric([], sum(s.chunks for s in manifest.sources.values()))
                size.add_metric([], sum(p.stat().st_size for p in generation.root.rglob("*") if p.is_file()))
            except (OSError, IndexNotReady):  # removed between the check and the walk, or damaged
                log.debug("index changed during a metrics scrape", exc_info=True)
        yield sources
        yield chunks
        yield size


class Metrics:
    """One registry per app (tests start several apps in one process)."""

    def __init__(self, index_dir: Path) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "marktwijzer_http_requests", "HTTP requests by route, method and status code.",
            ["route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "marktwijzer_http_request_duration_seconds", "HTTP request latency by route (until the response starts).",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.answers = Counter(
            "marktwijzer_answers", "Answers given, by channel (ask, stream).", ["channel"], registry=self.registry,
        )
        self.refusals = Counter(
            "marktwijzer_refusals", "Answers that refused (the sources do not answer the question).",
            ["channel"], registry=self.registry,
        )
        self.rate_limited = Counter(
            "marktwijzer_rate_limited", "Requests refused by the per-key rate limit.", registry=self.registry,
        )
        self.audit_failures = Counter(
            "marktwijzer_audit_failures", "Audit records that could not be written.", registry=self.registry,
        )
        self.jobs = Counter(
            "marktwijzer_ingest_jobs", "Finished ingest jobs by state.", ["state"], registry=self.registry,
        )
        self.in_flight = Gauge(
            "marktwijzer_answers_in_flight",
            "Answers being computed or waiting, until their worker has really stopped.", registry=self.registry,
        )
        self.cancelled = Counter(
            "marktwijzer_answers_cancelled", "Answers stopped before they were done, by reason (timeout, disconnect).",
            ["reason"], registry=self.registry,
        )
        self.registry.register(IndexCollector(index_dir))

    def render(self) -> bytes:
        return generate_latest(self.registry)
