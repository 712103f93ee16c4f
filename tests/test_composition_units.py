"""Pieces of the short composition: the source label, a count's typed match, and a statement's second half."""

from __future__ import annotations

import re
from collections import Counter

from assistant import prompts
from assistant.compose import SentenceQuality, Unit, select_short
from assistant.features import UNIT_FEATURES, unit_matrix
from assistant.question import Intent, QuestionAnalysis
from assistant.retrieve import Passage
from ingest.lexical import tokenize
from ingest.registry import SourceEntry

SZW = "Ministerie van Sociale Zaken en Werkgelegenheid"
SER = "Sociaal-Economische Raden van Noord-Nederland, Overijssel en Noord-Brabant"


def _passage(text: str = "", publisher: str = "UWV (met Gemeente Amersfoort)", chunk_id: str = "c1") -> Passage:
    return Passage(
        chunk_id=chunk_id, source_id="s1", title="Regio in Beeld 2025-2026 Amersfoort", publisher=publisher,
        edition="2025-2026", source_type="regio-in-beeld", page_start=1, page_end=1, section="", section_path="",
        text=text, chunk_index=0,
    )


def _entry(**fields) -> SourceEntry:
    base = dict(id="rib-amersfoort", title="Regio in Beeld 2025-2026 Amersfoort", publisher="UWV", type="regio-in-beeld",
                edition="2025-2026", published=2025,
                file="pdf/x.pdf", period="cijfers tot en met het tweede kwartaal (juni) van 2025; prognose")
    return SourceEntry.model_validate({**base, **fields})


def test_a_long_publisher_is_named_by_the_acronym_the_registry_gives() -> None:
    assert prompts.short_publisher(SZW, ["raamwerk", "SZW", "handreiking"]) == "SZW"
    assert prompts.short_publisher(SER, ["SER", "Ongekend talent"]) == "SER"


def test_a_short_or_unabbreviated_publisher_keeps_its_name() -> None:
    assert prompts.short_publisher("UWV (met Gemeente Amersfoort)", ["RiB"]) == "UWV"
    assert prompts.short_publisher("ArbeidsmarktInZicht", ["AIZ"]) == "ArbeidsmarktInZicht"
    # an acronym whose letters are not the name's initials is not the publisher's
    assert prompts.short_publisher(SZW, ["UWV", "AIZ"]) == SZW


def test_the_period_is_named_only_with_figures() -> None:
    entry = _entry()
    passage = _passage()
    cited = "In het tweede kwartaal van 2025 stonden er 9.500 vacatures open."
    assert prompts.source_label(entry, passage, cited).endswith("cijfers tot en met het tweede kwartaal (juni) van 2025")
    assert prompts.source_label(entry, passage, cited, with_period=False) == "Regio in Beeld Amersfoort (UWV)"


def _unit(text: str, order: int, passage: Passage, score: float = 0.0) -> Unit:
    return Unit(passage, 0, order, text, "sentence", frozenset(tokenize(text)), None, score)


def _analysis(question: str, intent: Intent = Intent.figure) -> QuestionAnalysis:
    return QuestionAnalysis(original=question, text=question, retrieval_text=question, intent=intent,
                            terms=[t for t in tokenize(question) if len(t) > 2])


def test_a_count_asked_is_not_matched_by_the_number_of_a_level() -> None:
    passage = _passage("x")
    units = [_unit("De meeste vacatures staan open voor functies op beroepsniveau 2 (38%).", 0, passage),
             _unit("Eind juni stonden er 9.500 vacatures open.", 1, passage)]
    matrix = unit_matrix(units, _analysis("Hoeveel vacatures stonden er open?"), {}, None, set())
    assert matrix[:, UNIT_FEATURES.index("count_match")].tolist() == [0.0, 1.0]


STATEMENT = [
    "Voor de periode 2024-2027 wordt een daling van circa 600 werknemersbanen verwacht.",
    "Dat komt neer op een afname van ruim 2%, een sterkere krimp dan landelijk.",
    "Dat is jammer voor de regio.",
]
QUALITY = SentenceQuality(Counter({w: 3 for s in STATEMENT for w in re.findall(r"[^\W\d_]+", s.lower())}))


def _chosen(params: dict[str, float], texts: list[str] = STATEMENT) -> list[str]:
    passage = _passage(" ".join(texts))
    units = [_unit(text, i, passage, score) for i, (text, score) in enumerate(zip(texts, (0.9, 0.1, 0.1)))]
    analysis = _analysis("Hoeveel werknemersbanen verliest de industrie tot 2027?")
    candidates = [u for u in units if QUALITY.usable(u)]
    return [u.text for u in select_short(units, candidates, analysis, QUALITY, params)]


def test_a_figure_brings_the_sentence_that_completes_it_when_the_setting_says_so() -> None:
    params = {"extra_ratio": 0.75, "max_extra": 2.0, "max_words": 90.0}
    assert _chosen(params) == STATEMENT[:1]
    assert _chosen({**params, "follow_anaphora": 1.0}) == STATEMENT[:2]


def test_the_completing_sentence_needs_a_number_and_room() -> None:
    params = {"extra_ratio": 0.75, "max_extra": 2.0, "max_words": 90.0, "follow_anaphora": 1.0}
    no_number = [STATEMENT[0], STATEMENT[2]]
    assert _chosen(params, no_number) == no_number[:1]
    assert _chosen({**params, "max_words": 15.0}) == STATEMENT[:1]


def test_a_footnote_number_glued_after_a_sentence_is_removed() -> None:
    from assistant.compose import readable

    assert readable("Bij de bol-studenten met diploma was dit 79%.2") == "Bij de bol-studenten met diploma was dit 79%."
    assert readable("De groei was groot in augustus.28 Deze groei") == "De groei was groot in augustus. Deze groei"
    assert readable("Het aandeel steeg tot 3,5. Daarna") == "Het aandeel steeg tot 3,5. Daarna"  # a decimal stays


def test_a_sentence_that_continues_in_time_brings_the_one_before_it() -> None:
    texts = ["In 2022 stonden er 10.500 vacatures open.", "Daarna trad een lichte daling op naar 9.400 vacatures."]
    passage = _passage(" ".join(texts))
    units = [_unit(texts[0], 0, passage, 0.1), _unit(texts[1], 1, passage, 0.9)]
    quality = SentenceQuality(Counter({w: 3 for s in texts for w in re.findall(r"[^\W\d_]+", s.lower())}))
    params = {"extra_ratio": 0.75, "max_extra": 2.0, "max_words": 90.0}
    chosen = select_short(units, units, _analysis("Hoeveel vacatures stonden er open?"), quality, params)
    assert [u.text for u in chosen] == [texts[1], texts[0]]  # composed in document order later
