"""The official municipality -> arbeidsmarktregio table, brought up to date for later herindelingen.

Reference data shipped in ``corpus/reference/`` (see its README for provenance):

- ``arbeidsmarktregios.csv``: Besluit werkgebieden UWV 2015, Bijlage 3, unchanged (397 names, 35 regions);
- ``gemeentelijke-herindelingen.csv``: ``datum,oud,nieuw,opmerking``, one row per former name and
  receiving municipality. A row without a date only fixes the Besluit's spelling of a name. When the
  parts of a new municipality lay in different regions, the ``opmerking`` must say
  ``regio nieuw: <region>`` (the loader refuses to guess).

``PlaceTable.load()`` applies the herindelingen in date order and answers: which region a (current or
former) municipality is in, which municipalities a region has, and which places a question names.
"""

from __future__ import annotations

import csv
import functools
import logging
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

logger = logging.getLogger(__name__)

REGIONS_FILE = "arbeidsmarktregios.csv"
MERGERS_FILE = "gemeentelijke-herindelingen.csv"
REGIONS_HEADER = ["gemeente", "arbeidsmarktregio", "provincie"]
MERGERS_HEADER = ["datum", "oud", "nieuw", "opmerking"]
REFERENCE_SUBDIR = "reference"
_REPO_CORPUS = Path(__file__).resolve().parents[1] / "corpus"

# Variants people write that the table does not contain (folded like every other key).
MUNICIPALITY_ALIASES: dict[str, str] = {
    "Den Haag": "’s-Gravenhage",
    "Den Bosch": "’s-Hertogenbosch",
    "Nuenen": "Nuenen, Gerwen en Nederwetten",
    "Nuenen c.a.": "Nuenen, Gerwen en Nederwetten",
    "Bergen (NH.)": "Bergen NH",
    "Bergen (L.)": "Bergen (L)",
    "Bergen L": "Bergen (L)",
    "Haarlemmerliede": "Haarlemmerliede en Spaarnwoude",  # CBS' own short form
}
# Plain "Bergen" is two municipalities: every reading is returned, region_of() says None.
AMBIGUOUS_MUNICIPALITIES: dict[str, tuple[str, ...]] = {"Bergen": ("Bergen NH", "Bergen (L)")}

# Names UWV and the sources use for regions today, next to the Besluit's spelling.
REGION_ALIASES: dict[str, str] = {  # "Gooi en Vechtstreek", "Groot-Amsterdam": folding covers them
    "Regio Zwolle": "IJsselvechtstreek",  # UWV's current name (werk.nl: "Meppel en Westerveld ... Regio Zwolle")
    "FoodValley": "Food Valley",
    "Stedendriehoek": "Stedendriehoek en Noordwest Veluwe",
}
REGION_PREFIXES = ("regio", "arbeidsmarktregio")

# Municipality names that are also ordinary Dutch words: only a capitalised mention counts
# ("in Best", not "de best betaalde banen"; "Leiden", not "leiden tot").
COMMON_WORD_NAMES = frozenset({
    "Assen", "Beek", "Bergen", "Best", "Buren", "Duiven", "Haren", "Hoorn", "Houten", "Huizen", "Hulst",
    "Kampen", "Leek", "Leiden", "Losser", "Putten", "Sluis",
})
# "provincie Groningen" is a province, not the region or the municipality of that name.
PROVINCES_SHARING_A_NAME = ("Drenthe", "Flevoland", "Friesland", "Groningen", "Zeeland")

_APOSTROPHES = "’‘`´ʼ′"
_SEPARATORS = "-‐‑‒–—/\\(),.;:!?\"“”„«»[]{}"
_REGION_MARK = re.compile(r"regio nieuw:\s*([^;(]+?)\s*(?:[;(]|$)")


class PlaceTableError(ValueError):
    """The reference table is missing or malformed; the message is Dutch and names only the file."""


class PlaceKind(str, Enum):
    REGION = "region"
    MUNICIPALITY = "municipality"
    FORMER_MUNICIPALITY = "former_municipality"


@dataclass(frozen=True, slots=True)
class Merger:
    """One row of the herindelingen table; ``date`` is None for a spelling fix of the Besluit."""

    date: date | None
    old: str
    new: str
    note: str


@dataclass(frozen=True, slots=True)
class FormerMunicipality:
    name: str
    successors: tuple[str, ...]  # current municipalities holding its territory (several after a split)
    date: date  # when it ceased to exist (or was renamed)
    region_2015: str  # its region in Bijlage 3

    @property
    def new(self) -> str:
        """The successor when there is one; for a split the first-listed part."""
        return self.successors[0]


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    """One reading of a place named in a text: ``text[start:end]`` is what was written."""

    kind: PlaceKind
    text: str
    start: int
    end: int
    region: str
    municipality: str | None = None  # current name; None for a region reading
    former: str | None = None  # the former municipality named, for FORMER_MUNICIPALITY


# (kind, region, current municipality, former municipality) — one way to read a name
Reading = tuple[PlaceKind, str, "str | None", "str | None"]


def fold(text: str) -> tuple[str, list[int]]:
    """Case-, accent-, apostrophe- and separator-insensitive form of ``text`` and, per folded
    character, the index of the original character it came from (so matches map back to spans)."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch in _APOSTROPHES:
            piece = "'"
        elif ch in _SEPARATORS or ch.isspace():
            piece = " "
        elif ch.isascii():  # NFKD leaves ASCII as it is and combines nothing: casefold is lower
            piece = ch.lower()
        else:
            piece = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)).casefold()
        for c in piece:
            if c == " " and (not out or out[-1] == " "):
                continue
            out.append(c)
            origin.append(i)
    return "".join(out), origin


def fold_key(name: str) -> str:
    return fold(name)[0].strip()


def _read_csv(path: Path, header: list[str]) -> list[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise PlaceTableError(f"Referentietabel ontbreekt: {path.name}")
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PlaceTableError(f"{path.name} is geen leesbaar UTF-8 CSV-bestand ({exc.__class__.__name__}).") from None
    if not rows or [c.strip() for c in rows[0]] != header:
        raise PlaceTableError(f"{path.name}: regel 1 moet de kolommen {','.join(header)} bevatten.")
    records = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise PlaceTableError(f"{path.name}, regel {number}: {len(row)} kolommen, verwacht {len(header)}.")
        records.append((number, {k: v.strip() for k, v in zip(header, row)}))
    return records


def _parse_date(value: str, where: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PlaceTableError(f"{where}: datum '{value}' is geen datum JJJJ-MM-DD.") from None


@dataclass(frozen=True, eq=False)
class PlaceTable:
    regions: tuple[str, ...]
    municipalities: Mapping[str, str]  # current municipality -> region
    former: Mapping[str, FormerMunicipality]
    mergers: tuple[Merger, ...]
    besluit_2015: Mapping[str, str]  # Bijlage 3 as written: name -> region
    _readings: Mapping[str, tuple[Reading, ...]] = field(repr=False)
    _pattern: re.Pattern[str] = field(repr=False)

    # -- loading -------------------------------------------------------------------------------------
    @classmethod
    def load(cls, corpus_dir: Path | str | None = None) -> PlaceTable:
        """Parse ``<corpus_dir>/reference/`` (default: the configured corpus, else the shipped one).
        Cached per directory and file modification time."""
        directory = cls._reference_dir(corpus_dir)
        stamps = tuple((directory / name).stat().st_mtime_ns if (directory / name).exists() else 0
                       for name in (REGIONS_FILE, MERGERS_FILE))
        return _load_cached(str(directory), stamps)

    @staticmethod
    def _reference_dir(corpus_dir: Path | str | None) -> Path:
        if corpus_dir is not None:
            return Path(corpus_dir) / REFERENCE_SUBDIR
        from ingest.settings import get_settings  # lazy: keep this module importable on its own

        configured = Path(get_settings().corpus_dir) / REFERENCE_SUBDIR
        return configured if (configured / REGIONS_FILE).is_file() else _REPO_CORPUS / REFERENCE_SUBDIR

    @classmethod
    def from_files(cls, regions_csv: Path, mergers_csv: Path) -> PlaceTable:
        besluit: dict[str, str] = {}
        regions: list[str] = []
        for number, row in _read_csv(regions_csv, REGIONS_HEADER):
            name, region = row["gemeente"], row["arbeidsmarktregio"]
            if not name or not region:
                raise PlaceTableError(f"{regions_csv.name}, regel {number}: gemeente of arbeidsmarktregio is leeg.")
            if name in besluit:
                raise PlaceTableError(f"{regions_csv.name}, regel {number}: gemeente '{name}' staat er twee keer in.")
            besluit[name] = region
            if region not in regions:
                regions.append(region)
        mergers = cls._read_mergers(mergers_csv)
        current, former = _apply_mergers(besluit, set(regions), mergers, mergers_csv.name)
        empty = [r for r in regions if r not in set(current.values())]
        if empty:
            raise PlaceTableError(f"{mergers_csv.name}: na de herindelingen heeft regio {empty[0]} geen gemeenten meer.")
        aliases = {m.old: m.new for m in mergers if m.date is None}
        readings = _build_readings(regions, current, former, aliases)
        return cls(
            regions=tuple(regions),
            municipalities=MappingProxyType(dict(sorted(current.items(), key=lambda kv: fold_key(kv[0])))),
            former=MappingProxyType(dict(sorted(former.items()))),
            mergers=tuple(mergers),
            besluit_2015=MappingProxyType(besluit),
            _readings=MappingProxyType(readings),
            _pattern=_compile(readings),
        )

    @staticmethod
    def _read_mergers(path: Path) -> list[Merger]:
        mergers: list[Merger] = []
        seen: set[tuple[str, str]] = set()
        for number, row in _read_csv(path, MERGERS_HEADER):
            where = f"{path.name}, regel {number}"
            if not row["oud"] or not row["nieuw"]:
                raise PlaceTableError(f"{where}: oud of nieuw is leeg.")
            if (row["oud"], row["nieuw"]) in seen:
                raise PlaceTableError(f"{where}: {row['oud']} -> {row['nieuw']} staat er twee keer in.")
            seen.add((row["oud"], row["nieuw"]))
            mergers.append(Merger(_parse_date(row["datum"], where), row["oud"], row["nieuw"], row["opmerking"]))
        return mergers

    # -- lookups -------------------------------------------------------------------------------------
    def resolve(self, name: str) -> tuple[str, ...]:
        """Current municipalities a (current, former or variant) municipality name stands for."""
        found = [m for kind, _r, m, _f in self._readings.get(fold_key(name), ()) if kind is not PlaceKind.REGION]
        return tuple(dict.fromkeys(m for m in found if m))

    def region_of(self, name: str) -> str | None:
        """Region of a municipality (current, former or variant name); None when unknown or ambiguous
        (plain "Bergen"; a former municipality split over regions)."""
        regions = self.regions_of(name)
        return regions[0] if len(regions) == 1 else None

    def regions_of(self, name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.municipalities[m] for m in self.resolve(name)))

    def canonical_region(self, name: str) -> str | None:
        """The Besluit's name for a region written as "Regio Zwolle", "arbeidsmarktregio Twente", ..."""
        for kind, region, _m, _f in self._readings.get(fold_key(name), ()):
            if kind is PlaceKind.REGION:
                return region
        return None

    def municipalities_of(self, region: str) -> tuple[str, ...]:
        """Current municipalities of a region (any accepted spelling); empty for an unknown region."""
        canonical = self.canonical_region(region)
        return tuple(m for m, r in self.municipalities.items() if r == canonical) if canonical else ()

    def find(self, text: str) -> list[PlaceMatch]:
        """Regions and (former) municipalities named in ``text``: longest name first, whole words,
        case-insensitive except for names that are ordinary words (COMMON_WORD_NAMES). A name that is
        both a region and a municipality gives both readings, in that order: municipality, region."""
        folded, origin = fold(text)
        matches: list[PlaceMatch] = []
        pos = 0
        while (hit := self._pattern.search(folded, pos)) is not None:
            start, end = origin[hit.start()], origin[hit.end() - 1] + 1
            written = text[start:end]
            readings = self._readings[hit.group(0)]
            if hit.group(0) in _COMMON_KEYS and not written[:1].isupper():
                pos = hit.start() + 1
                continue
            for kind, region, municipality, former in readings:
                matches.append(PlaceMatch(kind, written, start, end, region, municipality, former))
            pos = hit.end()
        return matches


@functools.lru_cache(maxsize=8)
def _load_cached(directory: str, _stamps: tuple[int, ...]) -> PlaceTable:
    base = Path(directory)
    table = PlaceTable.from_files(base / REGIONS_FILE, base / MERGERS_FILE)
    logger.info("places: %d regions, %d municipalities, %d former names", len(table.regions),
                len(table.municipalities), len(table.former))
    return table


def _apply_mergers(
    besluit: Mapping[str, str], regions: set[str], mergers: Iterable[Merger], file_name: str
) -> tuple[dict[str, str], dict[str, FormerMunicipality]]:
    """Replay the herindelingen on Bijlage 3: spelling fixes first, then per date."""
    current = dict(besluit)
    region_2015 = dict(besluit)
    by_date: dict[date | None, list[Merger]] = defaultdict(list)
    for merger in mergers:
        by_date[merger.date].append(merger)
    for merger in by_date.pop(None, []):
        if merger.old not in current:
            raise PlaceTableError(f"{file_name}: schrijfwijze voor onbekende gemeente '{merger.old}'.")
        current[merger.new] = current.pop(merger.old)
        region_2015[merger.new] = region_2015.pop(merger.old)
    successors: dict[str, list[str]] = defaultdict(list)
    ended: dict[str, date] = {}
    for day in sorted(by_date):
        rows = by_date[day]
        removed = {m.old for m in rows}
        for old in removed:
            if old not in current:
                raise PlaceTableError(f"{file_name}: '{old}' ({day}) is op die datum geen gemeente (meer).")
            if old in ended:
                raise PlaceTableError(f"{file_name}: '{old}' wordt twee keer opgeheven.")
        targets: dict[str, list[Merger]] = defaultdict(list)
        for m in rows:
            targets[m.new].append(m)
        new_regions: dict[str, str] = {}
        for target, parts in targets.items():
            found = {current[m.old] for m in parts}
            if target in current and target not in removed:
                found.add(current[target])
            marks = {mark.group(1).strip() for m in parts if (mark := _REGION_MARK.search(m.note))}
            for mark in sorted(marks - regions):
                raise PlaceTableError(f"{file_name}: 'regio nieuw: {mark}' bij '{target}' is geen arbeidsmarktregio.")
            if len(marks) > 1:
                raise PlaceTableError(f"{file_name}: '{target}' ({day}) krijgt meer dan één 'regio nieuw'.")
            if marks:
                (chosen,) = marks
            elif len(found) > 1:
                raise PlaceTableError(
                    f"{file_name}: de delen van '{target}' ({day}) lagen in {', '.join(sorted(found))}; "
                    "zet 'regio nieuw: <regio>' in de opmerking."
                )
            else:
                (chosen,) = found
            new_regions[target] = chosen
        for m in rows:
            successors[m.old].append(m.new)
            ended[m.old] = day
        for old in removed:
            current.pop(old)
        current.update(new_regions)

    def now(name: str, depth: int = 0) -> tuple[str, ...]:
        if name in current or depth > 20:
            return (name,)
        return tuple(dict.fromkeys(n for s in successors[name] for n in now(s, depth + 1)))

    former = {
        old: FormerMunicipality(old, now(old), ended[old], region_2015[old]) for old in successors if old not in current
    }
    return current, former


def _build_readings(
    regions: list[str], current: Mapping[str, str], former: Mapping[str, FormerMunicipality],
    spelling: Mapping[str, str],
) -> dict[str, tuple[Reading, ...]]:
    readings: dict[str, list[Reading]] = defaultdict(list)

    def add(key_text: str, reading: Reading) -> None:
        bucket = readings[fold_key(key_text)]
        if reading not in bucket:
            bucket.append(reading)

    municipal_names: dict[str, list[Reading]] = defaultdict(list)
    for name, region in current.items():
        municipal_names[name].append((PlaceKind.MUNICIPALITY, region, name, None))
    for old, new in {**spelling, **MUNICIPALITY_ALIASES}.items():
        if new in current:
            municipal_names[old].append((PlaceKind.MUNICIPALITY, current[new], new, None))
        elif new in former:  # a short form of a former name reads as that former municipality
            municipal_names[old].extend(
                (PlaceKind.FORMER_MUNICIPALITY, current[s], s, new) for s in former[new].successors
            )
    for word, names in AMBIGUOUS_MUNICIPALITIES.items():
        municipal_names[word].extend((PlaceKind.MUNICIPALITY, current[n], n, None) for n in names if n in current)
    for old, info in former.items():
        municipal_names[old].extend(
            (PlaceKind.FORMER_MUNICIPALITY, current[s], s, old) for s in info.successors if s in current
        )
    for name, items in municipal_names.items():
        for reading in items:
            add(name, reading)
            add(f"gemeente {name}", reading)

    region_names: dict[str, str] = {r: r for r in regions}
    region_names.update({alias: r for alias, r in REGION_ALIASES.items() if r in regions})
    for name, region in region_names.items():
        reading: Reading = (PlaceKind.REGION, region, None, None)
        add(name, reading)
        for prefix in REGION_PREFIXES:
            add(f"{prefix} {name}", reading)
    for province in PROVINCES_SHARING_A_NAME:
        readings[fold_key(f"provincie {province}")] = []  # consumed, reported as nothing
    return {k: tuple(v) for k, v in readings.items() if k}


def _compile(readings: Mapping[str, tuple[Reading, ...]]) -> re.Pattern[str]:
    keys = sorted(readings, key=len, reverse=True)  # longest first: "Bergen op Zoom" before "Bergen"
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(k) for k in keys) + r")(?!\w)")


_COMMON_KEYS = frozenset(fold_key(n) for n in COMMON_WORD_NAMES)
