"""The figure store over HTTP (issue 16): GET /v1/figures, the records `marktwijzer figures` queries
(same filters, same order), paginated, each with its provenance. Also used by the MCP server.

Only figures of sources the registry approves now are listed: a source withdrawn a moment ago is
gone here even before the ingest that removes it from the index has run.
"""

from __future__ import annotations

import threading
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assistant.api import AUTH_ERRORS, ApiContext, ApiError, Reader, _responses
from ingest import figures
from ingest.figures import FigureRecord
from ingest.registry import RegistryError, SourceEntry, load_registry
from ingest.settings import Settings
from ingest.store import IndexDamaged, check_generation, current_generation

FigureKind = Literal["level", "change", "share", "ratio", "money"]
MAX_PAGE = 500

_cache: dict[str, tuple[tuple[int, int], list[FigureRecord]]] = {}
_cache_lock = threading.Lock()


class FigureOut(FigureRecord):
    """A figure as written in a source, with where it stands (source, page, passage, sentence)."""

    title: str = Field(description="Title of the source.")
    publisher: str
    edition: str


class FigurePage(BaseModel):
    total: int = Field(description="Figures matching the filters (all pages).")
    limit: int
    offset: int
    items: list[FigureOut]


def read_figures(settings: Settings) -> list[FigureRecord]:
    """The serving generation's figures, checked as `marktwijzer figures` checks them (a deleted or
    emptied figures.jsonl is damage, not "no figures"); parsed once per generation and file state."""
    generation = current_generation(settings.index_dir)
    if generation is None:
        raise ApiError(503, "index_not_ready", "Er is nog geen index; draai `marktwijzer ingest`.",
                       headers={"Retry-After": "5"})
    damage = [d for d in check_generation(generation, settings.chroma_url) if d.part in ("manifest.json", figures.FIGURES_FILE)]
    if damage:
        exc = IndexDamaged(generation.name, damage)
        raise ApiError(503, exc.code, str(exc), headers={"Retry-After": "30"})
    path = generation.root / figures.FIGURES_FILE
    try:
        stat = path.stat()
        state = (stat.st_mtime_ns, stat.st_size)
    except FileNotFoundError:
        state = (0, 0)
    key = str(generation.root)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == state:
        return cached[1]
    try:
        records = figures.load(generation.root)
    except (OSError, ValueError) as exc:
        raise ApiError(503, "index_damaged", f"figures.jsonl van generatie {generation.name} is onleesbaar "
                       f"({type(exc).__name__}); draai `marktwijzer ingest`.", headers={"Retry-After": "30"}) from exc
    with _cache_lock:
        _cache.clear()  # one generation serves at a time
        _cache[key] = (state, records)
    return records


def approved_entries(settings: Settings) -> dict[str, SourceEntry]:
    try:
        return {e.id: e for e in load_registry(settings.registry_path).approved()}
    except RegistryError as exc:
        raise ApiError(500, "registry_invalid", f"Het bronnenregister is ongeldig: {exc}") from exc


def find_figures(settings: Settings, words: str = "", region: str | None = None, year: int | None = None,
                 source: str | None = None, kind: str | None = None) -> list[FigureOut]:
    """`ingest.figures.query` over the approved sources' figures, with each source's title."""
    entries = approved_entries(settings)
    found = figures.query(read_figures(settings), words, region, year, source, kind)
    return [
        FigureOut(**record.model_dump(), title=entries[record.source_id].title,
                  publisher=entries[record.source_id].publisher, edition=entries[record.source_id].edition)
        for record in found if record.source_id in entries
    ]


def figures_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["figures"])

    @router.get("/v1/figures", response_model=FigurePage, responses=_responses(*AUTH_ERRORS, 422, 503))
    async def list_figures(
        _principal: Reader,
        words: Annotated[str, Query(max_length=500, description="What the figure measures, e.g. 'vacatures zorg'.")] = "",
        region: Annotated[str | None, Query(max_length=200, description="A region, province or municipality.")] = None,
        year: Annotated[int | None, Query(ge=1900, le=2100, description="A year the sentence names.")] = None,
        source: Annotated[str | None, Query(max_length=200, description="A source id.")] = None,
        kind: Annotated[FigureKind | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> FigurePage:
        """The figures extracted at ingest (number, unit, kind, what it measures, period, region) with
        provenance (source, page, passage id, sentence); best matches first, as `marktwijzer figures`."""
        found = await run_in_threadpool(find_figures, ctx.settings, words, region, year, source, kind)
        return FigurePage(total=len(found), limit=limit, offset=offset, items=found[offset: offset + limit])

    return router
