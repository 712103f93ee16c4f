"""Model Context Protocol server (issue 16): `marktwijzer mcp` (stdio) or `marktwijzer mcp --http`
(streamable HTTP), built on the official `mcp` SDK (`MCPServer`, FastMCP's name in mcp 2).

Tools: `ask` (the Answer contract), `search_passages` (cited passages with page and section),
`get_figures` (figure records with provenance), `list_sources` (approved sources). Answers go
through the same path as the HTTP API (`assistant.api`: limits, timeout, cancellation, audit record),
so every guarantee holds. Over HTTP the same reader/admin keys are required (Bearer or X-API-Key)
and the same per-key rate limit applies; the audit log records the key name, or `mcp-stdio` for
a local stdio host.

Only sources the registry approves *now* appear in any tool's result: a source withdrawn with
`marktwijzer sources withdraw` is excluded at once, before the ingest that removes it from the index.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Annotated, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.api import (
    API_VERSION,
    EMPTY_INDEX_ANSWER,
    ApiContext,
    ApiError,
    AskRequest,
    SourceOut,
    _audit,
    _compute_answer,
    _indexed,
    _prepare,
    _source_out,
    answer_timeout,
    new_context,
)
from assistant.audit import AuditStore
from assistant.auth import ANONYMOUS_ADMIN, Principal, Role, presented_keys
from assistant.figures_api import FigureOut, approved_entries, find_figures
from assistant.retrieve import Filters
from assistant.types import Answer, HistoryTurn
from ingest.settings import Settings

log = logging.getLogger(__name__)

STDIO_PRINCIPAL = Principal("mcp-stdio", Role.reader)
MAX_PASSAGES = 20
MAX_FIGURES = 200
READY_WAIT_S = 120.0  # a host calls a tool right after starting us: wait for the index to load
T = TypeVar("T")

INSTRUCTIONS = (
    "Marktwijzer beantwoordt Nederlandse vragen over de regionale arbeidsmarkt uitsluitend uit goedgekeurde "
    "bronnen (UWV Regio in Beeld e.a.), met bronvermelding [n] per zin. Gebruik `ask` voor een antwoord, "
    "`search_passages` voor passages, `get_figures` voor cijfers met herkomst en `list_sources` voor de bronnen. "
    "Geef antwoorden door met hun [n]-verwijzingen en bronnen; voeg geen eigen cijfers of voorspellingen toe."
)


class PassageOut(BaseModel):
    chunk_id: str
    source_id: str
    title: str
    publisher: str
    edition: str
    page: int = Field(description="First page of the passage.")
    page_end: int
    section: str
    text: str
    score: float = Field(description="Retrieval score (fused, 0..1).")


# -- the runtime shared by all tools -------------------------------------------------------------


def build_context(settings: Settings) -> ApiContext:
    """The HTTP API's context (keys, limits, answer pool, audit store), without the HTTP app."""
    ctx = new_context(settings, thread_name_prefix="mcp-answer")
    ctx.audit = AuditStore(settings)
    ctx.start_loading()
    return ctx


async def _ready(ctx: ApiContext) -> None:
    """Until the assistant is loaded (or loading failed: then require_assistant says why)."""
    deadline = time.monotonic() + READY_WAIT_S
    while ctx.assistant is None and time.monotonic() < deadline:
        loader = ctx._loader
        if loader is not None and not loader.is_alive() and ctx.load_error:
            break
        ctx.start_loading()  # no-op while a load runs
        await asyncio.sleep(0.1)
    ctx.require_assistant()


async def _bounded(ctx: ApiContext, job: Callable[[], T]) -> T:
    """`job` in the answer pool, counted against the same queue bound and timeout as answers."""
    if not ctx.admit():
        raise ApiError(503, "overloaded", "Het is te druk; probeer het zo opnieuw.")
    try:
        work = ctx.executor.submit(job)
    except RuntimeError as exc:
        ctx.release()
        raise ApiError(503, "unavailable", "De server stopt.") from exc
    work.add_done_callback(lambda _work: ctx.release())
    try:
        return await asyncio.wait_for(asyncio.wrap_future(work), timeout=answer_timeout(ctx.settings))
    except TimeoutError as exc:
        work.cancel()
        raise ApiError(504, "timeout", "Het zoeken duurde te lang; probeer het opnieuw.") from exc


def _tool_error(exc: ApiError) -> ToolError:
    return ToolError(f"{exc.code}: {exc.message}")


def _principal(context: Context) -> Principal:
    """The key that opened this HTTP connection (set by KeyAuth), or the local stdio host."""
    request = context.request_context.request
    if request is None:
        return STDIO_PRINCIPAL
    principal = (getattr(request, "scope", {}).get("state") or {}).get("principal")
    if not isinstance(principal, Principal):  # KeyAuth lets nothing through without one
        raise ToolError("missing_key: geen API-sleutel")
    return principal


class NothingApproved(Exception):
    """Every indexed source is withdrawn in the registry: nothing may answer."""


def approved_filters(settings: Settings, region: str | None = None, sources: list[str] | None = None,
                     types: list[str] | None = None) -> Filters | None:
    """The caller's filters, limited to sources the registry approves now. Without a stale source in the
    index (withdrawn, not yet re-ingested) the filters stay as given, so answers equal /v1/ask's."""
    approved = set(approved_entries(settings))
    unknown = [s for s in sources or [] if s not in approved]
    if unknown:
        raise ToolError(f"source_not_found: geen goedgekeurde bron met id {', '.join(map(repr, unknown))}; "
                        "zie list_sources")
    wanted = list(sources or [])
    indexed = set(_indexed(settings))
    if not wanted and indexed - approved:
        wanted = sorted(indexed & approved)
        if not wanted:
            raise NothingApproved()
    if not (wanted or types or region):
        return None
    return Filters(sources=wanted, types=list(types or []), region=region)


# -- the server ---------------------------------------------------------------------------------


def create_server(ctx: ApiContext) -> MCPServer:
    settings = ctx.settings
    server = MCPServer(
        "marktwijzer", title="Marktwijzer", version=API_VERSION, instructions=INSTRUCTIONS,
        description="Arbeidsmarktadvies uit goedgekeurde bronnen, met bronvermelding.",
        log_level="WARNING",
    )

    @server.tool(title="Vraag het Marktwijzer")
    async def ask(
        question: Annotated[str, Field(description="De vraag, in het Nederlands.", max_length=2000)],
        context: Context,
        region: Annotated[str | None, Field(description="Alleen bronnen over deze arbeidsmarktregio.")] = None,
        source: Annotated[list[str] | None, Field(description="Alleen deze bron-id's (zie list_sources).")] = None,
        history: Annotated[list[HistoryTurn] | None, Field(description="Eerdere vragen en antwoorden, oudste eerst.")] = None,
    ) -> Answer:
        """Een kort Nederlands antwoord uit de goedgekeurde bronnen: tekst met [n]-verwijzingen, de citaten
        (bron, pagina, sectie, passage), berekende cijfers met hun berekening, en `refused` wanneer de bronnen
        de vraag niet beantwoorden."""
        started = time.perf_counter()
        principal = _principal(context)
        try:
            filters = approved_filters(settings, region, source)
        except NothingApproved:
            return Answer(question=question.strip(), answer=EMPTY_INDEX_ANSWER, refused=True)
        except ApiError as exc:
            raise _tool_error(exc) from exc
        try:
            body = AskRequest(question=question, history=history or [], filters=filters)
        except ValidationError as exc:
            raise ToolError(f"invalid_request: {json.loads(exc.json(include_input=False))}") from exc
        try:
            await _ready(ctx)
            answer_id = await _prepare(ctx, body)
            answer = await _compute_answer(ctx, body, answer_id)
            await _audit(ctx, answer, principal, started, "mcp")
        except ApiError as exc:
            raise _tool_error(exc) from exc
        return answer

    @server.tool(title="Zoek passages")
    async def search_passages(
        query: Annotated[str, Field(description="Waar de passage over gaat.", min_length=1, max_length=2000)],
        k: Annotated[int, Field(ge=1, le=MAX_PASSAGES, description="Hoeveel passages.")] = 5,
        region: Annotated[str | None, Field(description="Alleen bronnen over deze arbeidsmarktregio.")] = None,
        source: Annotated[list[str] | None, Field(description="Alleen deze bron-id's.")] = None,
        types: Annotated[list[str] | None, Field(description="Alleen deze brontypes (rapport, factsheet, ...).")] = None,
    ) -> list[PassageOut]:
        """Passages uit de goedgekeurde bronnen (hybride zoeken), elk met bron, pagina en sectie."""
        try:
            filters = approved_filters(settings, region, source, types)
        except NothingApproved:
            return []
        except ApiError as exc:
            raise _tool_error(exc) from exc
        try:
            await _ready(ctx)
            assistant = ctx.require_assistant()
            passages = await _bounded(ctx, lambda: assistant.retriever.search(query, k=k, filters=filters))
            approved = set(approved_entries(settings))
        except ApiError as exc:
            raise _tool_error(exc) from exc
        return [
            PassageOut(chunk_id=p.chunk_id, source_id=p.source_id, title=p.title, publisher=p.publisher,
                       edition=p.edition, page=p.page_start, page_end=p.page_end, section=p.section, text=p.text,
                       score=p.score)
            for p in passages if p.source_id in approved
        ]

    @server.tool(title="Cijfers met herkomst")
    async def get_figures(
        words: Annotated[str, Field(description="Wat het cijfer meet, bijv. 'vacatures zorg'.", max_length=500)] = "",
        region: Annotated[str | None, Field(description="Regio, provincie of gemeente.")] = None,
        year: Annotated[int | None, Field(ge=1900, le=2100, description="Een jaar dat de zin noemt.")] = None,
        source: Annotated[str | None, Field(description="Een bron-id.")] = None,
        kind: Annotated[str | None, Field(description="level, change, share, ratio of money.")] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_FIGURES)] = 20,
    ) -> list[FigureOut]:
        """Cijfers zoals ze in de bronnen staan (getal, eenheid, soort, wat het meet, periode, regio) met herkomst
        (bron, pagina, passage, zin); de beste treffers eerst, zoals `marktwijzer figures`."""
        try:
            found = await asyncio.to_thread(find_figures, settings, words, region, year, source, kind)
        except ApiError as exc:
            raise _tool_error(exc) from exc
        return found[:limit]

    @server.tool(title="Goedgekeurde bronnen")
    async def list_sources() -> list[SourceOut]:
        """De goedgekeurde bronnen met titel, uitgever, editie, periode, regio's en indexstatus."""
        try:
            def rows() -> list[SourceOut]:
                indexed = _indexed(settings)
                return [_source_out(entry, indexed) for entry in approved_entries(settings).values()]

            return await asyncio.to_thread(rows)
        except ApiError as exc:
            raise _tool_error(exc) from exc

    return server


# -- HTTP: the API's keys and rate limit in front of the MCP endpoint ---------------------------


class KeyAuth:
    """Pure ASGI: a reader or admin key (Bearer or X-API-Key) on every HTTP request, as on /v1; the
    principal is handed to the tools through the request scope."""

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        principal, refusal = self._check(scope)
        if refusal is not None:
            status, code, message, headers = refusal
            body = json.dumps({"code": code, "message": message, "detail": message}, ensure_ascii=False).encode()
            await send({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                *[(k.lower().encode(), v.encode()) for k, v in headers.items()],
            ]})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> tuple[Principal | None, tuple[int, str, str, dict[str, str]] | None]:
        ctx = self.ctx
        bearer = {"WWW-Authenticate": "Bearer"}
        if not ctx.keys.enabled:
            principal = ANONYMOUS_ADMIN
        else:
            headers = Headers(scope=scope)
            presented, malformed = presented_keys(headers.getlist("authorization"), headers.getlist("x-api-key"))
            client = scope["client"][0] if scope.get("client") else "unknown"
            wait = ctx.failed_keys.blocked(client)
            if wait > 0:
                return None, (429, "too_many_failed_keys", "Te veel verzoeken met een onbekende API-sleutel; wacht even.",
                              {"Retry-After": str(max(1, math.ceil(wait)))})
            if malformed:
                ctx.failed_keys.failed(client)
                return None, (401, "invalid_key", "Alleen 'Authorization: Bearer <sleutel>' wordt ondersteund.", bearer)
            if not presented:
                return None, (401, "missing_key", "Geen API-sleutel: stuur 'Authorization: Bearer <sleutel>' of "
                              "'X-API-Key'.", bearer)
            found = [ctx.keys.lookup(key) for key in presented]
            if any(p is None for p in found) or len({p.name for p in found if p}) > 1:
                ctx.failed_keys.failed(client)
                return None, (401, "invalid_key", "Onbekende API-sleutel.", bearer)
            principal = found[0]
        wait = ctx.limiter.take(principal.name)
        if wait > 0:
            return None, (429, "rate_limited", "Te veel verzoeken met deze sleutel; wacht even.",
                          {"Retry-After": str(max(1, math.ceil(wait)))})
        return principal, None


def http_app(ctx: ApiContext, server: MCPServer, host: str) -> ASGIApp:
    """The streamable-HTTP app at /mcp behind the API keys (DNS-rebinding protection on loopback)."""
    app = server.streamable_http_app(host=host, max_request_body_size=ctx.settings.max_body_bytes)
    return KeyAuth(app, ctx)


def serve(settings: Settings, http: bool = False, host: str = "127.0.0.1", port: int = 8001) -> None:
    """Run until the host closes stdio (or the HTTP server is stopped)."""
    ctx = build_context(settings)
    server = create_server(ctx)
    try:
        if not http:
            server.run("stdio")
            return
        import uvicorn

        from assistant.api import uvicorn_options

        if ctx.keys.enabled and len(ctx.keys) == 0:
            log.warning("no API keys configured (MARKTWIJZER_READER_KEYS / ADMIN_KEYS): every MCP request gets 401")
        uvicorn.run(http_app(ctx, server, host), host=host, port=port, log_level="info",
                    timeout_graceful_shutdown=10, **uvicorn_options())
    finally:
        ctx.executor.shutdown(wait=False, cancel_futures=True)

