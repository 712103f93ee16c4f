"""The Answer contract (DESIGN.md) and the other typed values the assistant passes around.

Field names here are read by other tools and by evaluation code we do not see: keep them stable.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class TableCitation(BaseModel):
    """Where a cited table passage stands: the table (its title, the sheet of a workbook), the row, and
    the column of each cell the answer used. Only on citations of table rows (CSV/XLSX, PDF tables)."""

    title: str
    sheet: str = ""
    row: str
    columns: list[str] = Field(default_factory=list, description="Columns of the cells the answer used, in order.")


class Citation(BaseModel):
    n: int = Field(ge=1, description="The [n] marker in the answer text.")
    source_id: str
    title: str
    publisher: str
    edition: str
    page: int = Field(ge=1, description="First page of the passage.")
    page_end: int | None = Field(None, description="Last page when the passage spans pages.")
    section: str
    text: str = Field(description="The passage as shown to the user.")
    score: float = Field(description="Retrieval score (fused, 0..1).")
    chunk_id: str = ""
    page_label: str | None = Field(
        None, description="The printed page label of `page` when the PDF defines labels (e.g. 'iv', '12'); else null.",
    )
    table: TableCitation | None = Field(
        None, description="For a passage that is a table row: table, row and the cited column(s); else null.",
    )


class Figure(BaseModel):
    label: str
    value: float
    display: str
    unit: str = ""
    expression: str = ""
    citations: list[int] = Field(default_factory=list)


class Answer(BaseModel):
    id: str | None = Field(None, description="Echo of the request id, if any.")
    question: str
    answer: str = Field(description="Dutch text with [n] markers.")
    refused: bool = False
    citations: list[Citation] = Field(default_factory=list)
    figures: list[Figure] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    generator: str = "extractive"
    verified: bool = True
    audit_dropped: int = Field(0, description="Sentences the number audit removed before showing the answer.")


MAX_HISTORY_QUESTION_CHARS = 2000  # as long as a question may be
MAX_HISTORY_ANSWER_CHARS = 8000  # answers are a few thousand characters at most
MAX_HISTORY_TURNS = 20
MAX_HISTORY_CHARS = 24_000  # all turns together: history is context, not a document


class HistoryTurn(BaseModel):
    """One earlier turn of the conversation (for follow-up questions). Bounded: every character of
    history reaches question analysis, so an unbounded turn would let one caller occupy a core."""

    question: str = Field(max_length=MAX_HISTORY_QUESTION_CHARS)
    answer: str = Field("", max_length=MAX_HISTORY_ANSWER_CHARS)


def history_chars(history: list[HistoryTurn] | None) -> int:
    """Characters of all turns together (checked against MAX_HISTORY_CHARS)."""
    return sum(len(turn.question) + len(turn.answer) for turn in history or [])
