"""Sources page for trainers: the registry with index state, upload with metadata, approve and
withdraw, re-ingest with a progress bar, and a source's indexed passages."""

import ingest  # noqa: F401  (offline environment first)

import datetime as dt
import re
from pathlib import Path

import streamlit as st

from ingest.registry import SOURCE_ID_PATTERN, SourceStatus, SourceType, slugify
from ui import render as R
from ui.backend import BackendError
from ui.common import backend

STATUS_LABELS = {"approved": "goedgekeurd", "draft": "concept", "withdrawn": "ingetrokken"}
UPLOAD_TYPES = ["pdf", "txt", "md", "csv", "xlsx"]  # what assistant.uploads (shared with the API) accepts

be = backend()
state = st.session_state

st.title("Bronnen")
st.caption(
    "Alleen goedgekeurde bronnen worden geïndexeerd en gebruikt in antwoorden. Na toevoegen, goedkeuren "
    "of intrekken: **Opnieuw indexeren**. Intrekken haalt een bron uit elk antwoord."
)
for message in state.pop("sources_flash", []):
    st.success(message)  # ours, with pattern-checked ids; ingest errors are escaped where they are added

try:
    rows = be.registry_rows()
except BackendError as exc:
    st.error(str(exc))
    rows = []


def _date(value: object) -> str:
    if not value:
        return "-"
    try:
        return dt.datetime.fromisoformat(str(value)).strftime("%d-%m-%Y %H:%M")
    except ValueError:
        return str(value)


st.header("Register")
st.dataframe(
    [
        {
            "id": row["id"],
            "status": STATUS_LABELS.get(row.get("status", ""), row.get("status", "")),
            "pagina's": row.get("pages"),
            "passages": row.get("chunks", 0),
            "geïndexeerd": _date(row.get("indexed_at")),
            "soort": row.get("type", ""),
            "titel": row["title"],
        }
        for row in rows
    ],
    hide_index=True,
    width="stretch",
)
pending = [r["id"] for r in rows if (r.get("status") == "approved") != bool(r.get("chunks"))]
if pending:
    st.warning("Het register en de index lopen uiteen voor: " + R.md_text(", ".join(pending)) + ". Indexeer opnieuw.")

# -- approve / withdraw / re-ingest ------------------------------------------------------------------

st.header("Beheren")
ids = [r["id"] for r in rows]
status_of = {r["id"]: r.get("status", "") for r in rows}
left, right = st.columns([2, 1])
with left:
    chosen = st.selectbox("Bron", ids, key="manage_source",
                          format_func=lambda i: f"{i} ({STATUS_LABELS.get(status_of[i], status_of[i])})") if ids else None
    approve_col, withdraw_col = st.columns(2)
    if chosen and approve_col.button("Goedkeuren", key="approve", disabled=status_of.get(chosen) == "approved"):
        try:
            be.set_status(chosen, SourceStatus.approved.value)
        except BackendError as exc:
            st.error(str(exc))
        else:
            state["sources_flash"] = [f"{chosen} is goedgekeurd. Indexeer opnieuw om de bron te gebruiken."]
            st.rerun()
    if chosen and withdraw_col.button("Intrekken", key="withdraw", disabled=status_of.get(chosen) == "withdrawn"):
        try:
            be.set_status(chosen, SourceStatus.withdrawn.value)
        except BackendError as exc:
            st.error(str(exc))
        else:
            state["sources_flash"] = [f"{chosen} is ingetrokken. Indexeer opnieuw om de bron uit de antwoorden te halen."]
            st.rerun()
with right:
    label = "Indexering op de server volgen" if be.remote else "Opnieuw indexeren"
    if st.button(label, type="primary", key="reingest"):
        bar = st.progress(0.0, text="Indexeren gestart…")

        def progress(message: str, done: int, total: int) -> None:
            bar.progress(min(1.0, done / total) if total else 0.0, text=f"{message} ({done}/{total})" if total else message)

        try:
            report = be.reingest(progress)
        except BackendError as exc:
            st.error(str(exc))
        else:
            bar.progress(1.0, text="Klaar")
            text = (f"Toegevoegd {report['added']}, bijgewerkt {report['updated']}, ongewijzigd {report['unchanged']}, "
                    f"verwijderd {report['removed']}; {report['chunks']} passages in {report['seconds']:.1f} s.")
            flash = [text]
            for failure in report.get("failed", []):
                flash.append(f"Mislukt: {failure['source_id']}: {R.md_text(R.ingest_error_nl(failure['error']))}")
            state["sources_flash"] = flash
            st.rerun()
    if be.remote:
        st.caption("De server indexeert vanzelf na toevoegen, goedkeuren of intrekken.")

# -- upload ----------------------------------------------------------------------------------------

st.header("Bron toevoegen")
with st.form("upload", clear_on_submit=False, border=True):
    upload = st.file_uploader("Bestand (PDF, tekst, Markdown, CSV of Excel)", type=UPLOAD_TYPES, key="upload_file")
    c1, c2 = st.columns(2)
    source_id = c1.text_input("Id", key="upload_id", placeholder="bijv. uwv-regio-in-beeld-2026-utrecht",
                              help="Kleine letters, cijfers, punt en streepje. Leeg: afgeleid van de bestandsnaam.")
    title = c2.text_input("Titel", key="upload_title")
    publisher = c1.text_input("Uitgever", key="upload_publisher", value="UWV")
    edition = c2.text_input("Editie", key="upload_edition", placeholder="bijv. 2025-2026")
    published = c1.text_input("Gepubliceerd (jaar of JJJJ-MM-DD)", key="upload_published", value=str(dt.date.today().year))
    source_type = c2.selectbox("Soort", [t.value for t in SourceType], key="upload_type")
    regions = c1.text_input("Arbeidsmarktregio's (komma-gescheiden)", key="upload_regions")
    period = c2.text_input("Periode van de cijfers", key="upload_period",
                           placeholder="bijv. cijfers tot en met het tweede kwartaal van 2025")
    url = c1.text_input("URL", key="upload_url")
    approve_now = c2.checkbox("Meteen goedkeuren", key="upload_approve")
    submitted = st.form_submit_button("Toevoegen")

if submitted:
    problems = []
    if upload is None:
        problems.append("Kies een bestand.")
    if not title.strip():
        problems.append("Vul een titel in.")
    new_id = source_id.strip() or (slugify(Path(upload.name).stem) if upload is not None else "")
    if new_id and not re.match(SOURCE_ID_PATTERN, new_id):
        problems.append(f"Id '{new_id}' is ongeldig: gebruik kleine letters, cijfers, punt en streepje (3-120 tekens).")
    published_value: object = published.strip()
    try:
        published_value = int(published.strip()) if published.strip().isdigit() else dt.date.fromisoformat(published.strip())
    except ValueError:
        problems.append("Gepubliceerd moet een jaar (2025) of een datum (2025-06-30) zijn.")
    if problems:
        for problem in problems:
            st.error(problem)
    else:
        metadata = {
            "id": new_id, "title": title.strip(), "publisher": publisher.strip() or "onbekend",
            "edition": edition.strip() or str(published_value), "published": published_value,
            "type": source_type, "regions": [r.strip() for r in regions.split(",") if r.strip()],
            "period": period.strip(), "url": url.strip(),
            "status": SourceStatus.approved.value if approve_now else SourceStatus.draft.value,
        }
        try:
            added = be.add_source(upload.name, upload.getvalue(), metadata)
        except BackendError as exc:
            st.error(str(exc))
        else:
            status = "goedgekeurd" if approve_now else "concept"
            state["sources_flash"] = [f"{added} is toegevoegd ({status}). Indexeer opnieuw om de bron te gebruiken."]
            st.rerun()

# -- inspect chunks ----------------------------------------------------------------------------------

st.header("Passages van een bron")
indexed = [r["id"] for r in rows if r.get("chunks")]
if not indexed:
    st.caption("Nog geen geïndexeerde bronnen.")
else:
    inspect = st.selectbox("Bron", indexed, key="inspect_source")
    query = st.text_input("Zoek in de passages", key="inspect_query", placeholder="bijv. vacatures")
    try:
        chunks = be.chunks(inspect)
    except BackendError as exc:
        st.error(str(exc))
        chunks = []
    if query.strip():
        chunks = [c for c in chunks if query.strip().lower() in c["text"].lower() or query.strip().lower() in c["section"].lower()]
    st.caption(f"{len(chunks)} passages")
    for chunk in chunks[:200]:
        pages = f"p. {chunk['page_start']}" + (f"-{chunk['page_end']}" if chunk["page_end"] != chunk["page_start"] else "")
        with st.expander(R.md_text(f"{pages} · {chunk['section']}")):  # headings of a source: plain text
            st.caption(chunk["id"])  # "<source id>:<hex>": pattern-checked
            st.text(chunk["text"])
    if len(chunks) > 200:
        st.caption("Alleen de eerste 200 passages getoond; verfijn met de zoekterm.")
