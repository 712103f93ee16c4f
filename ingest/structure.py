"""Structure: cleaned lines -> blocks (headings, paragraphs, bullets, captions, "Bron:" lines).

PDF text arrives broken at arbitrary places (the typesetter's line ends, orphaned words, paragraphs
running across pages). Blocks are rebuilt from line-level signals that hold across documents:
numbering ("2.3 ..."), "Hoofdstuk"/"Bijlage", Markdown #, capitals, indentation of display type,
short title-like lines followed by body text, and lower-case continuations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.models import Block, BlockKind, Line

NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(\S.*)$")
CHAPTER_WORD = re.compile(r"^(Hoofdstuk|Bijlage|Deel)\s+(\d{1,2}|[IVX]{1,4})\b[:.]?\s*(.*)$", re.IGNORECASE)
MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(\S.*)$")
CAPTION = re.compile(r"^(Afbeelding|Figuur|Tabel|Grafiek|Kaart|Infographic)\s+\d+(?:\.\d+)*[a-z]?\b", re.IGNORECASE)
BOX = re.compile(r"^(Box|Kader)\s+\d+(?:\.\d+)*\b", re.IGNORECASE)
SOURCE_LINE = re.compile(r"^(Bron|Bronnen)\s*:", re.IGNORECASE)
BULLET = re.compile(r"^([•◼▪●■◦‣▶►✓✔\-–*·])\s+(\S.*)$")
NUMBERED_ITEM = re.compile(r"^(\d{1,2}|[a-z])[.)]\s+(\S.*)$")
TERMINAL = (".", ",", ";", ":", "!")
CONJUNCTIONS = {"en", "of", "tot", "en/of", "t/m", "noch"}
SHORT_LINE = 45


def _starts_lower(text: str) -> bool:
    return bool(text) and (text[0].islower() or text[0] in "(,;)")


def _starts_upper(text: str) -> bool:
    return bool(text) and (text[0].isupper() or text[0].isdigit() or text[0] in "‘'\"“")


def _is_all_caps(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return len(letters) >= 3 and sum(ch.isupper() for ch in letters) >= 0.8 * len(letters)


def _title_like(text: str, max_words: int = 12) -> bool:
    """Short, starts like a title, does not end like a sentence, holds no sentence break."""
    words = text.split()
    return (
        0 < len(words) <= max_words
        and len(text) <= 100
        and _starts_upper(text)
        and not text.endswith(TERMINAL)
        and ". " not in text[:-1]
    )


FUNCTION_WORDS = {
    "de", "het", "een", "en", "of", "van", "voor", "met", "aan", "op", "in", "te", "die", "dat", "om",
    "naar", "bij", "door", "uit", "over", "als", "is", "zijn", "wordt", "worden", "dan", "tot", "nog",
}


@dataclass
class _Heading:
    text: str
    level: int
    kind: str  # "numbered" (2.3, Hoofdstuk 4, # ...), "display" (capitals, indented type), "runin"
    number: str = ""


def _ends_open(text: str) -> bool:
    """Ends in a function word or a hyphen: a wrapped sentence, not a title."""
    last = text.rstrip().split()[-1] if text.strip() else ""
    return last.lower() in FUNCTION_WORDS or text.rstrip().endswith("-")


def classify_heading(line: Line, first_in_paragraph: bool, next_line: Line | None) -> _Heading | None:
    text = line.text
    if match := MARKDOWN_HEADING.match(text):
        return _Heading(match.group(2).strip(), len(match.group(1)), "numbered")
    if next_line is not None and _starts_lower(next_line.text) and len(next_line.text.split()) > 6:
        return None  # the line runs on into a sentence
    if match := CHAPTER_WORD.match(text):
        rest = match.group(3)
        if len(text.split()) <= 14 and (not rest or _title_like(rest, 12)):
            return _Heading(text, 1, "numbered", match.group(2))
    if (match := NUMBERED.match(text)) and _title_like(match.group(2), 15) and match.group(2)[0].isupper():
        depth = match.group(1).count(".") + 1
        if depth >= 2 or line.indented:
            return _Heading(text, depth, "numbered", match.group(1))
    body_follows = next_line is None or len(next_line.text) >= 40
    if (
        line.indented
        and text[:1].isalpha()
        and _title_like(text.rstrip("?"), 12)
        and not _ends_open(text)
        and (first_in_paragraph or (len(text.split()) <= 6 and body_follows))
    ):
        return _Heading(text, 1, "display")
    if not first_in_paragraph:
        return None
    if _is_all_caps(text) and sum(ch.isalpha() for ch in text) >= 5 and len(text.split()) <= 10 and len(text) <= 80:
        return _Heading(text, 1, "display")
    if (
        _title_like(text, 10)
        and len(text) <= 80
        and not _ends_open(text)
        and next_line is not None
        and _starts_upper(next_line.text)
        and len(next_line.text) >= 40
        and not NUMBERED.match(text)
        and not BULLET.match(text)
    ):
        return _Heading(text, 0, "runin")  # level set relative to its parent
    return None


class Vocabulary:
    """Words of a document, used to decide whether a line-end hyphen is a soft hyphen."""

    def __init__(self, lines: list[Line]) -> None:
        words: set[str] = set()
        for line in lines:
            words.update(re.findall(r"[\w-]+", line.text.lower()))
        self.words = words

    def join(self, left: str, right: str) -> str:
        """Join `left` (ending in '-') with `right` (the next line)."""
        head = re.search(r"([\w]+)-$", left)
        tail = re.match(r"([\w]+)", right)
        if not head or not tail:
            return f"{left} {right}" if not left.endswith("-") else f"{left}{right}"
        left_word, right_word = head.group(1), tail.group(1)
        if right_word.lower() in CONJUNCTIONS:
            return f"{left} {right}"  # "bij- en omscholing"
        if not right_word[0].islower() or left_word[-1].isupper() or left_word[-1].isdigit():
            return f"{left}{right}"  # "Noord-Nederland", "2024-2027", "AI-beveiliging": a real hyphen
        joined = (left_word + right_word).lower()
        hyphenated = f"{left_word}-{right_word}".lower()
        if hyphenated in self.words and joined not in self.words:
            return f"{left}{right}"
        return f"{left[:-1]}{right}"


def _join_lines(lines: list[str], vocabulary: Vocabulary) -> str:
    """Rebuild a block's text: wrapped lines joined, short title-like or table-like lines kept apart."""
    text = ""
    previous = ""
    for line in lines:
        if not text:
            text = line
        elif previous.endswith("-") and len(previous) > 1 and previous[-2].isalnum():
            text = vocabulary.join(text, line)
        elif (
            len(previous) < SHORT_LINE
            and line[:1].isupper()
            and not previous.endswith((",", "-"))
            and previous.split()[-1].lower() not in FUNCTION_WORDS
        ):
            text = f"{text}\n{line}"  # short label lines (tables, signatures) stay apart
        else:
            text = f"{text} {line}"
        previous = line
    return text.strip()


@dataclass
class _Pending:
    kind: BlockKind
    lines: list[str] = field(default_factory=list)
    page_start: int = 0
    page_end: int = 0


def _fold_page_breaks(lines: list[Line]) -> list[Line]:
    """A run of blank lines around a page break is one page break (pages often start or end blank)."""
    out: list[Line] = []
    run: list[Line] = []
    for line in [*lines, Line(text="x", page=0)]:
        if not line.text:
            run.append(line)
            continue
        if run:
            breaks = [blank for blank in run if blank.page_break]
            out.append(breaks[-1] if breaks else run[0])
            run = []
        out.append(line)
    return out[:-1]


def _paragraphs(lines: list[Line]) -> list[list[Line]]:
    """Groups of non-blank lines. A page break does not end a paragraph whose text runs on."""
    lines = _fold_page_breaks(lines)
    groups: list[list[Line]] = []
    current: list[Line] = []
    for index, line in enumerate(lines):
        if line.text:
            current.append(line)
            continue
        if line.page_break and current:
            following = next((later for later in lines[index + 1 :] if later.text), None)
            runs_on = following is not None and (
                not current[-1].text.endswith((".", "!", "?", ":")) or _starts_lower(following.text)
            )
            if runs_on:
                continue
        if current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _dash_continuation(match: re.Match[str], pending: _Pending | None) -> bool:
    """'- ofwel kunstmatige intelligentie - biedt ...': a dash inside a sentence, not a list item."""
    if match.group(1) not in "-–" or not match.group(2)[:1].islower() or pending is None:
        return False
    last = pending.lines[-1].rstrip() if pending.lines else ""
    return pending.kind is not BlockKind.bullet and not last.endswith((":", ";"))


def _continues_heading(heading: _Heading, following: str) -> bool:
    """A heading wrapped onto the next line: "... remmen de" + "economische groei", "HERVORMING VAN DE" + "ARBEIDSMARKT"."""
    if not following or len(following.split()) > 6 or following.endswith(TERMINAL):
        return False
    if _starts_lower(following):
        return True
    if heading.kind == "display" and _is_all_caps(heading.text) and _is_all_caps(following):
        return True
    chapter = CHAPTER_WORD.match(heading.text)
    return bool(chapter and not chapter.group(3) and _title_like(following, 12))


def build_blocks(lines: list[Line]) -> list[Block]:
    """Blocks in reading order, each with the section path it stands under."""
    vocabulary = Vocabulary(lines)
    blocks: list[Block] = []
    path: list[_Heading] = []
    structural_level = 0
    pending: _Pending | None = None

    def flush() -> None:
        nonlocal pending
        if pending and pending.lines:
            text = _join_lines(pending.lines, vocabulary)
            if text:
                blocks.append(
                    Block(
                        kind=pending.kind,
                        text=text,
                        page_start=pending.page_start,
                        page_end=pending.page_end,
                        section_path=[h.text for h in path],
                    )
                )
        pending = None

    def start(kind: BlockKind, line: Line, text: str | None = None) -> None:
        nonlocal pending
        flush()
        pending = _Pending(kind=kind, lines=[text if text is not None else line.text], page_start=line.page, page_end=line.page)

    def extend(line: Line) -> None:
        assert pending is not None
        pending.lines.append(line.text)
        pending.page_end = max(pending.page_end, line.page)

    numbered: dict[str, list[_Heading]] = {}  # number -> the path it opened, for "3.3" after a stray heading

    def open_heading(heading: _Heading, line: Line, kind: BlockKind = BlockKind.heading) -> None:
        nonlocal structural_level, path
        flush()
        if heading.kind == "numbered":
            parent_number = heading.number.rsplit(".", 1)[0] if "." in heading.number else ""
            if parent_number in numbered:
                path = list(numbered[parent_number])
            else:
                del path[heading.level - 1 :]
            level = len(path) + 1
        elif heading.kind == "display":
            last_numbered = next((h for h in reversed(path) if h.kind == "numbered"), None)
            level = (last_numbered.level + 1) if last_numbered else 1
            del path[level - 1 :]
        else:
            level = structural_level + 1
            del path[level - 1 :]
        heading = _Heading(heading.text, level, heading.kind, heading.number)
        path.append(heading)
        if heading.kind != "runin":
            structural_level = level
        if heading.kind == "numbered" and heading.number:
            numbered[heading.number] = list(path)
        blocks.append(
            Block(kind=kind, text=heading.text, page_start=line.page, page_end=line.page, level=level,
                  section_path=[h.text for h in path])
        )

    for group in _paragraphs(lines):
        index = 0
        while index < len(group):
            line = group[index]
            next_line = group[index + 1] if index + 1 < len(group) else None
            text = line.text
            first = index == 0
            if (
                first
                and pending
                and pending.kind in (BlockKind.paragraph, BlockKind.bullet)
                and (_starts_lower(text) or (text[:1].isdigit() and not pending.lines[-1].rstrip().endswith((".", "!", "?", ":"))))
            ):
                extend(line)  # a paragraph split by the extraction, e.g. around a figure or a page break
            elif CAPTION.match(text):
                start(BlockKind.caption, line)
            elif SOURCE_LINE.match(text):
                start(BlockKind.source_line, line)
            elif BOX.match(text):
                open_heading(_Heading(text, 0, "runin"), line, BlockKind.box)
            elif heading := classify_heading(line, first or (pending is None), next_line):
                # A display heading wrapped onto a short lower-case line: "... remmen de" + "economische groei".
                while index + 1 < len(group) and _continues_heading(heading, group[index + 1].text):
                    following = group[index + 1].text
                    joined = vocabulary.join(heading.text, following) if heading.text.endswith("-") else f"{heading.text} {following}"
                    heading = _Heading(joined, heading.level, heading.kind, heading.number)
                    index += 1
                open_heading(heading, line)
            elif (match := BULLET.match(text)) and not _dash_continuation(match, pending):
                start(BlockKind.bullet, line, f"• {match.group(2)}")
            elif NUMBERED_ITEM.match(text) and (pending is None or pending.kind is not BlockKind.caption):
                start(BlockKind.bullet, line)
            elif pending is None or first or pending.kind is BlockKind.source_line:
                start(BlockKind.paragraph, line)
            else:
                extend(line)
            index += 1
        if pending and pending.kind in (BlockKind.caption, BlockKind.source_line):
            flush()
    flush()
    return blocks
