"""The proof of concept as one self-contained HTML report: settings, the answer, verdicts coloured by their
outcome, what the contribution weights show, the comparison table, the charts and a glossary. The chart library
is embedded (about 4 MB), so the report opens offline with its charts."""

from __future__ import annotations

import html
from typing import Any

import charts
from frames import MISSING, comparison_frame, efficiency_points, history_buckets, model_metrics
from messages import GLOSSARY, comparison_verdicts
from runs import created, duration, finished_pocs

from xcross_core.jobs.verdicts import count
from xcross_core.store import Run

#: Background and border colours of each outcome (verdicts: X-Cross against a model; the answer).
COLOURS = {
    "better": ("#e6f4ea", "#34a853"),
    "yes": ("#e6f4ea", "#34a853"),
    "same": ("#e8f0fe", "#4285f4"),
    "worse": ("#fce8e6", "#ea4335"),
    "no": ("#fce8e6", "#ea4335"),
    "inconclusive": ("#fef7e0", "#f9ab00"),
}
STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
    ".box{border-left:6px solid #ccc;background:#f6f6f6;padding:8px 12px;margin:6px 0}"
    + "".join(f".{name}{{background:{bg};border-color:{border}}}" for name, (bg, border) in COLOURS.items())
)


def _box(text: str, outcome: object) -> str:
    """`text` (already escaped HTML) in a box coloured by `outcome`; grey when the run recorded none."""
    return f"<div class='box {outcome if outcome in COLOURS else ''}'>{text}</div>"


def _answer(answer: dict[str, Any] | str | None) -> str:
    if not answer:
        return ""
    if isinstance(answer, str):  # a run from before answers had outcomes
        return f"<h2>Can it be bootstrapped?</h2>{_box(html.escape(answer), None)}"
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in answer["reasons"])
    body = f"<p><b>{html.escape(answer['headline'])}</b></p>" + (f"<ul>{reasons}</ul>" if reasons else "")
    body += f"<p>{html.escape(' '.join(answer['notes']))}</p>" if answer["notes"] else ""
    return f"<h2>Can it be bootstrapped?</h2>{_box(body, answer['outcome'])}"


def report_html(run: Run, report: dict[str, Any]) -> str:
    """A self-contained HTML report of one PoC run (see the module docstring)."""
    figures = [charts.metric_bars(model_metrics(report)), charts.history_breakdown(history_buckets(report))]
    points, full = efficiency_points(finished_pocs(report.get("target")))
    if len(points):
        figures.append(charts.efficiency_curve(points, full))
    # The first figure carries the whole chart library inline; the others use it.
    parts = [fig.to_html(full_html=False, include_plotlyjs=i == 0) for i, fig in enumerate(figures)]
    tests = report.get("comparisons_vs_reference", {})
    verdicts = "".join(_box(html.escape(text), outcome) for text, outcome in comparison_verdicts(report))
    config = report.get("config", {})
    settings = {
        "target": report.get("target"),
        "sources": ", ".join(report.get("sources", [])),
        "data budget": f"{config.get('fraction', 1):.0%} of training users"
        + (f" (users capped at {config['max_users']:,})" if config.get("max_users") else ""),
        "epochs": config.get("epochs"),
        "compared with": report.get("reference"),
        "test users": f"{report.get('split', {}).get('test_cases', 0):,}",
        "run time": duration(run),
    }
    settings_html = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(MISSING if v is None else str(v))}</td></tr>"
        for k, v in settings.items()
    )
    table = comparison_frame(report).to_html(index=False, float_format=lambda v: f"{v:,.4f}", na_rep=MISSING)
    title = html.escape(f"X-Cross proof of concept: {run.name}")
    weights = report.get("weights")  # what the contribution weights show; amber when X-Cross kept its start
    weights_html = ""
    if weights:
        finding = _box(html.escape(weights["text"]), None if weights["learned"] else "inconclusive")
        weights_html = f"<h2>Which sources help</h2>{finding}"
    glossary = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in GLOSSARY.items())
    heading = (
        f"X-Cross against each model ({count(len(tests), 'comparison')}, corrected together: Bonferroni)"
        if all(t.get("outcome") for t in tests.values())
        else f"Verdicts (paired tests against {report.get('reference')})"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style></head><body>"
        f"<h1>{title}</h1><p>Created {html.escape(created(run))}</p><table>{settings_html}</table>"
        f"{_answer(report.get('answer'))}<h2>{html.escape(heading)}</h2>{verdicts}{weights_html}"
        f"<h2>Models</h2>{table}"
        f"<h2>Charts</h2>{''.join(parts)}<h2>What the words mean</h2><dl>{glossary}</dl></body></html>"
    )
