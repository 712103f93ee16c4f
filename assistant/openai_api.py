"""OpenAI-compatible routes (issue 16): POST /v1/chat/completions and GET /v1/models.

They map onto the /v1/ask path of `assistant/api.py` (same reader keys, limits, timeouts,
cancellation, audit record and metrics), so every guarantee of an answer holds here too; only the
wire format differs. Shapes and the Answer <-> message mapping: `assistant/openai_schema.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi import Request as HttpRequest
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from pydantic import Field, ValidationError, WithJsonSchema, create_model
from starlette.concurrency import run_in_threadpool

from assistant.api import (
    AUTH_ERRORS,
    ApiContext,
    ApiError,
    AskRequest,
    Reader,
    _audit,
    _compute_answer,
    _index_is_empty,
    _prepare,
    _split_deltas,
    model_event_items,
)
from assistant.auth import Principal
from assistant.openai_schema import (
    EXTRACTIVE_MODEL,
    ChatCompletion,
    ChatCompletionRequest,
    ModelCard,
    ModelList,
    OpenAIErrorResponse,
    chunk,
    completion,
    conversation,
    message_content,
    usage,
)
from assistant.scrub import identifier_has_personal_data, scrub
from assistant.types import Answer

log = logging.getLogger(__name__)

STARTED = int(time.time())
REPLACED_NOTE = "\n\n---\nHet antwoord hierboven kon niet worden gecontroleerd; dit is het gecontroleerde antwoord:\n\n"


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": OpenAIErrorResponse} for status in statuses}


def _audit_principal(principal: Principal, user: str | None) -> Principal:
    """The key name, plus the client's `user` (scrubbed: an e-mail address as user id is not stored)."""
    if not user or not user.strip():
        return principal
    name = "[persoonsgegevens]" if identifier_has_personal_data(user) else scrub(user.strip())
    return Principal(f"{principal.name}/{name}"[:100], principal.role)


def _data(payload: Any) -> str:
    body = jsonable_encoder(payload)
    if isinstance(body, dict):  # a field the chunk does not carry is left out, not sent as null
        for key in ("marktwijzer", "usage"):
            if body.get(key) is None:
                body.pop(key, None)
        for choice in body.get("choices", []):  # OpenAI's deltas carry only what they set: {"content": "..."}
            choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _error_data(code: str, message: str) -> str:
    return f"data: {json.dumps({'error': {'message': message, 'type': 'server_error', 'code': code, 'param': None}}, ensure_ascii=False)}\n\n"


DONE = "data: [DONE]\n\n"

STREAM_DOC = (
    "With `stream: true`: server-sent events in OpenAI's chunk format (`data: {chat.completion.chunk}`): "
    "first the role, then content deltas, then a chunk with `finish_reason: stop` and the whole Answer under "
    "`marktwijzer`, then (with `stream_options.include_usage`) a usage chunk, then `data: [DONE]`. A failure "
    "after the stream started: `data: {\"error\": {message, type, code}}`."
)


def openai_router(ctx: ApiContext) -> APIRouter:
    settings = ctx.settings
    router = APIRouter(tags=["openai"])
    extractive: dict[str, Any] = {}
    extractive_lock = asyncio.Lock()

    def model_names() -> list[str]:
        names = [EXTRACTIVE_MODEL]
        if settings.llm != "none" and settings.llm_model and settings.llm_model != EXTRACTIVE_MODEL:
            names.append(settings.llm_model)
        return names

    def model_not_found(model: str) -> ApiError:
        return ApiError(404, "model_not_found",
                        f"Model '{model}' bestaat niet; beschikbaar: {', '.join(model_names())} (GET /v1/models).")

    async def extractive_engine() -> Any:
        """`marktwijzer` while a language model is configured: the extractive engine, loaded once on
        first use (the serving assistant rewrites every answer with the model)."""
        if settings.llm == "none":
            return None
        async with extractive_lock:
            if "assistant" not in extractive:
                from assistant.answer import get_assistant

                own = settings.model_copy(update={"llm": "none"})
                extractive["assistant"] = await run_in_threadpool(get_assistant, own)
        return extractive["assistant"]

    # The documented request names the models that exist (schema clients and fuzzers pick real ones);
    # any other name is still read, and answered 404 model_not_found as OpenAI does.
    model_doc = {"type": "string", "enum": model_names(), "description": "A model of GET /v1/models."}
    Request = create_model(  # noqa: N806
        "ChatCompletionRequest", __base__=ChatCompletionRequest,
        model=(Annotated[str, WithJsonSchema(model_doc)], Field(max_length=200)),
    )

    def card(name: str) -> ModelCard:
        return ModelCard(id=name, created=STARTED, owned_by="marktwijzer" if name == EXTRACTIVE_MODEL else settings.llm)

    @router.get("/v1/models", response_model=ModelList, responses=_responses(*AUTH_ERRORS, 400))
    def list_models(_principal: Reader) -> ModelList:
        """The models /v1/chat/completions answers with: `marktwijzer` (extractive, always) and the
        configured language model, if any (its answers are verified as on /v1/ask)."""
        return ModelList(data=[card(name) for name in model_names()])

    @router.get("/v1/models/{model}", response_model=ModelCard, responses=_responses(*AUTH_ERRORS, 400, 404))
    def get_model(model: Annotated[str, Path(max_length=200)], _principal: Reader) -> ModelCard:
        if model not in model_names():
            raise model_not_found(model)
        return card(model)

    async def chat_completions(body: ChatCompletionRequest, principal: Reader, request: HttpRequest) -> Any:
        """OpenAI-compatible chat: the last user message is the question, earlier user/assistant turns the
        history. The message content is the answer with its [n] markers and a "Bronnen" list; the whole
        Answer (citations with passages, figures, refused) is under `marktwijzer`. Generation parameters
        (temperature, max_tokens, ...) are accepted and ignored. Errors: `{"error": {message, type, code}}`."""
        started = time.perf_counter()
        if body.model not in model_names():
            raise model_not_found(body.model)
        try:
            question, history = conversation(body.messages)
        except ValueError as exc:
            raise ApiError(400, "invalid_messages", str(exc)) from exc
        if len(question) > settings.max_question_chars:
            raise ApiError(400, "question_too_long", f"De vraag is langer dan {settings.max_question_chars} tekens.")
        if not question.strip():
            raise ApiError(400, "invalid_question", "De vraag is leeg.")
        try:
            ask = AskRequest(question=question, history=history, filters=body.filters)
        except ValidationError as exc:
            raise ApiError(400, "invalid_request", "Ongeldige vraag of geschiedenis.",
                           detail=json.loads(exc.json(include_input=False))) from exc
        answer_id = await _prepare(ctx, ask)
        who = _audit_principal(principal, body.user)
        engine = await extractive_engine() if body.model == EXTRACTIVE_MODEL else None
        use_model = body.model != EXTRACTIVE_MODEL and not _index_is_empty(ctx)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        if body.stream:
            events = (_model_stream if use_model else _plain_stream)(
                ctx, ask, answer_id, who, started, request, body.model, engine, include_usage)
            return StreamingResponse(
                events, media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Answer-Id": answer_id},
            )
        answer = await _compute_answer(ctx, ask, answer_id, request, assistant=engine)
        await _audit(ctx, answer, who, started, "openai")
        return completion(answer, body.model, question)

    chat_completions.__annotations__["body"] = Request  # the per-app request model (its model enum)
    router.post(
        "/v1/chat/completions", response_model=ChatCompletion,
        responses={
            200: {"description": STREAM_DOC, "content": {"text/event-stream": {"schema": {"type": "string"}}}},
            **_responses(*AUTH_ERRORS, 400, 404, 409, 413, 503, 504),
        },
    )(chat_completions)
    return router


def _closing(ask: AskRequest, answer: Answer, answer_id: str, model: str, created: int,
             include_usage: bool) -> list[str]:
    """The last chunks: finish_reason with the whole Answer, the usage chunk if asked, [DONE]."""
    out = [_data(chunk(answer_id, model, created, content=None, finish=True, answer=answer))]
    if include_usage:
        out.append(_data(chunk(answer_id, model, created, no_choice=True,
                               usage_=usage(ask.question, message_content(answer)))))
    out.append(DONE)
    return out


async def _plain_stream(ctx: ApiContext, ask: AskRequest, answer_id: str, who: Principal, started: float,
                        request: HttpRequest, model: str, engine: Any, include_usage: bool) -> AsyncIterator[str]:
    """The extractive answer in content deltas: computed first (a second or less), then sent in pieces."""
    created = int(time.time())
    yield _data(chunk(answer_id, model, created, role=True, content=""))  # headers and a first byte at once
    try:
        answer = await _compute_answer(ctx, ask, answer_id, request, assistant=engine)
        await _audit(ctx, answer, who, started, "openai-stream")
    except ApiError as exc:
        yield _error_data(exc.code, exc.message)
        return
    except Exception as exc:
        log.exception("streamed chat completion %s failed", answer_id)
        yield _error_data("internal_error", type(exc).__name__)
        return
    for piece in _split_deltas(message_content(answer)):
        yield _data(chunk(answer_id, model, created, content=piece))
    for line in _closing(ask, answer, answer_id, model, created, include_usage):
        yield line


async def _model_stream(ctx: ApiContext, ask: AskRequest, answer_id: str, who: Principal, started: float,
                        request: HttpRequest, model: str, engine: Any, include_usage: bool) -> AsyncIterator[str]:
    """The language-model path: verified sentences as they pass, then the sources. A fallback after part
    was shown cannot be taken back in this protocol: the checked answer follows after a note."""
    created = int(time.time())
    yield _data(chunk(answer_id, model, created, role=True, content=""))
    shown = ""
    async with aclosing(model_event_items(ctx, ask, answer_id, who, started, channel="openai-stream")) as items:
        async for event, data in items:
            if event == "error":
                yield _error_data(data["code"], data["message"])
                return
            if event == "delta":
                shown += data["text"]
                yield _data(chunk(answer_id, model, created, content=data["text"]))
            elif event == "done":
                answer: Answer = data
                content = message_content(answer)
                rest = content[len(shown):] if content.startswith(shown) else REPLACED_NOTE + content
                if rest:
                    yield _data(chunk(answer_id, model, created, content=rest))
                for line in _closing(ask, answer, answer_id, model, created, include_usage):
                    yield line
                return

