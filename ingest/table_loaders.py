"""Loaders for spreadsheets: CSV and XLSX bytes -> typed tables (ingest.tables), one page per table.

Both read a grid of cells and then find the same parts in it: a title line above the header, one or
more header rows (a header cell merged over several columns is read as standing over each of them),
the data rows (label in the first column), group headings (a label without figures), and a note or
'Bron:' line under the table.

Safety: XLSX is read with openpyxl in read-only mode with data_only=True, so formulas are never
evaluated (a formula cell gives the value Excel cached when it saved the file, or nothing) and macros
are never loaded: a workbook that holds a VBA project is refused outright. The ZIP is checked for
size before openpyxl opens it (a decompression bomb is refused), and rows and columns are bounded.
These loaders run in the parse sandbox like every other loader (ingest.sandbox).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import zipfile
from dataclasses import dataclass

from ingest.loaders import DEFAULT_LIMITS, LoadError, LoadLimitExceeded, MacrosRefused, ParseLimits
from ingest.models import Page
from ingest.numbers import format_number
from ingest.tables import MISSING, Table, TableCell, TableRow, find_period, header_unit, parse_cell, render_text

log = logging.getLogger(__name__)

MAX_TABLE_ROWS = 50_000  # per file; factsheets have tens to thousands
MAX_TABLE_COLUMNS = 200
MAX_HEADER_ROWS = 4
MAX_XLSX_UNCOMPRESSED = 100 * 1024 * 1024
MACRO_PARTS = ("xl/vbaProject.bin", "xl/vbaProjectSignature.bin")
MACRO_CONTENT_TYPE = b"macroEnabled"
SOURCE_LINE = re.compile(r"^\s*(?:bron|bronnen)\s*:", re.I)
YEAR_ONLY = re.compile(r"^\s*(?:19|20)\d\d\s*$")


@dataclass
class RawCell:
    text: str
    value: float | None = None
    unit: str = ""

    @property
    def empty(self) -> bool:
        return not self.text.strip()


def _rows_limit(count: int) -> LoadLimitExceeded:
    limit = f"{MAX_TABLE_ROWS:,}"
    return LoadLimitExceeded(
        f"the table has more than {limit} rows ({count:,} or more); split it into smaller files",
        f"De tabel heeft meer dan {limit.replace(',', '.')} rijen; splits het bestand in kleinere bestanden.",
    )


# -- CSV ---------------------------------------------------------------------------------------

def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) or Windows-1252; anything else is refused with the reason."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096]:
        raise LoadError(
            "the CSV is not in a supported encoding (it looks like UTF-16 or UTF-32); "
            "save it as UTF-8 (CSV UTF-8 in Excel) or Windows-1252"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"the CSV is not UTF-8 and not Windows-1252 (byte 0x{data[exc.start]:02x} at position {exc.start} "
            "has no meaning in either); save it as UTF-8 (CSV UTF-8 in Excel)"
        ) from exc
    control = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\n\r\t")
    if control > max(5, len(text[:20000]) // 200):
        raise LoadError("the CSV is not in a supported encoding (too many control characters); save it as UTF-8")
    log.info("CSV decoded as Windows-1252 (not valid UTF-8)")
    return text


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the most lines into the same number (2+) of fields. csv.Sniffer is not
    used: in a ';' file with decimal commas ('5,0') it picks ','. On a tie ';', tab and '|' go before ','."""
    lines = [line for line in text.splitlines()[:200] if line.strip()]
    best, best_score = ",", -1
    for delimiter in (";", "\t", "|", ","):
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        widths = [c for c in counts if c >= 2]
        if not widths:
            continue
        modal = max(set(widths), key=widths.count)
        score = widths.count(modal)
        if score > best_score:
            best, best_score = delimiter, score
    return best


ENGLISH_DECIMAL = re.compile(r"^[-+]?\d+\.\d{1,2}$|^[-+]?\d+\.\d{4,}$|^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
DUTCH_DECIMAL = re.compile(r"^[-+]?\d+,\d+%?$|^[-+]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")


def decimal_comma(rows: list[list[str]], delimiter: str) -> bool:
    """Dutch notation unless the cells say otherwise: a ';' file always is; a ',' file is when no cell
    looks like '3.4' or '1,234.5' or when some cell looks like '3,4'."""
    if delimiter != ",":
        return True
    cells = [c.strip() for row in rows[:500] for c in row]
    english = sum(1 for c in cells if ENGLISH_DECIMAL.match(c))
    dutch = sum(1 for c in cells if DUTCH_DECIMAL.match(c))
    return english == 0 or dutch > english


def _english_to_dutch(text: str) -> str:
    match = re.fullmatch(r"([-+]?)([\d,]+)(?:\.(\d+))?(%?)", text.strip())
    if not match:
        return text
    sign, whole, fraction, percent = match.groups()
    value = float(whole.replace(",", "") + (f".{fraction}" if fraction else ""))
    decimals = len(fraction) if fraction else 0
    return sign + format_number(value, decimals) + percent


def load_csv(data: bytes, limits: ParseLimits = DEFAULT_LIMITS, name: str = "") -> list[Page]:
    text = decode_csv(data)
    lines = text.count("\n")
    if lines > MAX_TABLE_ROWS + 50:
        raise _rows_limit(lines)
    if len(text) > limits.max_text_chars:
        raise LoadLimitExceeded(
            "the CSV is larger than the text limit; split it into smaller files",
            "Het CSV-bestand is groter dan de tekstgrens; splits het in kleinere bestanden.",
        )
    delimiter = sniff_delimiter(text)
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise LoadError(f"the CSV cannot be read: {exc}") from exc
    if len(rows) > MAX_TABLE_ROWS:
        raise _rows_limit(len(rows))
    dutch = decimal_comma(rows, delimiter)
    grid = [[_csv_cell(cell, dutch) for cell in row[:MAX_TABLE_COLUMNS]] for row in rows]
    tables = split_tables(grid, default_title=name, sheet="", page=1)
    return _pages(tables, "the CSV holds no table (no row with a label and a figure)")


def _csv_cell(raw: str, dutch: bool) -> RawCell:
    text = raw.strip()
    if not dutch:
        text = _english_to_dutch(text)
    value, unit = parse_cell(text)
    return RawCell(text, value, unit)


# -- XLSX --------------------------------------------------------------------------------------

def check_workbook_zip(data: bytes) -> zipfile.ZipFile:
    """The workbook's ZIP, refused when it is corrupt, holds macros or would unpack to too much."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise LoadError(f"the XLSX file is corrupt or truncated (not a readable ZIP archive: {exc})") from exc
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        raise LoadError("this ZIP file is not an Excel workbook (no xl/workbook.xml)")
    if "xl/workbook.bin" in names:
        raise LoadError("this is a binary Excel workbook (.xlsb); save it as .xlsx")
    content_types = archive.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""
    if any(part in names for part in MACRO_PARTS) or MACRO_CONTENT_TYPE in content_types:
        raise MacrosRefused(
            "the workbook contains macros (a VBA project, as in .xlsm); macros are never loaded: "
            "save it as a plain .xlsx without macros"
        )
    total = sum(info.file_size for info in archive.infolist())
    if total > MAX_XLSX_UNCOMPRESSED:
        mb = MAX_XLSX_UNCOMPRESSED / 1e6
        raise LoadLimitExceeded(
            f"the workbook unpacks to more than {mb:.0f} MB; this is how a decompression bomb looks, so it is refused",
            f"De werkmap wordt uitgepakt groter dan {mb:.0f} MB; zo ziet een decompressiebom eruit, het bestand is geweigerd.",
        )
    return archive


def _decimals(number_format: str) -> int | None:
    match = re.search(r"0[.,](0+)", number_format or "")
    return len(match.group(1)) if match else (0 if re.search(r"0", number_format or "") else None)


def _xlsx_cell(cell: object) -> RawCell:
    value = getattr(cell, "value", None)
    if value is None:
        return RawCell("")
    if isinstance(value, bool):
        return RawCell("ja" if value else "nee")
    if isinstance(value, (int, float)):
        number_format = str(getattr(cell, "number_format", "") or "")
        decimals = _decimals(number_format)
        if "%" in number_format:
            number = float(value) * 100
            places = max(0, decimals or 0)
            return RawCell(format_number(number, places) + "%", round(number, 10), "%")
        text = format_number(float(value), decimals) if decimals is not None else format_number(float(value))
        return RawCell(text, float(value), "€" if "€" in number_format else "")
    if isinstance(value, (dt.datetime, dt.date)):
        return RawCell(value.strftime("%d-%m-%Y"))
    text = str(value).strip()
    if text.startswith("="):  # a formula read without its cached value: never evaluated
        return RawCell("")
    number, unit = parse_cell(text)
    return RawCell(text, number, unit)


def load_xlsx(data: bytes, limits: ParseLimits = DEFAULT_LIMITS, name: str = "") -> list[Page]:
    check_workbook_zip(data)
    from openpyxl import load_workbook  # imported here: only XLSX files need it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_vba=False, keep_links=False)
    except LoadError:
        raise
    except Exception as exc:  # openpyxl raises many types on damaged workbooks
        raise LoadError(f"the XLSX file is corrupt and cannot be read ({type(exc).__name__}: {exc})") from exc
    tables: list[Table] = []
    count = 0
    try:
        for position, sheet in enumerate(workbook.worksheets, start=1):
            if getattr(sheet, "sheet_state", "visible") != "visible":
                continue  # hidden sheets are not what the publisher shows
            grid: list[list[RawCell]] = []
            for row in sheet.iter_rows():
                count += 1
                if count > MAX_TABLE_ROWS:
                    raise _rows_limit(count)
                grid.append([_xlsx_cell(cell) for cell in row[:MAX_TABLE_COLUMNS]])
            tables.extend(split_tables(grid, default_title=sheet.title, sheet=sheet.title, page=position))
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"the XLSX file is corrupt and cannot be read ({type(exc).__name__}: {exc})") from exc
    finally:
        workbook.close()
    return _pages(tables, "the workbook holds no table (no row with a label and a figure)")


def _pages(tables: list[Table], empty_error: str) -> list[Page]:
    if not tables:
        raise LoadError(empty_error)
    return [Page(number=t.page, text=render_text(t), kind="table", tables=[t]) for t in tables]


# -- the grid -> tables ------------------------------------------------------------------------

def _filled(row: list[RawCell]) -> list[int]:
    return [i for i, cell in enumerate(row) if not cell.empty]


def _is_data_row(row: list[RawCell]) -> bool:
    """A label in the first column and at least one figure (or a 'no figure' mark) beside it, where
    the figures are not all years (a header row '| 2023 | 2024')."""
    if not row or row[0].empty or row[0].value is not None:
        return False
    rest = [c for c in row[1:] if not c.empty]
    figures = [c for c in rest if c.value is not None]
    if not figures:
        return False
    if all(YEAR_ONLY.match(c.text) for c in figures):
        return False
    return all(c.value is not None or MISSING.match(c.text) for c in rest) or len(figures) * 2 >= len(rest)


def split_tables(grid: list[list[RawCell]], default_title: str, sheet: str, page: int) -> list[Table]:
    """The tables in one sheet: blocks separated by two or more empty rows, each read by `read_table`."""
    blocks: list[list[list[RawCell]]] = [[]]
    empty_run = 0
    for row in grid:
        if not _filled(row):
            empty_run += 1
            continue
        if empty_run >= 2 and blocks[-1]:
            blocks.append([])
        empty_run = 0
        blocks[-1].append(row)
    tables = []
    for block in blocks:
        table = read_table(block, default_title, sheet, page)
        if table is not None:
            tables.append(table)
    return tables


def _header_names(header_rows: list[list[RawCell]], width: int) -> list[str]:
    """One name per column: merged cells (an empty cell right of a filled one, in every header row but
    the last) stand over the columns they span; the rows' texts are joined top-down."""
    filled_rows: list[list[str]] = []
    for index, row in enumerate(header_rows):
        texts = [row[i].text.strip() if i < len(row) else "" for i in range(width)]
        if index < len(header_rows) - 1:
            for i in range(2, width):
                if not texts[i] and texts[i - 1]:
                    texts[i] = texts[i - 1]
        filled_rows.append(texts)
    names = []
    for i in range(width):
        parts = list(dict.fromkeys(r[i] for r in filled_rows if r[i]))
        names.append(" ".join(parts))
    return names


def read_table(rows: list[list[RawCell]], default_title: str, sheet: str, page: int) -> Table | None:
    first_data = next((i for i, row in enumerate(rows) if _is_data_row(row)), None)
    if first_data is None:
        return None
    above = rows[:first_data]
    title, notes, source_line = "", [], ""
    header_rows: list[list[RawCell]] = []
    for row in above:
        filled = _filled(row)
        single = len(filled) == 1 and not header_rows
        if single and SOURCE_LINE.match(row[filled[0]].text):
            source_line = row[filled[0]].text.strip()
        elif single and not title:
            title = row[filled[0]].text.strip()
        elif single:
            notes.append(row[filled[0]].text.strip())
        else:
            header_rows.append(row)
    # A long first cell in a row above the header is a note that held the delimiter ("...; geen echte
    # bron"), not a header row: header cells are short names.
    while len(header_rows) > 1 and len(header_rows[0][0].text) > 60:
        notes.append(" ".join(c.text.strip() for c in header_rows.pop(0) if not c.empty))
    header_rows = header_rows[-MAX_HEADER_ROWS:]
    width = max((max(_filled(row), default=0) + 1 for row in rows), default=1)
    names = _header_names(header_rows, width) if header_rows else ["", *[f"kolom {i + 1}" for i in range(1, width)]]
    row_header, columns = names[0], [n or f"kolom {i + 2}" for i, n in enumerate(names[1:])]
    title = title or default_title
    rest = rows[first_data:]
    body: list[TableRow] = []
    group = ""
    trailing: list[str] = []
    for row in rest:
        filled = _filled(row)
        if _is_data_row(row):
            cells = []
            for i, column in enumerate(columns, start=1):
                raw = row[i] if i < len(row) else RawCell("")
                unit = raw.unit or (header_unit(column) if raw.value is not None else "")
                cells.append(TableCell(column=column, text=raw.text, value=raw.value, unit=unit))
            body.append(TableRow(label=row[0].text.strip(), group=group, cells=cells))
            trailing = []
        elif filled == [0] and SOURCE_LINE.match(row[0].text):
            source_line = row[0].text.strip()
        elif filled == [0] or (filled and filled[0] == 0 and all(row[i].empty for i in filled[1:])):
            trailing.append(row[0].text.strip())
            group = row[0].text.strip()  # a label without figures heads the rows under it
        elif len(filled) == 1:
            trailing.append(row[filled[0]].text.strip())
    notes.extend(trailing)  # labels after the last data row are notes, not a group
    if not body:
        return None
    period = find_period(title, " ".join(notes), row_header, sheet)
    return Table(
        title=title, sheet=sheet, page=page, row_header=row_header, columns=columns,
        header_rows=[[c.text for c in r] for r in header_rows],
        units=[header_unit(c) for c in columns], rows=body, note=" ".join(notes).strip(),
        source_line=source_line, period=period,
    )
