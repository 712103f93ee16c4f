"""Tables -> passages (one chunk per row: the table title, one sentence per cell, the 'Bron:' line)
and figure records (one per cell).

A row's chunk carries a TableRef (table title, sheet, row, the column of each sentence and the
cells), stored as JSON in the chunk's metadata: the assistant names table, row and column in the
citation from it, and the figures table gets the cell's own measure (column header), place (row
label, read through the municipality/region table), period and unit instead of words guessed from
the sentence.
"""

from __future__ import annotations

import hashlib
import json

from ingest.figures import FigureRecord
from ingest.lexical import tokenize
from ingest.models import Chunk, TableRef
from ingest.numbers import find_quantities
from ingest.places import PlaceTable
from ingest.tables import Table, cell_period, cell_scale, measure_of, row_sentences, table_title

TABLE_META = "table"


def build_table_chunks(source_id: str, tables: list[Table], fallback_title: str, start_index: int,
                       salt: str = "") -> list[Chunk]:
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for table in tables:
        if not table.title:
            table = table.model_copy(update={"title": fallback_title})
        title = table_title(table)
        for row in table.rows:
            pairs = row_sentences(table, row)
            if not pairs:
                continue  # a row of empty cells and dashes: nothing to cite
            # The table's title heads the passage (a heading line: never an answer sentence itself) and
            # its 'Bron:' line closes it, so the passage shown to the user says which table it is.
            lines = [title, *(sentence for _, sentence in pairs), *([table.source_line] if table.source_line else [])]
            text = "\n".join(lines)
            cells = [
                {"column": c.column, "text": c.text, "value": c.value, "unit": c.unit, "period": cell_period(table, c)}
                for c in row.cells if c.value is not None
            ]
            ref = TableRef(title=title, sheet=table.sheet, row=row.label, group=row.group,
                           columns=[column for column, _ in pairs], sentences=[s for _, s in pairs],
                           cells=cells, period=table.period, source_line=table.source_line)
            key = "\x1f".join([salt, "table", title, str(table.page), row.group, row.label, text])
            digest = hashlib.sha256(f"{source_id}\x1f{key}".encode()).hexdigest()[:16]
            occurrence = seen.get(digest, 0)
            seen[digest] = occurrence + 1
            if occurrence:
                digest = hashlib.sha256(f"{digest}\x1f{occurrence}".encode()).hexdigest()[:16]
            chunks.append(Chunk(
                id=f"{source_id}:t{digest}", source_id=source_id, index=start_index + len(chunks),
                page_start=table.page, page_end=table.page, section=title, section_path=[title],
                text=text, table=ref,
            ))
    return chunks


def table_meta(chunk: Chunk) -> str:
    return chunk.table.model_dump_json() if chunk.table is not None else ""


def read_ref(metadata: dict) -> TableRef | None:
    raw = metadata.get(TABLE_META)
    if not raw:
        return None
    try:
        return TableRef.model_validate_json(str(raw))
    except ValueError:
        return None


def place_of(label: str, places: PlaceTable | None, own_region: str | None) -> list[str]:
    """The row label as places: a region itself, a municipality with its region, else the source's region."""
    if places is not None:
        region = places.canonical_region(label)
        if region:
            return [region]
        municipalities = places.resolve(label)
        if municipalities:
            regions = [places.municipalities[m] for m in municipalities if m in places.municipalities]
            return list(dict.fromkeys([*municipalities, *regions]))
    return [own_region] if own_region else []


def table_figures(chunk_id: str, ref: TableRef, source_id: str, page: int, places: PlaceTable | None,
                  own_region: str | None) -> list[FigureRecord]:
    """One figure record per figure cell of a row passage: measure = the column header (stemmed),
    region = the row label through the region table, period = the column's or the table's."""
    records = []
    region = place_of(ref.row, places, own_region)
    by_column = dict(zip(ref.columns, ref.sentences, strict=False))
    for order, cell in enumerate(ref.cells):
        value = cell.get("value")
        if value is None:
            continue
        column = str(cell["column"])
        period = str(cell.get("period", ""))
        sentence = by_column.get(column, "")
        years = sorted({int(q.value) for q in find_quantities(period) if q.kind == "year"})
        quarters = sorted({int(q.value) for q in find_quantities(period) if q.kind == "quarter"})
        unit = str(cell.get("unit", ""))
        kind = "share" if unit == "%" else "money" if unit == "€" else "level"
        text = str(cell["text"])
        records.append(FigureRecord(
            value=float(value) * cell_scale(column), text=text + ("%" if unit == "%" and not text.endswith("%") else ""), unit=unit,
            kind=kind, measure=[t for t in tokenize(measure_of(column, period)) if not t[0].isdigit()],
            period=years, quarters=quarters, region=region, source_id=source_id, page=page, chunk_id=chunk_id,
            # Span order in the passage: the title line is span 0, the cell sentences follow.
            sentence=(ref.sentences.index(sentence) if sentence in ref.sentences else order) + 1,
            sentence_text=sentence, table=ref.title, row=ref.row, column=column,
        ))
    return records


def ref_json(ref: TableRef) -> str:
    return json.dumps(ref.model_dump(), ensure_ascii=False)
