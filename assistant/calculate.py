"""Computed figures: arithmetic the question asks for, done in code on numbers from cited sentences.

A language model never does this. Operands are chosen by what they stand next to in a sentence
(the asked years, places or terms); when two operands cannot be found that way, nothing is computed
and the answer says which figure is missing. Expressions are built from parsed values, never
evaluated from strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from assistant.compose import Unit
from assistant.question import QuestionAnalysis
from assistant.types import Figure
from ingest.lexical import tokenize
from ingest.numbers import Quantity, find_quantities, format_number

WINDOW = 4  # words between an anchor (year, place, term) and its number


class Operation(str, Enum):
    difference = "difference"
    percent_change = "percent_change"
    share = "share"
    total = "sum"


OPERATION_PATTERNS: list[tuple[Operation, re.Pattern[str]]] = [
    (Operation.share, re.compile(r"\bwelk (?:percentage|deel|aandeel)\b|\bhoeveel procent van\b|\bwelk aandeel\b", re.I)),
    (Operation.percent_change, re.compile(
        r"\bmet hoeveel (?:%|procent)|\bprocentuele?\b|\bhoeveel (?:%|procent)\b.*\b(?:gestegen|gedaald|gegroeid|toegenomen|afgenomen|gekrompen)\b", re.I)),
    (Operation.total, re.compile(r"\bsamen\b|\bin totaal\b|\bopgeteld\b|\bbij elkaar\b", re.I)),
    (Operation.difference, re.compile(
        r"\bhoeveel (?:meer|minder)\b|\bverschil\b|\bmet hoeveel\b(?!\s*(?:%|procent)).*\b(?:gestegen|gedaald|gegroeid|toegenomen|afgenomen|gekrompen)\b|\bhoeveel zijn\b.*\bgestegen\b", re.I)),
]
ALSO_PERCENT = re.compile(r"\b(?:en|in) (?:%|procent)|aantal en %|\(aantal en %\)|en in %", re.I)


@dataclass
class Operand:
    quantity: Quantity
    unit: Unit
    anchor: str


def wanted_operations(question: str) -> list[Operation]:
    operations = [op for op, pattern in OPERATION_PATTERNS if pattern.search(question)]
    if Operation.difference in operations and ALSO_PERCENT.search(question) and Operation.percent_change not in operations:
        operations.append(Operation.percent_change)
    if Operation.percent_change in operations and Operation.difference not in operations and re.search(r"aantal en", question, re.I):
        operations.insert(0, Operation.difference)
    return operations


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0), m.start(), m.end()) for m in re.finditer(r"[^\W_]+(?:[.,]\d+)*%?|€", text)]


def _quantities(unit: Unit) -> list[Quantity]:
    return [q for q in find_quantities(unit.text) if q.kind not in ("year", "quarter", "date", "range")]


def quantity_near(unit: Unit, anchor: str, direction: str | None = None) -> Quantity | None:
    """The number standing closest to `anchor` (a year, a place name or a stemmed term) in the sentence.
    `direction` 'before'/'after' keeps to numbers on one side of the anchor (lists are consistent)."""
    text = unit.text
    positions: list[tuple[int, int]] = []
    if anchor.isdigit() or " " in anchor or anchor[:1].isupper():
        for match in re.finditer(r"(?<![\w])" + re.escape(anchor) + r"(?![\w])", text, re.I):
            positions.append((match.start(), match.end()))
    else:
        for word, start, end in _words(text):
            stems = tokenize(word)
            if stems and stems[0] == anchor:
                positions.append((start, end))
    if not positions:
        return None
    best: tuple[int, Quantity] | None = None
    for quantity in _quantities(unit):
        for start, end in positions:
            if quantity.start <= start < quantity.end:
                continue
            before = quantity.end <= start
            if (direction == "before" and not before) or (direction == "after" and before):
                continue
            between = text[min(quantity.end, end) : max(quantity.start, start)]
            gap = len(re.findall(r"[^\W_]+", between)) + 2 * between.count(",")
            if gap <= WINDOW and ";" not in between and "." not in between.replace(",", ""):
                if best is None or gap < best[0]:
                    best = (gap, quantity)
    return best[1] if best else None


def assign(unit: Unit, anchors: list[str]) -> list[Quantity] | None:
    """One distinct number per anchor in one sentence, all on the same side of their anchors."""
    for direction in ("before", "after"):
        found = [quantity_near(unit, anchor, direction) for anchor in anchors]
        if all(q is not None for q in found) and len({q.start for q in found}) == len(found):  # type: ignore[union-attr]
            return found  # type: ignore[return-value]
    return None


def find_operand(units: list[Unit], anchor: str, exclude: set[tuple[str, int]]) -> Operand | None:
    for unit in units:
        quantity = quantity_near(unit, anchor)
        if quantity is not None and (unit.passage.chunk_id, quantity.start) not in exclude:
            return Operand(quantity, unit, anchor)
    return None


def find_pair(
    units: list[Unit], first: str, second: str, prefer_counts: bool = False
) -> tuple[Operand | None, Operand | None]:
    """Both operands from one sentence when a sentence has both (same unit), else from the best two.
    Counts go first when the question asks about an 'aantal' or a percentage change."""
    pairs = []
    for unit in units:
        found = assign(unit, [first, second])
        if found is not None and found[0].unit == found[1].unit:
            pairs.append((Operand(found[0], unit, first), Operand(found[1], unit, second)))
    if prefer_counts:
        pairs.sort(key=lambda pair: pair[0].quantity.unit != "")
    if pairs:
        return pairs[0]
    one = find_operand(units, first, set())
    if one is None:
        return None, None
    other = None
    for unit in units:
        quantity = quantity_near(unit, second)
        if quantity is not None and quantity.unit == one.quantity.unit and (unit, quantity.start) != (one.unit, one.quantity.start):
            other = Operand(quantity, unit, second)
            break
    return one, other


def _second_year(units: list[Unit], year: str) -> list[str]:
    """'gestegen t.o.v. 2019': the sentence that has 2019 and a later year gives the pair."""
    for unit in units:
        if year not in unit.text or quantity_near(unit, year) is None:
            continue
        others = [q for q in find_quantities(unit.text) if q.kind == "year" and str(int(q.value)) != year]
        for other in others:
            if quantity_near(unit, str(int(other.value))) is not None:
                return [year, str(int(other.value))]
    return []


def _anchors(analysis: QuestionAnalysis, question: str) -> list[str]:
    """What the two operands are told apart by: two years, two places, or 'X dan Y' terms."""
    if len(analysis.years) >= 2:
        return [str(y) for y in analysis.years[:2]]
    match = re.search(r"\b(?:meer|minder)\s+([^\W\d_]+)\s+dan\s+([^\W\d_]+)", question, re.I)
    if match:
        return [stem for stem in (tokenize(match.group(1)) + tokenize(match.group(2)))][:2]
    places = [p.name for p in analysis.places]
    if len(places) >= 2:
        return places
    return []


def _fmt(quantity: Quantity) -> str:
    return quantity.text.strip()


def compute(analysis: QuestionAnalysis, units: list[Unit]) -> tuple[list[Figure], list[Unit], str]:
    """Figures for the question (with the units whose numbers they use), or a note on what is missing."""
    operations = wanted_operations(analysis.text)
    if not operations:
        return [], [], ""
    ranked = sorted(units, key=lambda u: -u.score)[:12]
    figures: list[Figure] = []
    if operations[0] is Operation.total:
        return _total(analysis, ranked)
    if operations[0] is Operation.share:
        return _share(analysis, ranked)
    anchors = _anchors(analysis, analysis.text)
    if len(anchors) < 2 and len(analysis.years) == 1:
        anchors = _second_year(ranked, str(analysis.years[0]))
    if len(anchors) < 2:
        return [], [], "Ik kon niet vaststellen welke twee cijfers vergeleken moeten worden."
    prefer_counts = Operation.percent_change in operations or bool(re.search(r"\baantal\b", analysis.text, re.I))
    first, second = find_pair(ranked, anchors[0], anchors[1], prefer_counts)
    if first is None or second is None:
        missing = anchors[0] if first is None else anchors[1]
        return [], [], _missing_note(missing, "reken ik niets uit")
    if first.quantity.unit != second.quantity.unit:
        return [], [], "De gevonden cijfers hebben niet dezelfde eenheid; ik reken ze niet met elkaar uit."
    # With years, the later year is 'new'; otherwise the first-named term is the minuend.
    by_year = anchors[0].isdigit() and anchors[1].isdigit()
    if by_year:
        old, new = (first, second) if int(anchors[0]) < int(anchors[1]) else (second, first)
    else:
        old, new = second, first
    unit_label = first.quantity.unit
    for operation in operations:
        if operation is Operation.difference:
            value = new.quantity.value - old.quantity.value
            if not by_year:
                value = abs(value)
            figures.append(Figure(
                label=f"verschil {new.anchor} – {old.anchor}",
                value=value, display=format_number(value) + (unit_label if unit_label in ("%",) else ""),
                unit=unit_label, expression=f"{_fmt(new.quantity)} − {_fmt(old.quantity)}",
            ))
        elif operation is Operation.percent_change and old.quantity.value:
            value = (new.quantity.value - old.quantity.value) / old.quantity.value * 100
            figures.append(Figure(
                label=f"procentuele verandering {old.anchor} → {new.anchor}",
                value=round(value, 4), display=format_number(round(value, 1)) + "%", unit="%",
                expression=f"({_fmt(new.quantity)} − {_fmt(old.quantity)}) / {_fmt(old.quantity)} × 100",
            ))
    used = [old.unit, new.unit]
    return figures, used, ""


def _total(analysis: QuestionAnalysis, ranked: list[Unit]) -> tuple[list[Figure], list[Unit], str]:
    # "inwoners van Amersfoort die werken in A, B en C samen": the first place is the subject.
    places = [p.name for p in analysis.places]
    anchors = places[1:] if len(places) >= 3 else places
    if len(anchors) < 2:
        return [], [], ""
    for unit in ranked:  # best: one sentence that lists them all
        found = assign(unit, anchors)
        if found is not None and len({q.unit for q in found}) == 1:
            value = sum(q.value for q in found)
            figure = Figure(
                label="som van " + ", ".join(anchors), value=value, display=format_number(value),
                unit=found[0].unit, expression=" + ".join(_fmt(q) for q in found),
            )
            return [figure], [unit], ""
    operands: list[Operand] = []
    taken: set[tuple[str, int]] = set()
    for anchor in anchors:
        operand = find_operand(ranked, anchor, taken)
        if operand is None:
            return [], [], _missing_note(anchor, "tel ik niets op")
        taken.add((operand.unit.passage.chunk_id, operand.quantity.start))
        operands.append(operand)
    units = {o.quantity.unit for o in operands}
    if len(units) != 1:
        return [], [], "De gevonden cijfers hebben niet dezelfde eenheid; ik tel ze niet op."
    value = sum(o.quantity.value for o in operands)
    figure = Figure(
        label="som van " + ", ".join(o.anchor for o in operands), value=value, display=format_number(value),
        unit=units.pop(), expression=" + ".join(_fmt(o.quantity) for o in operands),
    )
    return [figure], [o.unit for o in operands], ""


def _missing_note(anchor: str, consequence: str) -> str:
    """Which figure is missing, in words (our own sentences carry no digits)."""
    what = "het gevraagde jaar" if re.search(r"\d", anchor) else f"‘{anchor}’"
    return f"Het cijfer voor {what} staat niet in de gevonden passages, dus {consequence}."


SHARE_OF = re.compile(
    r"(?:welk (?:percentage|deel|aandeel)|aandeel|hoeveel procent) van (?:de |het |alle )?(?P<whole>.+?)"
    r"\s(?:in (?:de |het )?[A-Z][^\s]*(?:\s[A-Z][^\s]*)*\s)?(?:is|heeft|hebben|zijn|woont|wonen|werkt|werken|zit|zitten)\s(?P<part>.+?)\??$",
    re.IGNORECASE,
)
SHARE_AMONG = re.compile(r"aandeel (?P<part>[\w-]+) (?:onder|van) (?:de |het |alle )?(?P<whole>.+?)\??$", re.IGNORECASE)


def _head(phrase: str, last: bool) -> str:
    """The stem of a phrase's head word: the last content word of the whole, the first of the part."""
    words = [w for w in re.findall(r"[^\W\d_]+", re.split(r"\s(?:in|bij|uit|op|per|\()\s?", phrase)[0]) if tokenize(w)]
    if not words:
        return ""
    return tokenize(words[-1 if last else 0])[0]


def _share(analysis: QuestionAnalysis, ranked: list[Unit]) -> tuple[list[Figure], list[Unit], str]:
    """part / whole × 100, both numbers from one sentence, the part smaller than the whole."""
    match = SHARE_OF.search(analysis.text) or SHARE_AMONG.search(analysis.text)
    if not match:
        return [], [], ""
    whole, part = _head(match.group("whole"), last=True), _head(match.group("part"), last=False)
    if not whole or not part or whole == part:
        return [], [], ""
    for unit in ranked:
        found = assign(unit, [part, whole])
        if found is None:
            continue
        part_q, whole_q = found
        if part_q.unit != "" or whole_q.unit != "" or not 0 < part_q.value < whole_q.value:
            continue
        value = part_q.value / whole_q.value * 100
        figure = Figure(
            label=f"aandeel {part} in {whole}", value=round(value, 4), display=format_number(round(value, 1)) + "%",
            unit="%", expression=f"{_fmt(part_q)} / {_fmt(whole_q)} × 100",
        )
        return [figure], [unit], ""
    return [], [], "Ik heb geen zin gevonden met zowel het deel als het geheel, dus ik reken geen aandeel uit."
