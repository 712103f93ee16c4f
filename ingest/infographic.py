"""Key figures laid out as an infographic: a row of capitalised labels above a row of numbers.

PDF extraction gives them as separate lines ("NETTO ARBEIDSPARTICIPATIE WERKLOOSHEID" and, a few
lines later, "75,3% 3,4%"), so neither line says what the other means. When a run of label lines is
followed by as many lines of bare numbers, each number is written next to its label
("Netto arbeidsparticipatie: 75,3%."). The numbers stay exactly as the source writes them.
"""

from __future__ import annotations

import re

from ingest.models import Line

LABEL_WORD = re.compile(r"^[A-ZÀ-Ý][A-ZÀ-Ý&/'’-]{2,}$")
VALUE = re.compile(r"^[-+−]?(?:€\s?)?\d{1,3}(?:\.\d{3})*(?:,\d+)?%?$")
MAX_VALUES = 4


def _label_words(text: str) -> list[str] | None:
    words = text.split()
    return words if words and len(words) <= 6 and all(LABEL_WORD.match(w) for w in words) else None


def _values(text: str) -> list[str] | None:
    tokens = text.split()
    return tokens if 1 <= len(tokens) <= MAX_VALUES and all(VALUE.match(t) for t in tokens) else None


def _labels_for(words: list[str], count: int) -> list[str] | None:
    """Split the words of one label row over `count` numbers: one word each, the first label taking
    the extra words ("NETTO ARBEIDSPARTICIPATIE" | "WERKLOOSHEID")."""
    if len(words) < count:
        return None
    extra = len(words) - count
    labels = [" ".join(words[: extra + 1]), *words[extra + 1 :]]
    return [label.capitalize() for label in labels]


def pair_labels(lines: list[Line]) -> list[Line]:
    """The lines with each infographic value row rewritten as 'Label: value.' sentences."""
    content = [i for i, line in enumerate(lines) if line.text.strip()]
    replace: dict[int, str] = {}
    drop: set[int] = set()
    position = 0
    while position < len(content):
        labels: list[tuple[int, list[str]]] = []
        cursor = position
        while cursor < len(content) and (words := _label_words(lines[content[cursor]].text)) is not None:
            labels.append((content[cursor], words))
            cursor += 1
        values: list[tuple[int, list[str]]] = []
        while labels and cursor < len(content) and len(values) < len(labels):
            tokens = _values(lines[content[cursor]].text)
            if tokens is None:
                break
            values.append((content[cursor], tokens))
            cursor += 1
        if labels and len(values) == len(labels):
            pairs = [(_labels_for(words, len(tokens)), tokens) for (_, words), (_, tokens) in zip(labels, values, strict=True)]
            if all(names is not None for names, _ in pairs):
                for (label_index, _), (value_index, _), (names, tokens) in zip(labels, values, pairs, strict=True):
                    drop.add(label_index)
                    replace[value_index] = " ".join(f"{name}: {token}." for name, token in zip(names, tokens, strict=True))  # type: ignore[arg-type]
                position = cursor
                continue
        # A label run that does not match its values is skipped whole: a tail of it paired with the
        # numbers would give the wrong labels.
        position += max(1, len(labels))
    return [
        line.model_copy(update={"text": replace[i]}) if i in replace else line
        for i, line in enumerate(lines)
        if i not in drop
    ]
