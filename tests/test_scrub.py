"""Personal data scrubbing: what must go (BSN by elfproef, e-mail, phone, IBAN) and what must stay (figures)."""

from __future__ import annotations

import pytest

from assistant.scrub import (
    BSN,
    EMAIL,
    IBAN,
    PHONE,
    contains_personal_data,
    elfproef,
    iban_valid,
    scrub,
)


@pytest.mark.parametrize("number", ["111222333", "123456782", "999999990"])
def test_elfproef_accepts_valid_bsn(number: str) -> None:
    assert elfproef(number)


@pytest.mark.parametrize("number", ["123456789", "111222334", "000000000", "12345", "abcdefghi"])
def test_elfproef_rejects_invalid(number: str) -> None:
    assert not elfproef(number)


@pytest.mark.parametrize(
    ("text", "secret", "placeholder"),
    [
        ("Mijn klant heeft BSN 111222333, welke regeling past?", "111222333", BSN),
        ("burgerservicenummer 123.456.782 graag controleren", "123.456.782", BSN),
        ("werkzoekende 123 456 782 in Amersfoort", "123 456 782", BSN),
        ("bsn: 123456789 (getypt, klopt niet met de elfproef)", "123456789", BSN),
        ("Mail naar j.de-vries+werk@gemeente.amersfoort.nl over vacatures", "j.de-vries+werk@gemeente.amersfoort.nl", EMAIL),
        ("Bel haar op 06-12345678 over de baan", "06-12345678", PHONE),
        ("telefoon +31 6 1234 5678 na vijven", "+31 6 1234 5678", PHONE),
        ("of 0031 20 123 4567", "0031 20 123 4567", PHONE),
        ("kantoor (033) 123 45 67 in Amersfoort", "(033) 123 45 67", PHONE),
        ("nummer 0331234567 werkt niet", "0331234567", PHONE),
        ("servicenummer 0900-1234567", "0900-1234567", PHONE),
        ("uitkering naar NL91 ABNA 0417 1643 00 overmaken?", "NL91 ABNA 0417 1643 00", IBAN),
        ("rekening NL91ABNA0417164300.", "NL91ABNA0417164300", IBAN),
        ("Duitse rekening DE89 3704 0044 0532 0130 00 van een grensarbeider", "DE89 3704 0044 0532 0130 00", IBAN),
    ],
)
def test_personal_data_is_replaced(text: str, secret: str, placeholder: str) -> None:
    cleaned = scrub(text)
    assert secret not in cleaned
    assert placeholder in cleaned
    assert contains_personal_data(text)
    # the words around it survive
    assert cleaned.split()[0] == text.split()[0]


def test_digits_of_a_secret_do_not_survive_in_any_form() -> None:
    text = "BSN 111222333, mail a@b.nl, tel 06 1234 5678, IBAN NL91ABNA0417164300"
    cleaned = scrub(text)
    digits = "".join(ch for ch in cleaned if ch.isdigit())
    assert digits == ""
    assert cleaned.count("[") == 4


@pytest.mark.parametrize(
    "text",
    [
        "Hoeveel werknemersbanen waren er in 2024 in Amersfoort? 182.900 − 6.300 = 176.600",
        "De werkloosheid steeg met 3,5% naar 1,2 mln in het tweede kwartaal van 2025.",
        "Regio in Beeld 2025-2026, cijfers over Q2 2025; € 35,9 miljoen; +2,8%; 4x zoveel",
        "Er waren 123456789 vacatures",  # 9 digits but not a BSN by the elfproef
        "Tussen 2020 en 2024 groeide het aantal banen van 100.000 naar 120.000",
    ],
)
def test_figures_are_left_alone(text: str) -> None:
    assert scrub(text) == text
    assert not contains_personal_data(text)


def test_iban_check() -> None:
    assert iban_valid("NL91ABNA0417164300")
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("NL91ABNA0417164301")


def test_empty_and_none() -> None:
    assert scrub("") == ""
    assert scrub(None) == ""
