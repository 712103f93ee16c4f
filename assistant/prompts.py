"""Every sentence Marktwijzer writes itself (refusals, source introductions), in one place.

Rule for all of them: no digits of our own. A number in an answer must stand in a cited passage or
be a computed figure; text we write around the passages never adds one (years in a source title
are only repeated when the cited passages contain them too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.retrieve import Passage
from ingest.registry import SourceEntry

REFUSE_PERSONAL = (
    "Ik geef geen persoonsgegevens (namen, contactgegevens, woonplaatsen of andere gegevens over een "
    "persoon). Marktwijzer werkt alleen met openbare, goedgekeurde bronnen over de arbeidsmarkt."
)
REFUSE_FORECAST = (
    "Marktwijzer maakt geen eigen voorspellingen. Ik kan alleen prognoses citeren die in de goedgekeurde "
    "bronnen staan, zoals de banenprognose van UWV in Regio in Beeld."
)
REFUSE_YEAR = "De goedgekeurde bronnen bevatten geen cijfers of informatie over het jaar of de periode waar je naar vraagt."
REFUSE_PLACE = "De goedgekeurde bronnen gaan niet over de regio of gemeente waar je naar vraagt."
REFUSE_NOT_FOUND = "Ik heb het antwoord op deze vraag niet gevonden in de goedgekeurde bronnen."
REFUSE_NO_FIGURE = "De goedgekeurde bronnen noemen het cijfer waar je naar vraagt niet."
REFUSE_NO_TOPIC = "Ik begrijp de vraag niet goed genoeg om in de bronnen te zoeken. Kun je hem anders formuleren?"

DIGITS = re.compile(r"\s*[^\s()]*\d[^\s()]*")
PARENTHESIS_WITH_DIGITS = re.compile(r"\s*\([^()]*\d[^()]*\)")


def _without_digits(text: str) -> str:
    text = PARENTHESIS_WITH_DIGITS.sub("", text)
    return re.sub(r"\s{2,}", " ", DIGITS.sub("", text)).strip(" ,;")


def coverage_summary(entries: Iterable[SourceEntry]) -> str:
    """What the approved sources cover, in words (no digits: see module docstring)."""
    parts = []
    for entry in entries:
        scope = f" ({_without_digits(entry.scope)})" if entry.scope else ""
        parts.append(f"{_without_digits(entry.title)}{scope}")
    return "; ".join(parts)


def refusal_text(reason: str, entries: Iterable[SourceEntry]) -> str:
    return f"{reason} De goedgekeurde bronnen gaan over: {coverage_summary(entries)}."


def short_publisher(publisher: str) -> str:
    return publisher.split(" (")[0].strip()


def _numbers(text: str) -> set[str]:
    """Whole numbers as written ('1.1', '2025', '9.500'): a title's '1.1' is not traced by a '1'."""
    return set(re.findall(r"\d+(?:[.,]\d+)*", text))


def short_title(title: str) -> str:
    """'Ongekend talent: verkennend onderzoek ...' -> 'Ongekend talent'; 'InZicht Magazine, juni ...' -> 'InZicht Magazine'."""
    return re.split(r":\s|,\s", title, maxsplit=1)[0].strip()


def source_label(entry: SourceEntry | None, passage: Passage, cited_text: str) -> str:
    """'Regio in Beeld 2025-2026 Amersfoort (UWV), cijfers tot en met ...' with only traceable numbers."""
    title = short_title(passage.title)
    if not _numbers(title) <= _numbers(cited_text):
        title = _without_digits(title)
    label = f"{title} ({short_publisher(passage.publisher)})"
    period = entry.period.split(";")[0].strip() if entry and entry.period else ""
    if period and _numbers(period) and _numbers(period) <= _numbers(cited_text) and period not in title:
        label += f", {period}"
    return label


SENTENCE_STARTERS = {
    "de", "het", "een", "in", "er", "dit", "deze", "aan", "tussen", "van", "voor", "op", "bij", "ook",
    "daarnaast", "naar", "met", "om", "zo", "dat", "die", "wat", "hoe", "waar", "wanneer", "als", "door",
    "uit", "over", "sinds", "vanaf", "tot", "na", "ruim", "bijna", "meer", "minder", "veel", "vooral",
    "hoewel", "ondanks", "omdat", "doordat", "terwijl", "nu", "toch", "daardoor", "daarom", "verder",
    "wel", "niet", "al", "ook", "zoals", "binnen", "onder", "tegelijkertijd", "bovendien", "vergeleken",
}


def introduce(entry: SourceEntry | None, passage: Passage, cited_text: str, sentence: str) -> str:
    """The first sentence from a source names it (and its period): 'Volgens X: ...'."""
    label = source_label(entry, passage, cited_text)
    body = sentence.lstrip("• ").strip()
    first = body.split(" ", 1)[0]
    if first.lower() in SENTENCE_STARTERS and first[:1].isupper() and first[1:].islower():
        body = first.lower() + body[len(first) :]
    prefix = f"Volgens {label}:"
    return f"{prefix}\n• {body}" if sentence.startswith("•") else f"{prefix} {body}"


def with_marker(text: str, n: int, bullet: bool = False) -> str:
    """Put [n] before the closing punctuation: '... open [1].'"""
    text = text.rstrip()
    match = re.search(r"([.!?:;]+[’'\"”)]*)$", text)
    if match:
        return f"{text[: match.start()]} [{n}]{match.group(1)}"
    return f"{text} [{n}]"


def named_sources(question: str, entries: Iterable[SourceEntry]) -> set[str]:
    """Sources the question names: by alias (registry), type word or a distinctive title word."""
    lowered = question.lower()
    named = set()
    for entry in entries:
        aliases = [a.lower() for a in entry.aliases] + [entry.type.value.replace("-", " ")]
        if entry.type.value == "regio-in-beeld":
            aliases += ["regio in beeld", "rib"]
        if any(re.search(r"(?<!\w)" + re.escape(alias) + r"(?!\w)", lowered) for alias in aliases):
            named.add(entry.id)  # 'Regio in Beeld' names both reports; the region boost picks between them
    return named
