"""Domain types of the ingestion pipeline, in one place: pages, blocks, chunks, reports, manifest."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field

from ingest.tables import Table


class Page(BaseModel):
    """The text of one page as loaded (1-based page number, printed label if the file has one)."""

    number: int = Field(ge=1)
    label: str = ""
    text: str
    kind: str = Field("text", description="'text', or 'table' for a page that is one table (CSV/XLSX).")
    tables: list[Table] = Field(default_factory=list, description="Tables read from this page (typed rows).")


class Line(BaseModel):
    """One cleaned line with the page it stands on."""

    text: str
    page: int
    indented: bool = False
    page_break: bool = False  # the blank that stands for a page break, not a paragraph break


class BlockKind(str, Enum):
    heading = "heading"
    paragraph = "paragraph"
    bullet = "bullet"
    caption = "caption"  # "Afbeelding 3.1 ...", "Tabel 2 ...", "Figuur 1 ..."
    source_line = "source_line"  # "Bron: ..."
    box = "box"  # "Box 2.1 ..." (a heading that opens a box)


class Block(BaseModel):
    kind: BlockKind
    text: str
    page_start: int
    page_end: int
    level: int = 0  # heading depth; 0 for non-headings
    section_path: list[str] = Field(default_factory=list)


class TableRef(BaseModel):
    """Where a table row's passage comes from: table, sheet, row, and the column of each sentence."""

    title: str
    sheet: str = ""
    row: str
    group: str = ""
    columns: list[str] = Field(default_factory=list, description="Column per sentence of the passage, in order.")
    sentences: list[str] = Field(default_factory=list, description="The passage's sentences (one per cell).")
    cells: list[dict[str, object]] = Field(default_factory=list, description="column, text, value, unit per figure cell.")
    period: str = ""
    source_line: str = ""


class Chunk(BaseModel):
    """A passage of one source, cut along its sections; the unit of retrieval and citation."""

    id: str
    source_id: str
    index: int
    page_start: int
    page_end: int
    section: str
    section_path: list[str]
    text: str
    table: TableRef | None = None

    @property
    def section_path_text(self) -> str:
        return " > ".join(self.section_path)


class SourceFailure(BaseModel):
    source_id: str
    error: str


class IngestReport(BaseModel):
    """What `marktwijzer ingest --json` prints."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[SourceFailure] = Field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    embedded: int = Field(0, description="Chunks embedded in this run (0 when nothing changed).")
    generation: str = ""
    timings_s: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")
    repaired: list[str] = Field(
        default_factory=list,
        description="Parts of a damaged serving generation this run rebuilt (e.g. 'bm25', 'chroma'); "
        "empty when the index was intact.",
    )

    @property
    def partial(self) -> bool:
        return bool(self.failed)


class IndexedSource(BaseModel):
    """The manifest's record of one indexed source."""

    id: str
    title: str
    sha256: str
    fingerprint: str
    pages: int
    chunks: int
    chunk_ids: list[str]
    indexed_at: str


class FileDigest(BaseModel):
    """Size and SHA-256 of one file of a generation, as the ingest wrote it."""

    size: int = Field(ge=0)
    sha256: str = Field("", description="Empty: not checksummed (a file its library rewrites when it opens it).")


class Manifest(BaseModel):
    """What one index generation holds; written last, so its presence means the generation is whole."""

    generation: str
    created_at: str
    embedding: str
    embedding_dim: int
    pipeline_version: str
    sources: dict[str, IndexedSource] = Field(default_factory=dict)
    # Every file of the generation (relative POSIX path -> digest), checked when it is loaded. Empty in
    # generations written before checksums existed: the next ingest writes a generation that has them.
    files: dict[str, FileDigest] = Field(default_factory=dict)

    def chunk_ids(self) -> list[str]:
        return [chunk_id for source in self.sources.values() for chunk_id in source.chunk_ids]
