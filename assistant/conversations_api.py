"""Conversations over HTTP (issue 17): the caller's own conversations, by API key name.

    GET    /v1/conversations           the caller's conversations (newest first)
    GET    /v1/conversations/{id}      one, with every question, Answer and its sources
    DELETE /v1/conversations/{id}      204
    DELETE /v1/conversations           all of the caller's ({"deleted": n})

An API client adds to a conversation by sending `conversation_id` with /v1/ask or /v1/ask/stream.
Another caller's conversation is 404 `conversation_not_found`, exactly like an unknown id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from assistant.api import ANSWER_ID_PATTERN, AUTH_ERRORS, ApiContext, ApiError, Reader, _responses
from assistant.auth import Principal
from assistant.conversations import Conversation, ConversationNotFound, ConversationStore, ConversationSummary
from assistant.types import Answer


ConversationId = Annotated[str, Path(pattern=ANSWER_ID_PATTERN, max_length=64)]


class Deleted(BaseModel):
    deleted: int


def conversation_store(ctx: ApiContext) -> ConversationStore:
    store = getattr(ctx, "conversations", None)
    if store is None:
        assert ctx.audit is not None  # created at start-up (lifespan)
        store = ConversationStore(ctx.settings, audit=ctx.audit)
        ctx.conversations = store  # type: ignore[attr-defined]  (one per app)
    return store


def _not_found(conversation_id: str) -> ApiError:
    return ApiError(404, "conversation_not_found", f"Geen gesprek met id '{conversation_id}'.")


async def remember_turn(ctx: ApiContext, conversation_id: str, answer: Answer, principal: Principal) -> None:
    """Appends an answered question to the caller's conversation (new ids start one)."""
    try:
        await run_in_threadpool(conversation_store(ctx).add_turn, principal.name, conversation_id, answer)
    except ConversationNotFound as exc:
        raise _not_found(conversation_id) from exc


def conversations_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["conversations"])

    @router.get("/v1/conversations", response_model=list[ConversationSummary], responses=_responses(*AUTH_ERRORS, 422))
    async def list_conversations(
        principal: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[ConversationSummary]:
        """The caller's conversations, most recently changed first (first question as title)."""
        return await run_in_threadpool(conversation_store(ctx).list, principal.name, limit)

    @router.get("/v1/conversations/{conversation_id}", response_model=Conversation,
                responses=_responses(*AUTH_ERRORS, 404, 422))
    async def get_conversation(conversation_id: ConversationId, principal: Reader) -> Conversation:
        """One of the caller's conversations with each question and its whole Answer (sources included)."""
        try:
            return await run_in_threadpool(conversation_store(ctx).get, principal.name, conversation_id)
        except ConversationNotFound as exc:
            raise _not_found(conversation_id) from exc

    @router.delete("/v1/conversations/{conversation_id}", status_code=204, response_class=Response,
                   responses=_responses(*AUTH_ERRORS, 404, 422))
    async def delete_conversation(conversation_id: ConversationId, principal: Reader) -> Response:
        """Deletes one of the caller's conversations."""
        try:
            await run_in_threadpool(conversation_store(ctx).delete, principal.name, conversation_id)
        except ConversationNotFound as exc:
            raise _not_found(conversation_id) from exc
        return Response(status_code=204)

    @router.delete("/v1/conversations", response_model=Deleted, responses=_responses(*AUTH_ERRORS))
    async def delete_conversations(principal: Reader) -> Deleted:
        """Deletes all of the caller's conversations."""
        return Deleted(deleted=await run_in_threadpool(conversation_store(ctx).delete_all, principal.name))

    return router
