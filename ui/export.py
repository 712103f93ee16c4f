"""A whole conversation with its sources for the client file (issue 17): Markdown and Word (.docx,
python-docx). Pure functions (no Streamlit), unit-tested directly."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any

from assistant.types import Answer
from ui.render import AI_NOTICE, answer_lines, citation_meta, md_text, refusal_heading, safe_url, sources_markdown

Turn = tuple[str, Answer]  # (question as shown, answer)


def conversation_markdown(title: str, turns: Sequence[Turn], sources: Mapping[str, Mapping[str, Any]] | None = None,
                          when: dt.datetime | None = None) -> str:
    """Every question and answer in order, then each turn's sources with the cited passage."""
    sources = sources or {}
    when = when or dt.datetime.now()
    lines = [f"# Gesprek: {md_text(title, streamlit=False)}", "", f"*Marktwijzer · geëxporteerd {when:%d-%m-%Y %H:%M}*", ""]
    for number, (question, answer) in enumerate(turns, start=1):
        lines += [f"## Vraag {number}", "", question, ""]
        lines += answer_lines(answer)
        for figure in answer.figures:
            unit = f" {figure.unit}" if figure.unit else ""
            lines.append(f"- Berekend: {figure.label}: **{figure.display}{unit}** = {figure.expression}")
        if answer.figures:
            lines.append("")
        if answer.citations:
            lines += [f"### Bronnen bij vraag {number}", "", *sources_markdown(answer, sources)]
    lines += ["---", "", f"_{AI_NOTICE}_", ""]
    return "\n".join(lines)


def conversation_docx(title: str, turns: Sequence[Turn], sources: Mapping[str, Mapping[str, Any]] | None = None,
                      when: dt.datetime | None = None) -> bytes:
    """The same content as a Word document (headings, the answer, sources with the cited passage)."""
    from docx import Document

    sources = sources or {}
    when = when or dt.datetime.now()
    document = Document()
    document.core_properties.title = f"Gesprek: {title}"[:255]
    document.core_properties.language = "nl-NL"
    document.add_heading(f"Gesprek: {title}", level=0)
    document.add_paragraph().add_run(f"Marktwijzer · geëxporteerd {when:%d-%m-%Y %H:%M}").italic = True
    for number, (question, answer) in enumerate(turns, start=1):
        document.add_heading(f"Vraag {number}", level=1)
        document.add_paragraph(question)
        if answer.refused:
            document.add_paragraph().add_run(refusal_heading(answer.answer)).bold = True
        for line in answer.answer.split("\n"):
            if line.strip():
                document.add_paragraph(line)
        for figure in answer.figures:
            unit = f" {figure.unit}" if figure.unit else ""
            document.add_paragraph(f"Berekend: {figure.label}: {figure.display}{unit} = {figure.expression}",
                                   style="List Bullet")
        if answer.citations:
            document.add_heading(f"Bronnen bij vraag {number}", level=2)
            for citation in answer.citations:
                printed = f" (gedrukt paginanummer {citation.page_label})" if citation.page_label else ""
                url = safe_url((sources.get(citation.source_id) or {}).get("url"))
                paragraph = document.add_paragraph()
                paragraph.add_run(f"[{citation.n}] {citation.title}. ").bold = True
                paragraph.add_run(f"{citation_meta(citation)}{printed}." + (f" {url}" if url else ""))
                document.add_paragraph(citation.text, style="Quote")
    document.add_paragraph().add_run(AI_NOTICE).italic = True
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
