"""Tables inside PDFs, found generically in pypdf's layout mode (which keeps a line's columns apart by
runs of spaces) and stored as typed tables like a spreadsheet's.

Where to look: a page whose text has a table caption ("Tabel 1 Aantal ... naar arbeidsmarktregio,
december 2024. Bron: UWV"), and the page after it (tables run over a page break). The caption gives
the title, the measure (the words before 'naar'/'per'), the period and the 'Bron:' line.

What is read, below the caption, until the next paragraph of running text:
- aligned rows: a label followed by numbers on one line ("Werklozen  35.000  2,8%  21.000  2,4%");
  a header line whose names each stand over an equal group of numbers makes those names the rows
  (region columns become region rows: "Noord-Nederland: 35.000 werklozen");
- stacked columns, as many PDF writers lay out a simple table: a run of label lines, then a run of
  as many value lines. A label less indented than the ones under it heads them (a group total when
  the counts match, a heading without a figure when there is one value fewer).
Anything that does not match exactly is skipped: a wrong pairing of labels and numbers would be
worse than loose lines. Numbers stay as the PDF writes them.

pdfplumber (ruled-table detection) was measured on the shipped PDFs and found no table in them (they
draw no ruling lines), at ~10x the time of pypdf's layout mode; see README.
"""

from __future__ import annotations

import logging
import re

from pypdf import PdfReader

from ingest.tables import Table, TableCell, TableRow, find_period, header_unit, parse_cell

log = logging.getLogger(__name__)

CAPTION = re.compile(r"^\s*Tabel\s+(?P<number>\d+(?:\.\d+)*)\s*[.:]?\s+(?P<title>\S.*)$")
PROSE_CAPTION = re.compile(r"^\s*Tabel\s+\d+(?:\.\d+)*\s+(?:geeft|laat|toont|bevat|staat|is|wordt|ziet)\b", re.I)
VALUE = re.compile(r"^[-+−]?(?:€\s?)?\d{1,3}(?:\.\d{3})*(?:,\d+)?%?$|^[-+−]?\d+(?:,\d+)?%?$|^[–-]$")
YEAR = re.compile(r"^(?:19|20)\d\d$")
URL = re.compile(r"https?://|www\.")
FOOTNOTE_YEAR = re.compile(r"\b((?:19|20)\d\d)\d{1,2}\b\s*$")  # "in 202249": year + footnote mark 49
MEASURE_SPLIT = re.compile(r"\s+(?:naar|per|van|in|op)\s+", re.I)
MAX_REGION_LINES = 90


def _tokens(line: str) -> list[str]:
    return [t for t in re.split(r"\s{2,}", line.strip()) if t]


def _is_value(token: str) -> bool:
    return bool(VALUE.match(token.replace(" ", "")))


def _is_prose(line: str) -> bool:
    text = line.strip()
    if URL.search(text) or PROSE_CAPTION.match(text):
        return True
    words = text.split()
    return len(words) >= 9 and len(text) >= 55 and not re.search(r"\s{2,}", text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _signature(line: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", line.strip()))


def parse_caption(text: str) -> tuple[str, str, str, str]:
    """(title, measure, period, source line) of a caption's text."""
    text = FOOTNOTE_YEAR.sub(r"\1", text.strip())
    source = ""
    match = re.search(r"\s*\bBron(?:nen)?\s*:\s*(.+)$", text)
    if match:
        source = "Bron: " + match.group(1).strip()
        text = text[: match.start()].strip()
    text = text.rstrip(". ")
    period = find_period(text)
    bare = re.sub(r"^\s*Tabel\s+\d+(?:\.\d+)*\s*[.:]?\s*", "", text)
    measure = MEASURE_SPLIT.split(bare, maxsplit=1)[0].strip(" ,")
    if period and measure.endswith(period):
        measure = measure[: -len(period)].strip(" ,")
    return text, measure, period, source


def _words(line: str) -> list[str]:
    """Whitespace-split words with a lone '€' joined to the number after it."""
    words: list[str] = []
    for word in line.split():
        if words and words[-1] == "€":
            words[-1] = f"€ {word}"
        else:
            words.append(word)
    return words


class _Line:
    def __init__(self, raw: str, page: int) -> None:
        self.raw = raw
        self.page = page
        self.tokens = _tokens(raw)
        self.blank = not self.tokens
        words = _words(raw)
        first_value = next((i for i, w in enumerate(words) if _is_value(w)), None)
        self.values_only = bool(words) and first_value == 0 and all(_is_value(w) for w in words)
        # A row: label words, then only numbers ("Werklozen 35.000   2,8% 21.000 ..."): the label is
        # taken as one token even where the PDF put a single space before the first number.
        self.row = (first_value is not None and first_value > 0 and all(_is_value(w) for w in words[first_value:])
                    and not all(YEAR.match(w) for w in words[first_value:]))  # "Vrijwilligerswerk 2022": a header
        if self.row:
            self.tokens = [" ".join(words[:first_value]), *words[first_value:]]
        elif self.values_only:
            self.tokens = words
        self.label = bool(self.tokens) and first_value is None


def _cell(column: str, text: str, unit_hint: str) -> TableCell:
    value, unit = parse_cell(text.replace("−", "-"))
    if value is not None and not unit:
        unit = unit_hint
    return TableCell(column=column, text=text, value=value, unit=unit)


def _stacked(labels: list[_Line], values: list[_Line], measure: str, unit: str) -> list[TableRow] | None:
    """Rows from a run of labels and the run of single values under them, or None when they do not pair."""
    count = len(values)
    if count == 0 or any(len(v.tokens) != 1 for v in values):
        return None
    texts = [v.tokens[0] for v in values]
    if len(labels) >= count:
        tail = labels[-count:]
        first, rest = tail[0], tail[1:]
        # The tail starts at a label less indented than those under it (a group with its total), or
        # the run is exactly as long as the values and all at one indentation (a plain list).
        if rest and _indent(first.raw) < min(_indent(x.raw) for x in rest) and (
            len(labels) == count or _indent(labels[-count - 1].raw) <= _indent(first.raw)
        ):
            group = first.tokens[0]
            rows = [TableRow(label=group, cells=[_cell(measure, texts[0], unit)])]
            rows += [TableRow(label=x.tokens[0], group=group, cells=[_cell(measure, t, unit)]) for x, t in zip(rest, texts[1:], strict=True)]
            values = [r.cells[0].value for r in rows]
            if None not in values and abs(sum(values[1:]) - values[0]) < 1e-6:  # type: ignore[arg-type]
                rows[0].total = True  # the group's figure is the sum of its rows: say so ("in totaal")
            return rows
        if len(labels) > count:
            head = labels[-count - 1]
            if all(_indent(head.raw) < _indent(x.raw) for x in tail) and len({_indent(x.raw) for x in tail}) == 1:
                group = head.tokens[0]  # a heading without a figure over exactly these rows
                return [TableRow(label=x.tokens[0], group=group, cells=[_cell(measure, t, unit)]) for x, t in zip(tail, texts, strict=True)]
            return None
        if len({_indent(x.raw) for x in tail}) == 1:
            return [TableRow(label=x.tokens[0], cells=[_cell(measure, t, unit)]) for x, t in zip(tail, texts, strict=True)]
    return None


def _aligned(rows: list[_Line], header: _Line | None, unit: str, measure: str) -> tuple[list[TableRow], list[str]]:
    """Rows of label + numbers; with a header whose names each stand over an equal group of numbers,
    those names become the rows and the row labels the measure."""
    width = len(rows[0].tokens) - 1
    if header is not None:
        names = _tokens(header.raw)
        if len(names) == width + 1:
            columns = names[1:]
            return [TableRow(label=r.tokens[0], cells=[_cell(c, t, header_unit(c) or unit) for c, t in zip(columns, r.tokens[1:], strict=True)])
                    for r in rows if len(r.tokens) == width + 1], columns
        words = header.raw.split()
        places = words[1:]
        if places and width % len(places) == 0 and len(words) <= 8:
            per = width // len(places)
            out: dict[str, TableRow] = {p: TableRow(label=p) for p in places}
            columns: list[str] = []
            for r in rows:
                if len(r.tokens) != width + 1:
                    continue
                for index, token in enumerate(r.tokens[1:]):
                    place = places[index // per]
                    column = r.tokens[0] + (" (%)" if token.endswith("%") else "")
                    out[place].cells.append(_cell(column, token, ""))
                    if column not in columns:
                        columns.append(column)
            return list(out.values()), columns
    columns = [measure if width == 1 else f"{measure} ({i + 1})" for i in range(width)]
    return [TableRow(label=r.tokens[0], cells=[_cell(c, t, unit) for c, t in zip(columns, r.tokens[1:], strict=True)])
            for r in rows if len(r.tokens) == width + 1], columns


def read_region(lines: list[_Line], title: str, measure: str, period: str, source: str, page: int) -> Table | None:
    unit = header_unit(measure)
    rows: list[TableRow] = []
    columns: list[str] = []
    labels: list[_Line] = []
    header: _Line | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.blank:
            index += 1
            continue
        if line.row:
            run = []
            while index < len(lines) and (lines[index].row or lines[index].blank):
                if lines[index].row:
                    run.append(lines[index])
                index += 1
            head = labels[-1] if labels else header
            found, cols = _aligned(run, head, unit, measure)
            rows += found
            columns += [c for c in cols if c not in columns]
            labels = []
            continue
        if line.values_only:
            run = []
            while index < len(lines) and lines[index].values_only:
                run.append(lines[index])
                index += 1
            found = _stacked(labels, run, measure, unit)
            if found:
                rows += found
                if measure not in columns:
                    columns.append(measure)
            labels = []
            continue
        if line.label:
            if header is None and not rows and not labels:
                header = line
            labels.append(line)
        index += 1
    if not rows:
        return None
    return Table(title=title, page=page, row_header=header.tokens[0] if header else "", columns=columns,
                 units=[header_unit(c) or unit for c in columns], rows=rows, source_line=source, period=period)


def find_tables(reader: PdfReader, texts: list[str]) -> list[Table]:
    """Tables under the captions of a PDF's pages (`texts`: each page's plain text, 0-based)."""
    tables: list[Table] = []
    layouts: dict[int, list[str]] = {}

    def layout(index: int) -> list[str]:
        if index not in layouts:
            try:
                layouts[index] = (reader.pages[index].extract_text(extraction_mode="layout") or "").split("\n")
            except Exception:  # noqa: BLE001  (layout mode fails on some pages; the plain text stays)
                layouts[index] = []
        return layouts[index]

    for index, text in enumerate(texts):
        if not re.search(r"(?m)^\s*Tabel\s+\d", text):
            continue
        pages = [index] + ([index + 1] if index + 1 < len(texts) else [])
        page_lines = {i: layout(i) for i in pages}
        repeated = _repeated(page_lines)
        for position, raw in enumerate(page_lines[index]):
            match = CAPTION.match(raw)
            if not match or PROSE_CAPTION.match(raw):
                continue
            title, measure, period, source = parse_caption(raw.strip())
            region = _region(page_lines, pages, index, position + 1, repeated)
            table = read_region(region, title, measure, period, source, index + 1)
            if table is not None:
                tables.append(table)
                log.info("PDF table on page %d: %s (%d rows)", index + 1, title[:60], len(table.rows))
    return tables


def _repeated(page_lines: dict[int, list[str]]) -> set[str]:
    """Running headers and footers: lines (digits ignored) on more than one of the pages read."""
    if len(page_lines) < 2:
        return set()
    seen: dict[str, set[int]] = {}
    for page, lines in page_lines.items():
        for raw in lines:
            if raw.strip():
                seen.setdefault(_signature(raw), set()).add(page)
    return {sig for sig, pages in seen.items() if len(pages) > 1 and len(sig) > 12}


def _region(page_lines: dict[int, list[str]], pages: list[int], page: int, start: int, repeated: set[str]) -> list[_Line]:
    """The lines after a caption up to the next running text or caption (over one page break)."""
    out: list[_Line] = []
    found_values = False
    for current in pages:
        lines = page_lines[current][start:] if current == page else page_lines[current]
        for raw in lines:
            if raw.strip() and _signature(raw) in repeated:
                continue
            if CAPTION.match(raw) or (_is_prose(raw) and (found_values or out and len(out) > 4)):
                return out
            line = _Line(raw, current + 1)
            found_values = found_values or line.values_only or line.row
            out.append(line)
            if len(out) >= MAX_REGION_LINES:
                return out
    return out
