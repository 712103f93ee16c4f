"""The generalised answer core: learned models as plain data, folds grouped by passage, short
answers that lead with the asked figure, places through the official municipality table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from assistant.answer import Assistant
from assistant.evaluate import contains_fact, strip_markers, untraceable_numbers
from assistant.features import QUESTION_FEATURES, UNIT_FEATURES, split_compounds
from assistant.learn import Item, assign_folds, unit_labels
from assistant.linear import WEIGHTS_DIR, AnswerModels, LinearModel
from assistant.verify import split_sentences
from ingest.models import IngestReport
from ingest.settings import Settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def assistant(built_index: tuple[Settings, IngestReport]) -> Assistant:
    settings, _ = built_index
    return Assistant(settings)


def _words(text: str) -> int:
    return len(re.findall(r"\w+", strip_markers(text)))


# -- learned models are plain data -----------------------------------------------------------------


def test_linear_model_matches_scikit_learn_and_round_trips_as_json(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3)) * [1.0, 5.0, 0.1] + [0.0, 2.0, -1.0]
    y = (x[:, 0] + 0.2 * x[:, 1] > 0.4).astype(float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    fitted = LogisticRegression().fit((x - mean) / scale, y)
    model = LinearModel(name="t", features=["a", "b", "c"], mean=mean.tolist(), scale=scale.tolist(),
                        coef=fitted.coef_[0].tolist(), intercept=float(fitted.intercept_[0]))
    assert np.allclose(model.probabilities(x), fitted.predict_proba((x - mean) / scale)[:, 1])
    model.save(tmp_path / "t.json")
    data = json.loads((tmp_path / "t.json").read_text())
    assert set(data) >= {"features", "mean", "scale", "coef", "intercept", "threshold"}
    again = LinearModel.model_validate(data)
    assert np.allclose(again.probabilities(x), model.probabilities(x), atol=1e-5)
    assert again.weights()[0][0] == "a"  # the feature the label depends on most


def test_linear_model_refuses_inconsistent_weights() -> None:
    with pytest.raises(ValueError):
        LinearModel(name="t", features=["a", "b"], mean=[0.0], scale=[1.0, 1.0], coef=[1.0, 1.0], intercept=0.0)


def test_shipped_weights_are_json_over_the_current_features() -> None:
    models = AnswerModels.shipped()
    assert models.lead is not None and models.answerable is not None, "run `make train` to ship weights"
    assert models.lead.features == UNIT_FEATURES
    assert models.answerable.features == QUESTION_FEATURES
    assert 0.0 < models.answerable.threshold < 1.0
    assert not list(WEIGHTS_DIR.glob("*.pkl")) and not list(WEIGHTS_DIR.glob("*.pickle"))
    assert {"extra_ratio", "max_extra", "max_words"} <= set(models.composition)


# -- folds and labels ----------------------------------------------------------------------------


def test_items_quoting_the_same_passage_share_a_fold(assistant: Assistant) -> None:
    passages = list(assistant.retriever.passages.values())
    text = next(p.text for p in passages if len(p.text) > 600)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) > 8]
    assert len(sentences) >= 2
    items = [
        Item({"id": "a", "type": "fact", "question": "x", "evidence": [sentences[0]]}, "t"),
        Item({"id": "b", "type": "fact", "question": "y", "evidence": [sentences[-1]]}, "t"),
    ] + [Item({"id": f"u{i}", "type": "unanswerable", "question": "z", "evidence": []}, "t") for i in range(8)]
    folds = assign_folds(items, passages, k=5)
    assert folds[0] == folds[1]
    assert len(set(folds)) == 5  # the ungrouped items still spread over every fold


def test_unit_labels_mark_the_evidence_sentence(assistant: Assistant) -> None:
    question = "Hoeveel vacatures stonden er open in regio Amersfoort?"
    prepared = assistant.prepare(question)
    gold = next(u.text for u in prepared.units if "9.500" in u.text and "vacatures" in u.text)
    item = Item({"id": "x", "type": "fact", "question": question, "evidence": [gold], "expected": []}, "t", prepared)
    labels = unit_labels(item)
    assert labels.sum() >= 1
    assert all(("9.500" in u.text) or not label for u, label in zip(prepared.units, labels, strict=True))
    refused = Item({"id": "y", "type": "unanswerable", "question": question}, "t", prepared)
    assert unit_labels(refused).sum() == 0


def test_unknown_compounds_stand_for_their_known_parts(assistant: Assistant) -> None:
    idf = assistant.idf
    from ingest.lexical import tokenize

    [term] = tokenize("kinderopvangpersoneel")
    parts = split_compounds([term], idf)
    assert len(parts) == 2 and all(p in idf for p in parts)
    [nonsense] = tokenize("boerenkoolstamppot")
    assert all(p not in idf for p in split_compounds([nonsense], idf)) or len(split_compounds([nonsense], idf)) == 2


# -- behaviour ----------------------------------------------------------------------------------


def test_the_first_sentence_answers_the_figure_question(assistant: Assistant) -> None:
    answer = assistant.ask("Hoeveel vacatures stonden er open in regio Amersfoort?")
    assert not answer.refused
    first = split_sentences(answer.answer)[0].text
    assert contains_fact(first, "9.500"), answer.answer
    assert _words(answer.answer) <= 90, answer.answer
    assert untraceable_numbers(answer, include_metadata=False) == []


def test_a_municipality_gets_its_regions_figure_with_a_plain_statement(assistant: Assistant) -> None:
    answer = assistant.ask("Hoeveel vacatures stonden er open in Leusden?")
    assert not answer.refused, answer.answer
    assert contains_fact(answer.answer, "9.500"), answer.answer
    assert "arbeidsmarktregio Amersfoort" in answer.answer
    assert "hele" in answer.answer  # the figure is for the whole region, said plainly


def test_a_former_municipality_is_read_through_the_merger_table(assistant: Assistant) -> None:
    analysis = assistant.analyzer.analyze("Hoeveel vacatures zijn er in Delfzijl?")
    [place] = analysis.places
    assert place.name == "Eemsdelta" and place.region == "Groningen" and place.covered_by


def test_an_uncovered_municipality_is_refused_naming_its_region(assistant: Assistant) -> None:
    answer = assistant.ask("Hoeveel vacatures stonden er open in de gemeente Zwolle?")
    assert answer.refused, answer.answer
    assert "IJsselvechtstreek" in answer.answer


def test_a_figure_the_sources_do_not_give_is_refused_with_what_they_do_say(assistant: Assistant) -> None:
    answer = assistant.ask("Wat kost een jaarlicentie op ArbeidsmarktInZicht?")
    assert answer.refused, answer.answer
    assert untraceable_numbers(answer, include_metadata=False) == []


OFF_TOPIC = ["Wat wordt het weer morgen in Groningen?", "Schrijf een gedicht over de lente.",
             "Wat is de hoofdstad van Frankrijk?", "Hoe repareer ik een lekke band?",
             "Welke film draait er vanavond in de bioscoop?"]


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_a_question_the_sources_do_not_treat_is_refused(assistant: Assistant, question: str) -> None:
    """Off-topic questions (none in the labelled sets): no retrieved sentence is close in e5 space."""
    answer = assistant.ask(question)
    assert answer.refused, answer.answer
    assert answer.citations == []


def test_the_similarity_threshold_leaves_the_design_questions_answered(assistant: Assistant) -> None:
    assert assistant.models.answerable is not None and "min_similarity" in assistant.models.answerable.params
    for question in ("Hoeveel vacatures stonden er open in regio Amersfoort?",
                     "Wat zeg ik tegen een werkgever die geen personeel kan vinden?"):
        answer = assistant.ask(question)
        assert not answer.refused, (question, answer.answer)


def test_advice_in_an_uncovered_place_is_answered_from_general_passages(assistant: Assistant) -> None:
    answer = assistant.ask(
        "Een technisch bedrijf in Hengelo wil gepensioneerden terughalen om jonge monteurs te begeleiden. "
        "Wat kan ik de werkgever adviseren?"
    )
    assert not answer.refused, answer.answer
    assert "Hengelo" in answer.answer  # says the sources are not about Hengelo specifically
    assert answer.citations



def test_refusal_costs_weigh_a_false_refusal_double() -> None:
    from assistant.learn import FALSE_REFUSAL_COST, refusal_costs

    grid = np.asarray([0.0, 0.5, 1.0])
    costs = refusal_costs([0.2, 0.7, 0.9], [False, True, True], grid)
    # t=0: nothing refused, one missed refusal; t=0.5: the unanswerable refused; t=1: all refused
    assert costs.tolist() == [1.0, 0.0, 2 * FALSE_REFUSAL_COST]


# -- the asked unit ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("question", "unit"), [
    ("Hoeveel SLIM-subsidie kan een werkgever per werknemer krijgen?", "€"),
    ("Wat kost een jaarlicentie?", "€"),
    ("Hoeveel procent van de deelnemers had na afloop een baan?", "%"),
    ("Wat is het werkloosheidspercentage in de regio Amersfoort?", "%"),
    ("Hoeveel fte krijgt een regio?", "fte"),
    ("Hoeveel vacatures stonden er open in regio Amersfoort?", ""),
    ("Vanaf wanneer kan een regio subsidie aanvragen?", ""),
])
def test_the_asked_unit_is_read_from_the_question(assistant: Assistant, question: str, unit: str) -> None:
    assert assistant.analyzer.analyze(question).asked_unit == unit


def _one_sentence_unit(text: str, section: str):
    from assistant.compose import split_units
    from assistant.retrieve import Passage

    passage = Passage(
        chunk_id="x", source_id="s", title="t", publisher="p", edition="e", source_type="report", page_start=1,
        page_end=1, section=section, section_path=section, chunk_index=0, text=text,
    )
    [unit] = split_units(passage, 0)
    return unit


def test_only_a_figure_in_the_asked_unit_supports_a_figure_question(assistant: Assistant) -> None:
    unit = _one_sentence_unit("Aan het project namen 120 deelnemers deel, van wie 45% na afloop een baan had.", "Deelnemers")
    count = assistant.analyzer.analyze("Hoeveel deelnemers namen deel aan het project?")
    share = assistant.analyzer.analyze("Hoeveel procent van de deelnemers had na afloop een baan?")
    money = assistant.analyzer.analyze("Hoeveel geld kregen de deelnemers van het project?")
    assert assistant._supports_figure(unit, count)
    assert assistant._supports_figure(unit, share)
    assert not assistant._supports_figure(unit, money)  # 120 and 45% are no amounts of money


def test_a_follow_up_that_names_only_a_period_asks_the_earlier_figure_for_it(assistant: Assistant) -> None:
    """'En in december 2023?' after a terse 'gwu west-brabant?' asks a figure: its period must then be
    supported, so a period the sources do not give is refused and one they give is answered."""
    from assistant.question import Intent
    from assistant.types import HistoryTurn

    def turn(question: str) -> list[HistoryTurn]:
        return [HistoryTurn(question=question, answer="...")]

    period = assistant.analyzer.analyze("en een jaar eerder, december 2023?", turn("gwu west-brabant?"))
    topic = assistant.analyzer.analyze("en in Groningen?", turn("gwu west-brabant?"))
    assert period.intent is Intent.figure
    assert topic.intent is not Intent.figure
    ww = turn("Hoeveel mensen hadden een WW-uitkering in Groningen?")
    assert not assistant.ask("en eind juni 2025?", ww).refused
    assert assistant.ask("en eind september 2025?", ww).refused


def test_a_frequency_in_words_answers_how_often(assistant: Assistant) -> None:
    """'Hoe vaak ...?' is answered by 'maandelijks' as a figure question is by a number."""
    unit = _one_sentence_unit("De cijfers over werkzoekenden worden maandelijks bijgewerkt op het dashboard.", "Dashboard")
    often = assistant.analyzer.analyze("Hoe vaak worden de cijfers over werkzoekenden bijgewerkt?")
    count = assistant.analyzer.analyze("Hoeveel cijfers over werkzoekenden worden bijgewerkt?")
    assert often.asks_frequency and not count.asks_frequency
    assert assistant._supports_figure(unit, often)
    assert not assistant._supports_figure(unit, count)  # no number: no count


def test_the_period_alone_does_not_make_a_sentence_support_another_measure(assistant: Assistant) -> None:
    """A sentence that shares only the asked quarter and year is about another figure: the period
    is checked on its own, the topic must be there besides it."""
    unit = _one_sentence_unit("In het eerste kwartaal van 2025 werkten 518.000 mensen (11%) in deeltijd.", "Deeltijd")
    other = assistant.analyzer.analyze("Welk percentage werknemers wisselde in het eerste kwartaal van 2025 van werkgever?")
    same = assistant.analyzer.analyze("Welk percentage mensen werkte in het eerste kwartaal van 2025 in deeltijd?")
    assert not assistant._supports_figure(unit, other)
    assert assistant._supports_figure(unit, same)


def test_a_pointer_into_the_report_is_not_a_figure(assistant: Assistant) -> None:
    """'(zie afbeelding 4.3)' or 'paragraaf 3.1' carries no figure, so it cannot support a count."""
    pointer = _one_sentence_unit("Het GWU is samengesteld uit diverse groepen (zie afbeelding 4.3).", "GWU")
    figure = _one_sentence_unit("Het GWU telde in juni 2025 ruim 24.000 werkzoekenden.", "GWU")
    count = assistant.analyzer.analyze("Hoeveel werkzoekenden telt het GWU?")
    assert not assistant._supports_figure(pointer, count)
    assert assistant._supports_figure(figure, count)


@pytest.mark.parametrize(("question", "counted"), [
    ("Hoeveel wajongers zitten er in het GWU?", ["wajonger"]),
    ("Hoeveel openstaande vacatures had de regio eind juni?", ["openstaand", "vacatur"]),
    ("Wat is het aantal geregistreerde werkzoekenden in de regio?", ["registreer", "werkzoek"]),
    ("Hoeveel NEET-jongeren telt de regio?", ["neet", "jonger"]),
    ("Hoeveel mensen werken er in de zorg?", []),  # 'mensen' says nothing of what is counted
    ("Hoeveel bedraagt de werkloosheid?", []),  # a verb, not a counted noun
    ("Welk percentage van de volwassenen doet vrijwilligerswerk?", []),  # the base of a share
    ("Hoeveel hoger ligt het aantal vacatures?", []),
])
def test_what_a_figure_question_counts(question: str, counted: list[str]) -> None:
    from assistant.question import counted_terms

    assert counted_terms(question) == counted


def test_a_figure_of_the_whole_does_not_count_a_group_in_it(assistant: Assistant) -> None:
    """'Hoeveel wajongers ...' is not answered by a figure of all werkzoekenden; a sentence that
    names the group, also inside a compound, is."""
    whole = _one_sentence_unit("In juni 2025 telde het GWU in de regio 24.000 werkzoekenden.", "GWU")
    group = _one_sentence_unit("Van hen hadden 3.100 werkzoekenden een Wajong-uitkering (wajongers).", "GWU")
    compound = _one_sentence_unit("In de regio waren er in 2021 bijna 10.000 jongeren zonder werk of opleiding.", "NEET-jongeren")
    wajong = assistant.analyzer.analyze("Hoeveel wajongers zitten er in het GWU?")
    neet = assistant.analyzer.analyze("Hoeveel NEET-jongeren zijn er in de regio?")
    assert not assistant._supports_figure(whole, wajong)
    assert assistant._supports_figure(group, wajong)
    assert assistant._supports_figure(compound, neet)


def test_a_figure_of_another_month_does_not_answer_a_month_question(assistant: Assistant) -> None:
    """A month with its year is a period like a quarter: June's figure does not answer September
    (the sources run to June 2025), a follow-up's own month replaces the earlier turn's."""
    from assistant.types import HistoryTurn

    unit = _one_sentence_unit("Eind juni 2025 hadden 7.200 mensen in de regio een WW-uitkering.", "WW")
    june = assistant.analyzer.analyze("Hoeveel mensen hadden eind juni 2025 een WW-uitkering?")
    quarter = assistant.analyzer.analyze("Hoeveel mensen hadden in het tweede kwartaal van 2025 een WW-uitkering?")
    history = [HistoryTurn(question="Hoeveel mensen hadden eind juni 2025 een WW-uitkering?", answer="7.200 [1].")]
    september = assistant.analyzer.analyze("En eind september 2025?", history)
    assert june.months == [6] and september.months == [9]
    assert assistant._supports_figure(unit, june) and assistant._supports_figure(unit, quarter)
    assert not assistant._supports_figure(unit, september)
    assert assistant.ask("En eind september 2025?", history).refused


@pytest.mark.parametrize(("question", "figure"), [
    # figure words in the situation, not in the asking sentence: not a figure question
    ("Die cijfers staan niet in Regio in Beeld. Waar halen we dat vandaan?", False),
    ("Een werkgever ziet op tegen de kosten. Welke regeling kan ik noemen?", False),
    # the asking sentence names the figure
    ("Ik wil een werkgever informeren. Hoeveel vacatures stonden er open in regio Amersfoort?", True),
    # an abbreviation does not end the asking sentence
    ("hoeveel zijn de vacatures in amersfoort gestegen t.o.v. 2019 (aantal en %)?", True),
])
def test_a_figure_is_asked_only_by_the_asking_sentence(assistant: Assistant, question: str, figure: bool) -> None:
    from assistant.question import Intent

    assert (Intent.figure in assistant.analyzer.analyze(question).intents) is figure
