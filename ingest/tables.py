"""Typed tables: what the CSV/XLSX loaders and the PDF table finder produce, and how a table turns
into passages (one per row, one sentence per cell) and figure records (one per cell).

A row reads as sentences ("Groningen: 50.234 geregistreerde werkzoekenden (december 2024).") so the
extractive answer path, the calculations (assistant/calculate.py anchors a number to the place next
to it) and the number audit treat table cells like any sentence of a report. The cell a sentence
came from is kept in the chunk's metadata, so a citation can name table, row and column.
"""

from __future__ import annotations

import math
import re

from pydantic import BaseModel, Field

from ingest.numbers import find_quantities, format_number

# Cells that stand for "no figure" in Dutch statistics: empty, dashes, "x" (geheim), "n.b.", ".".
MISSING = re.compile(r"^\s*(?:|[-–—−]|x|\.|\.\.|\*|n\.?b\.?|n\.?v\.?t\.?|nvt|geen gegevens)\s*$", re.I)
PERCENT_HEADER = re.compile(r"\(\s*%\s*\)|\bin %|%$|^%|\bpercentage\b|\bprocent\b", re.I)
THOUSANDS_HEADER = re.compile(r"\(\s*(?:x|×)\s*1\.?000\s*\)|\bx\s*1\.000\b", re.I)
EURO_HEADER = re.compile(r"\(\s*(?:€|euro|eur)\s*\)|\bin euro'?s?\b|€", re.I)
MONTHS = "januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december"
PERIOD = re.compile(
    r"\b(?:(?:" + MONTHS + r")\s+(?:19|20)\d\d|(?:[1-4](?:e|de|ste)?\s+kwartaal|Q[1-4]|K[1-4])\s+(?:19|20)\d\d"
    r"|(?:19|20)\d\d\s*[-–/]\s*(?:19|20)\d\d|(?:19|20)\d\d(?:\s*[-–]?\s*(?:Q|K|kw)[1-4])?)\b",
    re.I,
)
MAX_LABEL_CHARS = 200


class TableCell(BaseModel):
    """One cell of a data row: the text as the file has it, the value when it is a number."""

    column: str = Field(description="The column header (merged header cells resolved, joined with ' ').")
    text: str = Field(description="The cell as written (Dutch notation for numbers).")
    value: float | None = Field(None, description="The number, in the unit below; None for text and missing cells.")
    unit: str = Field("", description="'%', '€' or '' (from the cell or its header).")


class TableRow(BaseModel):
    label: str = Field(description="The row label (first column).")
    group: str = Field("", description="A heading row this row stands under, e.g. 'Noord-Nederland'.")
    total: bool = Field(False, description="The row is the total of the rows under it (checked on the figures).")
    cells: list[TableCell] = Field(default_factory=list)


class Table(BaseModel):
    """A table of one sheet, CSV file or PDF page."""

    title: str = Field(description="The sheet's title line, the PDF caption, else the sheet or file name.")
    sheet: str = Field("", description="The sheet name (XLSX); empty for CSV and PDF tables.")
    page: int = Field(1, ge=1, description="PDF page; for XLSX the sheet's position (1-based); 1 for CSV.")
    row_header: str = Field("", description="The header of the label column ('Arbeidsmarktregio').")
    columns: list[str] = Field(default_factory=list, description="Headers of the value columns.")
    header_rows: list[list[str]] = Field(default_factory=list, description="The header rows as written.")
    units: list[str] = Field(default_factory=list, description="Unit per value column where the header states one.")
    rows: list[TableRow] = Field(default_factory=list)
    note: str = Field("", description="A note line under or above the table.")
    source_line: str = Field("", description="A 'Bron: ...' line, when the sheet or caption has one.")
    period: str = Field("", description="The period the title or note states ('december 2024').")


def header_unit(header: str) -> str:
    if PERCENT_HEADER.search(header):
        return "%"
    if EURO_HEADER.search(header):
        return "€"
    return ""


def find_period(*texts: str) -> str:
    for text in texts:
        match = PERIOD.search(text or "")
        if match:
            return match.group(0)
    return ""


def measure_of(column: str, period: str) -> str:
    """The column header as a measure in running text: unit marks and the table's own period taken
    out, a leading 'Aantal' dropped ('Aantal GWU' -> 'GWU'), lower case unless it is an abbreviation."""
    text = re.sub(r"\(\s*(?:%|€|euro|aantal)\s*\)", "", column, flags=re.I)
    text = THOUSANDS_HEADER.sub("", text)
    if period:
        text = re.sub(r"[(,]?\s*" + re.escape(period) + r"\s*\)?", " ", text, flags=re.I)
    text = re.sub(r"^\s*(?:aantal|het aantal)\s+", "", text, flags=re.I)
    text = re.sub(r"\s+", " ", text).strip(" ,;:-")
    if text and not (len(text) > 1 and text[:2].isupper()):
        text = text[0].lower() + text[1:]
    return text


def cell_scale(column: str) -> float:
    """1000 for a column whose header says '(x 1.000)', else 1."""
    return 1000.0 if THOUSANDS_HEADER.search(column) else 1.0


def cell_period(table: Table, cell: TableCell) -> str:
    """The period of one cell: the one its column header names, else the table's."""
    return find_period(cell.column) or table.period


def parse_cell(text: str, unit_hint: str = "") -> tuple[float | None, str]:
    """(value, unit) of a cell written in Dutch notation ('50.234', '3,4', '12,5%', '€ 1.200');
    (None, '') when the cell is not one number."""
    stripped = text.strip()
    if MISSING.match(stripped):
        return None, ""
    quantities = [q for q in find_quantities(stripped) if q.kind not in ("quarter", "date", "range", "word")]
    if len(quantities) != 1:
        return None, ""
    quantity = quantities[0]
    rest = (stripped[: quantity.start] + stripped[quantity.end :]).strip()
    if rest and not re.fullmatch(r"[%€+\-−]?", rest):
        return None, ""  # "3 van de 5", "ca. 40 mensen": not a plain number cell
    unit = quantity.unit if quantity.unit in ("%", "€") else unit_hint
    value = quantity.value
    if quantity.kind == "year" and not unit_hint:
        value = float(value)
    return value, unit


def display_value(value: float, unit: str, decimals: int | None = None) -> str:
    text = format_number(value, decimals)
    if unit == "%":
        return text + "%"
    if unit == "€":
        return "€ " + text
    return text


def _clean_label(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()[:MAX_LABEL_CHARS]


def cell_sentence(table: Table, row: TableRow, cell: TableCell) -> str | None:
    """'Groningen: 50.234 geregistreerde werkzoekenden (december 2024).'; None for a cell without a figure.

    Percentages and money put the measure first ('Groningen: aandeel WW 3,4%.'), counts after the
    number, as Dutch reports write them; the row's group and the period stand in brackets.
    """
    if cell.value is None or not math.isfinite(cell.value):
        text = cell.text.strip()
        if not text or MISSING.match(text):
            return None  # an empty cell or a dash says nothing
        return f"{_clean_label(row.label)}, {cell.column.strip() or 'opmerking'}: {text.rstrip('.')}."
    text = cell.text.strip()
    if cell.unit == "%" and not text.endswith("%"):
        text += "%"
    if cell.unit == "€" and "€" not in text:
        text = "€ " + text
    if THOUSANDS_HEADER.search(cell.column):
        text += " duizend"  # "Vacatures (x 1.000)" 12,4 -> "12,4 duizend vacatures" (read as 12.400)
    period = cell_period(table, cell)
    measure = measure_of(cell.column, period)
    context = [c for c in (row.group, period) if c and c.lower() not in measure.lower()]
    tail = f" ({', '.join(context)})" if context else ""
    label = _clean_label(row.label)
    if cell.unit in ("%", "€") or not measure:
        body = f"{measure} {text}".strip() if measure else text
    else:
        body = f"{text} {measure}"
    if row.total and "totaal" not in label.lower():
        body = f"in totaal {body}"
    return f"{label}: {body}{tail}."


def row_sentences(table: Table, row: TableRow) -> list[tuple[str, str]]:
    """(column, sentence) for every cell of the row that holds a figure, in column order."""
    out = []
    for cell in row.cells:
        sentence = cell_sentence(table, row, cell)
        if sentence is not None:
            out.append((cell.column, sentence))
    return out


def table_title(table: Table) -> str:
    """The title as cited: the table's title, with the sheet name when it adds something."""
    if table.sheet and table.sheet.lower() not in table.title.lower():
        return f"{table.title} (blad {table.sheet})"
    return table.title


def render_text(table: Table) -> str:
    """The table as plain text (for size limits and the sources page): title, header, row sentences."""
    lines = [table_title(table)]
    if table.columns:
        lines.append(" | ".join([table.row_header, *table.columns]).strip(" |"))
    for row in table.rows:
        lines.extend(sentence for _, sentence in row_sentences(table, row))
    for extra in (table.note, table.source_line):
        if extra:
            lines.append(extra)
    return "\n".join(lines)
