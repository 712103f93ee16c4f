"""The `marktwijzer` command line: thin commands over ingest and assistant."""

from __future__ import annotations

import ingest  # noqa: F401  (sets the offline environment before heavy imports)

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.registry import (
    RegistryError,
    SourceStatus,
    SourceType,
    load_registry,
)
from ingest.settings import Settings
from ingest.store import IndexNotReady, IngestLocked, current_generation, open_index

app = typer.Typer(help="Marktwijzer: arbeidsmarktadvies uit goedgekeurde bronnen.", no_args_is_help=True)
sources_app = typer.Typer(help="Manage the source registry (then run `marktwijzer ingest`).")
app.add_typer(sources_app, name="sources")
index_app = typer.Typer(help="Index operations (scale-out: Chroma server).")
app.add_typer(index_app, name="index")

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


EXIT_REPAIRED = 3  # ingest: the serving index was damaged and this run rebuilt it (report.repaired)


@app.command("ingest")
def ingest_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-parse and re-embed every source.")] = False,
) -> None:
    """Index the approved sources incrementally. Exit code 2 when some sources failed, 3 when the index
    was damaged and has been repaired (the report's `repaired` names the parts)."""
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
        if report.repaired:
            console.print(f"[yellow]hersteld[/yellow]: de index was beschadigd ({', '.join(report.repaired)}); "
                          f"generatie {report.generation} is heel")
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)
    if report.repaired:
        raise typer.Exit(EXIT_REPAIRED)


def _source_rows(settings: Settings) -> list[dict[str, Any]]:
    registry = load_registry(settings.registry_path)
    generation = current_generation(settings.index_dir)
    try:
        indexed = generation.read_manifest().sources if generation else {}
    except IndexNotReady as exc:  # a damaged manifest: one clear line, no traceback
        raise _fail(escape(str(exc))) from None
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
            handle = open_index(settings.index_dir, settings.chroma_url)
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
    """Copy FILE into the corpus and register it (draft unless --status approved).

    The same checks and the same locked registry change as an upload through the API or the UI.
    """
    from assistant.uploads import UploadMetadata, UploadRefused, add_source, read_local_file, split_list

    settings = _settings()
    meta = UploadMetadata(
        title=title, id=source_id, publisher=publisher, edition=edition or None, published=published,
        type=source_type, regions=split_list(regions), url=url, status=status,
    )
    try:
        data = read_local_file(file, settings.max_upload_bytes, own_files=(settings.registry_path, settings.data_dir))
        entry = add_source(settings, file.name, data, meta)
    except UploadRefused as exc:
        raise _fail(escape(f"{file.name}: {_refusal_text(exc)}")) from None
    console.print(f"toegevoegd: {escape(entry.id)} ({entry.status.value}); draai `marktwijzer ingest` om te indexeren")


def _refusal_text(exc: Any) -> str:
    """An UploadRefused as one line: the message and, for invalid metadata, which field and why."""
    details = exc.detail if isinstance(exc.detail, list) else []
    extra = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict))
    return f"{exc.message} ({extra})" if extra else exc.message


def _set_status(source_id: str, status: SourceStatus) -> None:
    from assistant.uploads import UploadRefused, set_status

    try:
        set_status(_settings(), source_id, status)  # locked: never loses a concurrent API/UI change
    except UploadRefused as exc:
        raise _fail(escape(_refusal_text(exc))) from None
    console.print(f"{escape(source_id)}: {status.value}; draai `marktwijzer ingest` om de index bij te werken")


@sources_app.command("approve")
def sources_approve(source_id: str) -> None:
    """Mark a source approved (indexed at the next ingest)."""
    _set_status(source_id, SourceStatus.approved)


@sources_app.command("withdraw")
def sources_withdraw(source_id: str) -> None:
    """Withdraw a source (removed from every answer path at the next ingest)."""
    _set_status(source_id, SourceStatus.withdrawn)


def _assistant(settings: Settings):  # noqa: ANN202
    from assistant.answer import get_assistant

    try:
        return get_assistant(settings)
    except IndexNotReady as exc:
        raise _fail(str(exc)) from None


def _print_answer(answer: Any) -> None:
    out = Console()
    out.print(answer.answer, markup=False, highlight=False)
    if answer.citations:
        out.print()
        for citation in answer.citations:
            pages = f"p. {citation.page}" + (f"-{citation.page_end}" if citation.page_end else "")
            out.print(f"[{citation.n}] {citation.title} ({citation.publisher}), {pages}, {citation.section}",
                      markup=False, highlight=False)
    for figure in answer.figures:
        out.print(f"= {figure.label}: {figure.display} ({figure.expression})", markup=False, highlight=False)


@app.command("figures")
def figures_command(
    words: Annotated[str, typer.Argument(help="What the figure measures, e.g. 'vacatures zorg'.")] = "",
    region: Annotated[Optional[str], typer.Option(help="A region, province or municipality.")] = None,
    year: Annotated[Optional[int], typer.Option(help="A year the sentence names.")] = None,
    source: Annotated[Optional[str], typer.Option(help="A source id.")] = None,
    kind: Annotated[Optional[str], typer.Option(help="level, change, share, ratio or money.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON records with provenance.")] = False,
) -> None:
    """Query the figures extracted at ingest (number, unit, what it measures, period, region, source)."""
    from ingest import figures
    from ingest.store import IndexDamaged, check_generation

    settings = _settings()
    generation = current_generation(settings.index_dir)
    if generation is None:
        raise _fail("er is nog geen index; draai eerst `marktwijzer ingest`")
    # A deleted or emptied figures.jsonl must not read as "no figures": what this command reads is checked.
    read = ("manifest.json", "figures.jsonl")
    damage = [d for d in check_generation(generation, settings.chroma_url) if d.part in read]
    try:
        if damage:
            raise IndexDamaged(generation.name, damage)
        records = figures.load(generation.root)
    except IndexDamaged as exc:
        from rich.markup import escape

        raise _fail(escape(str(exc))) from None
    except (OSError, ValueError) as exc:  # a generation without checksums whose figures.jsonl is unreadable
        raise _fail(f"figures.jsonl van generatie {generation.name} is onleesbaar ({type(exc).__name__}); "
                    "draai `marktwijzer ingest` om de index te herstellen") from None
    found = figures.query(records, words, region, year, source, kind)[:limit]
    if as_json:
        _emit_json([record.model_dump() for record in found])
        return
    table = Table("getal", "soort", "meet", "periode", "regio", "bron, p.")
    for record in found:
        table.add_row(
            record.text, record.kind, " ".join(record.measure), ", ".join(map(str, record.period)),
            ", ".join(record.region), f"{record.source_id} p. {record.page}",
        )
    Console().print(table)


@app.command("ask")
def ask(
    question: Annotated[Optional[str], typer.Argument(help="De vraag, in het Nederlands.")] = None,
    source: Annotated[Optional[list[str]], typer.Option("--source", help="Only this source id (repeatable).")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="Only sources covering this region.")] = None,
    batch: Annotated[Optional[Path], typer.Option("--batch", help="JSONL file of {id, question} lines.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer contract as JSON.")] = False,
) -> None:
    """Answer one question, or a batch file (one Answer per line on stdout)."""
    from assistant.retrieve import Filters

    if (question is None) == (batch is None):
        raise _fail("geef een vraag of --batch FILE (niet beide)")
    filters = Filters(sources=source or [], region=region) if (source or region) else None
    assistant = _assistant(_settings())
    if batch is not None:
        raise typer.Exit(_ask_batch(assistant, batch, filters))
    try:
        answer = assistant.ask(question or "", filters=filters)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _emit_json(answer.model_dump(mode="json"))
    else:
        _print_answer(answer)


def _ask_batch(assistant: Any, path: Path, filters: Any) -> int:
    """Answer every line; a bad line gets an error line and the rest goes on (exit 2 if any failed)."""
    from assistant.types import HistoryTurn

    failures = 0
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{path}: {exc}") from None
    with handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            item_id: Any = None
            try:
                item = json.loads(line)
                if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                    raise ValueError("expected an object with a string 'question'")
                item_id = item.get("id")
                history = [HistoryTurn.model_validate(h) for h in item.get("history") or []]
                answer = assistant.ask(item["question"], history=history, filters=filters,
                                       request_id=None if item_id is None else str(item_id))
                sys.stdout.write(answer.model_dump_json() + "\n")
            except Exception as exc:  # one bad line never stops the batch
                failures += 1
                sys.stdout.write(json.dumps({"id": item_id, "line": line_no, "error": str(exc)}, ensure_ascii=False) + "\n")
            sys.stdout.flush()
    return EXIT_PARTIAL if failures else EXIT_OK


@app.command("eval")
def eval_command(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Evaluation set(s), JSONL.")],
    report: Annotated[Optional[Path], typer.Option("--report", help="Write metrics.json, report.md, chart.png here.")] = None,
    previous: Annotated[Optional[Path], typer.Option("--previous", help="metrics.json of an earlier run to compare with.")] = None,
    gate: Annotated[Optional[str], typer.Option("--gate", help="Thresholds as JSON, e.g. '{\"hit@5\": 0.85}'.")] = None,
) -> None:
    """Score evaluation sets against the assistant; prints the metrics object (exit 3 if a gate fails)."""
    from assistant import evaluate

    assistant = _assistant(_settings())
    items: list[dict[str, Any]] = []
    try:
        for file in files:
            items.extend(evaluate.load_items(file))
    except ValueError as exc:
        raise _fail(str(exc)) from None

    def answer(item: dict[str, Any]) -> Any:
        # Follow-up items carry their earlier turns (`history`): answered as a conversation.
        from assistant.types import HistoryTurn

        history = [HistoryTurn.model_validate(turn) for turn in item.get("history") or []] or None
        return assistant.ask(item["question"], history, request_id=str(item.get("id")))

    result = evaluate.evaluate(items, answer)
    earlier = None
    if previous is not None:
        earlier = evaluate.EvalResult.model_validate_json(previous.read_text(encoding="utf-8"))
    if report is not None:
        evaluate.write_report(result, report, previous=earlier, title=" + ".join(f.name for f in files))
    _emit_json(result.metrics)
    if gate:
        violations = evaluate.check_thresholds(result.metrics, json.loads(gate))
        for violation in violations:
            console.print(f"[red]gate[/red] {violation}")
        if violations:
            raise typer.Exit(3)


@index_app.command("push")
def index_push(
    chroma_url: Annotated[Optional[str], typer.Option("--chroma-url", help="Target server (default MARKTWIJZER_CHROMA_URL).")] = None,
) -> None:
    """Copy the current embedded generation's vectors into the Chroma server (no re-embedding),
    so this DATA_DIR can serve with MARKTWIJZER_CHROMA_URL set."""
    from ingest.store import push_generation_to_server

    settings = _settings()
    url = chroma_url or settings.chroma_url
    if not url:
        raise _fail("geef --chroma-url of zet MARKTWIJZER_CHROMA_URL")
    try:
        copied = push_generation_to_server(settings.index_dir, url)
    except IndexNotReady as exc:
        raise _fail(str(exc)) from None
    generation = current_generation(settings.index_dir)
    console.print(f"{copied} passages van {generation.name if generation else '?'} naar {url} gekopieerd")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """Start the HTTP API (keys: MARKTWIJZER_READER_KEYS / ADMIN_KEYS; see README "HTTP API")."""
    import uvicorn

    from assistant.api import uvicorn_options

    console.print(f"API op http://{host}:{port} (OpenAPI: http://{host}:{port}/docs)")
    logging.getLogger("marktwijzer").setLevel(logging.INFO)
    logging.getLogger("assistant").setLevel(logging.INFO)
    uvicorn.run(
        "assistant.api:create_app", factory=True, host=host, port=port, log_level="info",
        timeout_keep_alive=15, timeout_graceful_shutdown=10, **uvicorn_options(),
    )


@app.command("mcp")
def mcp_command(
    http: Annotated[bool, typer.Option("--http", help="Streamable HTTP at http://HOST:PORT/mcp instead of stdio.")] = False,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8001,
) -> None:
    """Serve the MCP tools ask, search_passages, get_figures and list_sources (stdio for a local MCP host;
    --http needs the API keys of MARKTWIJZER_READER_KEYS / ADMIN_KEYS, as `serve` does)."""
    from assistant.mcp_server import serve as serve_mcp

    if http:
        console.print(f"MCP op http://{host}:{port}/mcp (streamable HTTP)")
        logging.getLogger("assistant").setLevel(logging.INFO)
    serve_mcp(_settings(), http=http, host=host, port=port)


@app.command("ui")
def ui(
    port: Annotated[int, typer.Option("--port")] = 8501,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    api_url: Annotated[Optional[str], typer.Option("--api-url", help="Call this HTTP API instead of the in-process assistant (MARKTWIJZER_API_URL).")] = None,
) -> None:
    """Start the Streamlit UI (chat, Bronnen, Evaluaties). Replaces this process with the Streamlit server."""
    import os

    app_path = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    if api_url:
        os.environ["MARKTWIJZER_API_URL"] = api_url
    console.print(f"UI op http://{host}:{port}")
    command = [
        sys.executable, "-m", "streamlit", "run", str(app_path),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--client.toolbarMode", "minimal", "--theme.base", "light",
    ]
    sys.stderr.flush()
    os.execv(sys.executable, command)


if __name__ == "__main__":
    app()
