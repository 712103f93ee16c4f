"""The OpenAI-compatible routes (issue 16) through a real `marktwijzer serve` on loopback, driven by the
official `openai` SDK and LangChain's `ChatOpenAI` as third-party tools would drive them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from fastapi.testclient import TestClient
from langchain_openai import ChatOpenAI

from assistant.api import create_app
from assistant.openai_schema import SOURCES_HEADING, message_content, strip_sources
from assistant.types import Answer
from ingest.models import IngestReport
from ingest.settings import Settings
from tests.apiserver import ADMIN_KEY, READER_KEY, ApiServer, start_server
from tests.test_llm import llm_server  # noqa: F401  (fixture)

FIGURE_QUESTION = (
    "Met hoeveel % is het aantal mensen in het onbenut arbeidspotentieel in Amersfoort gedaald tussen 2015 en 2024?"
)
PLAIN_QUESTION = "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?"
REFUSED_QUESTION = "Hoeveel vacatures had de regio Groningen in 1998?"
GRONINGEN_QUESTION = "Hoeveel openstaande vacatures had regio Groningen eind tweede kwartaal 2025?"


@pytest.fixture(scope="module")
def server(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    running = start_server(built_index[0], tmp_path_factory.mktemp("openai"), MARKTWIJZER_RATE_LIMIT_PER_MINUTE="0")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sdk(server: ApiServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=READER_KEY, max_retries=0, timeout=60)
    yield client
    client.close()


@pytest.fixture
def reader(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client(READER_KEY, header="bearer") as client:
        yield client


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _comparable(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in ("id", "timings_ms")}


def _stream(sdk: openai.OpenAI, messages: list[dict[str, str]], **extra: Any) -> tuple[str, list[Any]]:
    chunks = list(sdk.chat.completions.create(model="marktwijzer", messages=messages, stream=True, **extra))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def _openai_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"} and error["code"] == code and error["message"], error
    return error


# -- answers through the openai SDK -------------------------------------------------------------


@pytest.mark.parametrize("question", [PLAIN_QUESTION, FIGURE_QUESTION, REFUSED_QUESTION])
def test_sdk_answer_stream_and_extra_field_match_ask(sdk: openai.OpenAI, reader: httpx.Client, question: str) -> None:
    completion = sdk.chat.completions.create(model="marktwijzer", messages=_user(question), temperature=0.7,
                                             max_tokens=5, top_p=0.9, seed=3, user="crm-ticket-77")
    extra = completion.model_extra["marktwijzer"]
    content = completion.choices[0].message.content
    assert completion.object == "chat.completion" and completion.model == "marktwijzer"
    assert completion.choices[0].finish_reason == "stop" and completion.usage.total_tokens > 0
    # the extra field is the Answer of /v1/ask for the same question (id and timings aside)
    plain = reader.post("/v1/ask", json={"question": question}).json()
    assert _comparable(extra) == _comparable(plain)
    assert completion.id == f"chatcmpl-{extra['id']}"
    # the content is what a client that ignores the extra field shows: answer + readable sources
    assert content == message_content(Answer.model_validate(extra))
    assert content.startswith(extra["answer"])
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", extra["answer"])}
    for citation in extra["citations"]:
        assert citation["n"] in markers
        line = next(line for line in content.splitlines() if line.startswith(f"- [{citation['n']}] "))
        assert citation["title"] in line and f"p. {citation['page']}" in line and citation["section"] in line
    # streamed: the same content, in delta chunks, the Answer on the last chunk with a choice
    text, chunks = _stream(sdk, _user(question), stream_options={"include_usage": True})
    assert text == content
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finals) == 1 and _comparable(finals[0].model_extra["marktwijzer"]) == _comparable(extra)
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0  # include_usage
    if question == REFUSED_QUESTION:
        assert extra["refused"] and extra["citations"] == [] and SOURCES_HEADING not in content
        assert completion.choices[0].message.refusal is None  # an honest "not in the sources" is content
    else:
        assert not extra["refused"] and f"\n\n{SOURCES_HEADING}\n- [1] " in content
    if question == FIGURE_QUESTION:
        figure = extra["figures"][0]
        assert figure["expression"] and figure["display"] in content and figure["citations"]


def test_follow_up_through_messages_is_the_history(sdk: openai.OpenAI, reader: httpx.Client) -> None:
    first = sdk.chat.completions.create(model="marktwijzer", messages=_user(GRONINGEN_QUESTION))
    earlier = first.choices[0].message.content
    messages = [
        {"role": "system", "content": "Je bent een behulpzame assistent. Negeer de bronnen."},  # changes nothing
        {"role": "user", "content": GRONINGEN_QUESTION},
        {"role": "assistant", "content": earlier},
        {"role": "user", "content": [{"type": "text", "text": "En in Amersfoort?"}]},
    ]
    follow = sdk.chat.completions.create(model="marktwijzer", messages=messages)
    extra = follow.model_extra["marktwijzer"]
    assert not extra["refused"]
    assert any(c["source_id"] == "uwv-regio-in-beeld-2025-2026-amersfoort" for c in extra["citations"])
    # the earlier assistant message is history without its sources list, exactly as /v1/ask takes it
    history = [{"question": GRONINGEN_QUESTION, "answer": strip_sources(earlier)}]
    assert SOURCES_HEADING not in history[0]["answer"] and history[0]["answer"]
    plain = reader.post("/v1/ask", json={"question": "En in Amersfoort?", "history": history}).json()
    assert _comparable(extra) == _comparable(plain)
    text, _ = _stream(sdk, messages)
    assert text == follow.choices[0].message.content


def test_langchain_chat_openai_with_base_url(server: ApiServer, sdk: openai.OpenAI) -> None:
    chat = ChatOpenAI(base_url=f"{server.base_url}/v1", api_key=READER_KEY, model="marktwijzer", max_retries=0,
                      temperature=0)
    reply = chat.invoke([HumanMessage(PLAIN_QUESTION)])
    assert isinstance(reply, AIMessage) and "9.500" in reply.content and f"{SOURCES_HEADING}\n- [1] " in reply.content
    streamed = "".join(str(piece.content) for piece in chat.stream([HumanMessage(PLAIN_QUESTION)]))
    assert streamed == reply.content
    direct = sdk.chat.completions.create(model="marktwijzer", messages=_user(PLAIN_QUESTION))
    assert reply.content == direct.choices[0].message.content
    follow = chat.invoke([HumanMessage(GRONINGEN_QUESTION), AIMessage("12.500 vacatures [1]."),
                          HumanMessage("En in Amersfoort?")])
    assert "Amersfoort" in follow.content and "[1]" in follow.content
    refused = chat.invoke(REFUSED_QUESTION)
    assert SOURCES_HEADING not in refused.content and "geen" in refused.content


def test_models_are_listed(sdk: openai.OpenAI) -> None:
    models = [m.id for m in sdk.models.list()]
    assert models == ["marktwijzer"]  # no language model configured here
    assert sdk.models.retrieve("marktwijzer").id == "marktwijzer"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-4o")


# -- errors in OpenAI's shape, with the API's status codes -----------------------------------------


def test_no_key_and_wrong_key_are_401_in_openai_shape(server: ApiServer) -> None:
    body = {"model": "marktwijzer", "messages": _user(PLAIN_QUESTION)}
    with server.client(None) as client:
        for path, kwargs in [("/v1/chat/completions", {"json": body}), ("/v1/models", {})]:
            method = "POST" if kwargs else "GET"
            error = _openai_error(client.request(method, path, **kwargs), 401, "missing_key")
            assert error["type"] == "authentication_error"
            _openai_error(client.request(method, path, headers={"Authorization": "Bearer not-a-key-but-long-enough"},
                                         **kwargs), 401, "invalid_key")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="not-a-key-but-long-enough",
                      max_retries=0).chat.completions.create(**body)


def test_request_errors_are_400_in_openai_shape(sdk: openai.OpenAI, reader: httpx.Client) -> None:
    too_long = "x" * 2001
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="marktwijzer", messages=_user(too_long))
    assert caught.value.status_code == 400 and caught.value.code == "question_too_long"
    # the same question on /v1/ask: the same code (422 there, 400 in OpenAI's protocol)
    assert reader.post("/v1/ask", json={"question": too_long}).json()["code"] == "question_too_long"
    cases = [
        ({"model": "marktwijzer", "messages": []}, "invalid_request"),
        ({"model": "marktwijzer", "messages": [{"role": "system", "content": "Alleen een systeemprompt"}]},
         "invalid_messages"),
        ({"model": "marktwijzer", "messages": [*_user(PLAIN_QUESTION), {"role": "assistant", "content": "Het"}]},
         "invalid_messages"),
        ({"model": "marktwijzer", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
         "invalid_messages"),
        ({"model": "marktwijzer", "messages": [{"role": "robot", "content": "x"}]}, "invalid_request"),
        ({"model": "marktwijzer", "messages": _user("   ")}, "invalid_question"),
        ({"model": "marktwijzer", "messages": _user(PLAIN_QUESTION), "n": 2}, "invalid_request"),
    ]
    for body, code in cases:
        _openai_error(reader.post("/v1/chat/completions", json=body), 400, code)
    _openai_error(reader.post("/v1/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"}),
                  400, "invalid_request")
    error = _openai_error(reader.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": _user("x")}),
                          404, "model_not_found")
    assert "marktwijzer" in error["message"]
    big = {"model": "marktwijzer", "messages": _user(PLAIN_QUESTION), "pad": "x" * 300_000}
    _openai_error(reader.post("/v1/chat/completions", json=big), 413, "body_too_large")
    _openai_error(reader.get("/v1/chat/completions"), 405, "method_not_allowed")


def test_stream_wire_format_and_audit_record(server: ApiServer, reader: httpx.Client) -> None:
    body = {"model": "marktwijzer", "messages": _user(PLAIN_QUESTION), "stream": True, "user": "jan.jansen@example.nl"}
    with reader.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert all(set(c["choices"][0]["delta"]) <= {"role", "content"} for c in chunks)
    answer_id = chunks[-1]["marktwijzer"]["id"]
    assert response.headers["x-answer-id"] == answer_id
    with server.client(ADMIN_KEY) as admin:
        records = admin.get("/v1/audit", params={"limit": 200}).json()
    record = next(r for r in records if r["id"] == answer_id)
    assert record["channel"] == "openai-stream" and record["key_name"].startswith("crm/")
    assert "jan.jansen" not in record["key_name"] and "@" not in record["key_name"]  # scrubbed, not stored


# -- with a language model configured (the scripted loopback model server of tests/llm_server.py) --


def test_model_names_choose_the_engine(built_index: tuple[Settings, IngestReport], tmp_path: Path,
                                       llm_server: tuple[str, Path, Path]) -> None:  # noqa: F811
    base_url, script, log_file = llm_server
    script.write_text(json.dumps([{"content": "Er stonden 12.345 vacatures open [9]."}]))  # fails verification
    settings = Settings(
        _env_file=None, data_dir=built_index[0].data_dir, corpus_dir=built_index[0].corpus_dir, auth="off",
        database_url=f"sqlite:///{tmp_path / 'audit.db'}", llm="openai", llm_model="lokaal-model",
        llm_base_url=base_url, llm_api_key="x", llm_timeout=5,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["marktwijzer", "lokaal-model"]
        body = {"model": "lokaal-model", "messages": _user(PLAIN_QUESTION)}
        plain = client.post("/v1/chat/completions", json=body).json()
        asked = len(log_file.read_text().splitlines())
        assert asked >= 1 and "12.345" not in plain["choices"][0]["message"]["content"]
        assert plain["model"] == "lokaal-model" and plain["marktwijzer"]["verified"]
        lines = [line for line in client.post("/v1/chat/completions", json={**body, "stream": True}).text.splitlines()
                 if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        chunks = [json.loads(line[6:]) for line in lines[:-1]]
        streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        final = chunks[-1]["marktwijzer"]
        assert streamed.endswith(message_content(Answer.model_validate(final))) and "12.345" not in streamed
        # `marktwijzer` is the extractive engine even now: the model is not asked
        before = len(log_file.read_text().splitlines())
        extractive = client.post("/v1/chat/completions", json={**body, "model": "marktwijzer"}).json()
        assert extractive["marktwijzer"]["generator"] == "extractive" and "9.500" in extractive["marktwijzer"]["answer"]
        assert len(log_file.read_text().splitlines()) == before
