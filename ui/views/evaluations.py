"""Evaluations page for trainers: choose or upload an evaluation set, run it with a progress bar,
metrics per type (table + chart), failing questions with expected vs answered and their citations,
and the comparison with the previous stored run."""

import ingest  # noqa: F401  (offline environment first)

import datetime as dt

import pandas as pd
import streamlit as st

from assistant.evaluate import LOWER_IS_BETTER, METRIC_NAMES, QUESTION_TYPES
from ui import evalruns
from ui import render as R
from ui.backend import BackendError
from ui.common import backend, settings

METRIC_LABELS = {
    "n": "vragen", "n_answerable": "beantwoordbaar", "n_unanswerable": "onbeantwoordbaar",
    "hit@5": "hit@5 (juiste passage in top 5)", "facts": "feiten (aandeel)", "facts_all": "alle feiten goed",
    "refusal_accuracy": "terecht geweigerd", "false_refusals": "onterecht geweigerd",
    "untraceable_answers": "antwoorden met ontraceerbaar getal", "errors": "fouten", "pass_rate": "geslaagd",
    "latency_ms_p50": "latentie p50 (ms)", "latency_ms_p95": "latentie p95 (ms)",
}
TABLE_METRICS = ["n", "hit@5", "facts", "facts_all", "refusal_accuracy", "false_refusals",
                 "untraceable_answers", "pass_rate", "latency_ms_p50"]
CHART_METRICS = ["hit@5", "facts_all", "refusal_accuracy", "pass_rate"]

REASON_LABELS = {
    "onjuist": "Antwoord of cijfer klopt niet", "bron_ondersteunt_niet": "Passage ondersteunt het niet",
    "onvolledig": "Onvolledig", "niet_relevant": "Niet relevant", "onterecht_geweigerd": "Ten onrechte geweigerd",
    "onduidelijk": "Onduidelijk", "juist_en_bruikbaar": "Klopt en bruikbaar", "goede_bronnen": "Goede bronnen",
    "tijdwinst": "Scheelt zoekwerk", "anders": "Anders", "geen_reden": "Geen reden",
}

be = backend()
data_dir = settings().data_dir
state = st.session_state

st.title("Evaluaties")
st.caption("Een evaluatieset is een JSONL-bestand met per regel `id`, `question`, `type`, `expected`, `doc`, "
           "`evidence`. Elke run wordt bewaard en vergeleken met de vorige run van dezelfde set.")
for message in state.pop("eval_flash", []):
    st.success(message)

# -- choose or upload ----------------------------------------------------------------------------------

with st.expander("Evaluatieset uploaden"):
    uploaded = st.file_uploader("JSONL-bestand", type=["jsonl"], key="eval_upload")
    if uploaded is not None and st.button("Set opslaan", key="eval_upload_save"):
        try:
            name, count = evalruns.save_upload(data_dir, uploaded.name, uploaded.getvalue())
        except ValueError as exc:
            st.error(f"Deze set is niet geldig: {exc}")
        else:
            state["eval_set"] = name
            state["eval_flash"] = [f"Set '{name}' opgeslagen ({count} vragen)."]
            st.rerun()

# -- feedback of the advisers (issue 17) -------------------------------------------------------------

st.header("Feedback van adviseurs")
try:
    summary = be.feedback_overview()
except BackendError as exc:
    st.caption(str(exc))
    summary = None
if summary is not None and not summary["total"]:
    st.caption("Nog geen feedback.")
elif summary is not None:
    left, middle, right = st.columns(3)
    left.metric("Feedback", summary["total"])
    middle.metric("Duim omhoog", summary["up"])
    right.metric("Duim omlaag", summary["down"])

    def _counts(counts: dict, label: str, names: dict | None = None) -> pd.DataFrame:
        return pd.DataFrame([{label: (names or {}).get(key, key), "duim omlaag": c["down"], "duim omhoog": c["up"]}
                             for key, c in counts.items()])

    by_week = _counts(summary["by_week"], "week")
    st.markdown("**Per week**")
    st.bar_chart(by_week.set_index("week"), height=220, color=["#b3261e", "#1f6f43"])
    left, right = st.columns(2)
    with left:
        st.markdown("**Per reden**")
        st.dataframe(_counts(summary["by_reason"], "reden", REASON_LABELS), hide_index=True, width="stretch")
    with right:
        st.markdown("**Per geciteerde bron**")
        st.dataframe(_counts(summary["by_source"], "bron"), hide_index=True, width="stretch")
    st.markdown("**Slechtst beoordeelde antwoorden**")
    for worst in summary["worst"]:
        title = f"{worst['question'][:100]} · {worst['down']}× omlaag, {worst['up']}× omhoog"
        with st.expander(R.md_text(title)):
            st.caption("Redenen: " + R.md_text(", ".join(REASON_LABELS.get(r, r) for r in worst["reasons"]) or "-"))
            for comment in worst["comments"][:5]:
                st.caption("Toelichting: " + R.md_text(comment))
            shown = worst.get("answer")
            if shown:
                st.markdown("**Gegeven antwoord**" + (" (geweigerd)" if shown.get("refused") else ""))
                st.text(shown.get("answer") or "(leeg)")
                for citation in shown.get("citations", []):
                    st.caption(R.md_text(f"[{citation['n']}] {citation['title']}, p. {citation['page']}, "
                                         f"{citation['section']}"))
            else:
                st.caption("Geciteerde bronnen: " + R.md_text(", ".join(worst["cited_source_ids"]) or "geen"))

with st.expander("Feedback omzetten naar evaluatie-items"):
    try:
        negative = [f for f in be.feedback_list("down") if f.get("question")]
    except BackendError as exc:
        st.caption(str(exc))
        negative = []
    if not negative:
        st.caption("Nog geen negatieve feedback.")
    else:
        by_id = {f["id"]: f for f in negative}
        picked = st.selectbox(
            "Feedback (duim omlaag)", list(by_id), key="fb_pick",
            format_func=lambda i: f"{by_id[i]['question'][:90]} · {by_id[i].get('reason') or 'geen reden'}",
        )
        record = by_id[picked]
        st.caption(f"Reden: {R.md_text(record.get('reason') or '-')} · toelichting: "  # user text: plain
                   f"{R.md_text(record.get('comment') or '-')}")
        try:
            doc_options = [""] + [s["id"] for s in be.sources()]
        except BackendError:
            doc_options = [""]
        try:
            shown = be.answer_snapshot(record["answer_id"])
        except BackendError:
            shown = None
        passages = {str(c["n"]): c for c in (shown or {}).get("citations", [])}
        if shown:
            st.markdown("**Gegeven antwoord**")
            st.text(shown.get("answer") or "(leeg)")
        with st.form("fb_item"):
            item_type = st.selectbox("Type", list(QUESTION_TYPES), key="fb_type")
            expected = st.text_input("Verwacht (gescheiden door ;, bijv. 9.500; 3,5%)", key="fb_expected")
            reference = st.text_area("Referentieantwoord (optioneel)", key="fb_answer")
            evidence_key = st.selectbox(
                "Bewijspassage (uit de geciteerde passages)", ["", *passages], key="fb_evidence",
                format_func=lambda n: (R.md_text(f"[{n}] {passages[n]['title']}, p. {passages[n]['page']}: "
                                                 f"{passages[n]['text'][:80]}…") if n else "(geen)"))
            doc = st.selectbox("Bron", doc_options, key="fb_doc", format_func=lambda d: d or "(geen / onbeantwoordbaar)")
            if st.form_submit_button("Toevoegen aan set 'feedback'"):
                evidence = passages.get(evidence_key)
                try:
                    item_id = evalruns.add_feedback_item(
                        data_dir, record, item_type, [e.strip() for e in expected.split(";") if e.strip()],
                        doc or (evidence["source_id"] if evidence else None), reference.strip(),
                        evidence=[evidence["text"]] if evidence else None)
                except ValueError as exc:
                    st.error(str(exc))
                else:
                    state["eval_flash"] = [f"{item_id} toegevoegd aan de set 'feedback'."]
                    st.rerun()

sets = evalruns.available_sets(data_dir)
if not sets:
    st.info("Er zijn nog geen evaluatiesets. Upload er een.")
    st.stop()
names = list(sets)
if state.get("eval_set") not in names:
    state["eval_set"] = names[0]
name = st.selectbox("Evaluatieset", names, key="eval_set")

if st.button("Evaluatie starten", type="primary", key="eval_run"):
    bar = st.progress(0.0, text="Vragen beantwoorden…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"{done} van {total} vragen beantwoord")

    def answer(item: dict):  # noqa: ANN202
        return be.ask(item["question"], request_id=str(item.get("id")), channel=None)

    try:
        run = evalruns.run_set(data_dir, name, sets[name], answer, progress)
    except (BackendError, ValueError) as exc:
        st.error(str(exc))
    else:
        state[f"eval_pick_{name}"] = run.name  # show the new run
        state["eval_flash"] = [f"Run {run.name} klaar."]
        st.rerun()

runs = evalruns.list_runs(data_dir, name)
if not runs:
    st.info("Deze set is nog niet gedraaid. Klik op **Evaluatie starten**.")
    st.stop()


def _run_label(path) -> str:  # noqa: ANN001
    try:
        when = dt.datetime.strptime(path.name, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.timezone.utc)
        return when.astimezone().strftime("%d-%m-%Y %H:%M:%S")
    except ValueError:
        return path.name


run_names = [r.name for r in runs]
if state.get(f"eval_pick_{name}") not in run_names:
    state[f"eval_pick_{name}"] = run_names[0]
chosen = st.selectbox("Run", run_names, format_func=lambda n: _run_label(next(r for r in runs if r.name == n)),
                      key=f"eval_pick_{name}")
run = next(r for r in runs if r.name == chosen)
result = evalruns.load_run(run)
prev_path = evalruns.previous_run(data_dir, name, run)
previous = evalruns.load_run(prev_path) if prev_path else None


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.0f}"
    return str(value)


# -- metrics ---------------------------------------------------------------------------------------

overall = result.metrics.get("overall", {})
prev_overall = previous.metrics.get("overall", {}) if previous else {}
st.header("Resultaat")
columns = st.columns(4)
for column, metric in zip(columns, ["pass_rate", "hit@5", "facts_all", "refusal_accuracy"], strict=True):
    now, then = overall.get(metric), prev_overall.get(metric)
    delta = None
    if isinstance(now, (int, float)) and isinstance(then, (int, float)):
        delta = round(now - then, 3)
    column.metric(METRIC_LABELS.get(metric, metric), _fmt(now), delta=delta,
                  delta_color="inverse" if metric in LOWER_IS_BETTER else "normal")
st.caption(f"{overall.get('n', 0)} vragen · {result.wall_time_s:.1f} s · run {_run_label(run)}"
           + (f" · vergeleken met {_run_label(prev_path)}" if prev_path else " · eerste run van deze set"))

st.markdown("**Per vraagtype**")
by_type = result.metrics.get("by_type", {})
table = pd.DataFrame(
    [{"type": kind, **{METRIC_LABELS[m]: group.get(m) for m in TABLE_METRICS}} for kind, group in by_type.items()]
)
st.dataframe(table, hide_index=True, width="stretch")
chart = pd.DataFrame(
    {METRIC_LABELS[m]: {kind: group.get(m) for kind, group in by_type.items()} for m in CHART_METRICS}
)
st.bar_chart(chart, stack=False, height=320)
with st.expander("Per bron"):
    st.dataframe(pd.DataFrame(
        [{"bron": src, **{METRIC_LABELS[m]: group.get(m) for m in TABLE_METRICS}}
         for src, group in result.metrics.get("by_source", {}).items()]
    ), hide_index=True, width="stretch")

# -- comparison ----------------------------------------------------------------------------------------

st.header("Vergelijking met de vorige run")
if previous is None:
    st.caption("Er is nog geen eerdere run van deze set.")
else:
    rows = []
    for metric in METRIC_NAMES:
        now, then = overall.get(metric), prev_overall.get(metric)
        diff = now - then if isinstance(now, (int, float)) and isinstance(then, (int, float)) else None
        better = None if not diff else (diff < 0) == (metric in LOWER_IS_BETTER)
        rows.append({"metriek": METRIC_LABELS.get(metric, metric), "deze run": _fmt(now), "vorige run": _fmt(then),
                     "verschil": "" if diff is None else f"{diff:+.3f}".rstrip("0").rstrip("."),
                     "": "" if better is None else ("beter" if better else "slechter")})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    before = {s.id: s for s in previous.items}
    worse = [s for s in result.items if s.id in before and before[s.id].passed and not s.passed]
    fixed = [s for s in result.items if s.id in before and not before[s.id].passed and s.passed]
    st.markdown(f"**Nieuw mislukt ({len(worse)})**: " + (", ".join(s.id for s in worse) or "geen"))
    st.markdown(f"**Nieuw geslaagd ({len(fixed)})**: " + (", ".join(s.id for s in fixed) or "geen"))

# -- failing questions -------------------------------------------------------------------------------------

failing = [s for s in result.items if not s.passed]
st.header(f"Mislukte vragen ({len(failing)} van {len(result.items)})")
kinds = sorted({s.type for s in failing})
only = st.multiselect("Alleen type", kinds, key=f"eval_fail_types_{name}", placeholder="Alle types")
for score in failing:
    if only and score.type not in only:
        continue
    with st.expander(R.md_text(f"{score.id} · {score.type} · {score.question}")):
        st.markdown("**Waarom mislukt:** " + ("; ".join(score.reasons) or "onbekend"))
        left, right = st.columns(2)
        with left:
            st.markdown("**Verwacht**")
            if score.expected:
                st.markdown("\n".join(
                    f"- {':material/close:' if e in score.missing else ':material/check:'} `{e}`" for e in score.expected))
            elif not score.answerable:
                st.markdown("- een weigering (onbeantwoordbare vraag)")
            st.caption("Bronnen: " + R.md_text(", ".join(score.sources)))
        with right:
            st.markdown("**Gegeven antwoord**" + (" (geweigerd)" if score.refused else ""))
            st.text(score.answer or "(leeg)")
            st.markdown("**Citaten:** " + (R.md_text("; ".join(score.citations)) if score.citations else "geen"))

with st.expander("Rapport (Markdown) en grafiek"):
    chart_path = run / "chart.png"
    if chart_path.is_file():
        st.image(str(chart_path))
    st.download_button("Download rapport", data=(run / "report.md").read_text(encoding="utf-8"),
                       file_name=f"evaluatie-{name}-{run.name}.md", mime="text/markdown", on_click="ignore")
    st.caption(f"Opgeslagen in {run}")
