"""Plotly figures of the studio. Each builder takes plain frames or results.json pieces and returns a figure;
the pages draw them with st.plotly_chart and the HTML export writes them with fig.to_html.

Plotly reads a subset of HTML in the text it draws (`<a href>` is a link, `<b>` bold), so every label that can
come from the data (names, categories, hover values, titles) is escaped as it leaves `_layout`, and hover
templates name the data by reference (`%{fullData.name}`), never by pasting it in.
"""

from __future__ import annotations

import html
import textwrap

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xcross_core.jobs.verdicts import count

HEIGHT = 380
#: Characters per line of a long label (an item's title) on a chart axis.
LABEL_WIDTH = 40
METRIC_LABELS = {"ndcg@10": "NDCG@10", "hit@10": "Hit@10"}
#: The trace properties that hold text from the data: drawn on axes, in legends and in hover labels, or naming the
#: groups plotly express makes of it.
TEXT_PROPERTIES = ("x", "y", "name", "text", "hovertext", "customdata", "legendgroup", "offsetgroup")


def _escaped(value: object) -> object:
    """Text, or text in (nested) sequences, with `&`, `<` and `>` as the entities plotly shows as those characters."""
    if isinstance(value, str):
        return html.escape(value, quote=False)
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.dtype.kind in "OSU"):
        return [_escaped(v) for v in value]
    return value


def _layout(fig: go.Figure, title: str, height: int = HEIGHT) -> go.Figure:
    for trace in fig.data:
        trace.update({key: _escaped(trace[key]) for key in TEXT_PROPERTIES if key in trace and trace[key] is not None})
    # The order plotly express gives categorical axes names the categories as the traces do.
    for axis in (*fig.select_xaxes(), *fig.select_yaxes()):
        if axis.categoryarray is not None:
            axis.categoryarray = _escaped(axis.categoryarray)
    fig.update_layout(
        title=html.escape(title, quote=False),
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend_title_text="",
        hovermode="closest",
    )
    return fig


def _errors(frame: pd.DataFrame) -> dict[str, object]:
    """Asymmetric error bars from mean/low/high columns."""
    return {
        "type": "data",
        "symmetric": False,
        "array": (frame["high"] - frame["mean"]).clip(lower=0),
        "arrayminus": (frame["mean"] - frame["low"]).clip(lower=0),
    }


def metric_bars(metrics: pd.DataFrame) -> go.Figure:
    """NDCG@10 and Hit@10 per model with 95% CIs. `metrics`: model, metric, mean, low, high."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[METRIC_LABELS[m] for m in METRIC_LABELS])
    for col, metric in enumerate(METRIC_LABELS, start=1):
        part = metrics[metrics["metric"] == metric]
        fig.add_bar(
            x=part["model"],
            y=part["mean"],
            error_y=_errors(part),
            marker_color=px.colors.qualitative.Set2[: len(part)],
            showlegend=False,
            hovertemplate="%{x}<br>%{y:.4f}<extra></extra>",
            row=1,
            col=col,
        )
        fig.update_yaxes(title_text=f"{METRIC_LABELS[metric]} (test users, 95% CI)", rangemode="tozero", row=1, col=col)
        fig.update_xaxes(title_text="model", row=1, col=col)
    return _layout(fig, "Ranking quality on the target's test users", height=430)


def history_breakdown(buckets: pd.DataFrame) -> go.Figure:
    """NDCG@10 per history-length bucket and model. `buckets`: model, bucket, users, mean, low, high."""
    fig = go.Figure()
    for model, part in buckets.groupby("model", sort=False):
        fig.add_bar(
            name=str(model),
            x=part["bucket"] + " (" + part["users"].map(lambda n: count(int(n), "user")) + ")",
            y=part["mean"],
            error_y=_errors(part.fillna(0)),
            hovertemplate="%{x}<br>NDCG@10 %{y:.4f}<extra>%{fullData.name}</extra>",
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="items already bought by the test user (history length)")
    fig.update_yaxes(title_text="NDCG@10 (95% CI)", rangemode="tozero")
    return _layout(fig, "Cold start: quality by history length (1-2 items = cold-start users)")


def efficiency_curve(points: pd.DataFrame, full: pd.DataFrame | None = None) -> go.Figure:
    """NDCG@10 against the share of target users used for training.

    `points`: model, fraction, mean, low, high (one row per run and model); `full`: the target LoRA
    trained on every user (mean, low, high), drawn as a horizontal reference line.
    """
    fig = go.Figure()
    for model, part in points.sort_values("fraction").groupby("model", sort=False):
        fig.add_scatter(
            name=str(model),
            x=part["fraction"] * 100,
            y=part["mean"],
            mode="lines+markers",
            error_y=_errors(part),
            hovertemplate="%{x:.0f}% of users<br>NDCG@10 %{y:.4f}<extra>%{fullData.name}</extra>",
        )
    if full is not None and len(full):
        fig.add_hline(
            y=float(full["mean"].mean()),
            line_dash="dash",
            line_color="grey",
            annotation_text="target LoRA, 100% of users",
            annotation_position="top left",
        )
    fig.update_xaxes(
        title_text="training budget (% of the target's training users)", ticksuffix="%", rangemode="tozero"
    )
    fig.update_yaxes(title_text="NDCG@10 (95% CI)", rangemode="tozero")
    return _layout(fig, "Data efficiency: how much target data each model needs")


def loss_curve(curve: list[dict[str, object]]) -> go.Figure:
    """Training loss per optimiser step, one line per stage of the run."""
    frame = pd.DataFrame(curve, columns=["stage", "step", "loss"])
    fig = px.line(frame, x="step", y="loss", color="stage", markers=len(frame) < 40)
    # plotly express writes each stage's name into its hover template: name it by reference instead.
    fig.update_traces(hovertemplate="%{fullData.name}<br>step %{x}<br>loss %{y:.3f}<extra></extra>")
    fig.update_xaxes(title_text="optimiser step (in this stage)")
    fig.update_yaxes(title_text="training loss (softmax over the catalogue)")
    return _layout(fig, "Training loss", height=280)


def weights_heatmap(mean_weights: pd.DataFrame) -> go.Figure:
    """Average contribution weight per layer (rows) and source (columns)."""
    fig = go.Figure(
        go.Heatmap(
            z=mean_weights.to_numpy(),
            x=[str(c) for c in mean_weights.columns],
            y=[f"layer {i}" if i != "output" else "final mix" for i in mean_weights.index],
            colorscale="Blues",
            zmin=0,
            zmax=1,
            text=mean_weights.round(3).to_numpy(),
            texttemplate="%{text}",
            colorbar={"title": {"text": "weight"}},
            hovertemplate="source %{x}<br>%{y}<br>mean weight %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="source adapter (domain)")
    fig.update_yaxes(title_text="layer of the language model", autorange="reversed")
    return _layout(fig, "Weight of each source, per layer", height=420)


def source_totals(totals: pd.Series) -> go.Figure:
    """Average share of each source over all layers."""
    fig = go.Figure(
        go.Bar(
            x=[str(i) for i in totals.index],
            y=totals.to_numpy(),
            marker_color=px.colors.qualitative.Set2[: len(totals)],
            hovertemplate="%{x}: %{y:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="source adapter (domain)")
    fig.update_yaxes(title_text="average weight over all layers", tickformat=".0%", rangemode="tozero")
    return _layout(fig, "Overall share per source", height=320)


def weights_spread(weights: pd.DataFrame, layer: str) -> go.Figure:
    """Distribution over users of each source's weight at one layer (a box per source, users as points)."""
    part = weights[weights["layer"].astype(str) == str(layer)]
    fig = px.box(part, x="source", y="weight", color="source", points="all", hover_data=["user_id"])
    fig.update_xaxes(title_text="source adapter (domain)")
    fig.update_yaxes(title_text="contribution weight (one point per test user)")
    fig.update_layout(showlegend=False)
    name = "the final mix" if str(layer) == "output" else f"layer {layer}"
    return _layout(fig, f"How much the weights vary between users at {name}", height=340)


def _wrapped(label: object, width: int = LABEL_WIDTH) -> str:
    """`label` escaped (as `_layout` escapes text) and broken into lines of about `width` characters, so that a
    long title shows whole instead of squeezing the plot."""
    lines = textwrap.wrap(str(label), width, break_long_words=False) or [""]
    return "<br>".join(html.escape(line, quote=False) for line in lines)


def attribution_bars(attribution: pd.DataFrame) -> go.Figure:
    """Each recommended item's score split by source: `attribution` rows are item labels (shown whole, wrapped),
    columns sources."""
    fig = go.Figure()
    for source in attribution.columns:
        fig.add_bar(
            name=str(source),
            y=attribution.index,
            x=attribution[source],
            orientation="h",
            hovertemplate="%{y}<br>%{fullData.name}: %{x:.2f}<extra></extra>",
        )
    fig.update_layout(barmode="relative")
    fig.update_yaxes(title_text="recommended item (best first)", autorange="reversed")
    fig.update_xaxes(title_text="part of the item's score from each source")
    labels = [_wrapped(label) for label in attribution.index]
    lines = sum(label.count("<br>") + 1 for label in labels)
    fig = _layout(fig, "Why these items: score contribution by source", height=120 + 18 * lines + 14 * len(labels))
    # After `_layout`, which would escape the line breaks: these labels are escaped already.
    return fig.update_traces(y=labels)
