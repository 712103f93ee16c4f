"""Pure helpers for showing answers: claims per [n] marker, highlighted passages, figure inputs,
answer HTML and the Markdown export. No Streamlit here, so all of it is unit-tested directly."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Mapping
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from assistant.types import Answer, Citation, Figure

MARKER_GROUP = re.compile(r"(?:\s?\[\d+\])+")
MARKER = re.compile(r"\[(\d+)\]")
INTRO = re.compile(r"^Volgens [^:\n]{3,200}:\s*")
NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:\.\d{3})+(?:,\d+)?|(?<![\w.,])\d+(?:,\d+)?")
MIN_BLOCK = 8

AI_NOTICE = (
    "Je praat met een AI-assistent (Marktwijzer), niet met een mens. De antwoorden worden automatisch "
    "samengesteld uit goedgekeurde bronnen en kunnen fouten bevatten: controleer altijd de bron en de "
    "passage voordat je een antwoord of cijfer gebruikt in een gesprek."
)
REFUSAL_HEADING = "Niet gevonden in de goedgekeurde bronnen"


def claims_by_marker(answer_text: str) -> dict[int, list[str]]:
    """The text each [n] marker stands behind (source introductions and bullets removed)."""
    claims: dict[int, list[str]] = {}
    start = 0
    for match in MARKER_GROUP.finditer(answer_text):
        claim = answer_text[start : match.start()]
        start = match.end()
        claim = claim.lstrip(" .!?:;\n")
        lines = [line.strip().lstrip("•").strip() for line in claim.split("\n")]
        lines = [INTRO.sub("", line) for line in lines if line]
        text = " ".join(line for line in lines if line).strip()
        if not text:
            continue
        for n in MARKER.findall(match.group(0)):
            claims.setdefault(int(n), []).append(text)
    return claims


def _best_span(passage_l: str, claim_l: str) -> tuple[int, int] | None:
    """The passage range that the claim was taken from (tolerant of case, hyphen and space changes)."""
    matcher = SequenceMatcher(None, passage_l, claim_l, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size >= MIN_BLOCK]
    if not blocks:
        return None
    best: tuple[int, int, int] | None = None  # (matched chars, start, end)
    run_start, run_end, matched = blocks[0].a, blocks[0].a + blocks[0].size, blocks[0].size
    for block in blocks[1:]:
        if 0 <= block.a - run_end <= 6:
            run_end, matched = block.a + block.size, matched + block.size
        else:
            if best is None or matched > best[0]:
                best = (matched, run_start, run_end)
            run_start, run_end, matched = block.a, block.a + block.size, block.size
    if best is None or matched > best[0]:
        best = (matched, run_start, run_end)
    matched, begin, end = best
    if matched < min(40, 0.6 * len(claim_l)):
        return None
    return begin, end


def highlight_spans(passage: str, claims: Iterable[str]) -> list[tuple[int, int]]:
    """Merged character ranges of `passage` that hold the cited claims (memoised: every rerun of the
    page draws the whole conversation again)."""
    return list(_highlight_spans(passage, tuple(claims)))


@lru_cache(maxsize=1024)
def _highlight_spans(passage: str, claims: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    lowered = passage.lower()
    if len(lowered) != len(passage):
        lowered = passage
    spans = []
    for claim in claims:
        claim_l = claim.lower() if len(claim.lower()) == len(claim) else claim
        span = _best_span(lowered, claim_l)
        if span:
            spans.append(span)
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return tuple(merged)


def _text_html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def passage_html(passage: str, spans: list[tuple[int, int]]) -> str:
    """The passage as one-line HTML with the cited sentences in <mark>."""
    out, pos = [], 0
    for begin, end in spans:
        out.append(_text_html(passage[pos:begin]))
        out.append(f'<mark class="mw-cited">{_text_html(passage[begin:end])}</mark>')
        pos = end
    out.append(_text_html(passage[pos:]))
    return '<div class="mw-passage">' + "".join(out) + "</div>"


def page_label(citation: Citation) -> str:
    if citation.page_end and citation.page_end != citation.page:
        return f"p. {citation.page}-{citation.page_end}"
    return f"p. {citation.page}"


def open_source_label(citation: Citation) -> str:
    """'Open bron op p. 12' (the PDF page; the printed number, when it differs, in brackets)."""
    printed = f" (gedrukt {citation.page_label})" if citation.page_label and citation.page_label != str(citation.page) else ""
    return f"Open bron op p. {citation.page}{printed}"


def citation_meta(citation: Citation) -> str:
    """'UWV · editie 2025-2026 · p. 12 · 3.1 Nog steeds veel vacatures'"""
    printed = (f"gedrukt paginanummer {citation.page_label}"
               if citation.page_label and citation.page_label != str(citation.page) else "")
    parts = [citation.publisher, f"editie {citation.edition}" if citation.edition else "", page_label(citation),
             printed, citation.section]
    return " · ".join(p for p in parts if p)


def sources_anchor(key: str) -> str:
    return f"mw-bronnen-{re.sub(r'[^A-Za-z0-9_-]', '', key)}"


def answer_html(answer: Answer, key: str | None = None) -> str:
    """The answer text as one-line HTML; each [n] marker carries its source as a tooltip and, with a
    key, links to that answer's sources panel (`sources_anchor(key)`)."""
    by_n = {c.n: c for c in answer.citations}

    def marker(match: re.Match[str]) -> str:
        n = int(match.group(1))
        citation = by_n.get(n)
        tip = html.escape(f"{citation.title}, {page_label(citation)}, {citation.section}", quote=True) if citation else ""
        if key and citation:
            return f'<a class="mw-ref" href="#{sources_anchor(key)}" title="{tip}">[{n}]</a>'
        return f'<span class="mw-ref" title="{tip}">[{n}]</span>'

    escaped = html.escape(answer.answer, quote=False)
    escaped = MARKER.sub(marker, escaped).replace("\n", "<br>")
    return f'<div class="mw-answer">{escaped}</div>'


_MD_INLINE = re.compile(r"([\\`*_{}\[\]<>()#!|~$])")
_MD_LINE_START = re.compile(r"^(\s*)([-+>=]|\d+[.)])", re.MULTILINE)


def md_text(text: object, streamlit: bool = True) -> str:
    """Text from sources or metadata (titles, headings, publishers, comments) as Markdown that shows
    literally: no link, image (an outside URL loaded by the browser), emphasis, HTML or list. For
    Streamlit also `:` (its `:material/..:` and `:red[..]` directives). One line: newlines become spaces."""
    value = " ".join(str(text or "").split())
    value = _MD_INLINE.sub(r"\\\1", value)
    if streamlit:
        value = value.replace(":", "\\:")
    return _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), value)


def safe_url(url: object) -> str:
    """The URL when it is http(s) (percent-encoded so it cannot end a Markdown link early), else ''.
    `javascript:`, `data:` and relative URLs from metadata never become a link."""
    value = str(url or "").strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return quote(value, safe=":/?#@!$&'*+,;=%~")


def stream_safe(text: str) -> str:
    """A streamed piece as Markdown that shows literally ($ would start LaTeX, * emphasis)."""
    return re.sub(r"([\\`*_$#|~<>])", r"\\\1", text)


# The ingest report's errors are English (CLI, JSON, logs); the Bronnen page shows them in Dutch.
_INGEST_ERRORS_NL: list[tuple[re.Pattern[str], str]] = [(re.compile(p), nl) for p, nl in [
    (r"^duplicate id in the registry", "dit id staat twee keer in het register; geef elke bron een eigen id"),
    (r"ZIP-based file", "dit is een ZIP-bestand (zoals .docx of .xlsx); dat wordt nog niet ondersteund"),
    (r"PDF is encrypted", "de PDF is versleuteld (met wachtwoord); upload een onbeveiligde kopie"),
    (r"PDF is corrupt or truncated", "de PDF is beschadigd of afgebroken en kan niet worden gelezen"),
    (r"PDF has no pages", "de PDF heeft geen pagina's"),
    (r"no extractable text", "de PDF bevat geen leesbare tekst (gescand of alleen afbeeldingen?); laat er eerst OCR op los"),
    (r"claims UTF-16", "het bestand zegt UTF-16 te zijn maar is niet te decoderen"),
    (r"binary file, not text", "dit lijkt een binair bestand, geen tekst"),
    (r"no supported encoding", "de tekst is in geen ondersteunde codering (UTF-8, UTF-16, Windows-1252)"),
    (r"^the file is empty", "het bestand is leeg"),
    (r"HTML page has no visible text", "de HTML-pagina heeft geen zichtbare tekst"),
    (r"^file not found", "het bestand is niet gevonden in de bronnenmap"),
    (r"^the file is (\d+) MB; the limit is (\d+) MB", r"het bestand is \1 MB; de grens is \2 MB"),
    (r"no text left after cleaning", "na het opschonen bleef er geen tekst over; er is niets te indexeren"),
    (r"unsupported file kind", "dit soort bestand wordt niet ondersteund"),
    (r"could not be read \(the parser stopped", "het bestand kon niet worden gelezen (het inlezen is afgebroken)"),
    (r"more memory than allowed", "het lezen van dit bestand vraagt meer geheugen dan is toegestaan"),
    (r"(too complex|CPU time|too much output)", "het bestand is te zwaar om te lezen; het is geweigerd"),
]]
_KEPT_NL = "de eerder geïndexeerde versie blijft in de index"


def ingest_error_nl(message: str) -> str:
    """An ingest failure in Dutch; unknown messages say so in Dutch instead of showing English."""
    kept = "previously indexed version stays" in message
    text = "het bestand kon niet worden gelezen (onbekende fout)"
    for pattern, dutch in _INGEST_ERRORS_NL:
        match = pattern.search(message)
        if match:
            text = match.expand(dutch) if "\\" in dutch else dutch
            break
    return f"{text} ({_KEPT_NL})" if kept else text


def figure_inputs(figure: Figure, citations: Iterable[Citation]) -> list[tuple[str, list[int]]]:
    """Each number in the figure's expression with the cited passages it stands in."""
    cited = [c for c in citations if not figure.citations or c.n in figure.citations]
    inputs = []
    for number in dict.fromkeys(NUMBER.findall(figure.expression)):
        pattern = re.compile(r"(?<![\d.,])" + re.escape(number) + r"(?![\d]|[.,]\d)")
        inputs.append((number, [c.n for c in cited if pattern.search(c.text)]))
    return inputs


def refusal_heading(text: str) -> str:
    from assistant import prompts

    if text.startswith(prompts.REFUSE_PERSONAL[:30]):
        return "Geen persoonsgegevens"
    if text.startswith(prompts.REFUSE_FORECAST[:30]):
        return "Geen eigen voorspellingen"
    return REFUSAL_HEADING


def coverage_lines(sources: Iterable[Mapping[str, Any]]) -> list[str]:
    """'Regio in Beeld 2025-2026 Amersfoort (UWV): arbeidsmarktregio Amersfoort; cijfers ...'"""
    lines = []
    for source in sources:
        details = [source.get("scope") or ", ".join(source.get("regions") or []), source.get("period") or ""]
        detail = "; ".join(d for d in details if d)
        line = f"{source.get('title', source.get('id'))} ({source.get('publisher', '')})"
        lines.append(f"{line}: {detail}" if detail else line)
    return lines


def export_markdown(answer: Answer, sources: Mapping[str, Mapping[str, Any]] | None = None,
                    when: dt.datetime | None = None) -> str:
    """Answer + sources as a Markdown note for a conversation (what an adviser pastes into a file)."""
    sources = sources or {}
    when = when or dt.datetime.now()
    lines = [
        "# Marktwijzer: antwoord uit goedgekeurde bronnen",
        "",
        f"*{when:%d-%m-%Y %H:%M}* · antwoord-id `{answer.id or '-'}`",
        "",
        f"**Vraag:** {answer.question}",
        "",
    ]
    lines += answer_lines(answer)
    if answer.figures:
        lines += ["## Berekende cijfers", ""]
        for figure in answer.figures:
            refs = "".join(f"[{n}]" for n in figure.citations)
            unit = f" {figure.unit}" if figure.unit else ""
            lines.append(f"- {figure.label}: **{figure.display}{unit}** = {figure.expression} {refs}".rstrip())
        lines.append("")
    if answer.citations:
        lines += ["## Bronnen", "", *sources_markdown(answer, sources)]
    lines += ["---", "", f"_{AI_NOTICE}_", ""]
    return "\n".join(lines)


def answer_lines(answer: Answer) -> list[str]:
    """The answer (or the refusal under its heading) as Markdown lines."""
    if answer.refused:
        return [f"**{refusal_heading(answer.answer)}.**", "", answer.answer, ""]
    return ["**Antwoord:**", "", *answer.answer.split("\n"), ""]


def sources_markdown(answer: Answer, sources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Each citation as Markdown: title (linked when the registry has a URL), page and section, the
    printed page label when there is one, and the cited passage quoted with its claims in bold."""
    lines: list[str] = []
    claims = claims_by_marker(answer.answer)
    for citation in answer.citations:
        url = safe_url((sources.get(citation.source_id) or {}).get("url"))
        title = md_text(citation.title, streamlit=False)
        title = f"[{title}]({url})" if url else title
        printed = f" (gedrukt paginanummer {citation.page_label})" if citation.page_label else ""
        lines += [f"[{citation.n}] {title}. {md_text(citation_meta(citation), streamlit=False)}{printed}.", ""]
        quoted = citation.text
        for begin, end in reversed(highlight_spans(citation.text, claims.get(citation.n, []))):
            quoted = quoted[:begin] + "**" + quoted[begin:end].strip() + "**" + quoted[end:]
        lines += ["> " + line if line.strip() else ">" for line in quoted.split("\n")]
        lines.append("")
    return lines
