"""The source viewer over HTTP (issue 17): GET /v1/sources/{id}/file serves an approved source's file
inline, so a browser's PDF viewer opens it (`#page=N` jumps to a cited page).

The path is the registry's (`assistant.source_files`), never the client's; a withdrawn or draft
source is 404 like an unknown id, from the moment the registry says so.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from assistant.api import AUTH_ERRORS, ApiContext, ApiError, Reader, _responses
from assistant.source_files import SourceFile, SourceFileUnavailable, approved_source_file

FILE_TYPES = ("application/pdf", "text/plain", "text/markdown", "text/csv")


def sources_file_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["sources"])

    @router.get(
        "/v1/sources/{source_id}/file",
        response_class=Response,
        responses={
            200: {"description": "The source file, `Content-Disposition: inline`.",
                  "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in FILE_TYPES}},
            **_responses(*AUTH_ERRORS, 404, 422),
        },
    )
    async def source_file(source_id: Annotated[str, Path(max_length=200)], _principal: Reader) -> Response:
        """The file of an approved source (PDF as `application/pdf`, text sources as text), shown inline."""

        def load() -> tuple[SourceFile, bytes]:
            found = approved_source_file(ctx.settings, source_id)
            return found, found.read()

        try:
            found, data = await run_in_threadpool(load)
        except SourceFileUnavailable as exc:
            raise ApiError(404, "source_not_found", str(exc)) from exc
        return Response(
            content=data, media_type=found.content_type,
            headers={"Content-Disposition": f'inline; filename="{found.filename}"', "Cache-Control": "private, no-cache"},
        )

    return router
