"""The assistant: question -> analysis -> retrieval -> answerable? -> extractive answer (Answer contract)."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np

from assistant import llm, prompts
from assistant.conflicts import find_conflict
from assistant.verify import audit_numbers, instruction_like
from assistant.compose import (
    SentenceQuality,
    Unit,
    coverage,
    has_term,
    idf_from,
    score_units,
    select_short,
    split_units,
)
from assistant.features import REFERENCE, UNIT_FEATURES, YEARLESS_NUMBER, question_row, split_compounds, text_terms, unit_matrix
from assistant.linear import AnswerModels
from assistant.question import MONTH_NAMES, PERIOD_STEMS, Intent, QuestionAnalysis, QuestionAnalyzer
from assistant.retrieve import Filters, HybridRetriever, Passage
from assistant.calculate import compute, wanted_operations
from assistant.types import Answer, Citation, Figure, HistoryTurn, TableCitation
from ingest import terms
from ingest.embed import get_embedder
from ingest.numbers import find_quantities
from ingest.places import PlaceTable
from ingest.registry import SourceEntry, load_registry
from ingest.settings import Settings
from ingest.store import current_generation, open_index

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
RETRIEVE_K = 10
DENSE_RAW = UNIT_FEATURES.index("dense_raw")
MIN_COVERAGE = 0.15  # share of the question's topic weight the best sentence must carry
FIGURE_COVERAGE = 0.25  # ... and a sentence that carries an asked figure
DATE_EXPRESSION = re.compile(
    r"\b(?:19|20)\d\d\b|\b(?:" + "|".join(MONTH_NAMES) + r"|voorjaar|najaar|zomer|kwartaal)\b|\b\d{1,2}[-/]\d{1,2}[-/]\d{2,4}\b",
    re.IGNORECASE,
)
NATIONAL = re.compile(r"\blandelijk|\bin nederland\b|\bnederlandse\b|\bnationa", re.IGNORECASE)
QUARTER_WORDS = {1: "eerste kwartaal", 2: "tweede kwartaal", 3: "derde kwartaal", 4: "vierde kwartaal"}
# How often something happens, in words ("maandelijks", "per kwartaal", "elk jaar").
FREQUENCY = re.compile(
    r"\b(?:dagelijks|wekelijks|maandelijks|jaarlijks|halfjaarlijks|tweejaarlijks|driemaandelijks"
    r"|(?:per|elk|elke|ieder|iedere|eens per) (?:dag|week|maand|kwartaal|jaar|half jaar))\b",  # "twee keer per jaar": 'keer' counts already
    re.IGNORECASE)
PLAIN_NUMBER = re.compile(r"(?<![\w.,])(?!(?:19|20)\d\d\b)\d+(?:[.,]\d+)*")


def _quarter_named(text: str, quarter: int) -> bool:
    return QUARTER_WORDS[quarter] in text or f"q{quarter}" in text


def _names_quarter(text: str, quarter: int) -> bool:
    """The lowered text names the quarter or its last month ("eind juni" closes the second quarter)."""
    return _quarter_named(text, quarter) or MONTH_NAMES[3 * quarter - 1] in text


def _names_month(text: str, month: int) -> bool:
    """The lowered text names the month or the quarter it falls in."""
    return MONTH_NAMES[month - 1] in text or _quarter_named(text, (month - 1) // 3 + 1)


COMPARED = re.compile(
    r"eerder|geleden|vorig|ten opzichte van|t\.o\.v\.|vergeleken|daarvoor|ervoor|toen|\bvan\b[^.]*\b(?:naar|tot)\b"
    r"|(?:19|20)\d\d\D+(?:19|20)\d\d",
)


class AnswerCancelled(Exception):
    """The caller gave up on this answer (timeout, disconnected client): the work stops at the next stage."""


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise AnswerCancelled()


@dataclass
class Decision:
    refuse: bool
    reason: str = ""
    computed: tuple | None = None  # compute()'s result when deciding needed it (not computed twice)


def best_similarity(prepared: Prepared) -> float:
    """The e5 cosine of the question with its closest retrieved sentence (0 without sentences)."""
    return float(prepared.matrix[:, DENSE_RAW].max()) if len(prepared.units) else 0.0


@dataclass
class Prepared:
    """A question up to the point where learned models decide (see `Assistant.prepare`)."""

    question: str
    analysis: QuestionAnalysis
    early: Decision
    passages: list[Passage]
    units: list[Unit]
    matrix: np.ndarray  # UNIT_FEATURES per unit
    vector: np.ndarray | None
    timings: dict[str, float]


@dataclass(frozen=True)
class Loaded:
    """Everything the assistant derives from one index generation. Replaced as a whole when a new
    generation is published, so a question never mixes two generations."""

    generation: str
    entries: dict[str, SourceEntry]
    analyzer: QuestionAnalyzer
    retriever: HybridRetriever
    idf: dict[str, float]
    quality: SentenceQuality
    corpus_years: frozenset[int]
    areas: dict[str, frozenset[str]]
    source_meta: dict[str, str]


def load_generation(settings: Settings) -> Loaded:
    registry = load_registry(settings.registry_path)
    # A damaged CURRENT is served by an older intact generation only if that one holds no source the
    # registry no longer approves (a withdrawn source must never answer again).
    handle = open_index(settings.index_dir, settings.chroma_url, allowed_sources={e.id for e in registry.approved()})
    embedder = get_embedder(settings.embedding, settings.embedding_threads)
    indexed = set(handle.manifest.sources)
    entries = {e.id: e for e in registry.sources if e.id in indexed}
    region_sources: dict[str, set[str]] = {}
    for entry in entries.values():
        for name in [*entry.regions, *entry.municipalities, *entry.provinces]:
            region_sources.setdefault(name, set()).add(entry.id)
    retriever = HybridRetriever(handle, embedder, region_sources)
    # A generation from before terms.json gets its statistics computed here (seconds at 10,000s of passages).
    stats = terms.load(handle.generation.root) or terms.compute(p.text for p in retriever.passages.values())
    idf, vocabulary = idf_from(stats)
    loaded = Loaded(
        generation=handle.generation.name,
        entries=entries,
        analyzer=QuestionAnalyzer(list(entries.values()), PlaceTable.load(settings.corpus_dir)),
        retriever=retriever,
        idf=idf,
        quality=SentenceQuality(vocabulary),
        corpus_years=frozenset(stats.years),
        areas={e.id: frozenset([*e.regions, *e.provinces]) for e in entries.values()},
        # The registry's reference period is shown with the source name ("cijfers tot en met het
        # tweede kwartaal (juni) van 2025"): approved metadata the audit may trace numbers to.
        source_meta={e.id: f"{e.title} {e.edition} {e.period}" for e in entries.values()},
    )
    log.info("assistant ready on generation %s (%d passages)", loaded.generation, stats.passages)
    return loaded


class Assistant:
    """Loads the index, embedder and registry once; answers many questions (thread-safe reads)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._reload_lock = threading.Lock()
        self._pinned = threading.local()  # the generation a question in this thread started on
        self._failed_generation = ""
        self.models = AnswerModels.shipped()
        self._loaded = load_generation(settings)
        skipped = self._loaded.retriever.handle.skipped  # CURRENT damaged: an older generation serves
        self._failed_generation = skipped.generation if skipped is not None else ""

    # Read access to the generation in use: the one pinned by the question this thread is answering,
    # else the newest loaded.
    @property
    def state(self) -> Loaded:
        return getattr(self._pinned, "state", None) or self._loaded

    entries = property(lambda self: self.state.entries)
    analyzer = property(lambda self: self.state.analyzer)
    retriever = property(lambda self: self.state.retriever)
    idf = property(lambda self: self.state.idf)
    quality = property(lambda self: self.state.quality)
    corpus_years = property(lambda self: self.state.corpus_years)
    areas = property(lambda self: self.state.areas)
    source_meta = property(lambda self: self.state.source_meta)

    def corpus_units(self, stem: str) -> list[Unit]:
        """Usable sentences of the whole index that name a word starting with `stem` (a computed
        figure's count of all units is a corpus fact, not always among the retrieved passages)."""
        stem = stem.lower()
        word = re.compile(r"(?<!\w)" + re.escape(stem))
        usable = self.quality.usable
        return [u for passage in self.retriever.passages.values() if stem in passage.text.lower()
                for u in split_units(passage, RETRIEVE_K)  # ranked after every retrieved passage
                if word.search(u.text.lower()) and usable(u)]

    def refresh(self) -> None:
        """Follow a new index generation published by an ingest (cheap check per question).

        Questions wait for the load: once an ingest is published (a withdrawal, say), no answer
        comes from the generation before it. The new generation replaces the old one in a single
        assignment, and a question that started earlier finishes on the generation it started on.
        A generation that fails to load, or is damaged (ingest.store.check_generation), is logged once
        and skipped until another is published; the current one keeps serving."""
        from ingest.store import IndexDamaged, check_generation, named_generation

        # named_generation, not current_generation: a CURRENT with a truncated manifest is damage to report.
        generation = named_generation(self.settings.index_dir)
        if generation is None or generation.name in (self._loaded.generation, self._failed_generation):
            return
        with self._reload_lock:
            latest = named_generation(self.settings.index_dir)
            if latest is None or latest.name in (self._loaded.generation, self._failed_generation):
                return  # loaded (or failed) while this thread waited
            if check_generation(latest, self.settings.chroma_url):  # the check logged what is damaged
                self._failed_generation = latest.name
                log.warning("still answering from index generation %s", self._loaded.generation)
                return
            try:
                loaded = load_generation(self.settings)
            except IndexDamaged as exc:  # found only on opening (e.g. Chroma's count): no traceback
                self._failed_generation = latest.name
                log.warning("index generation %s is damaged (%s); still answering from %s",
                            latest.name, ", ".join(exc.parts), self._loaded.generation)
                return
            except Exception:
                self._failed_generation = latest.name
                log.exception("could not load index generation %s; still answering from %s",
                              latest.name, self._loaded.generation)
                return
            skipped = loaded.retriever.handle.skipped
            if skipped is not None:  # damaged on opening; an older intact generation came instead
                self._failed_generation = skipped.generation
                if loaded.generation == self._loaded.generation:
                    return
            self._loaded = loaded

    # -- answering -----------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        history: list[HistoryTurn] | None = None,
        filters: Filters | None = None,
        request_id: str | None = None,
        cancel: threading.Event | None = None,
    ) -> Answer:
        """One answer. `cancel`, when set by the caller (a timeout, a disconnected client), stops the
        work at the next stage with `AnswerCancelled`: abandoned questions do not keep a core busy."""
        started = time.perf_counter()
        question = (question or "").strip()
        if not question:
            raise ValueError("de vraag is leeg")
        if len(question) > MAX_QUESTION_CHARS:
            raise ValueError(f"de vraag is te lang (meer dan {MAX_QUESTION_CHARS} tekens)")
        self.refresh()
        self._pinned.state = self._loaded
        try:
            return self._answer(question, history, filters, request_id, started, cancel)
        finally:
            self._pinned.state = None

    def prepare(
        self, question: str, history: list[HistoryTurn] | None = None, filters: Filters | None = None,
        cancel: threading.Event | None = None,
    ) -> Prepared:
        """Everything of an answer that no learned model decides: analysis, retrieval, the candidate
        sentences and their features. (Cross-validation prepares each question once and finishes
        it with each fold's models.)"""
        _check(cancel)
        analysis = self.analyzer.analyze(question, history)
        analysis.terms = split_compounds(analysis.terms, self.idf)
        _check(cancel)
        early = self._refuse_before_retrieval(analysis)
        if early.refuse:
            return Prepared(question, analysis, early, [], [], np.zeros((0, len(UNIT_FEATURES))), None, {})
        t0 = time.perf_counter()
        vector = self.retriever.embedder.embed_query(analysis.dense_text)
        passages = self.retriever.search(analysis.retrieval_text, analysis, k=RETRIEVE_K, filters=filters, vector=vector)
        passages = self._add_per_place(passages, analysis, filters, vector)
        named = self._boost_named_sources(passages, analysis)
        timings = {"retrieve": (time.perf_counter() - t0) * 1000}
        _check(cancel)
        sentences = self.retriever.handle.sentences
        units = [
            unit
            for rank, passage in enumerate(passages)
            for unit in split_units(passage, rank, sentences.of(passage.chunk_id))
        ]
        # A source sentence that gives orders to a language model is never quoted (hostile text).
        units = [u for u in units if not instruction_like(u.text)]
        matrix = unit_matrix(units, analysis, self.idf, vector, named)
        return Prepared(question, analysis, Decision(False), passages, units, matrix, vector, timings)

    def _answer(
        self, question: str, history: list[HistoryTurn] | None, filters: Filters | None, request_id: str | None,
        started: float, cancel: threading.Event | None = None,
    ) -> Answer:
        prepared = self.prepare(question, history, filters, cancel)
        _check(cancel)
        answer = self.finish(prepared, request_id, started)
        writer = llm.get_writer(self.settings)  # None unless LLM=openai|ollama (issue 8)
        if writer is not None and not answer.refused:  # the model rewrites from the numbered candidates; verified, else `answer`
            answer = writer.rewrite(question, history, answer, llm.candidates(prepared.passages), answer.figures)
        return answer

    def finish(
        self, prepared: Prepared, request_id: str | None = None, started: float | None = None,
        models: AnswerModels | None = None,
    ) -> Answer:
        """The answer from a prepared question: lead sentence and additions chosen by the learned
        ranker, answerability by the learned classifier (both from `models`, default the shipped
        ones), computed figures, citations and the number audit."""
        started = time.perf_counter() if started is None else started
        question, analysis, units = prepared.question, prepared.analysis, prepared.units
        timings = dict(prepared.timings)
        if prepared.early.refuse:
            return self._refusal(question, prepared.early.reason, request_id, started, timings, analysis)
        models = models or self.models
        t1 = time.perf_counter()
        probs = self._lead_probabilities(prepared, models)
        for unit, p in zip(units, probs, strict=True):
            unit.score = float(p)
        usable = self.quality.usable  # one property lookup, not one per sentence
        candidates = [u for u in units if usable(u)]
        decision = self._decide(analysis, prepared.passages, candidates, prepared, probs, models)
        if decision.refuse:
            return self._refusal(question, decision.reason, request_id, started, timings, analysis,
                                 nearest=self._nearest(candidates, decision.reason, analysis))
        chosen = select_short(units, candidates, analysis, self.quality, models.composition)
        figures, operands, note = decision.computed or compute(analysis, candidates, self.corpus_units)
        if figures:
            operands = list({id(u): u for u in operands}.values())  # both operands may stand in one sentence
            chosen = [*operands, *(u for u in chosen if u not in operands)]
        conflict = find_conflict(chosen, candidates, analysis, self.areas)
        if conflict is not None and not any(conflict.second is u for u in chosen):
            chosen.append(conflict.second)
        answer = self._compose(question, chosen, request_id, figures, operands)
        place_note = self._place_note(analysis, chosen)
        if place_note:
            answer.answer += f"\n{place_note}"
        if note:
            answer.answer += f" {note}"
        if conflict is not None:
            answer.answer += f"\n{prompts.CONFLICT_NOTE}"
        answer = self._audited(answer)
        timings["compose"] = (time.perf_counter() - t1) * 1000
        timings["total"] = (time.perf_counter() - started) * 1000
        answer.timings_ms = {k: round(v, 1) for k, v in timings.items()}
        return answer

    def _lead_probabilities(self, prepared: Prepared, models: AnswerModels) -> np.ndarray:
        if models.lead is None:  # no trained ranker shipped (a fresh checkout before `marktwijzer train`)
            score_units(prepared.units, prepared.analysis, self.idf, prepared.vector)
            return np.asarray([u.score for u in prepared.units])
        return models.lead.probabilities(prepared.matrix)

    def _audited(self, answer: Answer) -> Answer:
        """The number audit every answer path passes: a sentence with a number that is in none of its
        cited passages (or computed figures) is dropped, and citations left unused are renumbered."""
        result = audit_numbers(answer.answer, answer.citations, answer.figures, metadata=False, source_meta=self.source_meta)
        if not result.dropped:
            return answer
        renumber = {old: new for new, old in enumerate(result.used_citations, start=1)}
        text = re.sub(r"\[(\d+)\]", lambda m: f"[{renumber[int(m.group(1))]}]" if int(m.group(1)) in renumber else "", result.text)
        citations = [c.model_copy(update={"n": renumber[c.n]}) for c in answer.citations if c.n in renumber]
        figures = [f.model_copy(update={"citations": [renumber[n] for n in f.citations if n in renumber]}) for f in answer.figures]
        return answer.model_copy(update={
            "answer": text.strip(), "citations": sorted(citations, key=lambda c: c.n), "figures": figures,
            "audit_dropped": len(result.dropped),
        })

    def _add_per_place(
        self, passages: list[Passage], analysis: QuestionAnalysis, filters: Filters | None,
        vector: np.ndarray | None = None,
    ) -> list[Passage]:
        """Comparisons across places: search each place's own sources too, so both sides are there."""
        places = [p for p in analysis.places if p.covered_by]
        if analysis.intent is not Intent.comparison or len(places) < 2:
            return passages
        seen = {p.chunk_id for p in passages}
        extra: list[Passage] = []
        for place in places:
            others = [o.name for o in places if o is not place]
            query = analysis.retrieval_text
            for name in others:
                query = re.sub(re.escape(name), " ", query, flags=re.IGNORECASE)
            allowed = set(place.covered_by)
            if filters is not None and filters.sources:
                allowed &= set(filters.sources)
            if not allowed:
                continue
            # The question's own vector: the source filter already confines it to this place
            # (embedding the place-specific text again cost a second model call per place).
            for passage in self.retriever.search(query, None, k=3, filters=Filters(sources=sorted(allowed)), vector=vector):
                if passage.chunk_id not in seen:
                    seen.add(passage.chunk_id)
                    extra.append(passage)
        return passages + extra

    def _boost_named_sources(self, passages: list[Passage], analysis: QuestionAnalysis) -> set[str]:
        """'volgens het magazine', 'RiB Amersfoort', 'de handreiking': prefer the source named."""
        named = prompts.named_sources(analysis.text, self.entries.values())
        if named:
            for passage in passages:
                if passage.source_id in named:
                    passage.score = min(1.0, passage.score * 1.5 + 0.2)
            passages.sort(key=lambda p: -p.score)
        return named

    # -- refusing ------------------------------------------------------------------------------

    def _refuse_before_retrieval(self, analysis: QuestionAnalysis) -> Decision:
        if not self.retriever.passages:
            return Decision(True, prompts.REFUSE_NOT_FOUND)  # every source withdrawn: nothing to answer from
        if analysis.personal_data:
            return Decision(True, prompts.REFUSE_PERSONAL)
        if analysis.own_forecast:
            return Decision(True, prompts.REFUSE_FORECAST)
        if not analysis.terms and not analysis.places:
            return Decision(True, prompts.REFUSE_NO_TOPIC)
        missing_years = [y for y in analysis.years if y not in self.corpus_years]
        if missing_years:
            return Decision(True, prompts.REFUSE_YEAR)
        return Decision(False)

    def _decide(
        self, analysis: QuestionAnalysis, passages: list[Passage], candidates: list[Unit], prepared: Prepared,
        probs: np.ndarray, models: AnswerModels,
    ) -> Decision:
        """Coverage checks (is the asked place, year at all in what was found?), then the learned
        answerability classifier over coverage and support features."""
        if not passages or not candidates:
            return Decision(True, prompts.REFUSE_NOT_FOUND)
        texts = " ".join(p.text for p in passages).lower()
        # A place no source covers: refused when the question asks about that place (figures, a
        # trend, a comparison); in an advice or procedure question the place is the situation and
        # what the sources say in general still answers (the answer says the place is not covered).
        quantitative = analysis.intent in (Intent.figure, Intent.trend, Intent.comparison)
        for place in analysis.places:
            if quantitative and not place.covered_by and not any(n.lower() in texts for n in {place.name, place.asked} - {""}):
                return Decision(True, prompts.REFUSE_PLACE)
        for municipality in analysis.municipality_asked:
            covered = any(municipality.lower() == m.lower() for e in self.entries.values() for m in e.municipalities)
            if not covered and f"gemeente {municipality.lower()}" not in texts:
                return Decision(True, prompts.REFUSE_PLACE)
        for year in analysis.years:
            if str(year) not in texts:
                return Decision(True, prompts.REFUSE_YEAR)
        figure_intent = analysis.intent is Intent.figure
        supporting = [u for u in candidates if self._supports_figure(u, analysis)] if figure_intent else None
        supported = bool(supporting) if figure_intent else True
        computed = None
        if not supported and wanted_operations(analysis.text):
            computed = compute(analysis, candidates, self.corpus_units)
            supported = bool(computed[0])  # the asked figure is a calculation on found ones
        # Is the question about what the sources treat at all: no sentence comes close to it in e5
        # space ("een recept voor stamppot", "het weer morgen"); threshold learned on training folds.
        if models.answerable is not None and "min_similarity" in models.answerable.params:
            if best_similarity(prepared) < models.answerable.params["min_similarity"]:
                return Decision(True, prompts.REFUSE_OFF_TOPIC)  # no nearest sentence: none is near
        # Is the topic in the sources at all: the best sentence's share of the question's topic
        # weight (threshold learned on training folds; the rule before the classifier without one).
        topic = max(coverage(u, analysis, self.idf) for u in candidates)
        minimum = models.answerable.params.get("min_topic_coverage", MIN_COVERAGE) if models.answerable else MIN_COVERAGE
        if topic < minimum:
            return Decision(True, prompts.REFUSE_NOT_FOUND)
        if not supported and not analysis.other_part:  # no sentence with the asked figure, period and place
            return Decision(True, prompts.REFUSE_NO_FIGURE)
        if analysis.asks_date and not any(self._supports_date(u, analysis) for u in candidates):
            return Decision(True, prompts.REFUSE_NO_DATE)
        if models.answerable is None:
            return Decision(False, computed=computed)
        keep = self.quality.usable
        usable = [i for i, u in enumerate(prepared.units) if keep(u)]
        row = question_row(analysis, [prepared.units[i] for i in usable], probs[usable], prepared.matrix[usable],
                           self.idf, supported, supporting)
        if models.answerable.probability(row) < models.answerable.threshold:
            return Decision(True, prompts.REFUSE_NOT_FOUND)
        return Decision(False, computed=computed)

    def _supports_date(self, unit: Unit, analysis: QuestionAnalysis) -> bool:
        """A sentence that could carry the asked date ('per welke datum', 'vanaf wanneer'): a date
        or period expression beside the asked topic."""
        return bool(DATE_EXPRESSION.search(unit.text)) and coverage(unit, analysis, self.idf) >= FIGURE_COVERAGE

    def _supports_figure(self, unit: Unit, analysis: QuestionAnalysis) -> bool:
        """A sentence that could carry the asked figure: a number with the asked topic, period and place."""
        text = unit.text.lower()
        if (not PLAIN_NUMBER.search(REFERENCE.sub(" ", unit.text)) and not re.search(r"\b(?:driekwart|helft|derde|kwart|keer)\b", text)
                and not (analysis.asks_frequency and FREQUENCY.search(text))):
            return False
        # The period is checked on its own below, so it does not also count as the topic: "in het
        # eerste kwartaal van 2025" must not make a sentence about another measure support the figure.
        topic = [t for t in analysis.terms if t not in PERIOD_STEMS] or analysis.terms
        if topic and coverage(unit, analysis, self.idf, topic) < FIGURE_COVERAGE:
            return False
        if analysis.counted and not self._names_counted(unit, analysis.counted):
            return False  # "hoeveel wajongers": a figure of the GWU as a whole does not count them
        if analysis.asked_unit and not _has_unit(unit.text, analysis.asked_unit):
            return False  # "hoeveel procent": a count is not the answer (a share is then computed, or refused)
        if any(str(year) not in unit.text for year in analysis.years):
            return False
        if analysis.relative_period and not COMPARED.search(text):
            return False  # "een jaar eerder": only a sentence that compares with an earlier period answers
        if analysis.quarters and not any(_names_quarter(text, q) for q in analysis.quarters):
            return False
        if analysis.months and not any(_names_month(text, m) for m in analysis.months):
            return False  # "eind september 2025": a figure of June is not the answer
        context = f"{unit.passage.section_path} {unit.passage.text}".lower()
        flat = context.replace("-", "").replace(" ", "")
        for place in analysis.places:
            if place.name.lower() in context or place.name.lower().replace("-", "").replace(" ", "") in flat:
                continue  # the passage is about the place (extraction sometimes drops the hyphen: "MiddenLimburg")
            entry = self.entries.get(unit.passage.source_id)
            own = entry is not None and (
                (place.name in entry.regions and len(entry.regions) == 1)
                or (place.name in entry.provinces and len(entry.provinces) == 1)
                or place.name in entry.municipalities
            )
            if not own or NATIONAL.search(text):
                return False
        return True

    @staticmethod
    def _names_counted(unit: Unit, counted: list[str]) -> bool:
        """The sentence or its section heading names what is counted, also as part of a compound
        ('jongeren' in 'NEET-jongeren', 'banen' for 'werknemersbanen')."""
        words = unit.terms | text_terms(unit.passage.section_path)
        return any(has_term(term, words) or any(_compound_part(term, w) for w in words) for term in counted)

    def _nearest(self, candidates: list[Unit], reason: str, analysis: QuestionAnalysis) -> Unit | None:
        """For a figure, period or topic the sources do not give: the sentence closest to the
        question (highest lead score) among those that share a question term, shown as what the
        sources do say. An off-topic question gets no quote at all."""
        if reason not in (prompts.REFUSE_NO_FIGURE, prompts.REFUSE_NOT_FOUND, prompts.REFUSE_YEAR):
            return None
        related = [u for u in candidates if coverage(u, analysis, self.idf) > 0]
        return max(related, key=lambda u: u.score) if related else None

    def _refusal(
        self, question: str, reason: str, request_id: str | None, started: float, timings: dict,
        analysis: QuestionAnalysis | None = None, nearest: Unit | None = None,
    ) -> Answer:
        timings = {**timings, "total": (time.perf_counter() - started) * 1000}
        context = self._place_context(analysis)
        if nearest is not None:
            # What the sources do say, cited like any answer sentence (and audited like one).
            said = self._compose(question, [nearest], request_id)
            text = f"{reason}{' ' + context if context else ''}\n{prompts.NEAREST_LEAD_IN} {said.answer}"
            answer = self._audited(said.model_copy(update={"answer": text, "refused": True, "figures": []}))
            if answer.citations:
                answer.id = request_id
                answer.timings_ms = {k: round(v, 1) for k, v in timings.items()}
                return answer
        text = prompts.refusal_text(reason, self.entries.values(), context)
        return Answer(
            id=request_id, question=question, answer=text, refused=True,
            timings_ms={k: round(v, 1) for k, v in timings.items()},
        )

    # -- places ------------------------------------------------------------------------------

    def _place_note(self, analysis: QuestionAnalysis, chosen: list[Unit]) -> str:
        """A municipality answered with its arbeidsmarktregio's figures says so plainly (DESIGN.md 5);
        a place no source covers, in an answer from general passages, is named as not covered."""
        cited = {u.passage.source_id for u in chosen}
        cited_text = " ".join(u.passage.text.lower() for u in chosen)
        notes = []
        for place in analysis.places:
            if not place.covered_by and place.kind in ("region", "municipality"):
                if not any(n.lower() in cited_text for n in {place.name, place.asked} - {""}):
                    notes.append(prompts.PLACE_GENERAL.format(place=_as_named(place)))
                continue
            if place.kind != "municipality" or not place.region or place.name.lower() == place.region.lower():
                continue
            if not set(place.covered_by) & cited:
                continue
            if any(place.name.lower() in u.text.lower() for u in chosen):
                continue  # the cited sentences are about the municipality itself
            asked = _as_named(place)
            via = f" (nu gemeente {place.name})" if asked != place.name else ""
            notes.append(prompts.MUNICIPALITY_IN_REGION.format(municipality=asked, via=via, region=place.region))
        return " ".join(notes)

    def _place_context(self, analysis: QuestionAnalysis | None) -> str:
        """For a refusal: the asked place's arbeidsmarktregio, when no source covers it."""
        if analysis is None:
            return ""
        parts = []
        for place in analysis.places:
            if place.covered_by:
                continue
            if place.kind == "municipality" and place.region:
                parts.append(prompts.PLACE_NOT_COVERED_IN_REGION.format(place=_as_named(place), region=place.region))
            elif place.kind == "region":
                parts.append(prompts.REGION_NOT_COVERED.format(region=place.name))
        return " ".join(parts)

    # -- composing -----------------------------------------------------------------------------

    def _compose(
        self,
        question: str,
        chosen: list[Unit],
        request_id: str | None,
        figures: list[Figure] | None = None,
        operands: list[Unit] | None = None,
    ) -> Answer:
        numbers: dict[str, int] = {}
        citations: list[Citation] = []
        for unit in chosen:
            passage = unit.passage
            if passage.chunk_id not in numbers:
                numbers[passage.chunk_id] = len(numbers) + 1
                citations.append(
                    Citation(
                        n=numbers[passage.chunk_id], source_id=passage.source_id, title=passage.title,
                        publisher=passage.publisher, edition=passage.edition, page=passage.page_start,
                        page_end=passage.page_end if passage.page_end != passage.page_start else None,
                        section=passage.section, text=passage.text, score=passage.score,
                        chunk_id=passage.chunk_id, table=_table_citation(passage, chosen),
                    )
                )
        # Keep each passage's units together and in document order: reads like the source.
        first_seen = {chunk_id: n for chunk_id, n in numbers.items()}
        ordered = sorted(chosen, key=lambda u: (first_seen[u.passage.chunk_id], u.order))
        parts: list[str] = []
        introduced: set[str] = set()
        for unit in ordered:
            n = numbers[unit.passage.chunk_id]
            text = unit.text.strip()
            if unit.passage.source_id not in introduced:
                cited = " ".join(c.text for c in citations if c.source_id == unit.passage.source_id)
                entry = self.entries.get(unit.passage.source_id)
                # the period dates figures: a source whose sentences here give none is named without it
                figures_here = any(YEARLESS_NUMBER.search(u.text) for u in chosen if u.passage.source_id == unit.passage.source_id)
                text = prompts.introduce(entry, unit.passage, cited, text, with_period=figures_here or bool(figures))
                introduced.add(unit.passage.source_id)
            parts.append(prompts.with_marker(text, n, bullet=unit.kind == "bullet"))
        answer_text = ""
        for part in parts:
            if not answer_text:
                answer_text = part
            elif part.startswith("•") or answer_text.endswith(":"):
                answer_text += "\n" + part
            else:
                answer_text += ("\n" if answer_text.split("\n")[-1].startswith("•") else " ") + part
        figures = figures or []
        if figures:
            refs = sorted({numbers[u.passage.chunk_id] for u in operands or []})
            for figure in figures:
                figure.citations = refs
            marker = "".join(f"[{n}]" for n in refs)
            first_source = (operands or chosen)[0].passage
            label = prompts.source_label(
                self.entries.get(first_source.source_id), first_source,
                " ".join(c.text for c in citations if c.n in refs),
            )
            computed = "; ".join(f"{f.expression} = {f.display}" for f in figures)
            answer_text = f"Berekend met cijfers uit {label}: {computed} {marker}.\n{answer_text}"
        return Answer(id=request_id or uuid.uuid4().hex[:12], question=question, answer=answer_text,
                      refused=False, citations=citations, figures=figures)


def _compound_part(term: str, word: str) -> bool:
    """One word is the head or the first part of the other ('jonger' / 'neetjonger', 'werknemersbaan' / 'baan')."""
    return min(len(term), len(word)) >= 4 and (word.endswith(term) or term.endswith(word) or word.startswith(term))


def _has_unit(text: str, unit: str) -> bool:
    """A quantity in `unit` stands in the text ("45%", "45 procent"; a percentage also in points)."""
    units = {"%": ("%", "procentpunt")}.get(unit, (unit,))
    return any(q.unit in units for q in find_quantities(text))


def _table_citation(passage, chosen: list[Unit]) -> TableCitation | None:
    """Table, row and the columns of the cells used from a table row's passage (None for prose)."""
    ref = passage.table
    if ref is None:
        return None
    used = [u.text.strip() for u in chosen if u.passage.chunk_id == passage.chunk_id]
    columns = [column for column, sentence in zip(ref.columns, ref.sentences, strict=False)
               if any(text == sentence or text.startswith(sentence.rstrip(".")) for text in used)]
    return TableCitation(title=ref.title, sheet=ref.sheet, row=ref.row, columns=columns or list(ref.columns))


def _as_named(place) -> str:
    """The place as the question named it ('Delfzijl', not 'gemeente Delfzijl'), capitalised."""
    asked = re.sub(r"^(?:de\s+)?(?:gemeente|regio|arbeidsmarktregio)\s+", "", place.asked or place.name, flags=re.I).strip()
    asked = asked or place.name
    return asked[:1].upper() + asked[1:]


_assistants: dict[tuple[str, str, str], Assistant] = {}
_assistants_lock = threading.Lock()


def get_assistant(settings: Settings) -> Assistant:
    """One assistant per (data dir, corpus dir, embedding, language model) per process: the cached
    index handle. The model settings are part of the key: an assistant answers with its own settings."""
    key = (
        str(settings.data_dir.resolve()), str(settings.corpus_dir.resolve()), settings.embedding,
        settings.llm, settings.llm_base_url, settings.llm_model,
    )
    with _assistants_lock:
        if key not in _assistants:
            _assistants[key] = Assistant(settings)
        return _assistants[key]

