"""Question understanding: places, period, sector synonyms, intent, and requests we must refuse.

All of it is pattern-based and explainable; the result steers retrieval (query expansion, region
boost, filters) and the answerability checks in `assistant.answer`.
"""

from __future__ import annotations

import re
from enum import Enum

from pydantic import BaseModel, Field

from assistant.places import PROVINCES
from assistant.types import HistoryTurn
from ingest.lexical import STOPWORDS, tokenize
from ingest.places import PlaceTable
from ingest.registry import SourceEntry
from ingest.sentences import abbreviation_before


class Intent(str, Enum):
    figure = "figure"
    trend = "trend"
    advice = "advice"
    procedure = "procedure"
    definition = "definition"
    comparison = "comparison"
    general = "general"


# Adviser shorthand -> words the sources use (added to the retrieval query, never shown).
SYNONYMS: list[tuple[str, str]] = [
    (r"\bzzp['’]?(?:ers?)?\b", "zelfstandigen zelfstandige zonder personeel"),
    (r"\bww['’]?ers?\b", "WW-uitkering werkzoekenden met een WW-uitkering"),
    (r"\bbijstand(?:sgerechtigden)?\b", "bijstandsuitkering bijstand"),
    (r"\bwajong(?:ers)?\b", "Wajong-uitkering"),
    (r"\bRiB\b", "Regio in Beeld"),
    (r"\bafb\.?\b", "afbeelding"),
    (r"\bt/m\b", "tot en met"),
    (r"\bpersoneelstekort(?:en)?\b|\bgeen personeel\b|\bmoeilijk vervulbare\b", "personeelstekorten krapte werving oplossingen"),
    (r"\bkrapte\b", "krappe arbeidsmarkt spanningsindicator vacatures per werkzoekende"),
    (r"\bict['’]?ers\b", "ICT ICT-beroepen"),
    (r"\bstatushouders?\b|\bvluchtelingen\b", "statushouders nieuwkomers asielzoekers"),
    (r"\bpensioen(?:ering)?\b|\bvergrijzing\b", "pensionering vervangingsvraag vergrijzing"),
    (r"\bouderen\b|\boudere werknemers\b", "ouderen 60 67 jaar vervangingsvraag"),
    (r"\bneet\b|\bthuiszitters?\b", "NEET jongeren zonder werk of opleiding"),
    (r"\bwerkgelegenheid\b", "banen werknemersbanen"),
    (r"\bbanen\b", "werkgelegenheid werknemersbanen"),
    (r"\bvacatures?\b", "openstaande vacatures"),
    (r"\bwerklozen\b|\bwerkloosheid\b", "werkloosheid werklozen werkloze beroepsbevolking"),
    (r"\bpsychisch\w*\b", "psychische aandoening begeleiding IPS"),
    (r"\bzorg\b", "zorg & welzijn"),
    (r"\bprognose\b|\bverwachting\b", "prognose naar verwachting tot 2027"),
    (r"\bllo\b", "leven lang ontwikkelen"),
    (r"\bdiploma\b", "diploma opleiding mbo"),
    (r"\bmeerjarenagenda['’]?s?\b", "regionale meerjarenagenda Werkcentrum"),
]

PERSONAL_DATA = re.compile(
    r"telefoonnummer|telefoon|06[- ]?\d|mailadres|e-?mail|\badres\b|woonadres|woonplaats|achternaam|"
    r"geboortedatum|\bbsn\b|burgerservicenummer|privé|priveadres|\biban\b|waar woont",
    re.IGNORECASE,
)
ASKS_FREQUENCY = re.compile(r"\bhoe vaak\b|\bhoe regelmatig\b|\bmet welke frequentie\b", re.IGNORECASE)
ASKS_DATE = re.compile(
    r"\bper welke datum\b|\bop welke datum\b|\bvanaf wanneer\b|\bsinds wanneer\b|\btot wanneer\b|\bin welk jaar\b"
    r"|\bwanneer (?:treedt|gaat|start|begint|stopt|eindigt|verschijnt|komt)\b",
    re.IGNORECASE,
)
OWN_FORECAST = re.compile(
    r"\bvoorspel\w*|\bwat denk (?:jij|je)\b|\bverwacht (?:jij|je)\b|\bjouw (?:verwachting|inschatting|prognose)\b|"
    r"\bschat (?:jij|je)\b|\bwat wordt\b.*\bin 20[3-9]\d\b|\bhoe ziet\b.*\ber(?:\s\w+)? uit in 20\d\d",
    re.IGNORECASE,
)
MAX_CONTEXT_CHARS = 2000
YEAR = re.compile(r"\b(19[5-9]\d|20[0-9]\d)\b")
QUARTER = re.compile(r"\b(?:(eerste|tweede|derde|vierde)\s+kwartaal|[kq]([1-4]))\b", re.IGNORECASE)
MONTH_NAMES = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
               "oktober", "november", "december")
# A month of a named year ("eind september 2025"): a period as precise as a quarter.
MONTH = re.compile(r"\b(" + "|".join(MONTH_NAMES) + r")\s+(?:19|20)\d\d\b", re.IGNORECASE)
FOLLOW_UP = re.compile(r"^\s*(?:en|maar|ook)\b|^\s*(?:hoe zit (?:dat|het)|wat dan|idem)\b", re.IGNORECASE)
GEMEENTE = re.compile(r"\bgemeente\s+([A-Z][\w'’-]+(?:\s[A-Z][\w'’-]+)?)")

INTENT_PATTERNS: list[tuple[Intent, re.Pattern[str]]] = [
    (Intent.comparison, re.compile(r"\bvergelijk\w*|\bverschil\w*|\bversus\b|\bvs\.?\b|\b(?:meer|minder|grot\w*|klein\w*|hoger\w*|lager\w*|snell\w*|langer\w*)\b.*\b(?:dan|of)\b|\bof in\b|\bwelke sector\b.*\bmeer\b", re.I)),
    (Intent.advice, re.compile(r"\bwat (?:adviseer|zeg|raad|kan|moet) ik\b|\bwaar kan ik\b|\bverwijzen\b|\bklant\b|\bwerkgever\b.*\b(?:wil|klaagt|zoekt|kan)\b|\bwerkzoekende\b.*\bwil\b|\btips?\b|\bhandvat", re.I)),
    (Intent.procedure, re.compile(r"\bstappen\b|\bfasen?\b|\bhoe (?:is|wordt|werkt|moet|doe|pak)\b|\bwie (?:neemt|beslist|besluit)\b|\bwanneer moet\b|\bopgezet\b|\bproces\b|\buitgangspunten\b|\bcriteria\b|\bstartpunt\b", re.I)),
    (Intent.figure, re.compile(r"\bhoeveel\b|\baantal\b|percentage\b|\baandeel\b|\bwelk deel\b|\bhoe (?:groot|hoog|veel)\b|\bcijfers?\b|\bprognose\b|\bmet hoeveel\b|\bverdien\w*|\bsalaris|\bloon\b"
                                r"|\bwat kost\w*|\bkosten\b|\bprijs\b|\bbedrag\b|\bbudget\b", re.I)),
    (Intent.trend, re.compile(r"\bontwikkel\w*|\bgestegen\b|\bgedaald\b|\bgroei\w*|\btrend\b|\btoename\b|\bafname\b|\bstijg\w*|\bdaal\w*", re.I)),
    (Intent.definition, re.compile(r"\bwat (?:is|zijn|wordt|betekent)\b|\bwie (?:tellen|vallen|rekent)\b|\bdefinitie\b|\bbedoeld\b", re.I)),
]
FIGURE_WORDS = dict(INTENT_PATTERNS)[Intent.figure]
# The unit of the asked figure, when the question names one: an amount of money ("hoeveel geld",
# "hoeveel SLIM-subsidie", "wat kost"), a percentage ("hoeveel procent", "welk percentage") or
# full-time jobs ("hoeveel fte"). Only a figure in that unit answers (or a calculation that yields it).
ASKED_UNITS = (
    ("€", re.compile(r"\bhoeveel\s+[\w-]*?(?:geld|subsidie|budget|euro)\b|\b(?:wat|hoeveel)\s+kost|\bbedrag\b|€", re.I)),
    ("%", re.compile(r"\bhoeveel\s+procent\b|\bwelk\s+percentage\b|\bhet\s+[\w-]*percentage\b|%", re.I)),
    ("fte", re.compile(r"\bhoeveel\s+fte\b", re.I)),
)
PERCENT_WORDS = re.compile(r"percentage\b|\baandeel\b|\bwelk deel\b|\bprocent\b|%|\bwelk percentage\b", re.I)


class Place(BaseModel):
    name: str
    kind: str  # "region", "province", "municipality"
    covered_by: list[str] = Field(default_factory=list, description="Source ids whose registry scope includes it.")
    region: str = Field("", description="The arbeidsmarktregio (of a municipality: the one it belongs to).")
    asked: str = Field("", description="The name as the question wrote it (a former municipality, say).")


class QuestionAnalysis(BaseModel):
    original: str
    text: str = Field(description="The question with follow-up context resolved.")
    retrieval_text: str = Field(description="The text used for retrieval: question plus synonyms.")
    places: list[Place] = Field(default_factory=list)
    municipality_asked: list[str] = Field(default_factory=list, description="'gemeente X' in the question.")
    years: list[int] = Field(default_factory=list)
    quarters: list[int] = Field(default_factory=list)
    months: list[int] = Field(default_factory=list, description="Months (1-12) named with a year; a follow-up's own replace the earlier turn's.")
    intent: Intent = Intent.general
    intents: list[Intent] = Field(default_factory=list)
    wants_percentage: bool = False
    asked_unit: str = Field("", description="'€', '%' or 'fte' when the question asks a figure in that unit.")
    own_forecast: bool = False
    sides: list[str] = Field(default_factory=list, description="Stems of the alternatives a comparison weighs ('industrie of onderwijs').")
    relative_period: bool = Field(False, description="Asks about a period relative to the figure ('een jaar eerder').")
    personal_data: bool = False
    other_part: bool = Field(False, description="A part of a question of several ('Wat is X? Hoeveel ...?') asks no figure.")
    asks_date: bool = Field(False, description="Asks when ('per welke datum', 'vanaf wanneer', 'in welk jaar').")
    asks_frequency: bool = Field(False, description="Asks how often ('hoe vaak'): 'maandelijks' answers it as a number does.")
    follow_up: bool = False
    terms: list[str] = Field(default_factory=list, description="Stemmed content terms, places removed.")
    counted: list[str] = Field(default_factory=list, description="Stems of what a figure question counts ('hoeveel wajongers': wajonger).")
    region_hint: str = Field("", description="'arbeidsmarktregio X' for each asked municipality of a covered region X.")

    @property
    def dense_text(self) -> str:
        """What the query embedding sees: the question (with follow-up context), without the BM25
        synonyms. Measured on the answerable items: hit@5 dev 0.961 either way, own 0.908 with the
        synonyms vs 0.938 without; and a shorter text embeds faster (p95 35 vs 43 ms). A municipality
        is searched as its arbeidsmarktregio too (the sources give figures per region)."""
        return f"{self.text} {self.region_hint}".strip()

    @property
    def sources_for_places(self) -> set[str]:
        return {source for place in self.places for source in place.covered_by}


ASKED_ONLY = (Intent.figure, Intent.trend)
SENTENCE_END = re.compile(r"[.!?]\s+")


def _intents(text: str) -> list[Intent]:
    """The question's intents in INTENT_PATTERNS order. A figure or a trend is what is asked only
    when the asking sentence names it: in "… die cijfers staan niet in regio in beeld. Waar halen we
    dat vandaan?" or "… ziet op tegen de kosten. Welke regeling kan ik noemen?" the figure words
    describe the situation. Other intents (advice, procedure, …) may come from the whole text."""
    sentences = _sentences(text.strip())
    asked = [s for s in sentences if s.rstrip().endswith("?")]
    asking = " ".join(asked) if asked and len(asked) < len(sentences) else text
    return [intent for intent, pattern in INTENT_PATTERNS
            if pattern.search(asking if intent in ASKED_ONLY else text)]


def _sentences(text: str) -> list[str]:
    """A question's sentences: split after . ! ? and a space, not after an abbreviation ("t.o.v.
    2019", "prov. Utrecht"); a question may go on in lower case ("… in beeld. waar halen we …")."""
    sentences, start = [], 0
    for end in SENTENCE_END.finditer(text):
        if not abbreviation_before(text, end.start()):
            sentences.append(text[start : end.start() + 1])
            start = end.end()
    return [s for s in (*sentences, text[start:]) if s.strip()]


def _province_patterns(entries: list[SourceEntry]) -> list[tuple[re.Pattern[str], str]]:
    names = sorted({*PROVINCES, *(p for e in entries for p in e.provinces)}, key=len, reverse=True)
    return [
        (re.compile(r"(?<![\w-])" + re.escape(name).replace(r"\ ", r"\s+") + r"(?![\w-])", re.IGNORECASE), name)
        for name in names
    ]


class QuestionAnalyzer:
    """Built once per registry and place table; `analyze` is cheap.

    Places come from the official municipality -> arbeidsmarktregio table (`ingest/places.py`,
    corpus/reference/): every current and former municipality and the 35 regions. A place is
    covered by a source whose registry scope names it, its region or (for a municipality) its
    arbeidsmarktregio; provinces come from the registry and the list of provinces."""

    def __init__(self, entries: list[SourceEntry], table: PlaceTable | None = None) -> None:
        self.table = table or PlaceTable.load()
        self._provinces = _province_patterns(entries)
        self._by_region: dict[str, set[str]] = {}
        self._by_municipality: dict[str, set[str]] = {}
        self._by_province: dict[str, set[str]] = {}
        for entry in entries:
            for name in entry.regions:
                region = self.table.canonical_region(name) or name
                self._by_region.setdefault(region.lower(), set()).add(entry.id)
            for name in entry.municipalities:
                self._by_municipality.setdefault(name.lower(), set()).add(entry.id)
            for name in entry.provinces:
                self._by_province.setdefault(name.lower(), set()).add(entry.id)

    def _covering(self, region: str, municipality: str | None = None) -> set[str]:
        sources = set(self._by_region.get(region.lower(), set()))
        if municipality:
            sources |= self._by_municipality.get(municipality.lower(), set())
        return sources

    def find_places(self, text: str) -> list[Place]:
        """Places named in the text, in the order they are named."""
        found: dict[str, Place] = {}
        position: dict[str, int] = {}

        def add(place: Place, start: int) -> None:
            key = place.name.lower()
            position.setdefault(key, start)
            if key in found:  # "Groningen" as municipality, region and province: merge coverage
                old = found[key]
                merged = sorted(set(old.covered_by) | set(place.covered_by))
                kind = "region" if "region" in (old.kind, place.kind) else old.kind
                found[key] = old.model_copy(update={"covered_by": merged, "kind": kind, "region": old.region or place.region})
            else:
                found[key] = place

        for match in self.table.find(text):
            if match.start > 0 and text[match.start - 1] in "-‐":
                continue  # "Noord-Drenthe", "Oost-Groningen": part of an area, not the named place
            if match.kind.value == "region":
                add(Place(name=match.region, kind="region", region=match.region, asked=match.text,
                          covered_by=sorted(self._covering(match.region))), match.start)
            else:
                name = match.municipality or match.text
                add(Place(name=name, kind="municipality", region=match.region, asked=match.text,
                          covered_by=sorted(self._covering(match.region, name))), match.start)
        for pattern, name in self._provinces:
            if m := pattern.search(text):
                covered = self._by_province.get(name.lower(), set())
                add(Place(name=name, kind="province", asked=m.group(0), covered_by=sorted(covered)), m.start())
        return sorted(found.values(), key=lambda place: position[place.name.lower()])

    def analyze(self, question: str, history: list[HistoryTurn] | None = None) -> QuestionAnalysis:
        original = question.strip()
        text = original
        places = self.find_places(original)
        follow_up = False
        if history:
            # Bounded: a history turn is context, never more text than one question may be.
            previous = history[-1].question[:MAX_CONTEXT_CHARS]
            own_terms = [t for t in tokenize(_strip_places(original, places)) if len(t) > 2]
            if FOLLOW_UP.match(original) or len(own_terms) <= 2:
                follow_up = True
                previous_places = self.find_places(previous)
                base = _strip_places(previous, previous_places) if places else previous
                text = f"{base} {original}"
                if not places:
                    places = previous_places
        intents = _intents(text)
        if len({p.name.lower() for p in places if p.covered_by}) >= 2 and Intent.comparison not in intents:
            if re.search(r"\bof\b|\ben\b|\bdan\b|\bvergeleken\b", text, re.I):
                intents.insert(0, Intent.comparison)
        if follow_up and Intent.figure not in intents and _only_a_period(original):
            intents.insert(0, Intent.figure)  # "en in december 2023?": the earlier turn's figure, another period
        intent = intents[0] if intents else Intent.general
        quarters = []
        for match in QUARTER.finditer(text):
            word, digit = match.group(1), match.group(2)
            quarters.append(int(digit) if digit else ["eerste", "tweede", "derde", "vierde"].index(word.lower()) + 1)
        # A follow-up that names its own month asks about that month, not also the earlier turn's.
        month_text = original if MONTH.search(original) else text
        months = sorted({MONTH_NAMES.index(m.group(1).lower()) + 1 for m in MONTH.finditer(month_text)})
        expansions = [extra for pattern, extra in SYNONYMS if re.search(pattern, text, re.IGNORECASE)]
        region_hint = " ".join(
            f"arbeidsmarktregio {p.region}" for p in places
            if p.kind == "municipality" and p.region and p.covered_by and p.region.lower() != p.name.lower()
        )
        # Numbers other than years and quarters are content ("60 tot 67 jaar", "16 uur"); years have their own checks.
        terms = [
            t for t in tokenize(_strip_places(text, places))
            if t not in GENERIC_TERMS and not (t.isdigit() and (YEAR_TOKEN.fullmatch(t) or len(t) == 1))
        ]
        return QuestionAnalysis(
            original=original,
            text=text,
            retrieval_text=" ".join([text, region_hint, *expansions]).strip(),
            region_hint=region_hint,
            places=places,
            municipality_asked=[m.group(1) for m in GEMEENTE.finditer(text)],
            years=sorted({int(y) for y in YEAR.findall(text)}),
            quarters=quarters,
            months=months,
            intent=intent,
            intents=intents,
            other_part=_other_part(original),
            wants_percentage=bool(PERCENT_WORDS.search(text)),
            asked_unit=next((unit for unit, pattern in ASKED_UNITS if pattern.search(text)), ""),
            own_forecast=bool(OWN_FORECAST.search(text)),
            relative_period=bool(RELATIVE_PERIOD.search(text)),
            sides=comparison_sides(_strip_places(text, places), terms),
            personal_data=bool(PERSONAL_DATA.search(text)),
            asks_date=bool(ASKS_DATE.search(original)),
            asks_frequency=bool(ASKS_FREQUENCY.search(original)),
            follow_up=follow_up,
            terms=list(dict.fromkeys(terms)),
            # Only the asking sentence's own: a follow-up ("en bij jongeren onder de 25?") may count another group.
            counted=counted_terms(_strip_places(original, places)),
        )


# Stems that carry no topic (question words, "regio", "volgens", ...): ignored for answerability.
RELATIVE_PERIOD = re.compile(
    r"\b(?:een|1|twee|drie) (?:jaar|kwartaal|maand)(?:en)? (?:eerder|ervoor|daarvoor|geleden)\b|\bvorig(?:e)? (?:jaar|kwartaal)\b"
    r"|\bhet jaar (?:ervoor|daarvoor)\b",
    re.I,
)
YEAR_TOKEN = re.compile(r"(?:19|20)\d\d")
PERIOD_STEMS = frozenset(tokenize(
    "jaar jaren kwartaal kwartalen maand maanden week eerder later ervoor daarvoor erna daarna geleden "
    "vorig vorige volgend volgende eind begin medio half helft eerste tweede derde vierde " + " ".join(MONTH_NAMES)))


# What a figure question counts: the words after "hoeveel", "het aantal", "welk percentage", ...
# ("hoeveel wajongers zitten er ...", "het aandeel bijstandsgerechtigden onder ...").
COUNTED = re.compile(
    r"\b(?:hoeveel|aantal|percentage|aandeel)\s+(?:procent\s+|%\s+)?(?:(?:meer|minder|extra)\s+)?"
    r"((?:van|onder)\s+)?(?:de\s+|het\s+|alle\s+|een\s+)?((?:[^\W_][\w’'-]*\s*){1,3})",
    re.IGNORECASE,
)
# Words after "hoeveel" that end what is counted (besides stop words): "hoeveel daarvan ...",
# "hoeveel hoger ligt ...".
NOT_COUNTED = frozenset({"daarvan", "hiervan", "ervan", "waarvan", "hoger", "lager", "groter", "kleiner", "minder", "vaker"})
# Counted words that say nothing of what is counted ("hoeveel mensen werken in de zorg").
BARE_COUNTS = frozenset(tokenize("mensen personen inwoners procent keer deel aantal totaal geld bedrag euro"))


def counted_terms(text: str) -> list[str]:
    """The stems of what a figure question counts: its adjectives and head noun ("openstaande
    vacatures", "geregistreerde werkzoekenden"), up to the first word that is no part of it (a stop
    word, a comparative, a finite verb: 'hoeveel bedraagt ...'). Nothing when the counted word says
    nothing ("hoeveel mensen ...") or names the base of a share ("hoeveel procent van de ...")."""
    match = COUNTED.search(text)
    if not match or match.group(1):
        return []  # "welk percentage van de volwassenen": the share's base, which a source often leaves out
    stems: list[str] = []
    for word in match.group(2).split():
        word = word.lower().strip("’'-,.?!")
        if not word or word in STOPWORDS or word.endswith("t") or word in NOT_COUNTED:
            break
        found = [t for t in tokenize(word) if not t[0].isdigit() and t not in GENERIC_TERMS and t not in PERIOD_STEMS]
        if any(t in BARE_COUNTS for t in found):
            break
        stems += found
        if not word.endswith("e"):
            break  # the head noun: Dutch adjectives before it end in -e ("openstaande", "buitenlandse")
    return list(dict.fromkeys(stems))


def _only_a_period(question: str) -> bool:
    """The question names a period and nothing else ("en een jaar eerder, december 2023?")."""
    stems = tokenize(question)
    periods = YEAR.search(question) or MONTH.search(question) or QUARTER.search(question) or RELATIVE_PERIOD.search(question)
    return bool(stems) and bool(periods) and all(t.isdigit() or t in PERIOD_STEMS for t in stems)
GENERIC_TERMS = set(
    tokenize(
        "hoeveel welke welk wat wie waar wanneer hoe waarom regio arbeidsmarktregio gemeente provincie "
        "volgens bron rapport magazine handreiking eigenlijk precies ongeveer noemt geeft zegt laat zien "
        "staan stonden stond er zijn was waren heeft hebben komen kunnen kan mag moet welke ook nog "
        "graag vertel geef mij ik we jullie je u ivm i.v.m "
        # Conversation words of a question (what the adviser wants to know, not what about):
        "tussen klopt het tegenwoordig zo'n zo’n onze ons wij mijn hoor hoorde flink kunt kun aangeven "
        "momenteel nu dit moment weet weten wil willen zeggen meegeven vertellen benieuwd vraag vragen "
        "stel dat eens even ongeveer inmiddels zit zitten doen gaat gaan worden wordt werd"
    )
)


SIDE_WORD = r"([^\W\d_][\w&/’'-]*)"
SIDES_OR = re.compile(SIDE_WORD + r"\s+of\s+(?:in\s+|de\s+|het\s+|bij\s+)*" + SIDE_WORD, re.I)
SIDES_BETWEEN = re.compile(r"\btussen\s+(?:de\s+|het\s+)?" + SIDE_WORD + r"\s+en\s+(?:de\s+|het\s+)?" + SIDE_WORD, re.I)
SIDES_THAN = re.compile(r"\bdan\s+(?:de\s+|het\s+|in\s+|bij\s+)*" + SIDE_WORD, re.I)


def comparison_sides(text: str, terms: list[str]) -> list[str]:
    """The alternatives a comparison weighs, as stems: 'industrie of onderwijs', 'tussen vrouwen en
    mannen', 'kennismigranten ... dan arbeidsmigranten' (the other side shares the word's ending)."""
    sides: list[str] = []
    for pattern in (SIDES_OR, SIDES_BETWEEN):
        for match in pattern.finditer(text):
            for word in match.groups():
                stems = [t for t in tokenize(word) if t not in GENERIC_TERMS and not t[0].isdigit()]
                if stems:
                    sides.append(stems[0])
    for match in SIDES_THAN.finditer(text):
        stems = [t for t in tokenize(match.group(1)) if t not in GENERIC_TERMS and not t[0].isdigit()]
        if not stems:
            continue
        other = stems[0]
        partners = [t for t in terms if t != other and len(t) >= 6 and len(other) >= 6 and t[-5:] == other[-5:]]
        if partners:
            sides.extend([partners[0], other])
    unique = list(dict.fromkeys(sides))
    return unique if len(unique) >= 2 else []


def _strip_places(text: str, places: list[Place]) -> str:
    for place in places:
        for name in {place.name, place.asked} - {""}:
            text = re.sub(re.escape(name), " ", text, flags=re.IGNORECASE)
    return text


def _other_part(question: str) -> bool:
    """A question of several parts (each ending in '?') of which one asks no figure: that part can be
    answered even when the figure of another is not in the sources."""
    parts = [p for p in question.split("?") if len(p.split()) >= 2]
    return len(parts) >= 2 and any(not FIGURE_WORDS.search(p) for p in parts)
