"""The OpenAI chat-completions wire shapes (requests, responses, stream chunks, errors) and the
mapping between them and the Answer contract. No FastAPI here: `assistant/openai_api.py` serves them.

Marktwijzer extends the protocol in two documented places: the request may carry `filters`
(the same as /v1/ask's), and every response (and the last stream chunk) carries the whole Answer
under `marktwijzer`. Clients that do not know these fields ignore them and still show readable
citations: the message content ends with a Dutch "Bronnen" list.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.retrieve import Filters
from assistant.types import (
    MAX_HISTORY_ANSWER_CHARS,
    MAX_HISTORY_CHARS,
    MAX_HISTORY_QUESTION_CHARS,
    MAX_HISTORY_TURNS,
    Answer,
    Citation,
    HistoryTurn,
)

EXTRACTIVE_MODEL = "marktwijzer"
EXTRA_FIELD = "marktwijzer"  # where the Answer contract rides along
OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")
SOURCES_HEADING = "Bronnen:"
MAX_MESSAGES = 200

# OpenAI's error types by status; `code` keeps our stable error code (the same as /v1/ask's).
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
    405: "invalid_request_error", 406: "invalid_request_error", 409: "conflict_error", 413: "invalid_request_error",
    415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error", 499: "invalid_request_error",
    500: "server_error", 503: "server_error", 504: "timeout_error",
}


def is_openai_path(path: str) -> bool:
    """Routes that answer errors in the OpenAI shape (their clients parse nothing else)."""
    path = path.rstrip("/") or "/"
    return any(path == p or path.startswith(p + "/") for p in OPENAI_PATHS)


def openai_status(status: int) -> int:
    """OpenAI clients treat a request they got wrong as 400; our 422s are that on these routes."""
    return 400 if status == 422 else status


# -- errors ------------------------------------------------------------------------------------


class OpenAIError(BaseModel):
    message: str = Field(description="What went wrong, in Dutch, for people.")
    type: str = Field(description="OpenAI error type, e.g. invalid_request_error, authentication_error.")
    code: str = Field(description="Marktwijzer's stable error code (as on /v1/ask).")
    param: str | None = None


class OpenAIErrorResponse(BaseModel):
    error: OpenAIError


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    error = OpenAIError(message=message, type=ERROR_TYPES.get(status, "server_error" if status >= 500 else
                                                                   "invalid_request_error"),
                        code=code, param=param)
    return OpenAIErrorResponse(error=error).model_dump()


# -- requests ----------------------------------------------------------------------------------


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(max_length=50)
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, ... accepted and ignored

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's request. Generation parameters are accepted and ignored: the engine is extractive (or a
    verified model path) and never samples, truncates or formats otherwise."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(max_length=200, description="`marktwijzer` (extractive) or the configured model (GET /v1/models).")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES,
                                        description="The last user message is the question; earlier turns are the history.")
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=256, description="End-user id: recorded (scrubbed) with the key name in the audit log.")
    filters: Filters | None = Field(None, description="Marktwijzer extension: the same filters as /v1/ask.")
    temperature: float | None = Field(None, description="Ignored.")
    top_p: float | None = Field(None, description="Ignored.")
    n: int | None = Field(None, ge=1, le=1, description="Only 1 (one answer per question).")
    max_tokens: int | None = Field(None, description="Ignored: an answer is never cut off (it would lose citations).")
    max_completion_tokens: int | None = Field(None, description="Ignored.")
    stop: str | list[str] | None = Field(None, description="Ignored.")
    presence_penalty: float | None = Field(None, description="Ignored.")
    frequency_penalty: float | None = Field(None, description="Ignored.")
    seed: int | None = Field(None, description="Ignored (answers are deterministic).")


def _text(message: ChatMessage) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    parts = []
    for part in message.content:
        if part.type not in ("text", "input_text"):
            raise ValueError(f"alleen tekst wordt ondersteund, geen '{part.type}'")
        parts.append(part.text or "")
    return "".join(parts)


_FOOTNOTE = re.compile(r"\n+" + re.escape(SOURCES_HEADING) + r"\n(?:- \[\d+\][^\n]*(?:\n|$))+\s*$")


def strip_sources(text: str) -> str:
    """An earlier answer of ours without its "Bronnen" list: history is what was said, not the list."""
    return _FOOTNOTE.sub("", text).rstrip()


def conversation(messages: list[ChatMessage]) -> tuple[str, list[HistoryTurn]]:
    """(question, history) from OpenAI messages: the last user message is the question; each earlier
    user message with the assistant reply after it is one turn. System, developer and tool messages
    cannot change what the engine does (approved sources only), so they are ignored. Chat front ends
    send the whole conversation: only the newest turns within the history bounds are kept."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise ValueError("er staat geen vraag (user-bericht) in messages")
    if any(m.role == "assistant" for m in messages[users[-1] + 1:]):  # a prefilled reply is not a question
        raise ValueError("het laatste user- of assistant-bericht moet de vraag (user) zijn")
    question = _text(messages[users[-1]])
    turns: list[HistoryTurn] = []
    pending: str | None = None
    for message in messages[: users[-1]]:
        if message.role == "user":
            if pending is not None:
                turns.append(_turn(pending, ""))
            pending = _text(message)
        elif message.role == "assistant" and pending is not None:
            turns.append(_turn(pending, strip_sources(_text(message))))
            pending = None
    if pending is not None:
        turns.append(_turn(pending, ""))
    turns = turns[-MAX_HISTORY_TURNS:]
    while turns and sum(len(t.question) + len(t.answer) for t in turns) > MAX_HISTORY_CHARS:
        turns.pop(0)
    return question, turns


def _turn(question: str, answer: str) -> HistoryTurn:
    return HistoryTurn(question=question[:MAX_HISTORY_QUESTION_CHARS], answer=answer[:MAX_HISTORY_ANSWER_CHARS])


# -- responses ---------------------------------------------------------------------------------


def citation_line(citation: Citation) -> str:
    pages = f"p. {citation.page}" + (f"-{citation.page_end}" if citation.page_end and citation.page_end != citation.page else "")
    edition = f" {citation.edition}" if citation.edition and citation.edition not in citation.title else ""
    publisher = f" – {citation.publisher}" if citation.publisher else ""
    return f"- [{citation.n}] {citation.title}{edition}{publisher}, {pages}, {citation.section}"


def message_content(answer: Answer) -> str:
    """The text a chat client shows: the answer with its [n] markers, then the sources they point to."""
    if not answer.citations:
        return answer.answer
    lines = [citation_line(c) for c in answer.citations]
    return f"{answer.answer}\n\n{SOURCES_HEADING}\n" + "\n".join(lines)


def count_tokens(text: str) -> int:
    """Words and punctuation marks: an estimate for `usage` (no tokenizer runs here)."""
    return len(re.findall(r"\w+|[^\w\s]", text))


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = Field(None, description="OpenAI's content-policy refusal: always null (an honest "
                                                  "'not in the sources' answer is content; see marktwijzer.refused).")


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None
    marktwijzer: Answer = Field(description="The whole Answer contract (as /v1/ask returns it).")


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    marktwijzer: Answer | None = Field(None, description="On the last chunk with a choice: the whole Answer.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def usage(question: str, content: str) -> Usage:
    prompt, completion = count_tokens(question), count_tokens(content)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def completion(answer: Answer, model: str, question: str) -> ChatCompletion:
    content = message_content(answer)
    return ChatCompletion(
        id=f"chatcmpl-{answer.id}", created=int(time.time()), model=model,
        choices=[Choice(message=AssistantMessage(content=content))], usage=usage(question, content),
        marktwijzer=answer,
    )


def chunk(answer_id: str, model: str, created: int, *, role: bool = False, content: str | None = None,
          finish: bool = False, answer: Answer | None = None, usage_: Usage | None = None,
          no_choice: bool = False) -> ChatCompletionChunk:
    choices = [] if no_choice else [ChunkChoice(
        delta=Delta(role="assistant" if role else None, content=content), finish_reason="stop" if finish else None,
    )]
    return ChatCompletionChunk(id=f"chatcmpl-{answer_id}", created=created, model=model, choices=choices,
                               usage=usage_, marktwijzer=answer)
