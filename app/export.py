"""The proof of concept as one self-contained HTML report: settings, the answer, verdicts, the comparison
table and the charts (with the chart library from a CDN, or embedded to open offline)."""

from __future__ import annotations

import html
from typing import Any

import charts
from frames import comparison_frame, efficiency_points, history_buckets, model_metrics
from runs import created, finished_pocs

from xcross_core.estimate import human_seconds
from xcross_core.store import Run


def report_html(run: Run, report: dict[str, Any], embed_plotly: bool = False) -> str:
    """A self-contained HTML report of one PoC run: settings, verdicts, the table and the charts."""
    figures = [charts.metric_bars(model_metrics(report)), charts.history_breakdown(history_buckets(report))]
    points, full = efficiency_points(finished_pocs(report.get("target")))
    if len(points):
        figures.append(charts.efficiency_curve(points, full))
    parts = []
    for i, fig in enumerate(figures):
        include: bool | str = (True if embed_plotly else "cdn") if i == 0 else False
        parts.append(fig.to_html(full_html=False, include_plotlyjs=include))
    verdicts = "".join(
        f"<li>{html.escape(t.get('verdict', m))}</li>" for m, t in report.get("comparisons_vs_reference", {}).items()
    )
    config = report.get("config", {})
    settings = {
        "target": report.get("target"),
        "sources": ", ".join(report.get("sources", [])),
        "data budget": f"{config.get('fraction', 1):.0%} of training users"
        + (f" (users capped at {config['max_users']})" if config.get("max_users") else ""),
        "epochs": config.get("epochs"),
        "reference": report.get("reference"),
        "test users": report.get("split", {}).get("test_cases"),
        "run time": human_seconds(report.get("seconds")),
    }
    settings_html = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in settings.items()
    )
    table = comparison_frame(report).to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="")
    title = html.escape(f"X-Cross proof of concept: {run.name}")
    answer = f"<h2>Can it be bootstrapped?</h2><p>{html.escape(report['answer'])}</p>" if report.get("answer") else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>{title}</h1><p>Created {html.escape(created(run))}</p><table>{settings_html}</table>"
        f"{answer}"
        f"<h2>Verdicts (paired tests against {html.escape(str(report.get('reference')))})</h2><ul>{verdicts}</ul>"
        f"<h2>Models</h2>{table}<h2>Charts</h2>{''.join(parts)}</body></html>"
    )
