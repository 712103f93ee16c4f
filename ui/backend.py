"""One small client interface for the UI, with two implementations.

- `InProcessBackend` (default) calls the assistant, registry, ingest and audit store in this process.
- `HttpBackend` (when `MARKTWIJZER_API_URL` is set) calls the HTTP API, so UI and API can run on
  different machines. The key from `MARKTWIJZER_API_KEY` goes in `Authorization: Bearer <key>`.

Both speak the Answer contract (`assistant.types`). `stream` yields `(kind, data)` events in the
kinds of the API's server-sent events: ("delta", str) ..., ("citations", list[Citation]),
("figures", list[Figure]) and ("done", Answer), or ("error", Dutch message). The page shows the deltas as
they come and then the final Answer (which replaces the streamed text) with its sources.
"""

from __future__ import annotations

import ingest  # noqa: F401  (offline environment before heavy imports)

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from assistant.source_files import with_page_labels
from assistant.types import Answer, Citation, Figure, HistoryTurn
from ingest.settings import Settings

Event = tuple[str, Any]
Progress = Callable[[str, int, int], None]

log = logging.getLogger(__name__)

FEEDBACK_KEY_NAME = "ui"
WORDS = re.compile(r"\S+\s*|\s+")


class BackendError(RuntimeError):
    """Something the user should see (Dutch message)."""


class NotSupported(BackendError):
    """The operation is not available with this backend."""


def split_deltas(text: str, words_per_delta: int = 3) -> list[str]:
    """The answer text in small pieces (whole words, whitespace kept) for streaming."""
    words = WORDS.findall(text)
    return ["".join(words[i : i + words_per_delta]) for i in range(0, len(words), words_per_delta)]


def _filters_dict(filters: dict[str, Any] | None) -> dict[str, Any] | None:
    if not filters:
        return None
    out = {k: v for k, v in filters.items() if v}
    return out or None


class Backend:
    """The interface the pages use. Subclasses implement what their side can do."""

    name = "backend"
    remote = False

    def ask(self, question: str, history: list[HistoryTurn] | None = None,
            filters: dict[str, Any] | None = None, request_id: str | None = None, channel: str | None = "ui") -> Answer:
        """One answer. `channel` names the caller in the audit log ('ui'); None: not recorded (evaluations)."""
        raise NotImplementedError

    def stream(self, question: str, history: list[HistoryTurn] | None = None,
               filters: dict[str, Any] | None = None, conversation_id: str | None = None) -> Iterator[Event]:
        """`conversation_id`: over HTTP the server stores the turn in the key's conversation; in process
        the page stores it with `add_turn` (the adviser's own)."""
        raise NotImplementedError

    def source_file(self, source_id: str) -> tuple[bytes, str]:
        """An approved source's file and its content type (the source viewer)."""
        raise NotSupported("De bron kan niet worden geopend.")

    # Conversations (issue 17); `owner` is the adviser (in process) or ignored (HTTP: the key's).
    def conversations(self, owner: str) -> list[dict[str, Any]]:
        raise NotSupported("Gesprekken bewaren is niet beschikbaar.")

    def conversation(self, owner: str, conversation_id: str) -> dict[str, Any]:
        raise NotSupported("Gesprekken bewaren is niet beschikbaar.")

    def add_turn(self, owner: str, conversation_id: str, answer: Answer) -> None:
        raise NotSupported("Gesprekken bewaren is niet beschikbaar.")

    def rename_conversation(self, owner: str, conversation_id: str, title: str) -> None:
        raise NotSupported("Een gesprek hernoemen kan alleen op de server (in-process modus).")

    def delete_conversation(self, owner: str, conversation_id: str) -> None:
        raise NotSupported("Gesprekken bewaren is niet beschikbaar.")

    def sources(self) -> list[dict[str, Any]]:
        """Approved, indexed sources: id, title, publisher, edition, type, regions, period, scope, url."""
        raise NotImplementedError

    def feedback(self, answer: Answer, rating: str, reason: str, comment: str) -> None:
        raise NotImplementedError

    # Trainers' operations (Sources page)
    def registry_rows(self) -> list[dict[str, Any]]:
        raise NotSupported("De bronnenlijst is niet beschikbaar.")

    def add_source(self, filename: str, data: bytes, metadata: dict[str, Any]) -> str:
        raise NotSupported("Bronnen toevoegen kan alleen op de server (in-process modus).")

    def set_status(self, source_id: str, status: str) -> None:
        raise NotSupported("De status wijzigen kan alleen op de server (in-process modus).")

    def reingest(self, progress: Progress | None = None) -> dict[str, Any]:
        raise NotSupported("Opnieuw indexeren kan alleen op de server (in-process modus).")

    def chunks(self, source_id: str) -> list[dict[str, Any]]:
        raise NotSupported("Passages bekijken kan alleen op de server (in-process modus).")

    def feedback_list(self, rating: str | None = "down", limit: int = 200) -> list[dict[str, Any]]:
        """Stored feedback, newest first: id, answer_id, rating, reason, comment, question, created_at."""
        raise NotSupported("Feedback lezen is niet beschikbaar.")

    def feedback_overview(self) -> dict[str, Any]:
        """Counts by reason, source and week and the worst-rated answers (assistant.feedback_overview)."""
        raise NotSupported("Het feedbackoverzicht kan alleen op de server (in-process modus).")

    def answer_snapshot(self, answer_id: str) -> dict[str, Any] | None:
        """The answer as shown when it got feedback (with its cited passages), if kept."""
        return None


# ---------------------------------------------------------------------------------------------
# In-process
# ---------------------------------------------------------------------------------------------


class InProcessBackend(Backend):
    name = "in-process"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._audit: Any = None

    # -- answering -----------------------------------------------------------------------------

    def assistant(self):  # noqa: ANN201
        from assistant.answer import get_assistant
        from ingest.store import IndexNotReady

        try:
            return get_assistant(self.settings)
        except IndexNotReady as exc:
            raise BackendError(
                "Er is nog geen index. Laat een trainer de bronnen indexeren (pagina Bronnen of `marktwijzer ingest`)."
            ) from exc

    def warm_up(self) -> None:
        """Load index and embedding model (a few seconds, once per process)."""
        self.assistant().retriever.embedder.embed_query("arbeidsmarkt")
        self._store()

    def ask(self, question: str, history: list[HistoryTurn] | None = None,
            filters: dict[str, Any] | None = None, request_id: str | None = None, channel: str | None = "ui") -> Answer:
        from assistant.retrieve import Filters

        flt = _filters_dict(filters)
        answer = self.assistant().ask(question, history=history or None,
                                      filters=Filters(**flt) if flt else None, request_id=request_id)
        with_page_labels(answer, self.settings)
        if channel:
            self._record_answer(answer, channel)
        return answer

    def stream(self, question: str, history: list[HistoryTurn] | None = None,
               filters: dict[str, Any] | None = None, conversation_id: str | None = None) -> Iterator[Event]:
        """Deltas as the answer is written: with a language model (MARKTWIJZER_LLM) sentence by verified
        sentence (assistant.llm.stream_ask), without one the extractive answer in pieces of a few words."""
        from assistant.llm import stream_ask
        from assistant.retrieve import Filters

        flt = _filters_dict(filters)
        answer: Answer | None = None
        try:
            assistant = self.assistant()
            for event in stream_ask(assistant, question, history or None, Filters(**flt) if flt else None):
                if event.kind == "delta":
                    for piece in split_deltas(event.text):
                        yield ("delta", piece)
                elif event.kind == "done":
                    answer = event.answer
        except (ValueError, BackendError) as exc:  # ValueError: the assistant's Dutch message for a bad question
            yield ("error", str(exc))
            return
        if answer is None:
            yield ("error", "Er kwam geen antwoord; probeer het opnieuw.")
            return
        with_page_labels(answer, self.settings)
        try:
            self._record_answer(answer, "ui")
        except BackendError as exc:
            yield ("error", str(exc))
            return
        yield ("citations", answer.citations)
        yield ("figures", answer.figures)
        yield ("done", answer)

    # -- sources -------------------------------------------------------------------------------

    def _registry(self):  # noqa: ANN202
        from ingest.registry import RegistryError, load_registry

        try:
            return load_registry(self.settings.registry_path)
        except RegistryError as exc:
            raise BackendError(f"Het bronnenregister is ongeldig: {exc}") from exc

    def _indexed(self) -> dict[str, Any]:
        from ingest.store import IndexNotReady, current_generation

        generation = current_generation(self.settings.index_dir)
        try:
            return generation.read_manifest().sources if generation else {}
        except IndexNotReady as exc:  # a damaged manifest: said plainly, in Dutch, without a path
            raise BackendError(str(exc)) from exc

    def sources(self) -> list[dict[str, Any]]:
        indexed = self._indexed()
        return [
            _entry_dict(entry, indexed.get(entry.id))
            for entry in self._registry().sources
            if entry.approved and entry.id in indexed
        ]

    def registry_rows(self) -> list[dict[str, Any]]:
        indexed = self._indexed()
        return [_entry_dict(entry, indexed.get(entry.id)) for entry in self._registry().sources]

    def add_source(self, filename: str, data: bytes, metadata: dict[str, Any]) -> str:
        """Validate file and metadata exactly as the API does (assistant.uploads), then register it."""
        from assistant.uploads import UploadMetadata, UploadRefused, add_source
        from ingest.registry import SourceStatus, SourceType

        meta = UploadMetadata(
            title=str(metadata.get("title") or ""), id=metadata.get("id") or None,
            publisher=str(metadata.get("publisher") or "onbekend"), edition=metadata.get("edition") or None,
            published=str(metadata["published"]) if metadata.get("published") else None,
            type=SourceType(metadata.get("type") or "rapport"), period=str(metadata.get("period") or ""),
            regions=list(metadata.get("regions") or []), url=str(metadata.get("url") or ""),
            status=SourceStatus(metadata.get("status") or "draft"),
        )
        try:
            entry = add_source(self.settings, filename, data, meta)
        except UploadRefused as exc:
            raise BackendError(f"{filename}: {exc.message}") from exc
        return entry.id

    def set_status(self, source_id: str, status: str) -> None:
        from assistant.uploads import UploadRefused, set_status
        from ingest.registry import SourceStatus

        try:
            set_status(self.settings, source_id, SourceStatus(status))
        except UploadRefused as exc:
            raise BackendError(exc.message) from exc

    def reingest(self, progress: Progress | None = None) -> dict[str, Any]:
        from ingest.pipeline import IngestError, run_ingest
        from ingest.store import IngestLocked

        try:
            report = run_ingest(self.settings, progress=progress)
        except IngestLocked as exc:
            raise BackendError("Er loopt al een indexering; probeer het over een minuut opnieuw.") from exc
        except IngestError as exc:
            raise BackendError(f"Indexeren mislukt: {exc}") from exc
        return report.model_dump(mode="json")

    def chunks(self, source_id: str) -> list[dict[str, Any]]:
        from ingest.store import IndexNotReady, open_index

        try:
            handle = open_index(self.settings.index_dir, self.settings.chroma_url)
        except IndexNotReady as exc:
            raise BackendError("Er is nog geen index.") from exc
        return [
            {
                "id": c["id"],
                "page_start": c["metadata"]["page_start"],
                "page_end": c["metadata"]["page_end"],
                "section": c["metadata"]["section"],
                "text": c["document"][int(c["metadata"]["text_offset"]):],
            }
            for c in handle.chunks_of(source_id)
        ]

    def source_file(self, source_id: str) -> tuple[bytes, str]:
        from assistant.source_files import SourceFileUnavailable, approved_source_file

        try:
            found = approved_source_file(self.settings, source_id)
            return found.read(), found.content_type
        except (SourceFileUnavailable, OSError) as exc:
            raise BackendError(str(exc) if isinstance(exc, SourceFileUnavailable) else
                               "Het bestand van deze bron kon niet worden gelezen.") from exc

    # -- conversations ---------------------------------------------------------------------------

    def _conversations(self):  # noqa: ANN202
        if getattr(self, "_conversation_store", None) is None:
            from assistant.conversations import ConversationStore

            self._conversation_store = ConversationStore(self.settings, audit=self._store())
        return self._conversation_store

    def conversations(self, owner: str) -> list[dict[str, Any]]:
        return [c.model_dump(mode="json") for c in self._conversations().list(owner)]

    def conversation(self, owner: str, conversation_id: str) -> dict[str, Any]:
        from assistant.conversations import ConversationNotFound

        try:
            return self._conversations().get(owner, conversation_id).model_dump(mode="json")
        except ConversationNotFound as exc:
            raise BackendError("Dit gesprek bestaat niet (meer).") from exc

    def add_turn(self, owner: str, conversation_id: str, answer: Answer) -> None:
        from assistant.conversations import ConversationNotFound

        try:
            self._conversations().add_turn(owner, conversation_id, answer)
        except ConversationNotFound as exc:
            raise BackendError("Dit gesprek bestaat niet (meer).") from exc

    def rename_conversation(self, owner: str, conversation_id: str, title: str) -> None:
        from assistant.conversations import ConversationNotFound

        try:
            self._conversations().rename(owner, conversation_id, title)
        except ConversationNotFound as exc:
            raise BackendError("Dit gesprek bestaat niet (meer).") from exc
        except ValueError as exc:
            raise BackendError(str(exc)) from exc

    def delete_conversation(self, owner: str, conversation_id: str) -> None:
        from assistant.conversations import ConversationNotFound

        try:
            self._conversations().delete(owner, conversation_id)
        except ConversationNotFound as exc:
            raise BackendError("Dit gesprek bestaat niet (meer).") from exc

    # -- feedback ------------------------------------------------------------------------------

    def _store(self):  # noqa: ANN202
        if self._audit is None:
            from assistant.audit import AuditStore

            self._audit = AuditStore(self.settings)
        return self._audit

    def _record_answer(self, answer: Answer, channel: str) -> None:
        """Every answer shown is recorded in the audit store first (feedback refers to it): an answer
        whose record cannot be written is not shown (BackendError). The log names no question."""
        try:
            self._store().record_answer(answer, key_name=FEEDBACK_KEY_NAME, channel=channel)
        except Exception as exc:  # noqa: BLE001  (any database failure: the same refusal)
            log.error("could not record answer %s in the audit store (%s)", answer.id, type(exc).__name__)
            raise BackendError("Het antwoord kon niet worden vastgelegd in het auditlog; probeer het opnieuw.") from None

    def feedback_list(self, rating: str | None = "down", limit: int = 200) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json") for r in self._store().list_feedback(limit=limit, rating=rating)]

    def answer_snapshot(self, answer_id: str) -> dict[str, Any] | None:
        from assistant.feedback_overview import snapshot

        found = snapshot(self._store(), answer_id)
        return found.model_dump(mode="json") if found else None

    def feedback_overview(self) -> dict[str, Any]:
        from assistant.feedback_overview import overview

        return overview(self._store()).model_dump(mode="json")

    def feedback(self, answer: Answer, rating: str, reason: str, comment: str) -> None:
        from assistant.audit import UnknownAnswer
        from assistant.feedback_overview import save_snapshot

        try:
            self._store().record_feedback(answer.id or "", rating, reason or None, comment or None, FEEDBACK_KEY_NAME)
            save_snapshot(self._store(), answer)  # trainers see the answer as the adviser saw it
        except UnknownAnswer as exc:
            raise BackendError("Dit antwoord staat niet in het auditlog; feedback kan niet worden opgeslagen.") from exc
        except ValueError as exc:
            raise BackendError(f"Feedback niet opgeslagen: {exc}") from exc


def _entry_dict(entry: Any, state: Any) -> dict[str, Any]:
    return {
        "id": entry.id,
        "title": entry.title,
        "publisher": entry.publisher,
        "edition": entry.edition,
        "type": entry.type.value,
        "status": entry.status.value,
        "regions": list(entry.regions),
        "municipalities": list(entry.municipalities),
        "provinces": list(entry.provinces),
        "period": entry.period,
        "scope": entry.scope,
        "url": entry.url,
        "file": entry.file,
        "pages": state.pages if state else None,
        "chunks": state.chunks if state else 0,
        "indexed_at": state.indexed_at if state else None,
    }


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


class HttpBackend(Backend):
    name = "http"
    remote = True

    def __init__(self, base_url: str, api_key: str = "", timeout: float = 60.0) -> None:
        import httpx

        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def _body(self, question: str, history: list[HistoryTurn] | None, filters: dict[str, Any] | None,
              conversation_id: str | None = None) -> dict:
        body: dict[str, Any] = {"question": question}
        if conversation_id:
            body["conversation_id"] = conversation_id
        if history:
            body["history"] = [h.model_dump() for h in history]
        flt = _filters_dict(filters)
        if flt:
            body["filters"] = flt
        return body

    def _error(self, response: Any) -> BackendError:
        try:
            body = response.json()
            detail = body.get("message") or body.get("detail", response.text) if isinstance(body, dict) else body
        except ValueError:
            detail = response.text
        if isinstance(detail, dict):
            detail = detail.get("message") or json.dumps(detail, ensure_ascii=False)
        elif isinstance(detail, list):  # FastAPI validation errors
            detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
        if response.status_code in (401, 403):
            return BackendError(f"De API weigert de sleutel ({response.status_code}); zet MARKTWIJZER_API_KEY.")
        return BackendError(f"De API gaf een fout ({response.status_code}): {detail}")

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BackendError(f"De API op {self.base_url} is niet bereikbaar: {exc}") from exc
        if response.status_code >= 400:
            raise self._error(response)
        return response.json() if response.content else None

    def ask(self, question: str, history: list[HistoryTurn] | None = None,
            filters: dict[str, Any] | None = None, request_id: str | None = None, channel: str | None = "ui") -> Answer:
        body = self._body(question, history, filters)
        try:
            return Answer.model_validate(self._request("POST", "/v1/ask", json=body))
        except BackendError as exc:
            if "(422)" in str(exc) or "(400)" in str(exc):
                raise ValueError(str(exc).split(": ", 1)[-1]) from exc
            raise

    def stream(self, question: str, history: list[HistoryTurn] | None = None,
               filters: dict[str, Any] | None = None, conversation_id: str | None = None) -> Iterator[Event]:
        import httpx
        from httpx_sse import connect_sse

        body = self._body(question, history, filters, conversation_id)
        citations: list[Citation] = []
        figures: list[Figure] = []
        text: list[str] = []
        try:
            with connect_sse(self.client, "POST", "/v1/ask/stream", json=body,
                             headers={"Accept": "text/event-stream"}) as source:
                response = source.response
                if response.status_code >= 400:
                    response.read()
                    yield ("error", str(self._error(response)))
                    return
                for sse in source.iter_sse():
                    kind = sse.event or "message"
                    try:
                        data = json.loads(sse.data) if sse.data else None
                    except ValueError:
                        data = sse.data
                    if kind == "citations":
                        items = data.get("citations", data) if isinstance(data, dict) else data
                        citations = [Citation.model_validate(c) for c in items or []]
                        yield ("citations", citations)
                    elif kind == "delta":
                        piece = data.get("text", data.get("delta", "")) if isinstance(data, dict) else str(data or "")
                        text.append(piece)
                        yield ("delta", piece)
                    elif kind == "figures":
                        items = data.get("figures", data) if isinstance(data, dict) else data
                        figures = [Figure.model_validate(f) for f in items or []]
                        yield ("figures", figures)
                    elif kind == "done":
                        yield ("done", self._final(question, data, citations, figures, "".join(text)))
                        return
                    elif kind == "error":
                        message = data.get("message", data.get("detail", data)) if isinstance(data, dict) else data
                        yield ("error", str(message))
                        return
        except httpx.HTTPError as exc:
            yield ("error", f"De API op {self.base_url} is niet bereikbaar: {exc}")
            return
        # Stream ended without 'done': still give what arrived.
        yield ("done", self._final(question, None, citations, figures, "".join(text)))

    @staticmethod
    def _final(question: str, data: Any, citations: list[Citation], figures: list[Figure], text: str) -> Answer:
        if isinstance(data, dict):
            payload = data.get("answer") if isinstance(data.get("answer"), dict) else data
            if "question" in payload and "answer" in payload:
                return Answer.model_validate(payload)
            return Answer(
                id=payload.get("id"), question=question, answer=text, refused=bool(payload.get("refused", False)),
                citations=citations, figures=figures, timings_ms=payload.get("timings_ms") or {},
            )
        return Answer(question=question, answer=text, citations=citations, figures=figures)

    def sources(self) -> list[dict[str, Any]]:
        rows = self._request("GET", "/v1/sources") or []
        if isinstance(rows, dict):
            rows = rows.get("sources", [])
        return [r for r in rows if r.get("status", "approved") == "approved" and r.get("indexed", True)]

    def registry_rows(self) -> list[dict[str, Any]]:
        rows = self._request("GET", "/v1/sources") or []  # admins see every status, readers the approved
        return rows.get("sources", []) if isinstance(rows, dict) else rows

    def add_source(self, filename: str, data: bytes, metadata: dict[str, Any]) -> str:
        fields = {k: (",".join(v) if isinstance(v, list) else str(v)) for k, v in metadata.items() if v not in (None, "", [])}
        result = self._request("POST", "/v1/sources", files={"file": (filename, data)}, data=fields)
        return str((result or {}).get("id", metadata.get("id", "")))

    def set_status(self, source_id: str, status: str) -> None:
        action = {"approved": "approve", "withdrawn": "withdraw"}.get(status)
        if action is None:
            raise NotSupported("Via de API kan een bron alleen worden goedgekeurd of ingetrokken.")
        self._request("POST", f"/v1/sources/{source_id}/{action}")

    def reingest(self, progress: Progress | None = None, poll_s: float = 0.5, timeout_s: float = 1800) -> dict[str, Any]:
        """The server indexes by itself after an upload, approval or withdrawal: follow its newest job."""
        import time

        jobs = self._request("GET", "/v1/jobs") or []
        if not jobs:
            raise BackendError("Er is geen indexering op de server; die start vanzelf na toevoegen, goedkeuren of intrekken.")
        job_id = jobs[0]["id"]
        deadline = time.monotonic() + timeout_s
        while True:
            job = self._request("GET", f"/v1/jobs/{job_id}")
            state = job.get("state")
            step = job.get("progress") or {}
            if progress is not None:
                progress(step.get("message") or state or "", int(step.get("done") or 0), int(step.get("total") or 0))
            if state in ("succeeded", "partial", "failed"):
                break
            if time.monotonic() > deadline:
                raise BackendError(f"De indexering op de server ({job_id}) duurt te lang.")
            time.sleep(poll_s)
        if state == "failed":
            raise BackendError(f"Indexeren op de server mislukt: {job.get('error') or 'onbekende fout'}")
        report = job.get("report") or {}
        return {"added": 0, "updated": 0, "unchanged": 0, "removed": 0, "chunks": 0, "seconds": 0.0, "failed": [],
                **report}

    def source_file(self, source_id: str) -> tuple[bytes, str]:
        import httpx
        from urllib.parse import quote

        try:
            response = self.client.get(f"/v1/sources/{quote(source_id, safe='')}/file", headers={"Accept": "*/*"})
        except httpx.HTTPError as exc:
            raise BackendError(f"De API op {self.base_url} is niet bereikbaar: {exc}") from exc
        if response.status_code >= 400:
            raise self._error(response)
        return response.content, response.headers.get("content-type", "application/octet-stream")

    # Conversations over HTTP belong to the UI's API key (the server stores turns sent with
    # `conversation_id`); `owner` is not sent.
    def conversations(self, owner: str) -> list[dict[str, Any]]:
        return self._request("GET", "/v1/conversations") or []

    def conversation(self, owner: str, conversation_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/conversations/{conversation_id}")

    def add_turn(self, owner: str, conversation_id: str, answer: Answer) -> None:
        return None  # stored by the server with the streamed question

    def delete_conversation(self, owner: str, conversation_id: str) -> None:
        self._request("DELETE", f"/v1/conversations/{conversation_id}")

    def feedback_list(self, rating: str | None = "down", limit: int = 200) -> list[dict[str, Any]]:
        rows = self._request("GET", "/v1/feedback") or []  # admin key
        return [r for r in rows if rating is None or r.get("rating") == rating][:limit]

    def feedback(self, answer: Answer, rating: str, reason: str, comment: str) -> None:
        self._request("POST", "/v1/feedback", json={
            "answer_id": answer.id or "", "rating": rating, "reason": reason or None, "comment": comment or None,
        })


def make_backend(settings: Settings | None = None) -> Backend:
    """HttpBackend when an API URL is configured, else the assistant in this process."""
    settings = settings or Settings()
    url = getattr(settings, "api_url", "") or ""
    if url:
        key = getattr(settings, "api_key", "")
        key = key.get_secret_value() if hasattr(key, "get_secret_value") else str(key or "")
        return HttpBackend(url, key)
    return InProcessBackend(settings)

