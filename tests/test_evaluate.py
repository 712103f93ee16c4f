"""Evaluation scorer (assistant/evaluate.py) with hand-built answers: no retrieval, no models."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from assistant.evaluate import (
    EvalResult,
    ItemScore,
    check_thresholds,
    compute_metrics,
    contains_evidence,
    contains_fact,
    evaluate,
    load_items,
    normalise_text,
    numbers_in,
    score_item,
    untraceable_numbers,
    write_report,
)
from assistant.types import Answer, Citation, Figure

AMF = "uwv-regio-in-beeld-2025-2026-amersfoort"
GRO = "uwv-regio-in-beeld-2025-2026-groningen"


def cite(n: int, text: str, source_id: str = AMF, **extra: object) -> Citation:
    fields: dict = dict(
        n=n, source_id=source_id, title="Regio in Beeld", publisher="UWV", edition="", page=7,
        section="Vacatures", text=text, score=0.8,
    )
    fields.update(extra)
    return Citation(**fields)


def answer(text: str, citations: list[Citation] | None = None, figures: list[Figure] | None = None,
           refused: bool = False, question: str = "vraag") -> Answer:
    return Answer(question=question, answer=text, refused=refused, citations=citations or [], figures=figures or [])


# --- normalisation and facts ------------------------------------------------------------------


def test_normalise_text_unifies_case_whitespace_quotes_and_dashes() -> None:
    assert normalise_text("  De ‘Regio’  in\n“Beeld”\t2025–2026 — UWV ") == "de 'regio' in \"beeld\" 2025-2026 - uwv"
    assert normalise_text("ﬁnanciën\u00a0en\u00adzo") == "financiën enzo"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Er staan bijna 9.500 vacatures open [1].", "9500"),
        ("Er staan bijna 9500 vacatures open.", "9.500"),
        ("Er staan bijna 9 500 vacatures open.", "9.500"),
        ("Er staan bijna 9\u00a0500 vacatures open.", "9.500"),
        ("een groei van 3,5 % [2]", "3,5%"),
        ("een groei van 3,5 procent", "3,5%"),
        ("een groei van 3,5%", "3,5 procent"),
        ("ruim 1,2 miljoen mensen", "1,2 mln"),
        ("ruim 1,2 mln. mensen", "ruim 1,2 miljoen"),
        ("een groei van 130.000 personen", "130 duizend"),
        ("een groei van 130 duizend personen", "130.000"),
        ("1.200.000 inwoners", "1,2 mln"),
        ("daalt met 2.200 (−4,2%) tot 50.100", "4,2%"),
        ("tussen 2024–2027", "2027"),
        ("van 13,6%[2] van de baanwisselaars", "13,6%"),
        ("De TOP 5: ICT-beroepen", "ict"),
        ("op 1 januari 2026 werken alle regio’s", "1 januari 2026"),
        ("het richtpunt is ‘eind 2026’", "'eind 2026'"),
        ("4x zo veel", "4x"),
        ("een daling van 0.5%", "0,5%"),
    ],
)
def test_contains_fact_matches_dutch_notation(text: str, expected: str) -> None:
    assert contains_fact(text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Er staan bijna 9.500 vacatures open.", "500"),
        ("Er staan bijna 9 500 vacatures open.", "500"),
        ("De werkloosheid is 12,7%.", "2,7%"),
        ("De werkloosheid is 130%.", "30%"),
        ("De werkloosheid is 2,5%.", "2%"),
        ("De werkloosheid is 2%.", "2,5%"),
        ("Er zijn 3.500 banen.", "3,5"),
        ("Er zijn 9.500 vacatures [1].", "1"),  # a citation marker is not a number
        ("een stijging van 30 procentpunt", "30%"),
        ("ICT beroepen", "agrarische"),
    ],
)
def test_contains_fact_never_matches_part_of_a_longer_number(text: str, expected: str) -> None:
    assert not contains_fact(text, expected)


# --- evidence -----------------------------------------------------------------------------------

EVIDENCE = "Tussen 2024 en 2027 daalt het aantal banen van zelfstandigen naar verwachting met 2.200 (-4,2%) tot ongeveer 50.100."


def test_contains_evidence_exact_and_with_extraction_noise() -> None:
    passage = "2.2 Zelfstandigen\nIn Amersfoort werken veel zzp'ers. " + EVIDENCE + " Dat komt door de handhaving."
    assert contains_evidence(passage, EVIDENCE)
    noisy = ("Tussen 2024 en 2027 daalt het aan-\ntal banen van zelfstandigen naar verwachting "
             "met 2.200 (–4,2%) tot ongeveer 50.100.")
    assert contains_evidence(noisy, EVIDENCE)  # one hyphenated word breaks 3 of 19 trigrams
    assert contains_evidence(passage.upper(), EVIDENCE)


def test_contains_evidence_rejects_unrelated_or_partial_passages() -> None:
    assert not contains_evidence("In Groningen groeit het aantal banen in de zorg.", EVIDENCE)
    half = "Tussen 2024 en 2027 daalt het aantal banen van zelfstandigen."
    assert not contains_evidence(half, EVIDENCE)
    assert contains_evidence(half, EVIDENCE, threshold=0.3)
    assert not contains_evidence(EVIDENCE, "")
    assert contains_evidence("De ICT beroepen staan bovenaan.", "ICT beroepen")
    assert not contains_evidence("De beroepen in de ICT staan bovenaan.", "ICT beroepen")


# --- numbers ------------------------------------------------------------------------------------


def test_numbers_in_reads_dutch_notation() -> None:
    text = ("Tussen 2024-2027 daalt het met 2.200 (-4,2%) tot 50.100 [1][2, 3]; ruim 1,2 mln en "
            "130 duizend, 4x zo veel, 40 procent, 9 500 vacatures, op de 2e plaats, model e5.")
    assert numbers_in(text) == [
        "2024", "2027", "2.200", "4,2%", "50.100", "1,2 mln", "130 duizend", "4x", "40 procent", "9 500",
    ]


def test_untraceable_numbers_reports_numbers_in_no_citation() -> None:
    ans = answer(
        "Er stonden bijna 9.500 vacatures open [1], 12% meer dan de 8.400 van vorig jaar [1].",
        [cite(1, "Eind tweede kwartaal van 2025 stonden er bijna 9500 vacatures open.")],
    )
    assert untraceable_numbers(ans) == ["12%", "8.400"]


def test_untraceable_numbers_markers_single_digits_and_years() -> None:
    ans = answer(
        "In het tweede kwartaal van 2025 [1] [2] waren er 3 sporen [3]; zie afbeelding 3.2.",
        [cite(1, "cijfers over het tweede kwartaal van 2025"), cite(2, "x"), cite(3, "y")],
    )
    assert untraceable_numbers(ans) == []
    ans = answer("In 2026 [1] ...", [cite(1, "cijfers over het tweede kwartaal van 2025")])
    assert untraceable_numbers(ans) == ["2026"]


def test_untraceable_numbers_no_match_inside_a_longer_number() -> None:
    ans = answer("Er waren 500 vacatures [1].", [cite(1, "Er waren 9.500 vacatures en 1500 werkzoekenden.")])
    assert untraceable_numbers(ans) == ["500"]


def test_untraceable_numbers_figures_trace_numbers() -> None:
    figure = Figure(label="werknemersbanen Amersfoort", value=176600, display="176.600", unit="banen",
                    expression="182.900 − 6.300", citations=[1])
    ans = answer(
        "Er zijn 182.900 − 6.300 = 176.600 werknemersbanen [1]; dat is 3,5 procent minder.",
        [cite(1, "Het aantal banen daalde met 3,5%.")],
        [figure],
    )
    assert untraceable_numbers(ans) == []
    # 6.300 appears only in the figure's expression: still traceable; without the figure it is not.
    bare = ans.model_copy(update={"figures": []})
    assert untraceable_numbers(bare) == ["182.900", "6.300", "176.600"]
    english = Figure(label="x", value=3888, display="3.888", expression="0.54 * 7200")
    assert untraceable_numbers(answer("Ongeveer 0,54 × 7.200 = 3.888 [1].", [cite(1, "z")], [english])) == []


def test_untraceable_numbers_scaled_and_metadata() -> None:
    ans = answer(
        "Ruim 1,2 miljoen mensen (Regio in Beeld 2025-2026) [1].",
        [cite(1, "Er waren 1.200.000 mensen beschikbaar.", edition="2025-2026")],
    )
    assert untraceable_numbers(ans) == []
    assert untraceable_numbers(ans, include_metadata=False) == ["2025", "2026"]


# --- scoring ------------------------------------------------------------------------------------


def item(id_: str, type_: str = "fact", expected=None, evidence=None, doc=AMF) -> dict:
    return {"id": id_, "question": f"vraag {id_}", "type": type_, "expected": expected or [],
            "evidence": evidence or [], "doc": doc}


def test_score_item_facts_and_failure_details() -> None:
    it = item("a1", expected=["9.500", "3,5%"], evidence=["bijna 9.500 vacatures open"])
    score = score_item(it, answer("Er staan 9.500 vacatures open [1].", [cite(1, "Er stonden bijna 9.500 vacatures open.")]), 12.5)
    assert score.facts == 0.5 and score.facts_all is False and score.missing == ["3,5%"]
    assert score.hit_at_5 is True and score.untraceable == [] and not score.passed
    assert score.cited_sources == [AMF] and score.citations == [f"[1] {AMF} p. 7"]
    assert score.latency_ms == 12.5 and score.question == "vraag a1" and score.expected == ["9.500", "3,5%"]
    assert any("3,5%" in r for r in score.reasons)


def test_hit_at_5_uses_only_the_first_five_citations() -> None:
    it = item("h", expected=["x"], evidence=["het gouden bewijs staat precies hier"])
    filler = [cite(i, f"ander tekstfragment nummer {i}") for i in range(1, 6)]
    gold = cite(6, "Zie: het gouden bewijs staat precies hier.")
    assert score_item(it, answer("x", filler + [gold]), 1).hit_at_5 is False
    assert score_item(it, answer("x", filler[:4] + [gold.model_copy(update={"n": 5})]), 1).hit_at_5 is True
    assert score_item(item("u", "unanswerable"), answer("nee", filler + [gold], refused=True), 1).hit_at_5 is None
    assert score_item(item("noev", expected=["x"]), answer("x"), 1).hit_at_5 is None


def run(items: list[dict], answers: dict[str, Answer]) -> EvalResult:
    return evaluate(items, lambda it: answers[it["id"]])


def test_refusal_metrics_on_a_mini_set() -> None:
    items = [
        item("f1", expected=["9.500"], evidence=["bijna 9.500 vacatures"]),
        item("f2", expected=["250"]),
        item("f3", "computed", expected=["176.600"]),
        item("u1", "unanswerable", doc=None),
        item("u2", "unanswerable", doc=None),
    ]
    answers = {
        "f1": answer("Bijna 9.500 vacatures [1].", [cite(1, "Er stonden bijna 9.500 vacatures open.")]),
        "f2": answer("Dat staat niet in de bronnen.", refused=True),
        "f3": answer("Het zijn er 176.600 [1].", [cite(1, "banen: 176.600")]),
        "u1": answer("Dat staat niet in de bronnen.", refused=True),
        "u2": answer("Het zijn er 4.000.", []),
    }
    result = run(items, answers)
    overall = result.metrics["overall"]
    assert (overall["n"], overall["n_answerable"], overall["n_unanswerable"]) == (5, 3, 2)
    assert overall["refusal_accuracy"] == 0.5
    assert overall["false_refusals"] == pytest.approx(1 / 3, abs=1e-3)
    assert overall["facts_all"] == pytest.approx(2 / 3, abs=1e-3)
    assert overall["facts"] == pytest.approx(2 / 3, abs=1e-3)
    assert overall["hit@5"] == 1.0
    assert overall["untraceable_answers"] == 1  # u2: 4.000 in no citation
    by_id = {s.id: s for s in result.items}
    assert by_id["f2"].false_refusal and not by_id["f2"].correct_refusal
    assert by_id["u1"].correct_refusal and by_id["u1"].passed and by_id["u1"].facts is None
    assert not by_id["u2"].passed and by_id["u2"].untraceable == ["4.000"]
    assert result.metrics["by_type"]["fact"]["refusal_accuracy"] is None
    assert result.metrics["by_type"]["unanswerable"]["false_refusals"] is None
    assert list(result.metrics["by_type"]) == ["fact", "computed", "unanswerable"]


def test_per_source_grouping_with_list_and_null_docs() -> None:
    items = [
        item("a", expected=["1"], doc=AMF),
        item("b", "comparison", expected=["2"], doc=[AMF, GRO]),
        item("c", "unanswerable", doc=None),
    ]
    answers = {"a": answer("1"), "b": answer("0"), "c": answer("nee", refused=True)}
    by_source = run(items, answers).metrics["by_source"]
    assert list(by_source) == [AMF, GRO, "none"]
    assert by_source[AMF]["n"] == 2 and by_source[AMF]["facts_all"] == 0.5
    assert by_source[GRO]["n"] == 1 and by_source[GRO]["facts_all"] == 0.0
    assert by_source["none"]["n"] == 1 and by_source["none"]["refusal_accuracy"] == 1.0


def test_latency_percentiles() -> None:
    scores = [score_item(item(f"i{i}", expected=["x"]), answer("x"), float(ms)) for i, ms in enumerate(range(10, 101, 10))]
    overall = compute_metrics(scores)["overall"]
    assert overall["latency_ms_p50"] == 55.0
    assert overall["latency_ms_p95"] == 95.5


def test_evaluate_times_calls_reports_progress_and_records_errors() -> None:
    calls: list[tuple[int, int]] = []

    def answer_fn(it: dict) -> Answer:
        if it["id"] == "boom":
            raise RuntimeError("index missing")
        time.sleep(0.02)
        return answer("x")

    result = evaluate([item("slow", expected=["x"]), item("boom", expected=["x"])], answer_fn,
                      progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]
    slow, boom = result.items
    assert slow.latency_ms >= 20 and slow.passed
    assert boom.error == "RuntimeError: index missing" and not boom.passed
    assert result.metrics["overall"]["errors"] == 1


# --- report and gate ----------------------------------------------------------------------------


def said(text: str) -> Answer:
    """An answer that cites its own text (so its numbers are traceable)."""
    return answer(text + " [1]", [cite(1, text)])


def _two_runs() -> tuple[EvalResult, EvalResult]:
    items = [item("keeps", expected=["9.500"]), item("breaks", expected=["250"]), item("fixed", expected=["400"]),
             item("u", "unanswerable", doc=None)]
    before = run(items, {"keeps": said("9.500"), "breaks": said("250"), "fixed": said("300"),
                         "u": answer("nee", refused=True)})
    after = run(items, {"keeps": said("9.500"), "breaks": said("Ongeveer 25 | 0"), "fixed": said("400"),
                        "u": answer("nee", refused=True)})
    return before, after


def test_write_report_writes_three_files_and_round_trips(tmp_path: Path) -> None:
    before, _ = _two_runs()
    paths = write_report(before, tmp_path / "run1", title="Dev-set")
    assert {k: p.name for k, p in paths.items()} == {"metrics": "metrics.json", "report": "report.md", "chart": "chart.png"}
    assert paths["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = EvalResult.model_validate_json(paths["metrics"].read_text(encoding="utf-8"))
    assert loaded == before
    assert json.loads(paths["metrics"].read_text())["metrics"]["overall"]["hit@5"] is None
    report = paths["report"].read_text(encoding="utf-8")
    assert report.startswith("# Dev-set")
    for heading in ("## Overall", "## Per type", "## Per source", "## Failing items (1 of 4)"):
        assert heading in report
    assert "### fixed" in report and "`400`" in report
    assert "Newly failing" not in report


def test_write_report_compares_with_previous_run(tmp_path: Path) -> None:
    before, after = _two_runs()
    previous = EvalResult.model_validate_json(write_report(before, tmp_path / "a")["metrics"].read_text())
    report = write_report(after, tmp_path / "b", previous=previous)["report"].read_text(encoding="utf-8")
    assert "| metric | this run | previous | Δ |" in report
    failing = report.split("### Newly failing (1)")[1].split("###")[0]
    assert "**breaks**" in failing and "keeps" not in failing
    passing = report.split("### Newly passing (1)")[1].split("##")[0]
    assert "**fixed**" in passing
    assert "| facts_all | 0.667 | 0.667 | ±0 |" in report
    assert "> Ongeveer 25 | 0 [1]" in report.split("## Failing items")[1]  # expected vs answered
    assert f"[1] {AMF} p. 7" in report


def test_check_thresholds_reports_violations_and_nothing_when_met() -> None:
    metrics = {"overall": {"hit@5": 0.8, "facts_all": 0.7, "refusal_accuracy": None, "false_refusals": 0.2,
                           "untraceable_answers": 1}}
    gate = {"hit@5": 0.85, "facts_all": 0.6, "refusal_accuracy": 0.8, "false_refusals_max": 0.15,
            "untraceable_answers_max": 0}
    violations = check_thresholds(metrics, gate)
    assert len(violations) == 4
    assert any(v.startswith("hit@5 = 0.800") and "below" in v for v in violations)
    assert any(v.startswith("false_refusals = 0.200") and "above" in v for v in violations)
    assert any(v.startswith("untraceable_answers = 1") for v in violations)
    assert any(v.startswith("refusal_accuracy: not available") for v in violations)
    assert not any(v.startswith("facts_all") for v in violations)
    met = {"overall": {"hit@5": 0.9, "facts_all": 0.6, "refusal_accuracy": 1.0, "false_refusals": 0.15,
                       "untraceable_answers": 0}}
    assert check_thresholds(met, gate) == []
    assert check_thresholds(met["overall"], {"hit@5": 0.9}) == []
    assert check_thresholds(met, {"recall": 0.5}) == ["recall: unknown metric (threshold 'recall')"]


# --- loading ------------------------------------------------------------------------------------


def test_load_items_skips_blank_lines_and_names_bad_lines(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "a", "question": "q1"}\n\n   \n{"id": "b", "question": "q2", "doc": null}\n', encoding="utf-8")
    assert [i["id"] for i in load_items(good)] == ["a", "b"]

    cases = {
        '{"id": "a", "question": "q"}\n\n{"id": "b", "question": \n': "line 3",
        '{"id": "a", "question": "q"}\n{"question": "q"}\n': "line 2",
        '{"id": "a"}\n': "line 1",
        '{"id": "a", "question": "q"}\n["x"]\n': "line 2",
        '{"id": "a", "question": "q"}\n{"id": "a", "question": "r"}\n': "line 2",
    }
    for i, (content, where) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.jsonl"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=where):
            load_items(path)


def test_item_score_is_a_model() -> None:
    score = score_item(item("z", expected=["x"]), answer("x"), 3)
    assert isinstance(score, ItemScore)
    assert ItemScore.model_validate_json(score.model_dump_json()) == score
