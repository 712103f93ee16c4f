"""Infographic key figures: label rows paired with the value rows below them."""

from __future__ import annotations

from ingest.infographic import pair_labels
from ingest.models import Line


def _texts(text: str) -> list[str]:
    lines = [Line(text=t, page=1) for t in text.split("\n")]
    return [line.text for line in pair_labels(lines) if line.text]


def test_stacked_label_rows_pair_with_value_rows_in_order() -> None:
    got = _texts("WERKENDEN WERKLOZEN\n\nNETTO ARBEIDSPARTICIPATIE WERKLOOSHEID\n\n921.000 33.000\n\n75,3% 3,4%")
    assert got == ["Werkenden: 921.000. Werklozen: 33.000.", "Netto arbeidsparticipatie: 75,3%. Werkloosheid: 3,4%."]


def test_single_label_and_value() -> None:
    assert _texts("Tekst ervoor.\nVACATURES\n\n102.110\nTekst erna.") == ["Tekst ervoor.", "Vacatures: 102.110.", "Tekst erna."]


def test_a_label_run_without_as_many_value_rows_is_left_alone() -> None:
    text = "CONSUMENTEN-\nVERTROUWEN\nWERKLOOSHEID\nFAILLISSEMENTEN\nECONOMIE PROGNOSES CPB\n-29\n-1,0"
    assert _texts(text) == text.split("\n")


def test_running_text_and_numbers_in_sentences_are_untouched() -> None:
    text = "In 2024 waren er 9.500 vacatures.\nDe WW steeg met 3,5%."
    assert _texts(text) == text.split("\n")


def test_numbers_are_kept_exactly_as_written() -> None:
    got = " ".join(_texts("ARBEIDSDEELNAME\n€ 35,9"))
    assert "€ 35,9" in got
