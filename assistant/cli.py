"""The `marktwijzer` command line: thin commands over ingest and assistant."""

from __future__ import annotations

import ingest  # noqa: F401  (sets the offline environment before heavy imports)

import datetime as dt
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.loaders import LoadError, load_file
from ingest.registry import (
    RegistryError,
    SourceEntry,
    SourceStatus,
    SourceType,
    load_registry,
    save_registry,
)
from ingest.settings import Settings
from ingest.store import IndexNotReady, IngestLocked, current_generation, open_index

app = typer.Typer(help="Marktwijzer: arbeidsmarktadvies uit goedgekeurde bronnen.", no_args_is_help=True)
sources_app = typer.Typer(help="Manage the source registry (then run `marktwijzer ingest`).")
app.add_typer(sources_app, name="sources")

console = Console(stderr=True)
log = logging.getLogger("marktwijzer")

EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = 0, 1, 2


def _settings() -> Settings:
    return Settings()


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n")


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    console.print(f"[red]fout:[/red] {message}")
    return typer.Exit(code)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("bm25s").setLevel(logging.WARNING)


@app.command("ingest")
def ingest_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-parse and re-embed every source.")] = False,
) -> None:
    """Index the approved sources incrementally. Exit code 2 when some sources failed."""
    from ingest.pipeline import IngestError, run_ingest

    settings = _settings()
    try:
        if sys.stderr.isatty() and not as_json:
            with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                          TimeElapsedColumn(), console=console, transient=True) as bar:
                task = bar.add_task("starten", total=None)

                def progress(message: str, done: int, total: int) -> None:
                    bar.update(task, description=message, completed=done, total=total or None)

                report = run_ingest(settings, rebuild=rebuild, progress=progress)
        else:
            report = run_ingest(settings, rebuild=rebuild)
    except (IngestError, IngestLocked) as exc:
        raise _fail(f"{exc}") from None
    if as_json:
        _emit_json(report.model_dump(mode="json"))
    else:
        console.print(
            f"toegevoegd {report.added}, bijgewerkt {report.updated}, ongewijzigd {report.unchanged}, "
            f"verwijderd {report.removed}, mislukt {len(report.failed)}; {report.chunks} passages, "
            f"{report.embedded} ingebed, {report.seconds:.1f} s"
        )
        for failure in report.failed:
            console.print(f"[red]mislukt[/red] {failure.source_id}: {failure.error}")
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)


def _source_rows(settings: Settings) -> list[dict[str, Any]]:
    registry = load_registry(settings.registry_path)
    generation = current_generation(settings.index_dir)
    indexed = generation.read_manifest().sources if generation else {}
    rows = []
    for entry in registry.sources:
        state = indexed.get(entry.id)
        rows.append(
            {
                "id": entry.id,
                "title": entry.title,
                "status": entry.status.value,
                "type": entry.type.value,
                "pages": state.pages if state else None,
                "chunks": state.chunks if state else 0,
                "sha256": state.sha256 if state else None,
                "indexed_at": state.indexed_at if state else None,
            }
        )
    return rows


@sources_app.callback(invoke_without_command=True)
def sources_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the registry with the index state of each source."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        rows = _source_rows(_settings())
    except RegistryError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _emit_json(rows)
        return
    table = Table("id", "status", "pagina's", "passages", "geïndexeerd")
    for row in rows:
        table.add_row(row["id"], row["status"], str(row["pages"] or "-"), str(row["chunks"]), row["indexed_at"] or "-")
    Console().print(table)


@sources_app.command("show")
def sources_show(
    source_id: str,
    chunks: Annotated[bool, typer.Option("--chunks", help="Include the indexed passages.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One source: registry entry, index state and (with --chunks) its passages."""
    settings = _settings()
    try:
        registry = load_registry(settings.registry_path)
        entry = registry.get(source_id)
    except RegistryError as exc:
        raise _fail(str(exc)) from None
    except KeyError:
        raise _fail(f"geen bron met id '{source_id}' in het register") from None
    data: dict[str, Any] = entry.model_dump(mode="json")
    row = next(r for r in _source_rows(settings) if r["id"] == source_id)
    data.update({k: row[k] for k in ("pages", "chunks", "sha256", "indexed_at")})
    if chunks:
        try:
            handle = open_index(settings.index_dir)
        except IndexNotReady as exc:
            raise _fail(str(exc)) from None
        data["chunks"] = [
            {
                "id": c["id"],
                "page_start": c["metadata"]["page_start"],
                "page_end": c["metadata"]["page_end"],
                "section": c["metadata"]["section"],
                "section_path": c["metadata"]["section_path"],
                "text": c["document"][c["metadata"]["text_offset"]:],
            }
            for c in handle.chunks_of(source_id)
        ]
    if as_json:
        _emit_json(data)
        return
    out = Console()
    for key, value in data.items():
        if key != "chunks" or not chunks:
            out.print(f"[bold]{key}[/bold]: {value}")
    if chunks:
        for chunk in data["chunks"]:
            out.rule(f"p. {chunk['page_start']}-{chunk['page_end']} · {chunk['section']}")
            out.print(chunk["text"], markup=False, highlight=False)


@sources_app.command("add")
def sources_add(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    source_id: Annotated[str, typer.Option("--id", help="Registry id, e.g. uwv-regio-in-beeld-2026-utrecht.")],
    title: Annotated[str, typer.Option("--title")],
    publisher: Annotated[str, typer.Option("--publisher")] = "onbekend",
    edition: Annotated[str, typer.Option("--edition")] = "",
    published: Annotated[Optional[str], typer.Option("--published", help="YYYY or YYYY-MM-DD")] = None,
    source_type: Annotated[SourceType, typer.Option("--type")] = SourceType.rapport,
    regions: Annotated[Optional[str], typer.Option("--regions", help="Comma-separated arbeidsmarktregio's.")] = None,
    url: Annotated[str, typer.Option("--url")] = "",
    status: Annotated[SourceStatus, typer.Option("--status")] = SourceStatus.draft,
) -> None:
    """Copy FILE into the corpus and register it (draft unless --status approved)."""
    settings = _settings()
    try:
        load_file(file)  # refuse unreadable files before they enter the corpus
    except LoadError as exc:
        raise _fail(f"{file.name}: {exc}") from None
    year = dt.date.today().year
    published_value: dt.date | int = year
    if published:
        published_value = int(published) if published.isdigit() else dt.date.fromisoformat(published)
    target = Path("files") / f"{source_id}{file.suffix.lower()}"
    try:
        entry = SourceEntry(
            id=source_id, title=title, publisher=publisher, edition=edition or str(published_value),
            published=published_value, type=source_type,
            regions=[r.strip() for r in (regions or "").split(",") if r.strip()],
            file=str(target), url=url, status=status,
        )
        registry = load_registry(settings.registry_path).with_added(entry)
    except (RegistryError, ValueError) as exc:
        raise _fail(str(exc)) from None
    destination = settings.corpus_dir / target
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(file, destination)
    save_registry(registry, settings.registry_path)
    console.print(f"toegevoegd: {source_id} ({status.value}); draai `marktwijzer ingest` om te indexeren")


def _set_status(source_id: str, status: SourceStatus) -> None:
    settings = _settings()
    try:
        registry = load_registry(settings.registry_path)
        save_registry(registry.with_status(source_id, status), settings.registry_path)
    except RegistryError as exc:
        raise _fail(str(exc)) from None
    except KeyError:
        raise _fail(f"geen bron met id '{source_id}' in het register") from None
    console.print(f"{source_id}: {status.value}; draai `marktwijzer ingest` om de index bij te werken")


@sources_app.command("approve")
def sources_approve(source_id: str) -> None:
    """Mark a source approved (indexed at the next ingest)."""
    _set_status(source_id, SourceStatus.approved)


@sources_app.command("withdraw")
def sources_withdraw(source_id: str) -> None:
    """Withdraw a source (removed from every answer path at the next ingest)."""
    _set_status(source_id, SourceStatus.withdrawn)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """Start the HTTP API."""
    import uvicorn

    console.print(f"API op http://{host}:{port} (OpenAPI: http://{host}:{port}/docs)")
    uvicorn.run("assistant.api:app", host=host, port=port, log_level="info")


@app.command("ui")
def ui(port: Annotated[int, typer.Option("--port")] = 8501, host: Annotated[str, typer.Option("--host")] = "127.0.0.1") -> None:
    """Start the Streamlit UI."""
    import subprocess

    app_path = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    console.print(f"UI op http://{host}:{port}")
    command = [
        sys.executable, "-m", "streamlit", "run", str(app_path),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]
    raise typer.Exit(subprocess.call(command))


if __name__ == "__main__":
    app()
