"""Optional language-model answers, verified before they are shown (issue 8).

The default path (setting `LLM=none`) never gets here. With `LLM=openai` (any OpenAI-compatible
endpoint: vLLM, LM Studio, llama.cpp server, Azure OpenAI, OpenAI) or `LLM=ollama`, the extractive
answer is rewritten by a LangChain chat model from the retrieved candidate passages, and every
sentence the model writes is checked before anything is shown:

1. its [n] citations resolve to passages the model was given (a phantom [9] drops the sentence);
2. it shares enough content (stemmed words) with the passages it cites, change words ("stijgt",
   "daalt") included, and an optional entailment model agrees (`entailment` hook);
3. the number audit of `assistant.verify` passes (every number in a cited passage or a figure);
4. no forecast the cited passages do not make ("zal stijgen", "naar verwachting", a year the
   passages only mention in a prognosis stated as a fact);
5. it is Dutch, carries no link the passages do not carry, and echoes no injected instruction.

A failing sentence is dropped. When too little remains, or the model times out, refuses the
connection, or returns nothing usable, the extractive answer is shown (logged). The Answer says
which: `generator` is the model name or "extractive", `verified` is True for everything shown.

Passages go to the model as delimited data, never as instructions; a passage that gives orders
("negeer alle eerdere instructies ...") is withheld from the model as a whole and supports no claim.

Integration: `get_writer(settings)` returns an `LLMWriter` or None, and
`writer.rewrite(question, history, extractive, candidates(passages), figures)` returns the Answer.
Streaming: `stream_ask(assistant, question, ...)` yields `StreamEvent`s -- "delta" events carry
verified sentences (a sentence is shown only once it has passed every check, so deltas arrive per
sentence, not per token) and the final "done" event carries the Answer with its resolved
citations; `replace` on it says the client must replace what it showed (the fallback case).
"""

from __future__ import annotations

import contextvars
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from assistant import prompts
from assistant.evaluate import untraceable_numbers
from assistant.types import Answer, Citation, Figure, HistoryTurn, TableCitation
from assistant.verify import (
    INJECTION,
    MARKER_GROUP,
    audit_numbers,
    check_citations,
    instruction_like,
    marker_numbers,
    split_sentences,
)
from ingest.lexical import tokenize
from ingest.numbers import find_quantities, same_value

log = logging.getLogger(__name__)

MIN_OVERLAP = 0.5  # share of a sentence's content words that must stand in its cited passages
MIN_KEPT_SHARE = 0.5  # below this share of the model's sentences kept, the extractive answer is shown
MIN_KEPT_SENTENCES = 1
MAX_SENTENCES = 16
MAX_PASSAGES = 10
MAX_HISTORY_TURNS = 3
STREAM_DEADLINE_FACTOR = 3  # a stream may run this many times the request timeout in total

#: (premise passages, hypothesis sentence) -> probability that the passages entail the sentence.
Entailment = Callable[[Sequence[str], str], float]


class LLMConfigError(RuntimeError):
    """The LLM settings cannot work (unknown provider, missing package, missing model name)."""


# --------------------------------------------------------------------------------------------
# Structured output schema


class GeneratedSentence(BaseModel):
    text: str = Field(description=prompts.LLM_SCHEMA_TEXT)
    citations: list[int] = Field(default_factory=list, description=prompts.LLM_SCHEMA_CITATIONS)


class GeneratedAnswer(BaseModel):
    """Het antwoord van Marktwijzer: Nederlandse zinnen met de nummers van hun passages."""

    answerable: bool = Field(True, description=prompts.LLM_SCHEMA_ANSWERABLE)
    sentences: list[GeneratedSentence] = Field(default_factory=list, description=prompts.LLM_SCHEMA_SENTENCES)


@dataclass
class Draft:
    """One sentence as the model wrote it: text without markers, the passage numbers it cites."""

    text: str
    citations: list[int]
    newline: bool = False  # starts a new line (lists)


@dataclass
class Verdict:
    kept: list[Draft]
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (sentence, reason)


@dataclass
class StreamEvent:
    kind: str  # "delta" | "done"
    text: str = ""  # delta: verified text to append
    answer: Answer | None = None  # done: the final Answer (citations resolved)
    replace: bool = False  # done: the final answer text differs from the deltas; show answer.answer


# --------------------------------------------------------------------------------------------
# Parsing model output (structured, malformed structured, plain text)

_FENCE = re.compile(r"^```(?:json|JSON)?\s*|\s*```\s*$")
_OBJECT = re.compile(
    r"\{\s*\"(?:text|tekst|zin)\"\s*:\s*\"((?:[^\"\\]|\\.)*)\"\s*,\s*\"(?:citations|bronnen|citaties|refs)\"\s*:\s*\[([^\]]*)\]"
)
_MARKDOWN = re.compile(r"\*\*|__|^#+\s*|`", re.MULTILINE)
_BULLET_START = re.compile(r"^\s*(?:[•*\-–]|\d{1,2}[.)])\s+")


def parse_output(raw: Any) -> tuple[list[Draft], bool]:
    """Drafts from whatever the model returned, and whether it says the question is answerable.

    Accepts a `GeneratedAnswer`, a dict or JSON text in that shape (also with Dutch keys, string
    citations like "[1]", or sentences as strings with markers), JSON cut off half-way (complete
    sentence objects are salvaged), and plain text with [n] markers (markdown stripped). Anything
    else gives no drafts.
    """
    if isinstance(raw, BaseModel):  # GeneratedAnswer; its texts may still carry inline [n]
        raw = raw.model_dump()
    if isinstance(raw, (dict, list)):
        return _from_json(raw)
    if not isinstance(raw, str):
        return [], True
    text = _FENCE.sub("", raw.strip())
    if text[:1] in "{[":
        try:
            return _from_json(json.loads(text))
        except (ValueError, TypeError):
            salvaged = [
                Draft(_unescape(m.group(1)), _numbers(m.group(2))) for m in _OBJECT.finditer(text)
            ]
            if salvaged:
                log.info("salvaged %d sentence(s) from malformed JSON output", len(salvaged))
            return salvaged, True
    return _from_text(text), True


def _unescape(s: str) -> str:
    try:
        return json.loads(f'"{s}"')
    except ValueError:
        return s


def _numbers(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, float) and value.is_integer():
        return [int(value)]
    if isinstance(value, str):
        return [int(x) for x in re.findall(r"\d+", value)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _numbers(v)]
    return []


def _from_json(data: Any) -> tuple[list[Draft], bool]:
    answerable = True
    if isinstance(data, dict):
        answerable = data.get("answerable", data.get("beantwoordbaar", True)) is not False
        items = next((data[k] for k in ("sentences", "zinnen", "answer", "antwoord") if k in data), [])
    else:
        items = data
    if isinstance(items, str):
        return _from_text(items), answerable
    drafts: list[Draft] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            drafts.extend(_from_text(item))
        elif isinstance(item, dict):
            text = next((item[k] for k in ("text", "tekst", "zin", "sentence") if isinstance(item.get(k), str)), "")
            cites = next((item[k] for k in ("citations", "bronnen", "citaties", "refs", "sources") if k in item), [])
            inline = marker_numbers(text)
            drafts.append(Draft(_strip(text), list(dict.fromkeys([*_numbers(cites), *inline]))))
    return drafts, answerable


def _strip(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER_GROUP.sub("", text)).strip()


def _from_text(text: str) -> list[Draft]:
    text = _MARKDOWN.sub("", text)
    drafts: list[Draft] = []
    last_line = -1
    for sentence in split_sentences(text):
        body = _strip(_BULLET_START.sub("", sentence.text) if sentence.text.lstrip()[:1] in "•*-–" else sentence.text)
        if not body:
            continue
        drafts.append(Draft(body, list(sentence.markers), newline=last_line >= 0 and sentence.line != last_line))
        last_line = sentence.line
    return drafts


# --------------------------------------------------------------------------------------------
# Checks on one sentence

FORECAST = re.compile(
    r"\b(?:zal|zullen|zou|zouden)\b|\bnaar verwachting\b|\bverwacht\w*|\bprognose\w*|\bvoorspel\w*|\braming\w*"
    r"|\bvooruitzicht\w*|\bin de (?:nabije )?toekomst\b|\bde komende (?:jaren|maanden|periode|tijd)\b"
    r"|\bstraks\b|\btegen \d{4}\b|\b(?:gaat|gaan)\b(?:\s+\w+){0,3}\s+(?:stijgen|dalen|groeien|krimpen|toenemen|afnemen|oplopen)\b",
    re.IGNORECASE,
)
UP = re.compile(r"\b(?:stijg\w*|steeg\w*|gestegen|groei\w*|gegroeid|toename\w*|toeneem\w*|toegenomen|neemt\s+\w*\s*toe"
                r"|nemen\s+\w*\s*toe|oploop\w*|opgelopen|loopt\s+\w*\s*op|verdubbel\w*)", re.IGNORECASE)
DOWN = re.compile(r"\b(?:daal\w*|dalen\w*|daling\w*|gedaald|krimp\w*|gekrompen|afname\w*|afneem\w*|afgenomen"
                  r"|neemt\s+\w*\s*af|nemen\s+\w*\s*af|halver\w*|gehalveerd)", re.IGNORECASE)
LINK = re.compile(r"https?://\S+|www\.\S+|\b[\w.+-]+@[\w-]+\.[\w.]+\b", re.IGNORECASE)
_DUTCH = frozenset(["de", "het", "een", "en", "van", "is", "zijn", "in", "op", "met", "voor", "dat", "die", "er", "niet", "ook", "naar", "bij", "om", "te", "wordt", "worden", "tot", "uit", "als", "aan", "door", "meer", "dan", "nog"])
_ENGLISH = frozenset(["the", "and", "are", "to", "with", "for", "that", "this", "will", "by", "from", "it", "was",
                      "were", "has", "have", "which", "there"])
# Words an answer may use around what the passages say (framing, not claims).
_FRAMING = frozenset(tokenize(
    "volgens bron bronnen passage passages regio cijfers cijfer berekend berekening verschil totaal som aandeel "
    "procent percentage periode kwartaal jaar jaren aantal ongeveer bijna ruim circa rond gemiddeld staat noemt "
    "geeft aan blijkt beschrijft meldt rapport uitgave editie ten opzichte sprake daarnaast bovendien namelijk "
    "echter vooral andere bijvoorbeeld zoals waarbij hierbij tevens bedraagt bedroeg bedragen telt telde tellen "
    "kent kende ligt lag vergeleken vergelijking vorig vorige eerder huidige stonden stond staan gaat ging "
    "sinds tussen ongeveer gegevens"
))


@dataclass
class _Context:
    """What the checks need: the passages as given to the model (sanitized), figures, numbering."""

    passages: dict[int, Citation]  # n -> sanitized passage (what may support a claim)
    figures: list[Figure]
    figure_refs: set[int]  # candidate numbers the figures' operands come from
    tokens: dict[int, set[str]] = field(default_factory=dict)  # n -> stems of the passage text
    labels: dict[int, set[str]] = field(default_factory=dict)  # n -> stems of its title and section
    source_meta: dict[str, str] = field(default_factory=dict)
    originals: dict[int, Citation] = field(default_factory=dict)  # n -> passage as retrieved (shown)

    def tokens_of(self, n: int) -> set[str]:
        if n not in self.tokens:
            self.tokens[n] = set(tokenize(self.passages[n].text))
        return self.tokens[n]

    def labels_of(self, n: int) -> set[str]:
        if n not in self.labels:
            c = self.passages[n]
            self.labels[n] = set(tokenize(f"{c.title} {c.publisher} {c.edition} {c.section}"))
        return self.labels[n]


def _supported(token: str, support: set[str]) -> bool:
    if token in support:
        return True
    # Compounds and derived forms: "werknemersban" / "ban", "zorgsector" / "zorg".
    return len(token) >= 5 and any(len(s) >= 4 and (s in token or token in s) for s in support)


def check_sentence(draft: Draft, ctx: _Context, entailment: Entailment | None = None,
                   entailment_threshold: float = 0.5) -> str | None:
    """Why this sentence may not be shown, or None when it passes every check."""
    text = draft.text.strip()
    if not text:
        return "lege zin"
    cites = list(dict.fromkeys(draft.citations))
    phantom = [n for n in cites if n not in ctx.passages]
    if phantom:
        return "verwijzing naar een passage die niet bestaat: " + ", ".join(f"[{n}]" for n in phantom)
    if not cites:
        return "zin zonder bronverwijzing"
    if INJECTION.search(text):
        return "zin volgt of herhaalt een opdracht"
    cited = [ctx.passages[n] for n in cites]
    cited_text = " ".join(c.text for c in cited)
    for link in LINK.findall(text):
        if link.rstrip(".,;)") not in cited_text:
            return f"link of adres dat niet in de passages staat: {link}"
    words = re.findall(r"[^\W\d_]+", text.lower())
    if len(words) >= 5 and sum(w in _ENGLISH for w in words) > sum(w in _DUTCH for w in words):
        return "geen Nederlands"
    # Content overlap (numbers are left to the number audit): the words that make the claim --
    # not framing ("volgens", "ongeveer") and not the cited source's title or section -- must
    # stand in the cited passages' text.
    support: set[str] = set().union(*(ctx.tokens_of(n) for n in cites))
    if ctx.figure_refs & set(cites):
        for figure in ctx.figures:
            support |= set(tokenize(figure.label))
    labels: set[str] = set().union(*(ctx.labels_of(n) for n in cites))
    content = [t for t in tokenize(text) if not t[0].isdigit() and t not in _FRAMING]
    claim = [t for t in content if t not in labels]  # places and titles say where, not what
    states_figure = bool(ctx.figure_refs & set(cites)) and any(f.display in text for f in ctx.figures)
    # No claim words: framing only ("Volgens de Handreiking:"); its numbers still go to the audit.
    if claim and not states_figure:
        share = sum(_supported(t, support) for t in claim) / len(claim)
        if share < MIN_OVERLAP:
            return f"te weinig overeenkomst met de passages ({share:.0%})"
    # The years of an attribution ("Volgens InZicht Magazine, juni 2025: ...") are the source's own.
    attribution = _ATTRIBUTION.match(text)
    if attribution:
        own = " ".join(f"{c.title} {c.edition} {ctx.source_meta.get(c.source_id, '')}" for c in cited)
        own_years = {q.value for q in find_quantities(own) if q.kind == "year"}
        wrong = [q.text for q in find_quantities(attribution.group(0)) if q.kind == "year" and q.value not in own_years]
        if wrong:
            return "bronvermelding met een jaar dat niet bij de bron hoort: " + ", ".join(wrong)
    # Each number must stand in a passage sentence about the same thing (a year or count taken
    # from another sentence of the passage is a swap the number audit alone cannot see).
    if claim and not states_figure:
        loose = _unanchored(_ATTRIBUTION.sub("", text), claim, cited, ctx)
        if loose:
            return "getal uit een ander verband in de passage: " + ", ".join(loose)
    # Change direction must be the passages' own.
    for pattern, word in ((UP, "stijging"), (DOWN, "daling")):
        if pattern.search(text) and not pattern.search(cited_text):
            return f"{word} die de passages niet noemen"
    # Forecasts: only the passages' own, and a prognosis is not stated as a fact.
    if FORECAST.search(text) and not FORECAST.search(cited_text):
        return "voorspelling die de passages niet doen"
    if not FORECAST.search(text):
        claimed = _ATTRIBUTION.sub("", text)  # "Volgens X, cijfers tot en met 2025: ..." names a period
        only_forecast = _forecast_only_years(cited_text) & {int(q.value) for q in find_quantities(claimed) if q.kind == "year"}
        if only_forecast:
            return "prognose als feit gebracht (" + ", ".join(map(str, sorted(only_forecast))) + ")"
    if entailment is not None:
        try:
            score = entailment([c.text for c in cited], text)
        except Exception:
            log.exception("entailment model failed; sentence dropped")
            return "entailment-controle mislukt"
        if score < entailment_threshold:
            return f"passages ondersteunen de zin niet (entailment {score:.2f})"
    return None


def _passage_sentences(text: str) -> list[str]:
    """Sentences of a passage; an enumerator ("1.") or a short fragment joins the next piece."""
    out: list[str] = []
    carry = ""
    for piece in re.split(r"(?<=[.!?])\s+|\n", text):
        piece = (carry + " " + piece).strip() if carry else piece.strip()
        if len(piece) < 6:
            carry = piece
            continue
        carry = ""
        out.append(piece)
    if carry:
        out.append(carry)
    return out


def _unanchored(text: str, claim: list[str], cited: list[Citation], ctx: _Context) -> list[str]:
    """Numbers of `text` that occur in the cited passages only in sentences sharing too little
    of the claim's words (at least two, or all of a one-word claim)."""
    figure_values = [abs(f.value) for f in ctx.figures]
    for f in ctx.figures:
        figure_values += [abs(q.value) for q in find_quantities(f"{f.display} {f.expression}")]
    need = min(2, len(set(claim)))
    sentences = [(sentence, find_quantities(sentence)) for c in cited for sentence in _passage_sentences(c.text)]
    loose: list[str] = []
    for q in find_quantities(text):
        if q.kind == "quarter" or any(same_value(abs(q.value), v) for v in figure_values):
            continue
        if q.kind == "number" and q.value.is_integer() and abs(q.value) < 10:
            continue  # "drie stappen", list numbers: too common to anchor
        holders = [sentence for sentence, found in sentences
                   if any(same_value(abs(q.value), abs(x.value)) or (x.high is not None and same_value(abs(q.value), abs(x.high)))
                          for x in found)]
        if not holders:
            continue  # the number audit reports it
        if not any(sum(_supported(t, set(tokenize(h))) for t in set(claim)) >= need for h in holders):
            loose.append(q.text)
    return loose


_ATTRIBUTION = re.compile(r"^\s*(?:volgens|berekend met|bron)\b[^:]{0,200}:\s*", re.IGNORECASE)


def _forecast_only_years(text: str) -> set[int]:
    """Years that stand only in prognosis sentences of the passages and lie beyond every year they
    state as fact (e.g. 2027 in a banenprognose 2024-2027 of a report with figures up to 2025)."""
    in_forecast: set[int] = set()
    elsewhere: set[int] = set()
    for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
        years = {int(q.value) for q in find_quantities(sentence) if q.kind == "year"}
        (in_forecast if FORECAST.search(sentence) else elsewhere).update(years)
    latest_fact = max(elsewhere, default=0)
    return {y for y in in_forecast - elsewhere if y > latest_fact}


def sanitize_passage(text: str) -> str:
    """The passage, or a placeholder when it gives orders to a model (prompt injection).

    A passage that tries to instruct the model is hostile as a whole: none of it goes to the model
    and none of it supports a claim (its number in the prompt stays, so the numbering is stable).
    """
    if not instruction_like(text):
        return text
    log.warning("a passage gives orders to the language model; it was withheld from the model")
    return prompts.LLM_REMOVED


def verify_drafts(drafts: Sequence[Draft], ctx: _Context, entailment: Entailment | None = None,
                  entailment_threshold: float = 0.5, seen: set[str] | None = None) -> Verdict:
    """Keep the drafts that pass `check_sentence` and the number audit; the rest with a reason."""
    verdict = Verdict([])
    seen = set() if seen is None else seen
    for draft in drafts[:MAX_SENTENCES]:
        key = re.sub(r"\W+", " ", draft.text.lower()).strip()
        if key in seen:
            verdict.dropped.append((draft.text, "herhaling"))
            continue
        seen.add(key)
        reason = check_sentence(draft, ctx, entailment, entailment_threshold)
        if reason is None:
            audit = audit_numbers(
                _render(draft.text, draft.citations), list(ctx.passages.values()), ctx.figures,
                metadata=True, source_meta=ctx.source_meta,
            )
            if audit.dropped:
                reason = audit.dropped[0].reason
        if reason is None:
            verdict.kept.append(draft)
        else:
            verdict.dropped.append((draft.text, reason))
    for extra in drafts[MAX_SENTENCES:]:
        verdict.dropped.append((extra.text, "te lang antwoord"))
    return verdict


def _render(text: str, numbers: Iterable[int]) -> str:
    """'In 2024 ... vacatures.' + [1, 2] -> 'In 2024 ... vacatures [1][2].'"""
    markers = "".join(f"[{n}]" for n in numbers)
    text = text.strip()
    if not markers:
        return text
    m = re.search(r"([.!?:;]+[’'\"”)]*)$", text)
    if m:
        return f"{text[: m.start()]} {markers}{m.group(1)}"
    return f"{text} {markers}."


# --------------------------------------------------------------------------------------------
# The writer


def _table_of(passage: Any) -> TableCitation | None:
    ref = getattr(passage, "table", None)
    if ref is None:
        return None
    return TableCitation(title=ref.title, sheet=ref.sheet, row=ref.row, columns=list(ref.columns))


def candidates(passages: Sequence[Any]) -> list[Citation]:
    """Retrieved passages (assistant.retrieve.Passage) as Citations numbered 1..k for the model."""
    out: list[Citation] = []
    for i, p in enumerate(passages[:MAX_PASSAGES], start=1):
        out.append(Citation(
            n=i, source_id=p.source_id, title=p.title, publisher=p.publisher, edition=p.edition,
            page=max(1, p.page_start), page_end=p.page_end if p.page_end != p.page_start else None,
            section=p.section, text=p.text, score=max(0.0, min(1.0, float(p.score))), chunk_id=p.chunk_id,
            table=_table_of(p),
        ))
    return out


_TRANSPORT_ERRORS = (
    "APITimeoutError", "APIConnectionError", "ConnectError", "ConnectTimeout", "ReadTimeout", "ReadError",
    "WriteTimeout", "PoolTimeout", "TimeoutException", "RemoteProtocolError", "Timeout",
)


def _transport_error(exc: BaseException) -> bool:
    """A timeout or a connection failure (openai, langchain-openai, httpx, ollama, stdlib)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (TimeoutError, ConnectionError)):
            return True
        names = {c.__name__ for c in type(e).__mro__}
        if names & set(_TRANSPORT_ERRORS) or any("Timeout" in n or "ConnectionError" in n for n in names):
            return True
        stack += [e.__cause__, e.__context__]
    return False


_SINK: contextvars.ContextVar[Callable[[StreamEvent], None] | None] = contextvars.ContextVar(
    "marktwijzer_llm_sink", default=None
)


class LLMWriter:
    """Writes an answer with a chat model and shows only what passes verification."""

    def __init__(
        self,
        model: Any,
        name: str,
        *,
        structured: str = "auto",
        timeout_s: float = 30.0,
        entailment: Entailment | None = None,
        entailment_threshold: float = 0.5,
        source_meta: dict[str, str] | None = None,
    ) -> None:
        self.model = model  # a langchain_core BaseChatModel
        self.name = name
        self.structured = structured  # "auto" | "json_schema" | "function_calling" | "json_mode" | "none"
        self.timeout_s = timeout_s
        self.entailment = entailment
        self.entailment_threshold = entailment_threshold
        self.source_meta = source_meta or {}

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Any) -> LLMWriter | None:
        """None for LLM=none; a writer for openai / ollama; LLMConfigError when it cannot work."""
        provider = getattr(settings, "llm", "none") or "none"
        if provider == "none":
            return None
        model_name = (settings.llm_model or "").strip()
        if not model_name:
            raise LLMConfigError(f"MARKTWIJZER_LLM={provider} needs MARKTWIJZER_LLM_MODEL (the model name)")
        timeout = float(getattr(settings, "llm_timeout", 30.0))
        structured = getattr(settings, "llm_structured", "auto")
        key = settings.llm_api_key.get_secret_value() if hasattr(settings.llm_api_key, "get_secret_value") else str(settings.llm_api_key or "")
        if provider == "openai":
            try:
                from langchain_openai import ChatOpenAI
            except ImportError as exc:  # pragma: no cover - in requirements.txt
                raise LLMConfigError("MARKTWIJZER_LLM=openai needs the package langchain-openai "
                                     "(pip install -r requirements.txt)") from exc
            model = ChatOpenAI(
                model=model_name, base_url=settings.llm_base_url or None,
                api_key=key or "not-needed",  # local servers accept any key; the client insists on one
                timeout=timeout, max_retries=0, temperature=0,
            )
        elif provider == "ollama":
            try:
                from langchain_ollama import ChatOllama
            except ImportError as exc:
                raise LLMConfigError("MARKTWIJZER_LLM=ollama needs the optional package langchain-ollama: "
                                     "pip install 'marktwijzer[ollama]' (or pip install langchain-ollama)") from exc
            kwargs: dict[str, Any] = {"model": model_name, "temperature": 0, "client_kwargs": {"timeout": timeout}}
            if settings.llm_base_url:
                kwargs["base_url"] = settings.llm_base_url
            model = ChatOllama(**kwargs)
        else:
            raise LLMConfigError(f"unknown MARKTWIJZER_LLM={provider!r}: expected none, openai or ollama")
        return cls(model, model_name, structured=structured, timeout_s=timeout)

    # -- prompt ---------------------------------------------------------------------------------

    def messages(self, question: str, history: Sequence[HistoryTurn], passages: Sequence[Citation],
                 figures: Sequence[Figure], figure_refs: Sequence[int], structured: bool) -> list[Any]:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        fmt = prompts.LLM_FORMAT_STRUCTURED if structured else prompts.LLM_FORMAT_TEXT
        out: list[Any] = [SystemMessage(f"{prompts.LLM_SYSTEM}\n\n{fmt}")]
        for turn in list(history)[-MAX_HISTORY_TURNS:]:
            out.append(HumanMessage(turn.question[:1000]))
            if turn.answer:
                out.append(AIMessage(turn.answer[:1200]))
        blocks = [prompts.LLM_PASSAGES_OPEN]
        for c in passages:
            blocks.append(prompts.LLM_PASSAGE.format(
                n=c.n, title=_attr(c.title), edition=_attr(c.edition), page=c.page, section=_attr(c.section),
                text=_data(c.text),
            ))
        blocks.append(prompts.LLM_PASSAGES_CLOSE)
        if figures:
            refs = "".join(f"[{n}]" for n in figure_refs)
            blocks.append(prompts.LLM_FIGURES_OPEN)
            blocks += [prompts.LLM_FIGURE.format(label=_data(f.label), expression=_data(f.expression),
                                                 display=f.display, refs=refs) for f in figures]
            blocks.append(prompts.LLM_FIGURES_CLOSE)
        blocks.append(prompts.LLM_QUESTION.format(question=_data(question)))
        out.append(HumanMessage("\n".join(blocks)))
        return out

    # -- answering ------------------------------------------------------------------------------

    def rewrite(self, question: str, history: Sequence[HistoryTurn] | None, extractive: Answer,
                passages: Sequence[Citation], figures: Sequence[Figure] | None = None) -> Answer:
        """The verified model answer, or `extractive` (generator 'extractive') when too little passes.

        `passages`: the retrieved candidates numbered 1..k (see `candidates`); `figures`: the
        computed figures of `extractive` (their citations in the extractive numbering). When a
        stream sink is active (`stream_ask`), the verified sentences are streamed as they come.
        """
        sink = _SINK.get()
        if sink is not None:
            final: Answer | None = None
            for event in self.stream(question, history, extractive, passages, figures):
                if event.kind == "delta":
                    sink(event)
                else:
                    final = event.answer
            assert final is not None
            return final
        started = time.perf_counter()
        ctx, prepared = self._prepare(extractive, passages, figures)
        if ctx is None:
            return self._fallback(extractive, started, "geen passages")
        try:
            drafts, answerable = self._generate(question, history or [], prepared, ctx)
        except Exception as exc:  # noqa: BLE001 - any model failure falls back to the extractive answer
            return self._failed(extractive, started, exc)
        if not answerable:
            return self._fallback(extractive, started, "het model vindt dat de passages de vraag niet beantwoorden")
        verdict = verify_drafts(drafts, ctx, self.entailment, self.entailment_threshold)
        return self._finish(extractive, passages, ctx, drafts, verdict, started)

    def stream(self, question: str, history: Sequence[HistoryTurn] | None, extractive: Answer,
               passages: Sequence[Citation], figures: Sequence[Figure] | None = None) -> Iterator[StreamEvent]:
        """Verified sentences as "delta" events while the model writes, then a "done" event."""
        started = time.perf_counter()
        ctx, prepared = self._prepare(extractive, passages, figures)
        if ctx is None:
            yield self._done(self._fallback(extractive, started, "geen passages"), "")
            return
        renumber = _Renumber()
        shown = ""
        seen: set[str] = set()
        drafts: list[Draft] = []
        verdict = Verdict([])
        prefix = self._computed_draft(ctx)
        try:
            buffer = ""
            deadline = time.monotonic() + self.timeout_s * STREAM_DEADLINE_FACTOR
            messages = self.messages(question, history or [], prepared, ctx.figures, sorted(ctx.figure_refs), False)
            chunks = self.model.stream(messages)
            done = False
            while not done:
                piece = next(chunks, None)
                if piece is None:
                    done = True
                else:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"stream took longer than {self.timeout_s * STREAM_DEADLINE_FACTOR:.0f} s")
                    buffer += _content(piece)
                cut = len(buffer) if done else _ready(buffer)
                if cut <= 0:
                    continue
                ready, buffer = buffer[:cut], buffer[cut:]
                new = _from_text(ready)
                if new and drafts and "\n" in ready[: len(ready) - len(ready.lstrip())]:
                    new[0].newline = True
                for draft in new:
                    drafts.append(draft)
                    if len(drafts) > MAX_SENTENCES:
                        verdict.dropped.append((draft.text, "te lang antwoord"))
                        continue
                    single = verify_drafts([draft], ctx, self.entailment, self.entailment_threshold, seen)
                    verdict.dropped += single.dropped
                    if not single.kept:
                        continue
                    verdict.kept.append(draft)
                    if prefix is not None and not shown:
                        shown = renumber.render(prefix)
                        yield StreamEvent("delta", shown)
                    piece_text = renumber.render(draft)
                    sep = "" if not shown else ("\n" if draft.newline or (prefix is not None and len(verdict.kept) == 1) else " ")
                    shown += sep + piece_text
                    yield StreamEvent("delta", sep + piece_text)
        except Exception as exc:  # noqa: BLE001 - model failure: extractive answer
            yield self._done(self._failed(extractive, started, exc), shown)
            return
        yield self._done(self._finish(extractive, passages, ctx, drafts, verdict, started), shown)

    # -- internals ------------------------------------------------------------------------------

    def _prepare(self, extractive: Answer, passages: Sequence[Citation],
                 figures: Sequence[Figure] | None) -> tuple[_Context | None, list[Citation]]:
        """Candidates (plus any passage the extractive answer cites that is missing), sanitized;
        figures with their citations mapped to the candidates' numbering."""
        given = list(passages)
        by_chunk = {c.chunk_id: c.n for c in given if c.chunk_id}
        for c in extractive.citations:
            if c.chunk_id and c.chunk_id not in by_chunk:
                n = max([x.n for x in given], default=0) + 1
                given.append(c.model_copy(update={"n": n}))
                by_chunk[c.chunk_id] = n
        if not given:
            return None, []
        extractive_chunks = {c.n: c.chunk_id for c in extractive.citations}
        mapped: list[Figure] = []
        refs: set[int] = set()
        for f in figures if figures is not None else extractive.figures:
            cites = [by_chunk[extractive_chunks[n]] for n in f.citations
                     if n in extractive_chunks and extractive_chunks[n] in by_chunk]
            refs.update(cites)
            mapped.append(f.model_copy(update={"citations": cites}))
        prepared = [c.model_copy(update={"text": sanitize_passage(c.text)}) for c in given]
        meta = dict(self.source_meta)
        ctx = _Context({c.n: c for c in prepared}, mapped, refs, source_meta=meta,
                       originals={c.n: c for c in given})
        return ctx, prepared

    def _generate(self, question: str, history: Sequence[HistoryTurn], prepared: list[Citation],
                  ctx: _Context) -> tuple[list[Draft], bool]:
        refs = sorted(ctx.figure_refs)
        if self.structured != "none":
            kwargs: dict[str, Any] = {"include_raw": True}
            if self.structured != "auto":
                kwargs["method"] = self.structured
            elif type(self.model).__name__ in ("ChatOpenAI", "AzureChatOpenAI", "ChatOllama"):
                kwargs["method"] = "json_schema"
            try:
                chain = self.model.with_structured_output(GeneratedAnswer, **kwargs)
            except (NotImplementedError, ValueError, TypeError) as exc:
                log.info("model %s has no structured output (%s); plain text", self.name, exc)
            else:
                try:
                    result = chain.invoke(self.messages(question, history, prepared, ctx.figures, refs, True))
                except Exception as exc:
                    if _transport_error(exc):
                        raise
                    log.warning("structured output failed on %s (%s); retrying as plain text", self.name, exc)
                else:
                    parsed = result.get("parsed") if isinstance(result, dict) else result
                    if parsed is not None:
                        return parse_output(parsed)
                    raw = result.get("raw") if isinstance(result, dict) else None
                    log.warning("malformed structured output from %s (%s); using the fallback parser",
                                self.name, result.get("parsing_error") if isinstance(result, dict) else "")
                    drafts, answerable = parse_output(_raw_text(raw))
                    if drafts or not answerable:
                        return drafts, answerable
        message = self.model.invoke(self.messages(question, history, prepared, ctx.figures, refs, False))
        return parse_output(_content(message))

    def _computed_draft(self, ctx: _Context) -> Draft | None:
        if not ctx.figures or not ctx.figure_refs:
            return None
        computed = "; ".join(f"{f.expression} = {f.display}" if f.expression else f.display for f in ctx.figures)
        return Draft(prompts.LLM_COMPUTED_LINE.format(computed=computed) + ".", sorted(ctx.figure_refs))

    def _finish(self, extractive: Answer, passages: Sequence[Citation], ctx: _Context,
                drafts: list[Draft], verdict: Verdict, started: float) -> Answer:
        for text, reason in verdict.dropped:
            log.info("dropped a model sentence (%s): %s", reason, text[:200])
        kept = verdict.kept
        considered = min(len(drafts), MAX_SENTENCES)  # sentences beyond the maximum were not wrong
        if len(kept) < MIN_KEPT_SENTENCES or (considered and len(kept) / considered < MIN_KEPT_SHARE):
            return self._fallback(
                extractive, started,
                f"{len(kept)} van {len(drafts)} zinnen van het model doorstonden de controle",
            )
        prefix = self._computed_draft(ctx)
        if prefix is not None:
            kept = [prefix, *kept]
        renumber = _Renumber()
        parts: list[str] = []
        for i, draft in enumerate(kept):
            rendered = renumber.render(draft)
            sep = "" if i == 0 else ("\n" if draft.newline or (i == 1 and kept[0] is prefix) else " ")
            parts.append(sep + rendered)
        text = "".join(parts)
        citations = [ctx.originals[old].model_copy(update={"n": new}) for old, new in renumber.mapping.items()]
        figures = [f.model_copy(update={"citations": [renumber.mapping[n] for n in f.citations if n in renumber.mapping]})
                   for f in ctx.figures]
        answer = extractive.model_copy(update={
            "answer": text, "citations": citations, "figures": figures, "generator": self.name, "verified": True,
        })
        # Last line of defence: the shown answer as a whole passes the contract's checks.
        check = check_citations(text, citations)
        untraceable = untraceable_numbers(answer, include_metadata=True)
        if check.unresolved or untraceable:
            return self._fallback(extractive, started, f"eindcontrole: {check.unresolved} {untraceable}")
        answer.timings_ms = self._timings(extractive, started)
        log.info("answer written by %s: %d sentence(s) kept, %d dropped", self.name, len(verdict.kept),
                 len(verdict.dropped))
        return answer

    def _timings(self, extractive: Answer, started: float) -> dict[str, float]:
        elapsed = (time.perf_counter() - started) * 1000
        timings = dict(extractive.timings_ms)
        timings["llm"] = round(elapsed, 1)
        if "total" in timings:
            timings["total"] = round(timings["total"] + elapsed, 1)
        return timings

    def _fallback(self, extractive: Answer, started: float, why: str) -> Answer:
        log.warning("language model %s: showing the extractive answer (%s)", self.name, why)
        return extractive.model_copy(update={
            "generator": "extractive", "verified": True, "timings_ms": self._timings(extractive, started),
        })

    def _failed(self, extractive: Answer, started: float, exc: BaseException) -> Answer:
        kind = "timeout or connection failure" if _transport_error(exc) else "error"
        log.warning("language model %s failed (%s: %s: %s); showing the extractive answer",
                    self.name, kind, type(exc).__name__, str(exc)[:300])
        return self._fallback(extractive, started, kind)

    @staticmethod
    def _done(answer: Answer, shown: str) -> StreamEvent:
        return StreamEvent("done", answer=answer, replace=answer.answer != shown)


class _Renumber:
    """Candidate numbers -> citation numbers in order of first use."""

    def __init__(self) -> None:
        self.mapping: dict[int, int] = {}

    def render(self, draft: Draft) -> str:
        for n in draft.citations:
            self.mapping.setdefault(n, len(self.mapping) + 1)
        return _render(draft.text, [self.mapping[n] for n in dict.fromkeys(draft.citations)])


def _ready(buffer: str) -> int:
    """How much of a streamed buffer holds complete sentences whose markers have arrived."""
    sentences = split_sentences(buffer)
    if len(sentences) < 2:
        return 0
    complete = sentences[:-1]  # the last one may still grow
    for s in reversed(complete):
        if s.lead_in:
            continue
        nxt = sentences[sentences.index(s) + 1]
        if s.own_markers or nxt.line != s.line:
            return s.end
    return 0


def _content(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return content if isinstance(content, str) else ""


def _raw_text(raw: Any) -> Any:
    """What a failed structured call returned: tool-call arguments, or the message text."""
    if raw is None:
        return ""
    for call in list(getattr(raw, "tool_calls", None) or []) + list(getattr(raw, "invalid_tool_calls", None) or []):
        args = call.get("args")
        if isinstance(args, dict) and args:
            return args
        if isinstance(args, str) and args.strip():
            return args
    return _content(raw)


def _attr(value: str) -> str:
    return re.sub(r"[\"<>\n]", " ", value or "")


def _data(value: str) -> str:
    """Passage text cannot close or open the delimiters it is wrapped in."""
    return re.sub(r"</?\s*(passages?|berekende_cijfers|system|instructions?)\b[^>]*>", " ", value or "", flags=re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Wiring


_writers: dict[tuple, LLMWriter | None] = {}
_writers_lock = threading.Lock()


def get_writer(settings: Any) -> LLMWriter | None:
    """The writer for these settings (cached per configuration), or None when LLM=none."""
    provider = getattr(settings, "llm", "none") or "none"
    if provider == "none":
        return None
    key_value = settings.llm_api_key.get_secret_value() if hasattr(settings.llm_api_key, "get_secret_value") else ""
    key = (provider, settings.llm_base_url, settings.llm_model, hash(key_value),
           getattr(settings, "llm_timeout", 30.0), getattr(settings, "llm_structured", "auto"))
    with _writers_lock:
        if key not in _writers:
            writer = LLMWriter.from_settings(settings)
            if writer is not None:
                corpus_meta = _source_meta(settings)
                writer.source_meta = corpus_meta
            _writers[key] = writer
        return _writers[key]


def _source_meta(settings: Any) -> dict[str, str]:
    """Reference periods from the registry (they trace years/quarters in 'cijfers over ...')."""
    try:
        from ingest.registry import load_registry

        return {e.id: e.period for e in load_registry(settings.registry_path).sources if e.period}
    except Exception:  # noqa: BLE001 - only an aid to the audit
        return {}


def stream_ask(assistant: Any, question: str, history: list[HistoryTurn] | None = None, filters: Any = None,
               request_id: str | None = None) -> Iterator[StreamEvent]:
    """Answer with streaming: "delta" events (verified text), then one "done" event with the Answer.

    Works on every path: without a language model (or on a refusal) the whole answer arrives as one
    delta. Concatenated deltas equal `done.answer.answer` unless `done.replace` is True (the model's
    answer failed verification after part of it was shown; show `done.answer.answer` instead).
    Exceptions of `assistant.ask` (e.g. ValueError for an empty question) are raised here.
    """
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def run() -> None:
        token = _SINK.set(lambda event: events.put(("event", event)))
        try:
            events.put(("answer", assistant.ask(question, history, filters, request_id)))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            events.put(("error", exc))
        finally:
            _SINK.reset(token)

    worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True,
                              name="marktwijzer-stream")
    worker.start()
    shown = ""
    while True:
        kind, value = events.get()
        if kind == "event":
            shown += value.text
            yield value
        elif kind == "answer":
            if not shown:
                shown = value.answer
                yield StreamEvent("delta", value.answer)
            yield StreamEvent("done", answer=value, replace=value.answer != shown)
            return
        else:
            raise value
