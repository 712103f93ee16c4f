"""Unit tests of the source registry (corpus/sources.toml): validation, errors, round-trips."""

from __future__ import annotations

import ingest  # noqa: F401  (offline environment first)

import datetime as dt
from pathlib import Path

import pytest
import tomli_w

from ingest.registry import (
    Registry,
    RegistryError,
    SourceEntry,
    SourceStatus,
    SourceType,
    duplicate_ids,
    load_registry,
    save_registry,
    slugify,
)

REPO = Path(__file__).resolve().parent.parent
SHIPPED_REGISTRY = REPO / "corpus" / "sources.toml"
SHIPPED_IDS = {
    "uwv-regio-in-beeld-2025-2026-amersfoort",
    "uwv-regio-in-beeld-2025-2026-groningen",
    "aiz-inzicht-magazine-2025-06-utrecht",
    "szw-handreiking-meerjarenagenda-v1.1",
    "ser-ongekend-talent-2025",
}


def valid_entry(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": "test-bron-2031",
        "title": "Arbeidsmarktverkenning Zuiderhaven 2031",
        "publisher": "Bureau Noord",
        "edition": "2031",
        "published": 2031,
        "type": "rapport",
        "file": "pdf/test-bron-2031.pdf",
        "status": "approved",
    }
    entry.update(overrides)
    return entry


def write_registry(path: Path, *entries: dict[str, object]) -> Path:
    path.write_text(tomli_w.dumps({"sources": list(entries)}), encoding="utf-8")
    return path


def make_entry(source_id: str, **overrides: object) -> SourceEntry:
    return SourceEntry.model_validate(valid_entry(id=source_id, file=f"pdf/{source_id}.pdf", **overrides))


# --- the shipped registry -------------------------------------------------------------------------


def test_shipped_registry_validates_and_lists_the_five_approved_sources() -> None:
    registry = load_registry(SHIPPED_REGISTRY)
    assert {entry.id for entry in registry.sources} == SHIPPED_IDS
    assert {entry.id for entry in registry.approved()} == SHIPPED_IDS
    assert duplicate_ids(registry) == set()


def test_shipped_registry_files_exist_and_metadata_is_typed() -> None:
    registry = load_registry(SHIPPED_REGISTRY)
    corpus = SHIPPED_REGISTRY.parent
    for entry in registry.sources:
        assert (corpus / entry.file).is_file(), entry.file
        assert isinstance(entry.type, SourceType)
        assert entry.status is SourceStatus.approved
        assert entry.year == 2025
    magazine = registry.get("aiz-inzicht-magazine-2025-06-utrecht")
    assert magazine.published == dt.date(2025, 6, 1)
    assert magazine.type is SourceType.magazine
    groningen = registry.get("uwv-regio-in-beeld-2025-2026-groningen")
    # A regional report covers its arbeidsmarktregio, not whole provinces (region-specific figures).
    assert groningen.regions == ["Groningen"] and groningen.provinces == []
    assert {"Midden-Groningen", "Assen"} <= set(groningen.municipalities)


# --- invalid entries: RegistryError names entry id and field --------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),  # None = key left out
        ({"title": ""}, "title"),
        ({"status": "goedgekeurd"}, "status"),
        ({"type": "blog"}, "type"),
        ({"file": "/etc/passwd"}, "file"),
        ({"file": "pdf/../../geheim.pdf"}, "file"),
        ({"published": 1850}, "published"),
        ({"published": 2250}, "published"),
        ({"published": dt.date(1700, 1, 1)}, "published"),
        ({"colour": "blauw"}, "colour"),
    ],
    ids=[
        "missing-title", "empty-title", "bad-status", "bad-type", "absolute-file", "dotdot-file",
        "year-too-early", "year-too-late", "date-too-early", "unknown-key",
    ],
)
def test_invalid_entry_raises_registry_error_naming_entry_and_field(
    tmp_path: Path, change: dict[str, object], field: str
) -> None:
    entry = valid_entry(id="kapotte-bron")
    for key, value in change.items():
        if value is None:
            entry.pop(key)
        else:
            entry[key] = value
    path = write_registry(tmp_path / "sources.toml", valid_entry(), entry)
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    message = str(info.value)
    assert "kapotte-bron" in message
    assert "entry 2" in message
    assert f"field '{field}'" in message
    # the valid first entry is not blamed
    assert "test-bron-2031" not in message


def test_every_invalid_entry_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = write_registry(
        tmp_path / "sources.toml",
        valid_entry(id="eerste-bron", type="blog"),
        valid_entry(id="tweede-bron", status="onbekend"),
    )
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    message = str(info.value)
    assert "eerste-bron" in message and "field 'type'" in message
    assert "tweede-bron" in message and "field 'status'" in message


def test_entry_without_id_is_named_by_its_position(tmp_path: Path) -> None:
    entry = valid_entry()
    entry.pop("id")
    path = write_registry(tmp_path / "sources.toml", entry)
    with pytest.raises(RegistryError, match=r"entry 1, field 'id'"):
        load_registry(path)


@pytest.mark.parametrize("bad_id", ["Hoofdletters", "a", "met spatie", "eindigt-op-", "-begint-met"])
def test_ids_outside_the_pattern_are_rejected(tmp_path: Path, bad_id: str) -> None:
    path = write_registry(tmp_path / "sources.toml", valid_entry(id=bad_id))
    with pytest.raises(RegistryError, match=r"field 'id'"):
        load_registry(path)


def test_invalid_toml_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text('[[sources]]\nid = "zonder-aanhalingsteken\n', encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid TOML"):
        load_registry(path)


def test_non_utf8_registry_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_bytes('[[sources]]\ntitle = "financiële"\n'.encode("cp1252"))
    with pytest.raises(RegistryError, match="not valid TOML"):
        load_registry(path)


def test_missing_registry_file_raises_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not found"):
        load_registry(tmp_path / "bestaat-niet.toml")


def test_unknown_top_level_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(tomli_w.dumps({"sources": [valid_entry()], "bronnen": []}), encoding="utf-8")
    with pytest.raises(RegistryError, match="unknown top-level key.*bronnen"):
        load_registry(path)


def test_sources_must_be_an_array_of_tables(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(tomli_w.dumps({"sources": valid_entry()}), encoding="utf-8")
    with pytest.raises(RegistryError, match=r"array of tables"):
        load_registry(path)


def test_registry_error_is_a_value_error() -> None:
    # The pipeline catches ValueError around load_registry.
    assert issubclass(RegistryError, ValueError)


def test_empty_registry_file_is_an_empty_registry(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text("# nog geen bronnen\n", encoding="utf-8")
    assert load_registry(path).sources == []


# --- duplicates -----------------------------------------------------------------------------------


def test_duplicate_ids_finds_duplicates(tmp_path: Path) -> None:
    path = write_registry(
        tmp_path / "sources.toml",
        valid_entry(id="bron-a"),
        valid_entry(id="bron-b"),
        valid_entry(id="bron-a", title="Tweede keer bron a"),
        valid_entry(id="bron-c"),
        valid_entry(id="bron-c"),
        valid_entry(id="bron-c"),
    )
    registry = load_registry(path)  # duplicates load; the ingest reports them per source
    assert len(registry.sources) == 6
    assert duplicate_ids(registry) == {"bron-a", "bron-c"}


def test_duplicate_ids_is_empty_without_duplicates() -> None:
    registry = Registry(sources=[make_entry("bron-a"), make_entry("bron-b")])
    assert duplicate_ids(registry) == set()
    assert duplicate_ids(Registry()) == set()


# --- save / load round-trip, with_status, with_added ----------------------------------------------


def test_save_and_load_round_trip_the_shipped_registry(tmp_path: Path) -> None:
    original = load_registry(SHIPPED_REGISTRY)
    target = tmp_path / "nieuw" / "sources.toml"  # the parent folder is created
    save_registry(original, target)
    assert load_registry(target) == original
    # atomic write: no temp files left behind
    assert [p.name for p in target.parent.iterdir()] == ["sources.toml"]


def test_save_and_load_round_trip_keeps_dates_lists_and_defaults(tmp_path: Path) -> None:
    entry = make_entry(
        "bron-met-datum",
        published=dt.date(2031, 3, 15),
        regions=["Zuiderhaven", "Oosterveld"],
        url="https://example.org/bron.pdf",
        status="draft",
        type="factsheet",
    )
    bare = make_entry("kale-bron")
    registry = Registry(sources=[entry, bare])
    path = tmp_path / "sources.toml"
    save_registry(registry, path)
    loaded = load_registry(path)
    assert loaded == registry
    assert loaded.get("bron-met-datum").published == dt.date(2031, 3, 15)
    assert loaded.get("bron-met-datum").status is SourceStatus.draft
    assert loaded.get("kale-bron").regions == []


def test_save_overwrites_an_existing_registry(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    save_registry(Registry(sources=[make_entry("bron-a"), make_entry("bron-b")]), path)
    save_registry(Registry(sources=[make_entry("bron-c")]), path)
    assert [entry.id for entry in load_registry(path).sources] == ["bron-c"]


def test_with_status_changes_one_entry_and_leaves_the_original_alone() -> None:
    registry = Registry(sources=[make_entry("bron-a"), make_entry("bron-b")])
    withdrawn = registry.with_status("bron-a", SourceStatus.withdrawn)
    assert withdrawn.get("bron-a").status is SourceStatus.withdrawn
    assert not withdrawn.get("bron-a").approved
    assert withdrawn.get("bron-b").status is SourceStatus.approved
    assert [e.id for e in withdrawn.approved()] == ["bron-b"]
    assert [e.id for e in withdrawn.sources] == ["bron-a", "bron-b"]  # order kept
    assert registry.get("bron-a").status is SourceStatus.approved  # immutable update


def test_with_status_of_unknown_id_raises_key_error() -> None:
    with pytest.raises(KeyError):
        Registry(sources=[make_entry("bron-a")]).with_status("bron-x", SourceStatus.approved)


def test_with_added_appends_and_rejects_an_existing_id() -> None:
    registry = Registry(sources=[make_entry("bron-a")])
    added = registry.with_added(make_entry("bron-b"))
    assert [e.id for e in added.sources] == ["bron-a", "bron-b"]
    assert "bron-b" in added and "bron-b" not in registry
    with pytest.raises(RegistryError, match="bron-a"):
        added.with_added(make_entry("bron-a", title="Andere titel"))


def test_with_status_and_with_added_survive_a_round_trip(tmp_path: Path) -> None:
    registry = load_registry(SHIPPED_REGISTRY)
    changed = registry.with_status("ser-ongekend-talent-2025", SourceStatus.withdrawn).with_added(
        make_entry("nieuwe-bron", status="draft")
    )
    path = tmp_path / "sources.toml"
    save_registry(changed, path)
    loaded = load_registry(path)
    assert loaded.get("ser-ongekend-talent-2025").status is SourceStatus.withdrawn
    assert loaded.get("nieuwe-bron").status is SourceStatus.draft
    assert {e.id for e in loaded.approved()} == SHIPPED_IDS - {"ser-ongekend-talent-2025"}


def test_get_of_unknown_id_raises_key_error() -> None:
    with pytest.raises(KeyError):
        Registry().get("bestaat-niet")


def test_year_property_for_date_and_int() -> None:
    assert make_entry("bron-a", published=dt.date(2024, 12, 31)).year == 2024
    assert make_entry("bron-b", published=2023).year == 2023


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Regio in Beeld 2025 Amersfoort.pdf", "regio-in-beeld-2025-amersfoort.pdf"),
        ("  ~~~  ", "source"),
        ("Werk & Inkomen -- 2031", "werk-inkomen-2031"),
    ],
)
def test_slugify(text: str, expected: str) -> None:
    assert slugify(text) == expected


# --- issue 20: web addresses only, and one locked path for every change -----------------------------


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "JavaScript:alert(document.cookie)", " javascript:alert(1)", "java\tscript:alert(1)",
     "data:text/html,<script>alert(1)</script>", "file:///etc/passwd", "vbscript:msgbox(1)", "ftp://example.org/x",
     "//example.org/bron.pdf", "https://", "http:///pad", "example.org/bron.pdf"],
)
def test_url_must_be_a_web_address(url: str) -> None:
    with pytest.raises(ValueError, match="url"):
        SourceEntry.model_validate(valid_entry(url=url))


def test_web_addresses_and_empty_url_are_accepted() -> None:
    for url in ("", "https://www.uwv.nl/nl/arbeidsmarktinformatie", "HTTP://example.org/a?b=c#d"):
        assert SourceEntry.model_validate(valid_entry(url=url)).url == url


def test_slugify_of_a_long_name_is_a_valid_id() -> None:
    for name in ("a" * 119 + "-b" * 40, "rapport " * 40, "x" * 300):
        SourceEntry.model_validate(valid_entry(id=slugify(name)))  # no trailing '-' after the cut
    assert slugify("ab") == "ab-source"


CHANGER = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from ingest.registry import change_registry, SourceEntry
path, worker = Path(sys.argv[2]), sys.argv[3]
for n in range(15):
    entry = SourceEntry(id=f"p{worker}-{n:02d}", title="t", publisher="p", edition="1", published=2025,
                        type="factsheet", file=f"files/p{worker}-{n}.txt")
    change_registry(path, lambda registry: registry.with_added(entry))
"""


def test_change_registry_from_processes_and_threads_loses_nothing(tmp_path: Path) -> None:
    """Three processes and three threads add 15 sources each through change_registry at once."""
    import subprocess
    import sys
    import threading

    from ingest.registry import change_registry

    path = tmp_path / "sources.toml"
    save_registry(Registry(sources=[make_entry(f"vulling-{i:03d}") for i in range(300)]), path)
    processes = [subprocess.Popen([sys.executable, "-c", CHANGER, str(REPO), str(path), str(w)]) for w in range(3)]

    def add(worker: int) -> None:
        for n in range(15):
            entry = make_entry(f"t{worker}-{n:02d}")
            change_registry(path, lambda registry: registry.with_added(entry))

    threads = [threading.Thread(target=add, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [process.wait(timeout=120) for process in processes] == [0, 0, 0]
    ids = {entry.id for entry in load_registry(path).sources}
    assert len(ids) == 300 + 6 * 15
    assert {f"p{w}-{n:02d}" for w in range(3) for n in range(15)} <= ids
    assert {f"t{w}-{n:02d}" for w in range(3) for n in range(15)} <= ids


def test_change_registry_saves_nothing_when_the_change_refuses(tmp_path: Path) -> None:
    from ingest.registry import change_registry

    path = tmp_path / "sources.toml"
    save_registry(Registry(sources=[make_entry("bron-a")]), path)
    before = path.read_bytes()
    with pytest.raises(RegistryError, match="already"):
        change_registry(path, lambda registry: registry.with_added(make_entry("bron-a")))
    assert change_registry(path, lambda registry: registry) == load_registry(path)
    assert path.read_bytes() == before
