"""Computed figures: arithmetic the question asks for, done in code on numbers from cited sentences.

A language model never does this. Operands are chosen by what they stand next to in a sentence
(the asked years, places or terms); when two operands cannot be found that way, nothing is computed
and the answer says which figure is missing. Expressions are built from parsed values, never
evaluated from strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from assistant.compose import Unit
from assistant.question import QuestionAnalysis
from assistant.types import Figure
from ingest.figures import measure_terms
from ingest.lexical import tokenize
from ingest.numbers import Quantity, find_quantities, format_number

WINDOW = 4  # words between an anchor (year, place, term) and its number


class Operation(str, Enum):
    difference = "difference"
    percent_change = "percent_change"
    share = "share"
    total = "sum"
    base_level = "base_level"  # a level for the start year, reckoned back from a forecast's change
    part_of_base = "part_of_base"  # rate × base: "waarvan ruim de helft (54%)"
    per_year = "per_year"  # an amount for a span of years, per year
    ratio = "ratio"
    per_unit = "per_unit"  # an amount over all units, per unit: "gemiddeld per werkgever"
    scale_up = "scale_up"  # a rate per unit (or "6 op de 10") over all units: "landelijk over alle regio's"


CHANGE_VERB = (
    r"(?:groei\w*|gegroeid|stijg\w*|steeg|gestegen|daal\w*|daalt|daalde|gedaald|krimp\w*|gekrompen|"
    r"toegenomen|afgenomen|neemt\b.*\b(?:toe|af)\b|nam\b.*\b(?:toe|af)\b|loopt\b.*\bop|liep\b.*\bop|opgelopen|verander\w*)"
)


OPERATION_PATTERNS: list[tuple[Operation, re.Pattern[str]]] = [
    (Operation.base_level, re.compile(r"\bterug(?:ge)?reken|\bterug te rekenen|\bterugrekening", re.I)),
    (Operation.per_year, re.compile(r"\bgemiddeld per jaar\b|\bper jaar gemiddeld\b", re.I)),
    (Operation.ratio, re.compile(r"\bhoeveel keer (?:zo )?(?:groot|veel|hoog)|\bhoeveel maal\b|\bverhouding tussen\b", re.I)),
    (Operation.share, re.compile(
        r"\bwelk (?:percentage|deel|aandeel)\b|\bhoeveel procent van\b|\b(?:hoe groot|wat) is het (?:aandeel|percentage)\b", re.I)),
    (Operation.percent_change, re.compile(
        r"\bmet hoeveel (?:%|procent)|\bprocentuele?\b|\bhoeveel (?:%|procent)\b.*\b" + CHANGE_VERB, re.I)),
    (Operation.total, re.compile(r"\bsamen\b|\bin totaal\b|\bopgeteld\b|\bbij elkaar\b", re.I)),
    (Operation.difference, re.compile(
        r"\bhoeveel (?:meer|minder)\b|\bverschil\b|\bhoeveel scheelt\b|\bmet hoeveel\b(?!\s*(?:%|procent)).*\b" + CHANGE_VERB
        + r"|\bhoeveel zijn\b.*\bgestegen\b|\bhoeveel (?:\w+ )?(?:niet|níet)\b"
        + r"|\bhoeveel\b(?!\s*(?:%|procent))(?:.*\b(?:neemt|nam)\b.*\b(?:toe|af)\b|\s+(?:is|zijn|was|waren)\b.*\b(?:gestegen|gedaald|toegenomen|afgenomen|gegroeid|gekrompen)\b)",
        re.I)),
]
NOUN = r"(?P<noun>[^\W\d_][\w'’-]{3,})"
PER_NOUN = re.compile(r"\b(?:per|elke|iedere)\s+" + NOUN, re.I)
ASKS_PER_UNIT = re.compile(r"\bhoeveel\b[^?]*?\bper\s+" + NOUN, re.I)
RATE_OF_UNITS = re.compile(r"\d\s+op\s+(?:de\s+)?10\s+" + NOUN, re.I)
ALL_UNITS = re.compile(r"\blandelijk\b|\bover alle\b|\balle\b|\bin totaal\b|\bopgeteld\b|\bin heel nederland\b", re.I)
# A count of all units stands in a sentence that says so ("Alle 420.000 werkgevers in Nederland").
TOTALITY = re.compile(r"\balle\b|\btotaal\b|\bin nederland\b|\blandelijk\b", re.I)
# "per kwartaal", "per jaar": a period to average over (the per-year path), not units to count.
TIME_NOUNS = frozenset(tokenize("jaar maand week dag uur kwartaal"))
# Sentences of the whole corpus that name a word starting like the given stem (the count of all
# units is a corpus fact, not always in the passages retrieved for the question).
Lookup = Callable[[str], list[Unit]]
ALSO_PERCENT = re.compile(r"\b(?:en|in) (?:%|procent)|aantal en %|\(aantal en %\)|en in %", re.I)


@dataclass
class Operand:
    quantity: Quantity
    unit: Unit
    anchor: str


def wanted_operations(question: str) -> list[Operation]:
    operations = [op for op, pattern in OPERATION_PATTERNS if pattern.search(question)]
    unit_operation = _unit_operation(question)
    if unit_operation is not None:
        operations.append(unit_operation[0])
    if Operation.difference in operations and ALSO_PERCENT.search(question) and Operation.percent_change not in operations:
        operations.append(Operation.percent_change)
    if Operation.percent_change in operations and Operation.difference not in operations and re.search(r"aantal en", question, re.I):
        operations.insert(0, Operation.difference)
    return operations


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0), m.start(), m.end()) for m in re.finditer(r"[^\W_]+(?:[.,]\d+)*%?|€", text)]


def _quantities(unit: Unit) -> list[Quantity]:
    return [q for q in find_quantities(unit.text) if q.kind not in ("year", "quarter", "date", "range")]


def _anchor_positions(text: str, anchor: str) -> list[tuple[int, int]]:
    """Where a year, place name or stemmed term stands in the text."""
    if anchor.isdigit() or " " in anchor or anchor[:1].isupper():
        return [(m.start(), m.end()) for m in re.finditer(r"(?<![\w])" + re.escape(anchor) + r"(?![\w])", text, re.I)]
    return [(start, end) for word, start, end in _words(text) if (tokenize(word) or [""])[0] == anchor]


# "In 2025 betrof dit 518.000 mensen (11%), tegenover 812.000 (20%) in 2015": two clauses, each
# with its own period (or place) and its own figures.
CONTRAST = re.compile(r",?\s+(?:tegenover|vergeleken met|ten opzichte van|terwijl)\s+", re.I)


def clause_pair(unit: Unit, first: str, second: str, prefer_counts: bool) -> tuple[Quantity, Quantity] | None:
    """Operands from the two sides of a contrast: each side names one anchor, and its first figure
    (a count first when counts are preferred, in the unit both sides share) belongs to it."""
    sides = CONTRAST.split(unit.text)
    if len(sides) != 2:
        return None
    index = []
    for anchor in (first, second):
        holding = [i for i, side in enumerate(sides) if _anchor_positions(side, anchor)]
        if len(holding) != 1:
            return None
        index.append(holding[0])
    if index[0] == index[1]:
        return None
    found = [[q for q in find_quantities(sides[i]) if q.kind not in ("year", "quarter", "date", "range")] for i in index]
    for unit_label in (["", "%"] if prefer_counts else ["%", ""]):
        a = next((q for q in found[0] if q.unit == unit_label), None)
        b = next((q for q in found[1] if q.unit == unit_label), None)
        if a is not None and b is not None:
            return a, b
    return None


def quantity_near(unit: Unit, anchor: str, direction: str | None = None) -> Quantity | None:
    """The number standing closest to `anchor` (a year, a place name or a stemmed term) in the sentence.
    `direction` 'before'/'after' keeps to numbers on one side of the anchor (lists are consistent)."""
    text = unit.text
    positions = _anchor_positions(text, anchor)
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
    units: list[Unit], first: str, second: str, prefer_counts: bool = False, want_unit: str | None = None,
) -> tuple[Operand | None, Operand | None]:
    """Both operands from one sentence when a sentence has both (same unit), else from the best two.
    Counts go first when the question asks about an 'aantal' or a percentage change; `want_unit`
    ('%' for procentpunten) keeps only operands of that unit."""
    if want_unit is not None:
        units = [u for u in units if any(q.unit == want_unit for q in _quantities(u))]
    pairs = []
    for unit in units:
        found = assign(unit, [first, second])
        if found is not None and found[0].unit == found[1].unit and want_unit in (None, found[0].unit):
            pairs.append((Operand(found[0], unit, first), Operand(found[1], unit, second)))
    if prefer_counts:
        pairs.sort(key=lambda pair: pair[0].quantity.unit != "")
    if pairs:
        return pairs[0]
    for unit in units:
        contrast = clause_pair(unit, first, second, prefer_counts)
        if contrast is not None and want_unit in (None, contrast[0].unit):
            return Operand(contrast[0], unit, first), Operand(contrast[1], unit, second)
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
    match = re.search(r"\b(?:meer|minder)\s+([^\W\d_]+)\s+dan\s+([^\W\d_]+)", question, re.I) or re.search(
        r"\btussen\s+(?:de\s+|het\s+)?([^\W\d_]{4,})\s+en\s+(?:de\s+|het\s+)?([^\W\d_]{4,})", question, re.I
    )
    if match:
        stems = tokenize(match.group(1)) + tokenize(match.group(2))
        if len(stems) == 2 and stems[0] != stems[1]:
            return stems
    places = [p.name for p in analysis.places]
    if len(places) >= 2:
        return places
    return []


def _fmt(quantity: Quantity) -> str:
    return quantity.text.strip()


Result = tuple[list[Figure], list[Unit], str]


def compute(analysis: QuestionAnalysis, units: list[Unit], lookup: Lookup | None = None) -> Result:
    """Figures for the question (with the units whose numbers they use), or a note on what is missing.
    `lookup` finds corpus sentences by word stem (the count of all units of a per-unit figure)."""
    operations = wanted_operations(analysis.text)
    over_units = _unit_operation(analysis.text)
    if over_units is not None:
        result = _over_units(analysis, sorted(units, key=lambda u: -u.score)[:12], lookup, *over_units)
        if result[0]:
            return result
        operations = [op for op in operations if op not in (Operation.per_unit, Operation.scale_up)]
        if not operations and not ESTIMATE.search(analysis.text):
            return result  # nothing else asked: the note says which figure is missing
    points = bool(PERCENTAGE_POINTS.search(analysis.text))
    if points:  # a change in procentpunten is a difference of two percentages
        operations = list(dict.fromkeys(Operation.difference if op is Operation.percent_change else op for op in operations))
    ranked = sorted(units, key=lambda u: -u.score)[:12]
    if not operations:
        if ESTIMATE.search(analysis.text):
            return _part_of_base(analysis, ranked)
        return [], [], ""
    if operations[0] is Operation.base_level:
        return _base_level(analysis, ranked)
    if operations[0] is Operation.per_year:
        return _per_year(analysis, ranked)
    if operations[0] is Operation.ratio:
        return _ratio(analysis, ranked)
    if operations[0] is Operation.total:
        result = _total(analysis, ranked)
        result = result if result[0] else _first_found(result, _list_total(analysis, ranked))
        return result if result[0] or result[2] else ([], [], TOTAL_MISSING)
    if operations[0] is Operation.share:
        result = _share(analysis, ranked)
        return result if result[0] else _first_found(result, _share_across(analysis, ranked))
    anchors = _anchors(analysis, analysis.text)
    if len(anchors) < 2 and len(analysis.years) == 1:
        anchors = _second_year(ranked, str(analysis.years[0])) or anchors
    if len(anchors) == 2 and not all(a.isdigit() for a in anchors):
        versus = _versus(analysis, ranked, anchors, operations)
        if versus[0]:
            return versus
    if len(anchors) < 2:
        from_to = _from_to(analysis, ranked, operations)
        if from_to[0]:
            return from_to
        return [], [], "Ik kon niet vaststellen welke twee cijfers vergeleken moeten worden."
    figures: list[Figure] = []
    # Unit agreement: counts first unless the question asks for a percentage (a percentage change
    # is computed from counts too).
    prefer_counts = (Operation.percent_change in operations or bool(re.search(r"\baantal\b", analysis.text, re.I))
                     or not (analysis.wants_percentage or points))
    first, second = find_pair(ranked, anchors[0], anchors[1], prefer_counts, want_unit="%" if points else None)
    if first is None or second is None:
        from_to = _from_to(analysis, ranked, operations)  # "bedraagt X in 2025 en loopt op naar Y"
        if from_to[0]:
            return from_to
        missing = anchors[0] if first is None else anchors[1]
        return [], [], _missing_note(missing, "reken ik niets uit")
    if first.quantity.unit != second.quantity.unit:
        return [], [], "De gevonden cijfers hebben niet dezelfde eenheid; ik reken ze niet met elkaar uit."
    if points and first.quantity.unit != "%":
        return [], [], "De gevonden cijfers zijn geen percentages; een verschil in procentpunten reken ik er niet mee uit."
    if first.unit is not second.unit and not _same_measure(first, second):
        return [], [], "De gevonden cijfers meten niet hetzelfde; ik reken ze niet met elkaar uit."
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
                value=value,
                display=format_number(value) + (" procentpunt" if points and unit_label == "%" else unit_label if unit_label in ("%",) else ""),
                unit="procentpunt" if points and unit_label == "%" else unit_label,
                expression=f"{_fmt(new.quantity)} − {_fmt(old.quantity)}",
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
    written = {p.name: p.asked for p in analysis.places if p.asked and p.asked.lower() != p.name.lower()}
    for anchor in anchors:
        operand = find_operand(ranked, anchor, taken)
        if operand is None and anchor in written:  # "Regio Zwolle" as the table writes it, not "IJsselvechtstreek"
            operand = find_operand(ranked, written[anchor], taken)
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


GENERIC_MEASURES = frozenset(tokenize(
    "mensen personen aantal totaal ongeveer ruim bijna circa tussen jaar regio werken werkt wonen woont telt tellen zijn is"
))


def _same_measure(one: Operand, other: Operand) -> bool:
    """Operands from two sentences must measure the same thing (shared words next to the numbers)."""
    anchors = {one.anchor.lower(), other.anchor.lower(), *tokenize(one.anchor), *tokenize(other.anchor)}
    first = set(measure_terms(one.unit.text, one.quantity)) - anchors
    second = set(measure_terms(other.unit.text, other.quantity)) - anchors
    # A shared word that names a measure: "22.000 mensen in de zorg" and "15.000 mensen in de bouw"
    # share only "mensen", which says nothing about what is counted.
    return bool((first & second) - GENERIC_MEASURES)


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


PLACE_KIND_WORDS = frozenset({"regio", "arbeidsmarktregio", "gemeente", "provincie"})  # "in de regio Groningen"


def _head(phrase: str, last: bool) -> str:
    """The stem of a phrase's head word: the last content word of the whole, the first of the part."""
    words = [w for w in re.findall(r"[^\W\d_]+", re.split(r"\s(?:in|bij|uit|op|per)\b|\s\(", phrase)[0])
             if tokenize(w) and w.lower() not in PLACE_KIND_WORDS]
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


# -- operations on patterns inside one sentence ----------------------------------------------------

TOTAL_MISSING = "Ik heb de delen die opgeteld moeten worden niet met zekerheid gevonden, dus ik tel niets op."
ESTIMATE = re.compile(r"^\s*hoeveel\b.*\b(?:ongeveer|naar schatting|bij benadering|zo'n)\b", re.I)
QUALIFIER = r"(?:ongeveer |ruim |bijna |circa |zo'n |rond |de )?"
FROM_TO_BETWEEN = re.compile(
    r"^\s*(?:in \d{4}\s*)?(?:[^\W\d_]+\s+){0,6}?(?:naar|tot)\s+" + QUALIFIER + r"$", re.I)
FROM_BEFORE = re.compile(r"\bvan\s+" + QUALIFIER + r"$", re.I)
VERSUS_BETWEEN = re.compile(r"^\s*(?:tegen(?:over)?|vs\.?|versus|tegen een|ten opzichte van)\s+$", re.I)
SPAN = re.compile(r"\bvan (?P<a>(?:19|20)\d\d) (?:tot en met|t/m|tot) (?P<b>(?:19|20)\d\d)\b", re.I)


def _first_found(first: Result, second: Result) -> Result:
    return second if second[0] else first


def _relevant(unit: Unit, analysis: QuestionAnalysis) -> bool:
    """The sentence shares at least one content word with the question (beyond numbers)."""
    return any(t in unit.terms for t in analysis.terms if not t[0].isdigit())


SCALE_WORDS = {1e3: "duizend", 1e6: "miljoen", 1e9: "miljard"}
WRITTEN_SCALE = re.compile(r"\b(?:duizend|miljoen|mln|miljard|mld)\b", re.I)


def _same_scale(a: Quantity, b: Quantity) -> tuple[float, float, str]:
    """'€ 19,8 miljoen ... naar € 35,9': the second left out its 'miljoen'; read both at one scale
    (returned with the scale word the result is then written in)."""
    va, vb = a.value, b.value
    if a.unit == b.unit == "€" and va and vb and bool(WRITTEN_SCALE.search(a.text)) != bool(WRITTEN_SCALE.search(b.text)):
        for scale, word in SCALE_WORDS.items():
            if 0.2 <= va / (vb * scale) <= 5:
                return va / scale, vb, word
            if 0.2 <= (va * scale) / vb <= 5:
                return va, vb / scale, word
    return va, vb, ""


def _from_to_pairs(unit: Unit) -> list[tuple[Quantity, Quantity, str, str]]:
    """(from, to, from as written, to as written) for "van X naar Y", "X ... loopt op naar Y",
    "gestegen van X tot Y" (a written range after a change verb)."""
    text = unit.text
    quantities = [q for q in find_quantities(text) if q.kind not in ("year", "quarter", "date")]
    pairs = []
    for q in quantities:
        if q.kind == "range" and q.high is not None and re.search(CHANGE_VERB + r"\s+van\s+$", text[: q.start], re.I):
            low_text, high_text = re.split(r"\s+(?:tot|naar|-|–)\s+", q.text, maxsplit=1) if re.search(r"\s(?:tot|naar)\s", q.text) else (q.text, q.text)
            low = Quantity(q.value, q.unit, "number", low_text.strip(), q.start, q.start + len(low_text))
            high = Quantity(q.high, q.unit, "number", high_text.strip(), q.end - len(high_text), q.end)
            pairs.append((low, high, low.text, high.text))
    for a, b in zip(quantities, quantities[1:]):
        between = text[a.end : b.start]
        if not FROM_TO_BETWEEN.match(between):
            continue
        if not (FROM_BEFORE.search(text[: a.start]) or re.search(CHANGE_VERB, between, re.I)):
            continue
        if a.unit != b.unit or a.kind == "range" or b.kind == "range":
            continue
        pairs.append((a, b, a.text.strip(), b.text.strip()))
    return pairs


def _from_to(analysis: QuestionAnalysis, ranked: list[Unit], operations: list[Operation]) -> Result:
    # "met hoeveel procentpunt": a difference of two percentages, never a change of two counts.
    points = bool(PERCENTAGE_POINTS.search(analysis.text))
    for unit in ranked:
        if not _relevant(unit, analysis):
            continue
        for old, new, old_text, new_text in _from_to_pairs(unit):
            if points and not (old.unit == "%" and new.unit == "%"):
                continue
            old_value, new_value, scale_word = _same_scale(old, new)
            figures = []
            unit_label = new.unit
            scale = f" {scale_word}" if scale_word else ""
            # Money keeps the scale the source writes it in (value 16,1 with unit "€ miljoen"), as
            # advisers and the sources read it; counts are in plain units.
            if Operation.difference in operations or Operation.percent_change in operations:
                value = new_value - old_value
                figures.append(Figure(
                    label="verandering", value=round(value, 6),
                    display=_display(value, new) + scale, unit=f"{_difference_unit(unit_label)}{scale}",
                    expression=f"{new_text} − {old_text}",
                ))
            if Operation.percent_change in operations and old_value:
                value = (new_value - old_value) / old_value * 100
                figures.append(_percent_figure(value, old_text, new_text))
            return figures, [unit], ""
    return [], [], ""


PERCENTAGE_POINTS = re.compile(r"\bprocentpunt\w*", re.I)


def _display(value: float, like: Quantity) -> str:
    """A result written like its operands: percentages of percentages are percentage points."""
    if like.unit == "%":
        return f"{format_number(round(value, 1))} procentpunt"
    if like.unit == "€":
        number = format_number(round(value, 1) if abs(value) < 1000 else round(value))
        return f"€ {number}"
    number = format_number(round(value, 1) if not float(value).is_integer() else value)
    return f"{number} {like.unit}".strip() if like.unit not in ("", "x") else number


def _difference_unit(unit: str) -> str:
    return "procentpunt" if unit == "%" else unit


def _percent_figure(value: float, old_text: str, new_text: str) -> Figure:
    return Figure(
        label="procentuele verandering", value=round(value, 4), display=format_number(round(value, 1)) + "%",
        unit="%", expression=f"({new_text} − {old_text}) / {old_text} × 100",
    )


def _versus(analysis: QuestionAnalysis, ranked: list[Unit], anchors: list[str], operations: list[Operation]) -> Result:
    """'vrouwelijke ... dan de mannelijke statushouders (17% tegen 47%)': the pair in the order the
    sentence names the two sides."""
    for unit in ranked:
        positions = []
        for anchor in anchors:
            match = re.search(r"(?<!\w)" + re.escape(anchor), unit.text, re.I) if not anchor.islower() else None
            if match is None:
                words = [(w, st) for w, st, _ in _words(unit.text) if tokenize(w)[:1] == [anchor]]
                position = words[0][1] if words else None
            else:
                position = match.start()
            positions.append(position)
        if any(p is None for p in positions):
            continue
        quantities = [q for q in find_quantities(unit.text) if q.kind not in ("year", "quarter", "date", "range")]
        for a, b in zip(quantities, quantities[1:]):
            if not VERSUS_BETWEEN.match(unit.text[a.end : b.start]) or a.unit != b.unit:
                continue
            first_named = 0 if positions[0] < positions[1] else 1
            by_anchor = {anchors[first_named]: a, anchors[1 - first_named]: b}
            one, two = by_anchor[anchors[0]], by_anchor[anchors[1]]
            value = abs(one.value - two.value)
            high, low = (one, two) if one.value >= two.value else (two, one)
            figures = [Figure(
                label=f"verschil {anchors[0]} – {anchors[1]}", value=value, display=_display(value, a),
                unit=_difference_unit(a.unit), expression=f"{_fmt(high)} − {_fmt(low)}",
            )]
            if Operation.percent_change in operations and low.value and a.unit != "%":
                figures.append(_percent_figure((high.value - low.value) / low.value * 100, _fmt(low), _fmt(high)))
            return figures, [unit], ""
    return [], [], ""


CHANGE_TO_LEVEL = re.compile(
    r"(?P<verb>" + CHANGE_VERB + r")[^.;]*?\bmet\s+" + QUALIFIER + r"(?P<change>[^\s(]+(?:\s(?:duizend|miljoen))?)"
    r"(?:\s*\([^)]*\))?[^.;]*?\btot\s+" + QUALIFIER + r"(?P<level>\S+(?:\s(?:duizend|miljoen))?)",
    re.I,
)


def _base_level(analysis: QuestionAnalysis, ranked: list[Unit]) -> Result:
    """'daalt tussen 2024 en 2027 met 4.600 tot ongeveer 92.100': the start level is 92.100 + 4.600
    (a fall) or the end level minus the change (a rise); a change given only in % divides it out."""
    for unit in ranked:
        if not _relevant(unit, analysis):
            continue
        match = CHANGE_TO_LEVEL.search(unit.text)
        if match is None:
            continue
        change_q = next(iter(find_quantities(match.group("change"))), None)
        level_q = next(iter(find_quantities(match.group("level").rstrip(".,"))), None)
        if change_q is None or level_q is None or level_q.kind == "year":
            continue
        falling = bool(re.match(r"(?:daal|dal|krimp|gekrompen|afgenomen|neemt af|nam af|gedaald)", match.group("verb"), re.I))
        if change_q.unit == "%":
            rate = -abs(change_q.value) if falling else abs(change_q.value)
            value = level_q.value / (1 + rate / 100)
            expression = f"{_fmt(level_q)} / (1 {'−' if falling else '+'} {format_number(abs(change_q.value))}%)"
            value = round(value, -2) if value > 10_000 else round(value)
        elif change_q.unit == level_q.unit:
            value = level_q.value + abs(change_q.value) if falling else level_q.value - abs(change_q.value)
            expression = f"{_fmt(level_q)} {'+' if falling else '−'} {format_number(abs(change_q.value))}"
        else:
            continue
        figure = Figure(
            label="beginniveau, teruggerekend uit de prognose", value=value,
            display=format_number(value), unit=level_q.unit, expression=expression,
        )
        return [figure], [unit], ""
    return [], [], "Ik heb geen prognose gevonden met zowel de verandering als het eindniveau, dus ik reken niets terug."


def _per_year(analysis: QuestionAnalysis, ranked: list[Unit]) -> Result:
    """'van 2025 tot en met 2027 een bedrag van € 73,8 miljoen': per year over the years of the span."""
    for unit in ranked:
        span = SPAN.search(unit.text)
        if span is None or not _relevant(unit, analysis):
            continue
        first, last = int(span.group("a")), int(span.group("b"))
        years = last - first + (1 if re.search(r"tot en met|t/m", span.group(0)) else 0)
        amounts = [q for q in find_quantities(unit.text) if q.kind in ("money", "number") and q.kind != "year" and q.value > 0]
        if years <= 0 or not amounts:
            continue
        amount = max(amounts, key=lambda q: q.value)
        value = amount.value / years
        display = format_quantity_like(value, amount)
        scale, word = _written_scale(amount)
        figure = Figure(
            label="gemiddeld per jaar", value=round(value / scale, 4), display=display,
            unit=f"{amount.unit} {word}".strip(),
            expression=f"{_fmt(amount)} / {years} jaar",
        )
        return [figure], [unit], ""
    return [], [], "Ik heb geen bedrag over een reeks jaren gevonden, dus ik reken geen gemiddelde per jaar uit."


def _written_scale(quantity: Quantity) -> tuple[float, str]:
    """Money written with 'miljoen'/'mln'/'miljard' is computed in that scale (as the source writes it)."""
    text = quantity.text.lower()
    if quantity.unit == "€":
        for word, scale in (("miljard", 1e9), ("miljoen", 1e6), ("mln", 1e6)):
            if word in text:
                return scale, "miljoen" if word == "mln" else word
    return 1.0, ""


def format_quantity_like(value: float, like: Quantity) -> str:
    """A result in the scale its operand was written in: € 73,8 miljoen / 3 -> € 24,6 miljoen."""
    text = like.text.lower()
    for word, scale in (("miljard", 1e9), ("miljoen", 1e6), ("mln", 1e6), ("duizend", 1e3)):
        if word in text:
            number = format_number(round(value / scale, 1))
            return f"€ {number} {word}" if like.unit == "€" else f"{number} {word}"
    number = format_number(round(value, 1))
    return f"€ {number}" if like.unit == "€" else number


def _ratio(analysis: QuestionAnalysis, ranked: list[Unit]) -> Result:
    anchors = _anchors(analysis, analysis.text)
    if len(anchors) < 2:
        return [], [], "Ik kon niet vaststellen welke twee cijfers met elkaar vergeleken moeten worden."
    first, second = find_pair(ranked, anchors[0], anchors[1])
    if first is None or second is None or not second.quantity.value or first.quantity.unit != second.quantity.unit:
        return [], [], _missing_note(anchors[0] if first is None else anchors[1], "reken ik geen verhouding uit")
    value = first.quantity.value / second.quantity.value
    figure = Figure(
        label=f"verhouding {anchors[0]} / {anchors[1]}", value=round(value, 4),
        display=format_number(round(value, 1)) + " keer", unit="x",
        expression=f"{_fmt(first.quantity)} / {_fmt(second.quantity)}",
    )
    return [figure], [first.unit, second.unit], ""


def _part_of_base(analysis: QuestionAnalysis, ranked: list[Unit]) -> Result:
    """'7.200 werknemers ..., waarvan ruim de helft (54%) in de zorg': base × rate, rounded to the
    precision the rate allows."""
    for unit in ranked[:3]:
        match = re.search(r"\bwaarvan\b(?P<rest>[^.;]*)", unit.text, re.I)
        if match is None or not _relevant(unit, analysis):
            continue
        before = [q for q in find_quantities(unit.text[: match.start()]) if q.kind == "number" and q.unit == ""]
        rates = [q for q in find_quantities(match.group("rest")) if q.unit == "%" and q.kind == "percent"]
        if not before or not rates:
            continue
        rest_terms = set(tokenize(match.group("rest")))
        if not any(t in rest_terms for t in analysis.terms):
            continue  # the question is about the part the "waarvan" clause names
        base, rate = max(before, key=lambda q: q.value), rates[0]  # "7.200 werknemers van 60 of ouder, waarvan"
        value = base.value * rate.value / 100
        rounded = float(round(value, -2 if value >= 1000 else -1))
        figure = Figure(
            label="deel van het totaal (afgerond)", value=rounded, display="ongeveer " + format_number(rounded),
            unit="", expression=f"{_fmt(rate)} × {_fmt(base)} = {format_number(round(value))}",
        )
        return [figure], [unit], ""
    return [], [], ""


def _list_total(analysis: QuestionAnalysis, ranked: list[Unit]) -> Result:
    """'28 instellingen voor voortgezet onderwijs, 5 mbo-instellingen en 11 opleidingsinstituten':
    the counts of one enumeration in one sentence, summed."""
    for unit in ranked[:5]:
        if not _relevant(unit, analysis):
            continue
        counts = [q for q in find_quantities(unit.text) if q.kind == "number" and q.unit == "" and not q.sign]
        if len(counts) < 2:
            continue
        gaps = [unit.text[a.end : b.start] for a, b in zip(counts, counts[1:])]
        if not all(("," in gap or re.search(r"\ben\b", gap)) and len(gap) < 80 for gap in gaps):
            continue
        if not re.search(r"\ben\b", gaps[-1]):
            continue
        if len(counts) == 2 and not _same_noun(unit.text, counts):
            continue  # "300 vacatures en 200 werkzoekenden" are two things, not parts of one total
        value = sum(q.value for q in counts)
        figure = Figure(
            label="totaal van de opsomming", value=value, display=format_number(value), unit="",
            expression=" + ".join(_fmt(q) for q in counts),
        )
        return [figure], [unit], ""
    return [], [], ""


def _same_noun(text: str, counts: list[Quantity]) -> bool:
    """The words after two counts end alike ("mbo-instellingen en 11 hbo-instellingen")."""
    nouns = []
    for quantity in counts:
        following = re.match(r"\s*([^\W\d_][\w-]*)", text[quantity.end :])
        if following is None:
            return False
        nouns.append(following.group(1).lower())
    return len(nouns[0]) >= 5 and len(nouns[1]) >= 5 and nouns[0][-5:] == nouns[1][-5:]


def _share_across(analysis: QuestionAnalysis, ranked: list[Unit]) -> Result:
    """Part and whole from two sentences of one source: the part is a count next to the part's
    word, the whole a total ("in totaal", "totaal") next to the whole's word."""
    match = SHARE_OF.search(analysis.text) or SHARE_AMONG.search(analysis.text)
    if not match:
        return [], [], ""
    whole_word, part_word = _head(match.group("whole"), last=True), _head(match.group("part"), last=False)
    if not whole_word or not part_word:
        return [], [], ""
    for part_unit in ranked:
        part_q = _count_near_prefix(part_unit, part_word)
        if part_q is None:
            continue
        for whole_unit in ranked:
            if whole_unit is part_unit or whole_unit.passage.source_id != part_unit.passage.source_id:
                continue
            if not re.search(r"\btotaal\b|\bin totaal\b|\balle\b", whole_unit.text, re.I) and not re.search(
                r"\bgemiddeld\b", whole_unit.text, re.I
            ):
                continue
            whole_q = _count_near_prefix(whole_unit, whole_word)
            if whole_q is None or not 0 < part_q.value < whole_q.value:
                continue
            value = part_q.value / whole_q.value * 100
            figure = Figure(
                label=f"aandeel {part_word} in {whole_word}", value=round(value, 4),
                display=format_number(round(value, 1)) + "%", unit="%",
                expression=f"{_fmt(part_q)} / {_fmt(whole_q)} × 100",
            )
            return [figure], [part_unit, whole_unit], ""
    return [], [], "Ik heb het deel en het geheel niet allebei gevonden, dus ik reken geen aandeel uit."


def _prefix(word: str) -> str:
    """The start of a word that its inflections and compounds share ("bijstand" for "bijstandsuitkering")."""
    return word.lower()[: max(5, min(len(word), 8))]


def _count_near_prefix(unit: Unit, word: str, window: int = 8) -> Quantity | None:
    """A plain count within `window` words of a word that starts like `word` ("bijstand" finds
    "bijstandsuitkering (7.390)")."""
    stem = _prefix(word)
    # A word that starts like it, or a name whose stem is it: the head is a stem, and the stem of a
    # place name is not always its prefix ("Groningen" stems to "groon"). Only names: for common
    # words the prefix rule stays as strict as it was.
    positions = [start for w, start, _ in _words(unit.text)
                 if w.lower().startswith(stem) or (w[:1].isupper() and tokenize(w)[:1] == [word])]
    if not positions:
        return None
    quantities = [q for q in find_quantities(unit.text) if q.kind not in ("year", "quarter", "date")]
    best: tuple[int, Quantity] | None = None
    for quantity in quantities:
        if quantity.kind != "number" or quantity.unit != "" or quantity.sign:
            continue
        for position in positions:
            lo, hi = sorted((position, quantity.start))
            if any(lo < other.start < hi for other in quantities if other is not quantity):
                continue  # another number stands between: in a list it belongs to another item
            gap = len(re.findall(r"[^\W_]+", unit.text[lo:hi]))
            if gap <= window and (best is None or gap < best[0]):
                best = (gap, quantity)
    return best[1] if best else None


def _unit_noun(word: str) -> bool:
    stems = tokenize(word)
    return bool(stems) and stems[0] not in TIME_NOUNS


def _unit_operation(question: str) -> tuple[Operation, str] | None:
    """(operation, unit noun) for arithmetic over all units of something: an amount asked per unit
    ("Hoeveel is dat gemiddeld per werkgever?"), or a rate per unit named in the question and asked
    over all units ("0,5 fte per arbeidsmarktregio ... landelijk over alle regio's")."""
    asked = ASKS_PER_UNIT.search(question)
    if asked and _unit_noun(asked.group("noun")):
        return Operation.per_unit, asked.group("noun").lower()
    if ALL_UNITS.search(question):
        for pattern in (PER_NOUN, RATE_OF_UNITS):
            for match in pattern.finditer(question):
                around = question[max(0, match.start() - 40) : match.end() + 25]  # the rate stands beside it
                if re.search(r"\d", around) and _unit_noun(match.group("noun")):
                    return Operation.scale_up, match.group("noun").lower()
    return None


def _count_of_all(noun: str, ranked: list[Unit], lookup: Lookup | None, exclude: Quantity) -> tuple[Quantity, Unit] | None:
    """The count of all units of `noun`: a plain count right beside the noun ("alle 35
    arbeidsmarktregio's"; a wider window reaches the sentence's other numbers) in a sentence that
    says it counts all of them; the retrieved sentences first, then the corpus."""
    for pool in (ranked, lookup(_prefix(noun)) if lookup else []):
        for unit in pool:
            if not TOTALITY.search(unit.text):
                continue
            quantity = _count_near_prefix(unit, noun, window=3)
            if quantity is not None and quantity.value > 1 and quantity.value != exclude.value:
                return quantity, unit
    return None


def _question_operand(analysis: QuestionAnalysis, ranked: list[Unit], lookup: Lookup | None, noun: str) -> tuple[Quantity, Unit] | None:
    """The number the question itself names (the rate or amount), taken from a source sentence that
    states it, so the operand is traceable (the retrieved sentences first, then the corpus's that
    name the noun); None when no source states it."""
    asked = [q for q in find_quantities(analysis.original) if q.kind in ("money", "number", "percent", "word")]
    for pool in (ranked, lookup(_prefix(noun)) if lookup else []):
        for unit in pool:
            for quantity in find_quantities(unit.text):
                if any(quantity.value == q.value and (quantity.unit == q.unit or not q.unit) for q in asked):
                    return quantity, unit
    return None


def _unit_display(value: float, unit: str) -> str:
    """'€ 10.476', '17,5 fte', '252.000': whole numbers from 100 on, one decimal (half up) below."""
    number = format_number(round(value) if abs(value) >= 100 else round(value + 1e-9, 1))
    if unit == "€":
        return f"€ {number}"
    return f"{number} {unit}" if unit else number


def _over_units(analysis: QuestionAnalysis, ranked: list[Unit], lookup: Lookup | None,
                operation: Operation, noun: str) -> Result:
    operand = _question_operand(analysis, ranked, lookup, noun)
    if operand is None:
        return [], [], ""
    quantity, unit = operand
    count = _count_of_all(noun, ranked, lookup, quantity)
    if count is None:
        return [], [], f"Ik heb het totale aantal {noun} niet in de bronnen gevonden, dus ik reken niets uit."
    total, total_unit = count
    if operation is Operation.per_unit:
        value, unit_label = quantity.value / total.value, quantity.unit
        label, expression = f"gemiddeld per {noun}", f"{_fmt(quantity)} / {_fmt(total)}"
    else:
        rate = quantity.value / 100 if quantity.unit == "%" else quantity.value
        value, unit_label = rate * total.value, "" if quantity.unit == "%" else quantity.unit
        label, expression = f"over alle {noun}", f"{_fmt(quantity)} × {_fmt(total)}"
    figure = Figure(label=label, value=round(value, 4), display=_unit_display(value, unit_label),
                    unit=unit_label, expression=expression)
    return [figure], [unit, total_unit], ""
