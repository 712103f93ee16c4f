"""Features the learned models of the answer path read (`assistant/linear.py`).

Unit features describe how well one sentence of a retrieved passage fits the question: topic
coverage by IDF, the dense similarity of its own e5 vector, the retrieval rank and score of its
passage, and agreement with what is asked (a number for a figure question, a percentage, the year,
quarter and place). Question features describe whether the retrieved sentences answer at all.
All features are computed from the question analysis and the index; none names a source or an
item, so the models carry over to questions nobody has seen.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np

from assistant.compose import has_term, number_near_term, unknown_weight
from assistant.question import Intent, QuestionAnalysis
from ingest.lexical import tokenize

NUMBER = re.compile(r"(?<![\w.,])[-+]?\d+(?:[.,]\d+)*(?:\s?%)?")
YEARLESS_NUMBER = re.compile(r"(?<![\w.,])(?!(?:19|20)\d\d\b)\d+(?:[.,]\d+)*")
COUNT_WORDS = re.compile(r"\bhoeveel\b|\baantal\b|\bmet hoeveel\b", re.IGNORECASE)
PLAIN_COUNT = re.compile(r"(?<![\w.,])(?!(?:19|20)\d\d\b)\d+(?:[.,]\d+)*(?!\s?%|[.,]?\d|\s?procent)")
# "(zie afbeelding 4.3)", "paragraaf 3.1", "p. 12": a pointer into the report, not a figure.
REFERENCE = re.compile(
    r"\b(?:afbeelding|afb|figuur|fig|tabel|grafiek|paragraaf|par|hoofdstuk|bijlage|pagina|blz|p)\.?\s+\d+(?:[.,]\d+)*",
    re.IGNORECASE)
# A number that names a thing rather than counts it: a pointer, or 'beroepsniveau 2', 'box 3.1', 'mbo-4'.
LABEL_NUMBER = re.compile(
    REFERENCE.pattern + r"|\b(?:beroeps)?(?:niveau|box|fase|stap|mbo|hbo|wo)[- ]?\d+(?:\.\d+)*", re.IGNORECASE)
QUARTER_WORDS = {1: "eerste kwartaal", 2: "tweede kwartaal", 3: "derde kwartaal", 4: "vierde kwartaal"}
FIGURE_INTENTS = (Intent.figure, Intent.trend, Intent.comparison)
EXPLAIN_INTENTS = (Intent.procedure, Intent.advice, Intent.definition, Intent.general)

UNIT_FEATURES = [
    "own_coverage",  # IDF share of the question's terms in the sentence
    "section_coverage",  # ... in the passage's section path only
    "passage_coverage",  # ... anywhere in the passage
    "term_share",  # unweighted share of the question's terms in the sentence
    "passage_score",  # fused retrieval score of the passage (0..1)
    "passage_rank_inv",  # 1 / (1 + rank)
    "dense_rank_inv",
    "bm25_rank_inv",
    "dense_raw",  # cosine of the sentence's e5 vector with the question's
    "dense_scaled",  # the same, min-max over the candidates
    "dense_best_in_passage",  # the sentence is its passage's closest to the question
    "has_number",
    "number_near_term",
    "figure_x_number",
    "figure_x_near",
    "percent_match",
    "year_match",
    "year_miss",
    "quarter_match",
    "place_in_sentence",
    "place_in_passage",
    "source_covers_place",
    "source_named",
    "is_bullet",
    "is_caption",
    "lead_in",
    "explain_x_bullet",
    "explain_x_lead_in",
    "first_in_passage",
    "log_words",
    "anaphoric",
    "count_match",  # a count is asked ("hoeveel", "aantal") and a plain number stands beside the topic
    "figure_x_bullet",
    # Relative to the other candidates of the same question (a ranker compares within a question):
    "own_coverage_gap",  # own_coverage minus the best own_coverage of the question
    "own_coverage_rank_inv",
    "dense_gap",
    "dense_rank_inv_q",
    "term_share_gap",
    "passage_score_rank_inv",
]


ANAPHORA = re.compile(r"^(?:Daarmee|Dit|Deze|Dat|Daardoor|Hierdoor|Hiermee|Daarnaast|Daarbij|Zij|Ze|Ook|Bovendien|Daarom|Toch)\b")


@lru_cache(maxsize=16384)
def text_terms(text: str) -> frozenset[str]:
    """The BM25 stems of a passage or section path, once per process (passages recur across questions)."""
    return frozenset(tokenize(text))


@lru_cache(maxsize=32768)
def _text_facts(text: str) -> tuple[str, bool, bool, float, float, bool]:
    """What `unit_matrix` reads of a sentence without the question, once per sentence text:
    lowered text, a yearless number, a lead-in, log words, anaphoric, a plain count (not a label's number)."""
    return (text.lower(), bool(YEARLESS_NUMBER.search(text)), text.rstrip().endswith(":"), math.log1p(len(text.split())),
            float(bool(ANAPHORA.match(text))), bool(PLAIN_COUNT.search(LABEL_NUMBER.sub(" ", text))))


def _inv(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / (1.0 + rank)


def unit_matrix(units, analysis: QuestionAnalysis, idf: dict[str, float], query_vector, named: set[str]) -> np.ndarray:
    """One row of UNIT_FEATURES per unit."""
    unknown = unknown_weight(idf)
    terms = analysis.terms
    weight = {t: idf.get(t, unknown) for t in terms}
    total = sum(weight.values()) or 1.0
    # A municipality's figures are its arbeidsmarktregio's: a sentence about the region matches too.
    places = sorted({n.lower() for p in analysis.places for n in (p.name, p.region) if n})
    place_sources = analysis.sources_for_places
    years = [str(y) for y in analysis.years]
    figure = analysis.intent in FIGURE_INTENTS
    explain = analysis.intent in EXPLAIN_INTENTS
    wants_count = bool(COUNT_WORDS.search(analysis.text)) and not analysis.wants_percentage
    raw = [float(np.dot(u.vector, query_vector)) if (u.vector is not None and query_vector is not None) else None for u in units]
    by_passage: dict[str, list[float]] = {}
    for unit, value in zip(units, raw, strict=True):
        if value is not None:
            by_passage.setdefault(unit.passage.chunk_id, []).append(value)
    raw = [
        v if v is not None else (float(np.mean(by_passage[u.passage.chunk_id])) if u.passage.chunk_id in by_passage else 0.7)
        for u, v in zip(units, raw, strict=True)
    ]
    low, high = (min(raw), max(raw)) if raw else (0.0, 1.0)
    spread = (high - low) or 1.0
    best_in = {cid: max(vals) for cid, vals in by_passage.items()}
    context_terms: dict[str, tuple[frozenset[str], float, float, float]] = {}
    rows = []
    for unit, similarity in zip(units, raw, strict=True):
        passage = unit.passage
        cid = passage.chunk_id
        if cid not in context_terms:  # what depends on the passage's text only: once per passage
            whole = text_terms(passage.text)
            context = f"{passage.section_path} {passage.text}".lower()
            context_terms[cid] = (
                text_terms(passage.section_path),
                sum(weight[t] for t in terms if t in whole) / total,
                float(bool(years) and not any(y in context for y in years)),
                float(bool(places) and any(name in context for name in places)),
            )
        section, passage_coverage, year_miss, place_in_passage = context_terms[cid]
        present = [t for t in terms if has_term(t, unit.terms)]
        own = sum(weight[t] for t in present) / total
        text = unit.text
        lowered, has_number, lead_in, log_words, anaphoric, plain_count = _text_facts(text)
        near = has_number and number_near_term(text, terms)
        bullet = unit.kind == "bullet"
        rows.append([
            own,
            sum(weight[t] for t in terms if t in section and t not in present) / total,
            passage_coverage,
            (len(present) / len(terms)) if terms else 0.0,
            passage.score,
            _inv(unit.rank),
            _inv(passage.ranks.get("dense")),
            _inv(passage.ranks.get("bm25")),
            similarity,
            (similarity - low) / spread,
            float(cid in best_in and abs(similarity - best_in[cid]) < 1e-9),
            float(has_number),
            float(near),
            float(figure and has_number),
            float(figure and near),
            float(analysis.wants_percentage and ("%" in text or "procent" in lowered)),
            float(bool(years) and any(y in text for y in years)),
            year_miss,
            float(bool(analysis.quarters) and any(QUARTER_WORDS[q] in lowered for q in analysis.quarters)),
            float(bool(places) and any(name in lowered for name in places)),
            place_in_passage,
            float(passage.source_id in place_sources),
            float(passage.source_id in named),
            float(bullet),
            float(unit.kind in ("caption", "source_line")),
            float(lead_in),
            float(explain and bullet),
            float(explain and lead_in),
            float(unit.order == 0),
            log_words,
            anaphoric,
            float(wants_count and near and plain_count),
            float(figure and bullet),
        ])
    base = np.asarray(rows, dtype=float).reshape(len(units), len(UNIT_FEATURES) - N_RELATIVE)
    return np.hstack([base, _relative(base)]) if len(units) else np.zeros((0, len(UNIT_FEATURES)))


N_RELATIVE = 6  # the columns `_relative` adds


def _rank_inv(values: np.ndarray) -> np.ndarray:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return 1.0 / (1.0 + ranks)


def _relative(base: np.ndarray) -> np.ndarray:
    col = {name: i for i, name in enumerate(UNIT_FEATURES)}
    own, dense = base[:, col["own_coverage"]], base[:, col["dense_raw"]]
    share, passage = base[:, col["term_share"]], base[:, col["passage_score"]]
    return np.column_stack([
        own - own.max(), _rank_inv(own), dense - dense.max(), _rank_inv(dense), share - share.max(), _rank_inv(passage),
    ])


QUESTION_FEATURES = [
    "lead_p",  # the learned lead-sentence probability of the best sentence
    "lead_logit",
    "second_p",
    "lead_own_coverage",
    "best_own_coverage",  # best coverage among usable sentences
    "best_passage_coverage",
    "lead_dense_raw",
    "top_passage_dense_inv",
    "top_passage_bm25_inv",
    "unknown_term_share",  # IDF weight of question terms the corpus never uses
    "n_terms",
    "figure_intent",
    "figure_supported",  # some sentence carries a number with the asked topic, period and place
    "explain_intent",
    "places_asked",
    "place_sources_in_top",
    "years_asked",
    "uncovered_place",  # a place no source's registry scope covers (only mentioned in passages)
    "key_terms_in_lead_passage",  # the two most specific (highest-IDF) question terms, in the lead's passage
    "key_terms_anywhere",  # ... in any retrieved passage
    "key_term_unknown",  # the most specific question term is a word the corpus never uses
    "figure_key_supported",  # a supporting sentence also names the most specific known question term
]


def question_row(analysis: QuestionAnalysis, units, probs: np.ndarray, matrix: np.ndarray, idf: dict[str, float],
                 figure_supported: bool, supporting: list | None = None) -> dict[str, float]:
    """`supporting`: the units that carry the asked figure (typed match), for figure questions."""
    f = {name: i for i, name in enumerate(UNIT_FEATURES)}
    order = np.argsort(-probs) if len(probs) else np.array([], dtype=int)
    lead = int(order[0]) if len(order) else None
    terms = analysis.terms
    heaviest = unknown_weight(idf)
    total = sum(idf.get(t, heaviest) for t in terms) or 1.0
    unknown = sum(heaviest for t in terms if t not in idf) / total
    passages = {u.passage.chunk_id: u.passage for u in units}
    top = min(passages.values(), key=lambda p: -p.score) if passages else None
    return {
        "lead_p": float(probs[lead]) if lead is not None else 0.0,
        "lead_logit": float(np.log(max(probs[lead], 1e-6) / max(1 - probs[lead], 1e-6))) if lead is not None else -10.0,
        "second_p": float(probs[order[1]]) if len(order) > 1 else 0.0,
        "lead_own_coverage": float(matrix[lead, f["own_coverage"]]) if lead is not None else 0.0,
        "best_own_coverage": float(matrix[:, f["own_coverage"]].max()) if len(units) else 0.0,
        "best_passage_coverage": float(matrix[:, f["passage_coverage"]].max()) if len(units) else 0.0,
        "lead_dense_raw": float(matrix[lead, f["dense_raw"]]) if lead is not None else 0.0,
        "top_passage_dense_inv": _inv(top.ranks.get("dense")) if top else 0.0,
        "top_passage_bm25_inv": _inv(top.ranks.get("bm25")) if top else 0.0,
        "unknown_term_share": unknown,
        "n_terms": float(len(terms)),
        "figure_intent": float(analysis.intent in FIGURE_INTENTS),
        "figure_supported": float(figure_supported),
        "explain_intent": float(analysis.intent in EXPLAIN_INTENTS),
        "places_asked": float(bool(analysis.places)),
        "place_sources_in_top": float(bool(analysis.sources_for_places & {p.source_id for p in passages.values()})),
        "years_asked": float(bool(analysis.years)),
        "uncovered_place": float(any(not p.covered_by for p in analysis.places)),
        **_key_terms(analysis, units, lead, idf),
        "figure_key_supported": float(_key_supported(analysis, supporting, idf)) if supporting is not None else 1.0,
    }


def _key_supported(analysis: QuestionAnalysis, supporting: list, idf: dict[str, float]) -> bool:
    known = sorted((t for t in analysis.terms if t in idf), key=lambda t: -idf[t])
    if not known:
        return bool(supporting)
    return any(has_term(known[0], u.terms | frozenset(tokenize(u.passage.section))) for u in supporting)


def _key_terms(analysis: QuestionAnalysis, units, lead: int | None, idf: dict[str, float]) -> dict[str, float]:
    unknown = unknown_weight(idf)
    key = sorted(analysis.terms, key=lambda t: -idf.get(t, unknown))[:2]
    if not key or lead is None:
        return {"key_terms_in_lead_passage": 0.0, "key_terms_anywhere": 0.0, "key_term_unknown": float(bool(key))}
    lead_terms = text_terms(units[lead].passage.text)
    everything = frozenset().union(*(text_terms(u.passage.text) for u in {id(u.passage): u for u in units}.values()))
    return {
        "key_terms_in_lead_passage": sum(has_term(t, lead_terms) for t in key) / len(key),
        "key_terms_anywhere": sum(has_term(t, everything) for t in key) / len(key),
        "key_term_unknown": float(key[0] not in idf),
    }


def split_compounds(terms: list[str], idf: dict[str, float]) -> list[str]:
    """A compound the corpus never uses ('kinderopvangpersoneel', 'jaarlicentie') stands for its
    known parts ('kinderopvang' + 'personeel'); a word with no known parts stays as it is."""
    out: list[str] = []
    for term in terms:
        parts = _split(term, idf)
        out.extend(parts or [term])
    return list(dict.fromkeys(out))


def _split(term: str, idf: dict[str, float]) -> list[str] | None:
    if term in idf or len(term) < 8 or term[0].isdigit():
        return None
    best: tuple[str, str] | None = None
    for i in range(4, len(term) - 3):
        left, right = term[:i], term[i:]
        if left not in idf:
            continue
        for rest in (right, right[1:] if right[0] == "s" else "", right[2:] if right.startswith("en") else ""):
            if len(rest) >= 4 and rest in idf and (best is None or len(left) > len(best[0])):
                best = (left, rest)
    return list(best) if best else None
