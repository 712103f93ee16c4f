"""The benchmark code paths (`make bench`) on tiny inputs, against the real session index: they must
not break silently. No wall-clock assertions: timings are reported, never asserted."""

from __future__ import annotations

import json
from pathlib import Path

import chromadb
import pytest

import ingest  # noqa: F401  (offline environment first)
from benchmarks import common, langchain_baseline, query_bench, scaling_bench
from benchmarks import run as bench_run
from ingest.models import IngestReport
from ingest.settings import Settings


@pytest.fixture(scope="module")
def bench_assistant(built_index: tuple[Settings, IngestReport]):
    from assistant.answer import get_assistant

    settings, _ = built_index
    return get_assistant(settings)


def test_retrieve_mirrors_the_assistant(bench_assistant) -> None:
    item = common.answerable(common.dev_items())[0]
    passages = common.retrieve(bench_assistant, item["question"])
    assert 0 < len(passages) <= common.HIT_K
    assert all(p.chunk_id in bench_assistant.retriever.passages for p in passages)
    assert common.hit_rank([p.text for p in passages], ["geen zin die ergens in staat xyzzy"]) is None
    assert common.hit_rank(["a", passages[0].text], [passages[0].text]) == 1


def test_query_latency_floor_and_ratio(bench_assistant) -> None:
    result = query_bench.latency(bench_assistant, common.dev_items(limit=5), passes=1)
    for key in ("floor", "retrieval", "answer"):
        assert result[key]["n"] == 5 and result[key]["p50"] > 0
    assert result["answer_over_floor_p50"] > 0
    assert result["questions"] == 5


def test_cold_start_and_serving_memory(built_index) -> None:
    settings, _ = built_index
    cold = query_bench.cold_start(settings.data_dir, runs=1)
    assert cold["runs"] == 1 and cold["median_s"] > 0
    serve = query_bench.serving(settings.data_dir, limit=2)
    assert serve["questions_served"] == 3
    assert serve["mem_serving"]["rss_mb"] > serve["mem_after_imports"]["rss_mb"] > 0


def test_langchain_baseline_side_by_side(bench_assistant) -> None:
    items = common.answerable(common.dev_items())[:5]
    result = langchain_baseline.run(bench_assistant, items, passes=1)
    assert result["questions"] == 5
    methods = result["methods"]
    assert set(methods) == {langchain_baseline.OURS, langchain_baseline.DENSE, langchain_baseline.BM25, langchain_baseline.ENSEMBLE}
    for row in methods.values():
        assert 0.0 <= row["hit@5"] <= 1.0 and row["latency_ms"]["n"] == 5
    assert set(result["must_show"]) == {"ours_ahead_on_hit@5", "ours_not_slower_at_p95"}
    assert "EnsembleRetriever" in langchain_baseline.markdown(result)


def test_synthetic_index_is_labelled_and_kept_out_of_the_source(built_index, tmp_path: Path) -> None:
    settings, _ = built_index
    with pytest.raises(ValueError):
        scaling_bench.build(settings.data_dir, 2, settings.data_dir)
    built = scaling_bench.build(settings.data_dir, 2, tmp_path / "data")
    assert built["synthetic_chunks"] == built["real_chunks"] and built["chunks"] == 2 * built["real_chunks"]
    assert 0.5 < built["vector_check"]["p50"] <= 1.0
    generation = tmp_path / "data" / "index" / (tmp_path / "data" / "index" / "CURRENT").read_text().strip()
    client = chromadb.PersistentClient(path=str(generation / "chroma"), settings=chromadb.config.Settings(anonymized_telemetry=False))
    got = client.get_collection("chunks").get(where={"synthetic": True}, include=["metadatas", "documents"], limit=5)
    assert len(got["ids"]) == 5 and all(":synthetic-" in i for i in got["ids"])
    assert all(len(d) - m["text_offset"] <= scaling_bench.MAX_CHARS for d, m in zip(got["documents"], got["metadatas"], strict=True))


def test_scaling_factor_1_with_20_queries(built_index) -> None:
    settings, _ = built_index
    result = scaling_bench.run(settings.data_dir, factors=(1,), passes=1, limit=20)
    row = result["rows"][0]
    assert row["factor"] == 1 and row["synthetic_chunks"] == 0 and row["retrieval_ms"]["n"] == 20
    assert row["memory"]["serving"]["rss_mb"] > 0
    assert "dense n=60 (exact)" in scaling_bench.markdown(result)


def test_run_only_selection_writes_json_and_markdown(built_index, tmp_path: Path) -> None:
    settings, _ = built_index
    bench_run.main(["--only", "baseline", "--data-dir", str(settings.data_dir), "--passes", "1", "--limit", "6",
                    "--out", str(tmp_path)])
    result = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert "baseline" in result and "query" not in result and "ingest" not in result
    assert result["baseline"]["meta"]["load_1min"]
    md = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "## Must show" in md and "LangChain EnsembleRetriever" in md
    with pytest.raises(SystemExit):
        bench_run.main(["--only", "nonsense", "--out", str(tmp_path)])
