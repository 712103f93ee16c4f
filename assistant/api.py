"""HTTP API (FastAPI) for other tools: answers (JSON and server-sent events), sources, feedback,
ingest jobs, audit, health and Prometheus metrics. Started by `marktwijzer serve`.

Every error is JSON `{"code": "...", "message": "...", "detail": ...}` with a stable `code` (on the
OpenAI-compatible routes of `assistant/openai_api.py`: OpenAI's `{"error": {message, type, code}}`).
Reading needs a reader or admin key, writing (sources, jobs, audit) an admin key, sent as
`Authorization: Bearer <key>` or `X-API-Key: <key>`. `/healthz`, `/readyz`, `/metrics`, `/docs`
and `/openapi.json` are open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from fastapi import Depends, FastAPI, File, Form, Path, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import ingest  # noqa: F401  (offline environment first)
from assistant import llm
from assistant.audit import (
    FEEDBACK_REASONS,
    AnswerRecord,
    AuditStore,
    DuplicateAnswer,
    FeedbackRecord,
    UnknownAnswer,
)
from assistant.answer import AnswerCancelled
from assistant.auth import ANONYMOUS_ADMIN, FailedKeyLimiter, KeyRing, Principal, Role, presented_keys
from assistant.jobs import Job, JobManager, JobState
from assistant.metrics import Metrics
from assistant.openai_schema import error_body as openai_error_body
from assistant.openai_schema import is_openai_path, openai_status
from assistant.retrieve import Filters
from assistant.scrub import identifier_has_personal_data
from assistant.source_files import with_page_labels
from assistant.types import MAX_HISTORY_CHARS, MAX_HISTORY_TURNS, Answer, HistoryTurn, history_chars
from assistant.uploads import (
    UploadMetadata,
    UploadRefused,
    add_source,
    set_status,
    split_list,
)
from ingest.registry import (
    RegistryError,
    SourceEntry,
    SourceStatus,
    SourceType,
    load_registry,
)
from ingest.settings import Settings
from ingest.store import IndexNotReady, current_generation, known_damage, named_generation

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
ANSWER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
MULTIPART_OVERHEAD = 1024 * 1024
DELTA_WORDS = 4


# -- models at the boundary --------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong, in Dutch, for people.")
    detail: Any = Field(None, description="Extra information (e.g. the invalid fields).")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="The question, in Dutch.")
    history: list[HistoryTurn] = Field(
        default_factory=list, max_length=MAX_HISTORY_TURNS, description="Earlier turns, oldest first."
    )
    filters: Filters | None = None
    id: str | None = Field(
        None, pattern=ANSWER_ID_PATTERN,
        description="Your request id: becomes the answer id (must be unused). Default: a new id.",
    )
    conversation_id: str | None = Field(
        None, pattern=ANSWER_ID_PATTERN,
        description="Add this question and its answer to your conversation with this id (a new id starts one).",
    )


class SourceOut(BaseModel):
    id: str
    title: str
    publisher: str
    edition: str
    published: str
    period: str
    type: str
    status: str
    regions: list[str]
    municipalities: list[str]
    provinces: list[str]
    url: str
    indexed: bool
    pages: int | None
    chunks: int
    indexed_at: str | None


class SourceChange(BaseModel):
    id: str
    source: SourceOut
    job: Job | None = Field(None, description="The background ingest that applies the change (poll /v1/jobs/{id}).")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_id: str = Field(pattern=ANSWER_ID_PATTERN, description="The `id` of the answer.")
    rating: Literal["up", "down"]
    reason: Literal[FEEDBACK_REASONS] | None = Field(  # type: ignore[valid-type]
        None, description="Reason code: " + ", ".join(FEEDBACK_REASONS)
    )
    comment: str | None = Field(None, max_length=2000, description="Free text; personal data is scrubbed.")


class FeedbackCreated(BaseModel):
    id: int
    answer_id: str


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    generation: str
    sources: int
    chunks: int
    auth: Literal["on", "off"]
    ingest_jobs_active: int
    index_damaged: str | None = None  # CURRENT is damaged and `generation`, an older one, serves instead


# -- errors ------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail, self.headers = status, code, message, detail, headers


def error_response(status: int, code: str, message: str, detail: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(code=code, message=message, detail=detail if detail is not None else message)
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


def error_response_for(path: str, status: int, code: str, message: str, detail: Any = None,
                       headers: dict[str, str] | None = None, param: str | None = None) -> JSONResponse:
    """Our error shape, or OpenAI's on the OpenAI-compatible routes (their clients parse only that)."""
    if is_openai_path(path):
        status = openai_status(status)
        return JSONResponse(openai_error_body(status, code, message, param), status_code=status, headers=headers)
    return error_response(status, code, message, detail, headers)


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "body_too_large", 415: "unsupported_media_type",
    422: "invalid_request", 429: "rate_limited", 500: "internal_error", 503: "unavailable",
}


# -- rate limit --------------------------------------------------------------------------------


class RateLimiter:
    """Token bucket per key name: `burst` at once, then `per_minute` steadily (0 = unlimited)."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(burst, 1))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


# -- application state -------------------------------------------------------------------------


@dataclass
class ApiContext:
    settings: Settings
    keys: KeyRing
    metrics: Metrics
    limiter: RateLimiter
    executor: ThreadPoolExecutor
    failed_keys: FailedKeyLimiter = field(default_factory=FailedKeyLimiter)
    audit: AuditStore | None = None
    jobs: JobManager | None = None
    assistant: Any = None
    load_error: str | None = None
    waiting: int = 0
    chunk_counts: dict[str, int] = field(default_factory=dict)
    _load_lock: threading.Lock = field(default_factory=threading.Lock)
    _waiting_lock: threading.Lock = field(default_factory=threading.Lock)
    _loader: threading.Thread | None = None

    def admit(self) -> bool:
        """Count one more answer (queued or computing) unless MAX_QUEUED_ANSWERS are counted already."""
        with self._waiting_lock:
            if self.waiting >= self.settings.max_queued_answers:
                return False
            self.waiting += 1
        self.metrics.in_flight.inc()
        return True

    def release(self) -> None:
        """Called when the worker has really finished (or never started): not when the caller gave up."""
        with self._waiting_lock:
            self.waiting -= 1
        self.metrics.in_flight.dec()

    def start_loading(self) -> None:
        """Load the assistant (index, embedder) in the background; /readyz says when it is there."""
        with self._load_lock:
            if self.assistant is not None or (self._loader is not None and self._loader.is_alive()):
                return
            self._loader = threading.Thread(target=self._load, name="assistant-load", daemon=True)
            self._loader.start()

    def _load(self) -> None:
        from assistant.answer import get_assistant

        try:
            self.assistant = get_assistant(self.settings)
            self.load_error = None
            log.info("assistant loaded")
        except IndexNotReady as exc:
            if str(exc) != self.load_error:  # said once, not on every question
                log.warning("no index yet: %s", exc)
            self.load_error = str(exc)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("loading the assistant failed")

    def require_assistant(self) -> Any:
        if self.assistant is None:
            generation = named_generation(self.settings.index_dir)
            damage = known_damage(generation, self.settings.chroma_url) if generation is not None else None
            if damage is not None:  # a damaged index is reported, not reloaded on every question
                raise ApiError(503, damage.code, str(damage), headers={"Retry-After": "30"})
            self.start_loading()
            raise ApiError(
                503, "index_not_ready",
                "De index is (nog) niet geladen; probeer het zo opnieuw of draai `marktwijzer ingest`.",
                detail=self.load_error, headers={"Retry-After": "5"},
            )
        return self.assistant

    def on_job_finished(self, job: Job) -> None:
        self.metrics.jobs.labels(state=job.state.value).inc()
        if job.state in (JobState.succeeded, JobState.partial):
            if self.assistant is not None:
                self.assistant.refresh()  # follow the new generation now, not on the next question
            else:
                self.start_loading()


def new_context(settings: Settings, thread_name_prefix: str = "answer") -> ApiContext:
    """Keys, metrics, rate limiter and answer pool for these settings (the HTTP app, the MCP server)."""
    return ApiContext(
        settings=settings,
        keys=KeyRing(settings),
        metrics=Metrics(settings.index_dir),
        limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
        executor=ThreadPoolExecutor(max_workers=settings.max_concurrent_answers, thread_name_prefix=thread_name_prefix),
    )


def context(request: Request) -> ApiContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


# -- auth --------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="API key as `Authorization: Bearer <key>`.")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key as `X-API-Key: <key>`.")


def _principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    ctx = context(request)
    if any(name.lower() in QUERY_KEY_NAMES for name in request.query_params):
        # A key in the URL ends up in access logs, proxies and browser history: refused, and redacted in our log.
        raise ApiError(400, "key_in_query", "Stuur de API-sleutel in een header (Authorization of X-API-Key), "
                       "niet in de URL.", headers={"WWW-Authenticate": "Bearer"})
    if not ctx.keys.enabled:
        principal = ANONYMOUS_ADMIN
    else:
        # Every key presented must be valid: a wrong key next to a right one is refused, not ignored.
        # All headers count (two Authorization or X-API-Key headers: each is checked), not only the first.
        presented, malformed = presented_keys(request.headers.getlist("authorization"),
                                              request.headers.getlist("x-api-key"))
        client = request.client.host if request.client else "unknown"
        wait = ctx.failed_keys.blocked(client)
        if wait > 0:
            ctx.metrics.rate_limited.inc()
            raise ApiError(
                429, "too_many_failed_keys", "Te veel verzoeken met een onbekende API-sleutel; wacht even.",
                detail={"retry_after_s": round(wait, 2)}, headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if malformed:
            ctx.failed_keys.failed(client)
            raise ApiError(401, "invalid_key", "Alleen 'Authorization: Bearer <sleutel>' wordt ondersteund.",
                           headers={"WWW-Authenticate": "Bearer"})
        if not presented:
            raise ApiError(
                401, "missing_key", "Geen API-sleutel: stuur 'Authorization: Bearer <sleutel>' of 'X-API-Key'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        found = [ctx.keys.lookup(key) for key in presented]
        if any(p is None for p in found):
            ctx.failed_keys.failed(client)
            raise ApiError(401, "invalid_key", "Onbekende API-sleutel.", headers={"WWW-Authenticate": "Bearer"})
        principals = [p for p in found if p is not None]
        if len({p.name for p in principals}) > 1:
            raise ApiError(401, "invalid_key", "Twee verschillende API-sleutels in één verzoek.",
                           headers={"WWW-Authenticate": "Bearer"})
        principal = principals[0]
    wait = ctx.limiter.take(principal.name)
    if wait > 0:
        ctx.metrics.rate_limited.inc()
        raise ApiError(
            429, "rate_limited", "Te veel verzoeken met deze sleutel; wacht even.",
            detail={"retry_after_s": round(wait, 2)}, headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    request.state.principal = principal
    return principal


QUERY_KEY_NAMES = {"api_key", "apikey", "api-key", "key", "token", "access_token"}
_QUERY_SECRET = re.compile(r"(?i)([?&](?:" + "|".join(re.escape(n) for n in QUERY_KEY_NAMES) + r")=)[^&\s\"]*")


def redact_query_secrets(text: str) -> str:
    """`/v1/ask?api_key=abc` -> `/v1/ask?api_key=[verwijderd]` (access log lines); a percent-encoded
    name (`api%5Fkey=`) is decoded first, so it cannot slip past."""
    if "%" in text and _QUERY_SECRET.search(unquote(text)):
        text = unquote(text)
    return _QUERY_SECRET.sub(r"\1[verwijderd]", text)


class RedactQuerySecrets(logging.Filter):
    """On uvicorn's access logger: a key sent in the URL (refused with 400) never reaches the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query_secrets(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_query_secrets(record.msg)
        return True


def install_log_redaction() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQuerySecrets) for f in access.filters):
        access.addFilter(RedactQuerySecrets())


def reader(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    return principal


def admin(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.role is not Role.admin:
        raise ApiError(403, "admin_required", "Hiervoor is een beheerderssleutel (admin) nodig.")
    return principal


Reader = Annotated[Principal, Depends(reader)]
Admin = Annotated[Principal, Depends(admin)]
AUTH_ERRORS = (401, 403, 429)


# -- server options ----------------------------------------------------------------------------

MAX_HEADER_BYTES = 64 * 1024


def uvicorn_options() -> dict[str, Any]:
    """What `marktwijzer serve` passes to uvicorn. h11, not httptools: httptools reads headers of any
    size (a 32 MB header took 1.9 s to refuse); h11 stops at `h11_max_incomplete_event_size` bytes of
    request line + headers and answers 400."""
    return {"http": "h11", "h11_max_incomplete_event_size": MAX_HEADER_BYTES}


# -- middleware: request ids, body limits, metrics ---------------------------------------------


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
# Responses that are data, never a page: nothing may load, run or frame. (/docs keeps its own HTML.)
DATA_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """nosniff, no framing, no referrer on every response; a closed CSP on every non-HTML response."""
    present = {name.lower() for name, _ in headers}
    extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    if b"content-security-policy" not in present and not content_type.startswith(b"text/html"):
        extra.append((b"content-security-policy", DATA_CSP))
    return extra


class BodyTooLarge(Exception):
    pass


class ApiMiddleware:
    """Pure ASGI: X-Request-Id, body size limits (before the body is read), per-route metrics."""

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx

    def _limit(self, scope: Scope) -> tuple[int, str, str]:
        settings = self.ctx.settings
        if scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/sources":
            limit = settings.max_upload_bytes + MULTIPART_OVERHEAD
            return limit, "file_too_large", (
                f"Het bestand is te groot; de grens is {settings.max_upload_bytes / 1e6:.1f} MB."
            )
        return settings.max_body_bytes, "body_too_large", (
            f"De request body is te groot; de grens is {settings.max_body_bytes} bytes."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        state = {"status": 500, "started": False, "exceeded": False}
        limit, code, message = self._limit(scope)

        async def send_first(msg: Message) -> None:
            if msg["type"] == "http.response.start" and not state["started"]:
                state["status"] = msg["status"]
                state["started"] = True
                msg["headers"] = [*msg.get("headers", []), (b"x-request-id", request_id.encode()),
                                  *security_headers(msg.get("headers", []))]
                self._observe(scope, msg["status"], started)
            await send(msg)

        async def send_app(msg: Message) -> None:
            if state["exceeded"]:
                return  # the app's reaction to a cut-off body (e.g. a 400 parse error) is replaced by our 413
            await send_first(msg)

        async def refuse() -> None:
            response = error_response_for(scope["path"], 413, code, message, headers={"Connection": "close"})
            await response(scope, receive, send_first)

        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await refuse()  # before reading a byte of the body
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    state["exceeded"] = True
                    raise BodyTooLarge
            return msg

        try:
            await self.app(scope, limited_receive, send_app)
        except BodyTooLarge:
            pass
        if state["exceeded"] and not state["started"]:
            await refuse()

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        metrics = self.ctx.metrics
        metrics.requests.labels(route=template, method=method, status=str(status)).inc()
        metrics.latency.labels(route=template, method=method).observe(time.perf_counter() - started)


# -- answering ---------------------------------------------------------------------------------


def _split_deltas(text: str, words: int = DELTA_WORDS) -> list[str]:
    """The answer text in pieces of a few words; joined they give the text back exactly."""
    tokens = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    if tokens and "".join(tokens) != text:  # only whitespace, or trailing whitespace lost
        tokens = [text]
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)]


EMPTY_INDEX_ANSWER = (
    "Er zijn op dit moment geen goedgekeurde bronnen geïndexeerd, dus ik kan deze vraag niet uit de bronnen "
    "beantwoorden. Vraag een beheerder om bronnen goed te keuren."
)


def _index_is_empty(ctx: ApiContext) -> bool:
    """True when the serving generation holds no chunks (every source withdrawn)."""
    generation = current_generation(ctx.settings.index_dir)
    if generation is None:
        return False
    cached = ctx.chunk_counts.get(generation.name)
    if cached is None:
        try:
            cached = sum(s.chunks for s in generation.read_manifest().sources.values())
        except IndexNotReady:  # a damaged CURRENT while an older generation serves: not empty
            return False
        ctx.chunk_counts[generation.name] = cached
    return cached == 0


def answer_timeout(settings: Settings) -> float:
    """ANSWER_TIMEOUT_S, but never shorter than a language model may take before its own fallback."""
    if settings.llm == "none":
        return settings.answer_timeout_s
    return max(settings.answer_timeout_s, getattr(settings, "llm_timeout", 30.0) * 2 + 15)


async def _until_disconnected(request: Request, cancel: threading.Event) -> None:
    """Sets `cancel` when the client goes away (the body is read already: the next message is the end)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            cancel.set()
            return


async def _compute_answer(ctx: ApiContext, body: AskRequest, answer_id: str, request: Request | None = None,
                          assistant: Any = None) -> Answer:
    """The answer, computed in the answer pool. The question counts (queue bound, in-flight gauge) until
    its worker has really finished; a timeout or a disconnected client sets the cancel event, so the
    work stops at its next stage instead of running on unseen (issue 20). `assistant`: another one than
    the serving one (the extractive engine asked for by name while a language model is configured)."""
    assistant = assistant or ctx.require_assistant()
    if _index_is_empty(ctx):  # nothing to search: an honest refusal, not a retrieval error
        return Answer(id=answer_id, question=body.question.strip(), answer=EMPTY_INDEX_ANSWER, refused=True,
                      timings_ms={"total": 0.0})
    if not ctx.admit():
        raise ApiError(503, "overloaded", "Het is te druk; probeer het zo opnieuw.", headers={"Retry-After": "2"})
    cancel = threading.Event()
    job = partial(assistant.ask, body.question, body.history or None, body.filters, answer_id, cancel=cancel)
    try:
        work = ctx.executor.submit(job)
    except RuntimeError as exc:  # the pool is shut down (server stopping)
        ctx.release()
        raise ApiError(503, "unavailable", "De server stopt; probeer het zo opnieuw.") from exc
    work.add_done_callback(lambda _work: ctx.release())
    watcher = asyncio.create_task(_until_disconnected(request, cancel)) if request is not None else None
    outcome = ""  # stays empty when this coroutine is cancelled: a stream whose client went away
    try:
        answer = await asyncio.wait_for(asyncio.wrap_future(work), timeout=answer_timeout(ctx.settings))
        outcome = "answered"
        return await run_in_threadpool(with_page_labels, answer, ctx.settings)
    except TimeoutError as exc:
        outcome = "timeout"
        raise ApiError(
            504, "timeout", f"Het antwoord duurde langer dan {answer_timeout(ctx.settings):g} s; probeer het opnieuw.",
        ) from exc
    except AnswerCancelled as exc:
        outcome = "disconnect"
        raise ApiError(499, "client_closed", "De verbinding is verbroken; het antwoord is niet afgemaakt.") from exc
    except ValueError as exc:
        outcome = "failed"
        raise ApiError(422, "invalid_question", str(exc)) from exc
    except IndexNotReady as exc:
        outcome = "failed"
        raise ApiError(503, "index_not_ready", str(exc), headers={"Retry-After": "5"}) from exc
    except Exception:
        outcome = "failed"
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
        if outcome in ("", "timeout", "disconnect"):
            cancel.set()  # a running worker stops at its next stage ...
            queued = work.cancel()  # ... a queued one never starts (released by its done callback)
            reason = outcome or "disconnect"
            ctx.metrics.cancelled.labels(reason=reason).inc()
            log.info("answer %s cancelled (%s)%s", answer_id, reason, " before it started" if queued else "")


async def _model_events(
    ctx: ApiContext, body: AskRequest, answer_id: str, principal: Principal, started: float
) -> AsyncIterator[str]:
    """The language-model path (issue 8): verified sentences as `delta` while the model writes, then
    `citations` (resolved only now: the model's numbering is final once verified), `figures`, `done`."""
    async with aclosing(model_event_items(ctx, body, answer_id, principal, started)) as items:
        async for event, data in items:  # closed with this stream: a gone reader stops the model at once
            yield _sse(event, data)


async def model_event_items(
    ctx: ApiContext, body: AskRequest, answer_id: str, principal: Principal, started: float, channel: str = "stream"
) -> AsyncIterator[tuple[str, Any]]:
    """`_model_events` as (event, data) pairs, for other stream formats (the OpenAI-compatible route)."""
    assistant = ctx.require_assistant()
    loop = asyncio.get_running_loop()
    pending: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    cancel = threading.Event()

    def produce() -> None:
        events = llm.stream_ask(assistant, body.question, body.history or None, body.filters, answer_id)
        try:
            for event in events:
                if cancel.is_set():  # the reader is gone: stop taking model output
                    break
                loop.call_soon_threadsafe(pending.put_nowait, ("event", event))
        except Exception as exc:  # noqa: BLE001  (handed to the stream as an `error` event)
            loop.call_soon_threadsafe(pending.put_nowait, ("error", exc))
        finally:
            events.close()

    if not ctx.admit():
        yield "error", {"id": answer_id, "code": "overloaded", "message": "Het is te druk; probeer het zo opnieuw."}
        return
    try:
        work = ctx.executor.submit(produce)
    except RuntimeError:
        ctx.release()
        raise
    work.add_done_callback(lambda _work: ctx.release())  # counted until the producer has stopped
    try:
        deadline = loop.time() + answer_timeout(ctx.settings)
        while True:
            try:
                kind, value = await asyncio.wait_for(pending.get(), timeout=max(0.1, deadline - loop.time()))
            except TimeoutError:
                yield "error", {"id": answer_id, "code": "timeout", "message": "Het antwoord duurde te lang."}
                return
            if kind == "error":
                code = "invalid_question" if isinstance(value, ValueError) else "internal_error"
                yield "error", {"id": answer_id, "code": code, "message": str(value) if code != "internal_error" else type(value).__name__}
                return
            if value.kind == "delta":
                yield "delta", {"text": value.text}
                continue
            answer = await run_in_threadpool(with_page_labels, value.answer, ctx.settings)
            try:
                await _audit(ctx, answer, principal, started, channel)
                await _remember(ctx, body, answer, principal)
            except ApiError as exc:  # no audit record, no answer
                yield "error", {"id": answer_id, "code": exc.code, "message": exc.message}
                return
            yield "citations", {"id": answer.id, "citations": answer.citations, "replace": value.replace}
            yield "figures", {"figures": answer.figures}
            yield "done", answer
            return
    finally:
        if not work.done():
            cancel.set()
            work.cancel()


async def _prepare(ctx: ApiContext, body: AskRequest) -> str:
    """Checks before any work: question length, readiness, an unused answer id. Returns the id."""
    if len(body.question) > ctx.settings.max_question_chars:
        raise ApiError(
            422, "question_too_long", f"De vraag is langer dan {ctx.settings.max_question_chars} tekens.",
        )
    if not body.question.strip():
        raise ApiError(422, "invalid_question", "De vraag is leeg.")
    if history_chars(body.history) > MAX_HISTORY_CHARS:
        raise ApiError(422, "history_too_long",
                       f"De gespreksgeschiedenis is te lang (samen meer dan {MAX_HISTORY_CHARS} tekens).")
    if body.id is not None and identifier_has_personal_data(body.id):
        # The id is stored and shown as sent: one holding a BSN, phone number, ... is refused, not stored.
        raise ApiError(422, "id_personal_data",
                       "Het id lijkt persoonsgegevens te bevatten; gebruik een willekeurig id.")
    ctx.require_assistant()
    if body.id is not None and ctx.audit is not None and await run_in_threadpool(ctx.audit.get_answer, body.id):
        raise ApiError(409, "duplicate_id", f"Antwoord-id '{body.id}' is al gebruikt; kies een nieuw id.")
    return body.id or uuid.uuid4().hex[:12]


async def _audit(ctx: ApiContext, answer: Answer, principal: Principal, started: float, channel: str) -> None:
    """Writes the audit record before the answer is returned: an answer without a record is never
    served (409 when another request took the same id meanwhile, else 503). Logs name no question
    and no SQL parameters."""
    if ctx.audit is not None:
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        try:
            await run_in_threadpool(ctx.audit.record_answer, answer, principal.name, latency_ms, channel)
        except DuplicateAnswer as exc:
            ctx.metrics.audit_failures.inc()
            raise ApiError(409, "duplicate_id",
                           f"Antwoord-id '{answer.id}' is al gebruikt; kies een nieuw id.") from exc
        except Exception as exc:
            ctx.metrics.audit_failures.inc()
            log.error("audit record for answer %s failed (%s); the answer is not served", answer.id,
                      type(exc).__name__)
            raise ApiError(503, "audit_unavailable", "Het antwoord kon niet worden vastgelegd in het auditlog; "
                           "probeer het zo opnieuw.", headers={"Retry-After": "5"}) from None
    ctx.metrics.answers.labels(channel=channel).inc()
    if answer.refused:
        ctx.metrics.refusals.labels(channel=channel).inc()


async def _remember(ctx: ApiContext, body: AskRequest, answer: Answer, principal: Principal) -> None:
    """With `conversation_id`: the turn is stored in the caller's conversation (issue 17)."""
    if body.conversation_id:
        from assistant.conversations_api import remember_turn

        await remember_turn(ctx, body.conversation_id, answer, principal)


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(jsonable_encoder(data), ensure_ascii=False)}\n\n"


# -- sources -----------------------------------------------------------------------------------


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches({**request.scope, "method": next(iter(route_methods))})[0] is Match.FULL:
            methods |= set(route_methods)
    return sorted(methods)


def _source_out(entry: SourceEntry, indexed: dict[str, Any]) -> SourceOut:
    state = indexed.get(entry.id)
    return SourceOut(
        id=entry.id, title=entry.title, publisher=entry.publisher, edition=entry.edition,
        published=str(entry.published), period=entry.period, type=entry.type.value, status=entry.status.value,
        regions=list(entry.regions), municipalities=list(entry.municipalities), provinces=list(entry.provinces),
        url=entry.url, indexed=state is not None, pages=getattr(state, "pages", None) if state else None,
        chunks=state.chunks if state else 0, indexed_at=str(state.indexed_at) if state and state.indexed_at else None,
    )


def _indexed(settings: Settings) -> dict[str, Any]:
    from ingest.store import IndexDamaged, named_generation

    generation = named_generation(settings.index_dir)  # also when its manifest is damaged: say so
    if generation is None or not generation.root.is_dir():
        return {}
    try:
        return dict(generation.read_manifest().sources)
    except IndexDamaged as exc:  # a truncated manifest: 503 with a code, never a 500 or a path
        raise ApiError(503, exc.code, str(exc), headers={"Retry-After": "30"}) from exc


def _registry(settings: Settings) -> list[SourceEntry]:
    try:
        return load_registry(settings.registry_path).sources
    except RegistryError as exc:
        raise ApiError(500, "registry_invalid", f"Het bronnenregister is ongeldig: {exc}") from exc


def _refused(exc: UploadRefused) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.detail)


# -- the app -----------------------------------------------------------------------------------


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for these settings (default: MARKTWIJZER_* environment)."""
    settings = settings or Settings()
    install_log_redaction()
    ctx = new_context(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not ctx.keys.enabled:
            log.warning("MARKTWIJZER_AUTH=off: API keys are NOT checked; every caller is admin. Never in production.")
        elif len(ctx.keys) == 0:
            log.warning("no API keys configured (MARKTWIJZER_READER_KEYS / ADMIN_KEYS): every /v1 call gets 401")
        ctx.audit = await run_in_threadpool(AuditStore, settings)
        ctx.jobs = JobManager(settings, on_finished=ctx.on_job_finished)
        ctx.start_loading()
        yield
        ctx.jobs.shutdown()
        ctx.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="Marktwijzer API",
        version=API_VERSION,
        description=(
            "Antwoorden over de regionale arbeidsmarkt uit goedgekeurde bronnen, met bronvermelding. "
            "Errors are JSON `{code, message, detail}` with a stable `code`."
        ),
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:  # closed by default: no Access-Control-Allow-Origin unless origins are configured
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"], allow_credentials=False,
        )
    app.add_middleware(ApiMiddleware, ctx=ctx)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response_for(request.url.path, exc.status, exc.code, exc.message, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": [str(p) for p in error.get("loc", ())], "msg": str(error.get("msg", "")), "type": error.get("type")}
            for error in exc.errors()
        ]
        path = request.url.path
        param = ".".join(problems[0]["loc"][1:]) or None if problems else None

        def reply(code: str, message: str) -> JSONResponse:
            return error_response_for(path, 422, code, message, problems, param=param)

        if any(p["type"] == "json_invalid" for p in problems):  # code kept stable; the message says what is wrong
            return reply("invalid_request", "De request body is geen geldige JSON.")
        if any(p["type"] == "missing" and p["loc"] == ["body"] for p in problems):
            return reply("invalid_request", "De request body ontbreekt (JSON verwacht).")
        history = [p for p in problems if p["loc"][:2] == ["body", "history"] and p["type"] == "string_too_long"]
        if history:
            return reply("history_too_long", "Een eerdere vraag of een eerder antwoord in de "
                         "gespreksgeschiedenis is te lang.")
        question = [p for p in problems if p["loc"] == ["body", "question"]]
        if any(p["type"] == "string_too_long" for p in question):
            return reply("question_too_long", "De vraag is te lang (meer dan 2000 tekens).")
        if question:
            return reply("invalid_question", "De vraag is leeg of geen tekst.")
        fields = ", ".join(".".join(p["loc"][1:] or p["loc"]) for p in problems)
        return reply("invalid_request", f"Ongeldig verzoek ({fields}).")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else code
        if message == "There was an error parsing the body":
            message = "De request body is niet te lezen (geen geldige JSON of multipart)."
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method of the path, not only those of the first route matched
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return error_response_for(request.url.path, exc.status_code, code, message, headers=headers or None)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response_for(request.url.path, 500, "internal_error", "Er ging iets mis aan onze kant; het is gelogd.")

    # -- health ------------------------------------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """The process is up (no dependencies checked)."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Readiness, responses=_responses(503), tags=["health"])
    def readyz() -> Readiness:
        """Ready to answer: an index generation is published and loaded. A damaged CURRENT that no older
        intact generation can stand in for is a 503 `index_damaged`: found once by the load, then read
        from what that check remembered (no reload per call, no path). When an older one serves, 200
        with `index_damaged` saying what is wrong."""
        from ingest.store import IndexDamaged, known_damage, named_generation

        generation = named_generation(settings.index_dir)  # also when its manifest is damaged
        if generation is None or not generation.root.is_dir():
            raise ApiError(503, "index_not_ready", "Er is nog geen index; draai `marktwijzer ingest`.",
                           headers={"Retry-After": "5"})
        damage = known_damage(generation, settings.chroma_url)
        if ctx.assistant is None:
            if damage is not None:
                raise ApiError(503, damage.code, str(damage), headers={"Retry-After": "30"})
            ctx.start_loading()  # at most one load runs at a time (start_loading)
            raise ApiError(503, "index_not_ready", "De index wordt geladen.", headers={"Retry-After": "2"})
        try:
            manifest = generation.read_manifest()
            name = manifest.generation or generation.name
        except IndexDamaged as exc:
            damage = exc
        if damage is not None:  # the assistant answers from an older intact generation
            handle = ctx.assistant.retriever.handle
            manifest, name = handle.manifest, handle.generation.name
        return Readiness(
            status="ready", generation=name, sources=len(manifest.sources),
            chunks=sum(s.chunks for s in manifest.sources.values()), auth=settings.auth,
            ingest_jobs_active=ctx.jobs.active() if ctx.jobs else 0,
            index_damaged=str(damage) if damage is not None else None,
        )

    @app.get("/metrics", tags=["health"], response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics() -> Response:
        """Prometheus metrics: requests and latency per route, answers, refusals, index size."""
        return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- answers -----------------------------------------------------------------------------

    @app.post("/v1/ask", response_model=Answer, tags=["answers"],
              responses=_responses(*AUTH_ERRORS, 400, 409, 413, 422, 503, 504))
    async def ask(body: AskRequest, principal: Reader, request: Request) -> Answer:
        """One answer (Answer contract). `id` is the answer id; give it to /v1/feedback."""
        started = time.perf_counter()
        answer_id = await _prepare(ctx, body)
        answer = await _compute_answer(ctx, body, answer_id, request)
        await _audit(ctx, answer, principal, started, "ask")
        await _remember(ctx, body, answer, principal)
        return answer

    @app.post(
        "/v1/ask/stream", tags=["answers"],
        response_class=StreamingResponse,
        responses={
            200: {
                "description": (
                    "Server-sent events: `citations` ({id, citations}), then `delta` ({text}) pieces of the "
                    "answer text, `figures` ({figures}), and `done` (the whole Answer, equal to /v1/ask). "
                    "On a failure after the stream started: `error` ({code, message})."
                ),
                "content": {"text/event-stream": {"schema": {
                    "type": "object", "required": ["event", "data"],
                    "properties": {
                        "event": {"type": "string", "enum": ["citations", "delta", "figures", "done", "error"]},
                        "data": {"type": "string", "contentMediaType": "application/json"},
                    },
                }}},
            },
            **_responses(*AUTH_ERRORS, 400, 409, 413, 422, 503),
        },
    )
    async def ask_stream(body: AskRequest, principal: Reader, request: Request) -> StreamingResponse:
        """The answer as server-sent events; citations come before the text they support."""
        started = time.perf_counter()
        answer_id = await _prepare(ctx, body)

        async def events() -> AsyncIterator[str]:
            yield ": marktwijzer\n\n"  # headers and a first byte at once; the answer follows
            if settings.llm != "none" and not _index_is_empty(ctx):
                async for event in _model_events(ctx, body, answer_id, principal, started):
                    yield event
                return
            try:
                answer = await _compute_answer(ctx, body, answer_id, request)
                await _audit(ctx, answer, principal, started, "stream")
                await _remember(ctx, body, answer, principal)
            except ApiError as exc:
                yield _sse("error", {"id": answer_id, "code": exc.code, "message": exc.message})
                return
            except Exception as exc:
                log.exception("streamed answer %s failed", answer_id)
                yield _sse("error", {"id": answer_id, "code": "internal_error", "message": type(exc).__name__})
                return
            yield _sse("citations", {"id": answer.id, "citations": answer.citations})
            for piece in _split_deltas(answer.answer):
                yield _sse("delta", {"text": piece})
            yield _sse("figures", {"figures": answer.figures})
            yield _sse("done", answer)

        return StreamingResponse(
            events(), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Answer-Id": answer_id},
        )

    # -- sources -----------------------------------------------------------------------------

    @app.get("/v1/sources", response_model=list[SourceOut], tags=["sources"], responses=_responses(*AUTH_ERRORS))
    def list_sources(
        principal: Reader,
        status: Annotated[SourceStatus | None, Query(description="Admins: filter by status.")] = None,
    ) -> list[SourceOut]:
        """The sources with their index state. Readers see approved sources; admins all (or `status`)."""
        indexed = _indexed(settings)
        entries = _registry(settings)
        if not principal.is_admin:
            entries = [e for e in entries if e.approved]
        elif status is not None:
            entries = [e for e in entries if e.status is status]
        return [_source_out(entry, indexed) for entry in entries]

    @app.get("/v1/sources/{source_id}", response_model=SourceOut, tags=["sources"],
             responses=_responses(*AUTH_ERRORS, 404))
    def get_source(source_id: Annotated[str, Path(max_length=200)], principal: Reader) -> SourceOut:
        for entry in _registry(settings):
            if entry.id == source_id and (entry.approved or principal.is_admin):
                return _source_out(entry, _indexed(settings))
        raise ApiError(404, "source_not_found", f"Geen bron met id '{source_id}'.")

    @app.post(
        "/v1/sources", status_code=202, response_model=SourceChange, tags=["sources"],
        responses={201: {"model": SourceChange, "description": "Added as draft (no ingest)."},
                   **_responses(*AUTH_ERRORS, 400, 409, 413, 415, 422)},
    )
    async def upload_source(
        principal: Admin,
        file: Annotated[UploadFile, File(description="PDF, TXT or MD; the type is sniffed from the content.")],
        title: Annotated[str, Form(min_length=1, max_length=300)],
        id: Annotated[str | None, Form(max_length=120, description="Registry id; default from the file name.")] = None,
        publisher: Annotated[str, Form(max_length=200)] = "onbekend",
        edition: Annotated[str | None, Form(max_length=100)] = None,
        published: Annotated[str | None, Form(max_length=20, description="YYYY or YYYY-MM-DD")] = None,
        type: Annotated[SourceType, Form()] = SourceType.rapport,
        period: Annotated[str, Form(max_length=300)] = "",
        regions: Annotated[str, Form(max_length=2000, description="Comma-separated")] = "",
        municipalities: Annotated[str, Form(max_length=4000, description="Comma-separated")] = "",
        provinces: Annotated[str, Form(max_length=500, description="Comma-separated")] = "",
        scope: Annotated[str, Form(max_length=500)] = "",
        aliases: Annotated[str, Form(max_length=500, description="Comma-separated")] = "",
        url: Annotated[str, Form(max_length=1000)] = "",
        status: Annotated[Literal["approved", "draft"], Form()] = "approved",
    ) -> JSONResponse:
        """Add a source (admin). Approved uploads start a background ingest (202 + job); drafts 201."""
        limit = settings.max_upload_bytes
        data = await file.read(limit + 1)
        meta = UploadMetadata(
            title=title, id=id, publisher=publisher, edition=edition, published=published, type=type,
            period=period, regions=split_list(regions), municipalities=split_list(municipalities),
            provinces=split_list(provinces), scope=scope, aliases=split_list(aliases), url=url,
            status=SourceStatus(status),
        )
        try:
            entry = await run_in_threadpool(add_source, settings, file.filename or "", data, meta)
        except UploadRefused as exc:
            raise _refused(exc) from exc
        log.info("source %s uploaded by %s (%s)", entry.id, principal.name, entry.status.value)
        job = ctx.jobs.submit(f"upload {entry.id}") if entry.approved and ctx.jobs else None
        change = SourceChange(id=entry.id, source=_source_out(entry, _indexed(settings)), job=job)
        return JSONResponse(jsonable_encoder(change), status_code=202 if job else 201)

    async def _change_status(source_id: str, status: SourceStatus, principal: Principal) -> JSONResponse:
        try:
            entry, changed = await run_in_threadpool(set_status, settings, source_id, status)
        except UploadRefused as exc:
            raise _refused(exc) from exc
        indexed = _indexed(settings)
        needs_ingest = changed or (entry.approved != (entry.id in indexed))
        job = ctx.jobs.submit(f"{status.value} {source_id}") if needs_ingest and ctx.jobs else None
        log.info("source %s %s by %s", source_id, status.value, principal.name)
        change = SourceChange(id=entry.id, source=_source_out(entry, indexed), job=job)
        return JSONResponse(jsonable_encoder(change), status_code=202 if job else 200)

    @app.post("/v1/sources/{source_id}/withdraw", status_code=202, response_model=SourceChange, tags=["sources"],
              responses={200: {"model": SourceChange, "description": "Already withdrawn; nothing to do."},
                         **_responses(*AUTH_ERRORS, 404)})
    async def withdraw_source(source_id: Annotated[str, Path(max_length=200)], principal: Admin) -> JSONResponse:
        """Withdraw a source (admin): removed from every answer path by a background ingest (202 + job)."""
        return await _change_status(source_id, SourceStatus.withdrawn, principal)

    @app.post("/v1/sources/{source_id}/approve", status_code=202, response_model=SourceChange, tags=["sources"],
              responses={200: {"model": SourceChange, "description": "Already approved and indexed."},
                         **_responses(*AUTH_ERRORS, 404)})
    async def approve_source(source_id: Annotated[str, Path(max_length=200)], principal: Admin) -> JSONResponse:
        """Approve a draft or withdrawn source (admin); a background ingest indexes it (202 + job)."""
        return await _change_status(source_id, SourceStatus.approved, principal)

    # -- jobs --------------------------------------------------------------------------------

    @app.get("/v1/jobs", response_model=list[Job], tags=["jobs"], responses=_responses(*AUTH_ERRORS))
    def list_jobs(_principal: Admin) -> list[Job]:
        """Recent ingest jobs, newest first."""
        return ctx.jobs.list() if ctx.jobs else []

    @app.get("/v1/jobs/{job_id}", response_model=Job, tags=["jobs"], responses=_responses(*AUTH_ERRORS, 404))
    def get_job(job_id: Annotated[str, Path(max_length=64)], _principal: Admin) -> Job:
        """One ingest job: queued, running (with progress), succeeded, partial or failed (with error)."""
        job = ctx.jobs.get(job_id) if ctx.jobs else None
        if job is None:
            raise ApiError(404, "job_not_found", f"Geen job met id '{job_id}'.")
        return job

    # -- feedback and audit ------------------------------------------------------------------

    @app.post("/v1/feedback", status_code=201, response_model=FeedbackCreated, tags=["feedback"],
              responses=_responses(*AUTH_ERRORS, 400, 404, 413, 422))
    def post_feedback(body: FeedbackRequest, principal: Reader) -> FeedbackCreated:
        """Thumbs up/down on an answer id, with a reason code and an optional comment (scrubbed)."""
        assert ctx.audit is not None
        try:
            feedback_id = ctx.audit.record_feedback(
                body.answer_id, body.rating, body.reason, body.comment, key_name=principal.name
            )
        except UnknownAnswer as exc:
            raise ApiError(404, "answer_not_found", f"Geen antwoord met id '{body.answer_id}'.") from exc
        return FeedbackCreated(id=feedback_id, answer_id=body.answer_id)

    @app.get("/v1/feedback", response_model=list[FeedbackRecord], tags=["feedback"],
             responses=_responses(*AUTH_ERRORS, 422))
    def list_feedback(
        _principal: Admin,
        rating: Annotated[Literal["up", "down"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[FeedbackRecord]:
        """Recent feedback with the (scrubbed) question, newest first (admin)."""
        assert ctx.audit is not None
        return ctx.audit.list_feedback(limit=limit, rating=rating)

    @app.get("/v1/audit", response_model=list[AnswerRecord], tags=["feedback"], responses=_responses(*AUTH_ERRORS, 422))
    def list_audit(
        _principal: Admin,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> list[AnswerRecord]:
        """Audit records of answers (time, key name, scrubbed question, cited sources, refused, latency)."""
        assert ctx.audit is not None
        return ctx.audit.list_answers(limit=limit, offset=offset)

    # -- other protocols (issue 16): OpenAI-compatible chat, the figure store ------------------

    from assistant.conversations_api import conversations_router
    from assistant.figures_api import figures_router
    from assistant.openai_api import openai_router
    from assistant.sources_file_api import sources_file_router

    app.include_router(openai_router(ctx))
    app.include_router(figures_router(ctx))
    app.include_router(sources_file_router(ctx))  # issue 17: source viewer, conversations
    app.include_router(conversations_router(ctx))
    return app


_default_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    """`assistant.api:app` builds the app from the environment on first use (uvicorn, old callers)."""
    global _default_app
    if name == "app":
        if _default_app is None:
            _default_app = create_app()
        return _default_app
    raise AttributeError(name)

