"""Issue 20, finding 5: scrubbing normalises before it matches (zero-width characters, separators,
case) and covers postcodes, street addresses and dates of birth, without touching labour-market
figures; request ids with personal data are recognised."""

from __future__ import annotations

import pytest

from assistant import scrub as S  # attributes looked up per test: each case passes or fails on its own
from assistant.scrub import contains_personal_data, scrub

ZW = "\u200b"  # zero-width space


@pytest.mark.parametrize(
    ("text", "placeholder"),
    [
        (f"Klant met BSN 111{ZW}222{ZW}333 zoekt werk", "BSN"),
        (f"werkzoekende 1{ZW}2{ZW}3{ZW}4{ZW}5{ZW}6{ZW}7{ZW}8{ZW}2 in Amersfoort", "BSN"),
        ("nummer 123/456/782 graag nakijken", "BSN"),
        ("nummer 123  456  782 graag nakijken", "BSN"),
        ("nummer 123\u00a0456\u00a0782 graag nakijken", "BSN"),  # no-break spaces
        ("nummer 123 - 456 - 782 graag nakijken", "BSN"),
        ("nummer １２３４５６７８２ (volle breedte)", "BSN"),
        ("Bel 06.12345678 na vijven", "PHONE"),
        (f"Bel 06{ZW}-1234{ZW}5678 na vijven", "PHONE"),
        ("Bel 06/12 34 56 78 na vijven", "PHONE"),
        ("rekening nl91 abna 0417 1643 00 graag", "IBAN"),
        ("rekening nl91abna0417164300 graag", "IBAN"),
        ("rekening de89 3704 0044 0532 0130 00 van een grensarbeider", "IBAN"),
        ("mail naam (at) domein.nl even", "EMAIL"),
        ("mail naam [at] domein [punt] nl even", "EMAIL"),
        ("mail Jan.Jansen@Gemeente.NL even", "EMAIL"),
        ("woont op 3811 AB Amersfoort", "POSTCODE"),
        ("woont op 3811ab Amersfoort", "POSTCODE"),
        ("woont op 9712 cp in Groningen", "POSTCODE"),
        ("woont aan de Stationsstraat 12a in Utrecht", "ADDRESS"),
        ("woont aan de kerkplein 5-7 in Utrecht", "ADDRESS"),
        ("adres Lange Voorhoutweg 9 bis", "ADDRESS"),
        ("geboren op 12-05-1985, zoekt werk", "BIRTH_DATE"),
        ("geboortedatum: 3 mei 2001", "BIRTH_DATE"),
        ("klant (01/02/1979) zoekt werk", "BIRTH_DATE"),
        ("klant van 1979-02-01 zoekt werk", "BIRTH_DATE"),
        ("geboren in 1985 en op zoek naar werk", "BIRTH_DATE"),
    ],
)
def test_personal_data_in_disguise_is_scrubbed(text: str, placeholder: str) -> None:
    cleaned = scrub(text)
    assert getattr(S, placeholder) in cleaned, cleaned
    assert contains_personal_data(text)
    assert ZW not in cleaned
    for secret in ("111", "12345678", "0417", "3704", "naam", "jansen", "3811", "9712", "Stationsstraat",
                   "kerkplein", "1985", "2001", "1979"):
        if secret.lower() in text.lower():
            assert secret.lower() not in cleaned.lower(), (secret, cleaned)


def test_digits_of_a_disguised_bsn_leave_no_trace() -> None:
    text = f"BSN 1{ZW}1{ZW}1 222/333, tel 06.1234.5678, postcode 3811 AB, geboren 12-05-1985"
    cleaned = scrub(text)
    assert not any(ch.isdigit() for ch in cleaned), cleaned


@pytest.mark.parametrize(
    "text",
    [
        "Eind tweede kwartaal 2025 stonden er 9.500 vacatures open in Amersfoort.",
        "De regionale meerjarenagenda 2024-2027 en de periode 2024 - 2027 en 2019/2023.",
        "De werkloosheid steeg met 3,5% naar 1,2 mln; 182.900 werknemersbanen, 176.600 in 2015.",
        "Hoeveel banen waren er in Q2 2025 en in het derde kwartaal van 2024?",
        "Tussen 2015 en 2024 daalde het onbenut arbeidspotentieel; in 2025 en 2026 verder.",
        "Per 1 januari 2025 en op 30-06-2025 gold de nieuwe regeling; Regio in Beeld 2025-2026.",
        "De arbeidsmarkt 2025 in Groningen: 300 km, 1500 mw, € 35,9 miljoen, 12.345.678 euro.",
        "Er waren 123456789 vacatures en 20242027 is geen nummer.",
        "In 2024 EU-breed en in 2025 NL, het 2e kwartaal: 4x zoveel, +2,8%.",
        "Hoeveel vacatures stonden er open in regio Amersfoort?",
    ],
)
def test_labour_market_figures_are_never_scrubbed(text: str) -> None:
    assert scrub(text) == text
    assert not contains_personal_data(text)


def test_the_dev_and_own_eval_questions_are_left_alone() -> None:
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "evals"
    changed = []
    for name in ("dev.jsonl", "own.jsonl"):
        for line in (root / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                question = json.loads(line)["question"]
                if scrub(question) != S.normalise(question):
                    changed.append(question)
    assert changed == []


def test_normalisation_alone_is_not_personal_data() -> None:
    text = f"Hoeveel  vacatures{ZW} in\u00a0Amersfoort?"
    assert not contains_personal_data(text)
    assert scrub(text) == "Hoeveel vacatures in Amersfoort?"


@pytest.mark.parametrize(
    ("value", "personal"),
    [
        ("req-111222333", True),
        ("0612345678", True),
        ("klant.06-12345678", True),
        ("NL91ABNA0417164300", True),
        ("batch-2025-06-30-17", False),
        ("a3f9c0e1b2d4", False),
        ("eval:dev-042", False),
        ("q2-2025.amersfoort", False),
    ],
)
def test_request_ids_with_personal_data_are_recognised(value: str, personal: bool) -> None:
    assert S.identifier_has_personal_data(value) is personal
