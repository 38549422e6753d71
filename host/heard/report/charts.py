"""The HTML report's charts: matplotlib figures of a ``Report``, as inline SVG.

Figures are ``matplotlib.figure.Figure`` objects drawn by the SVG backend, never pyplot's
global figure list, so nothing stays open after a chart is made. Text is drawn as paths,
so a chart looks the same without any font installed. ``inline_svg`` makes the output fit
in an HTML page: no XML prologue, metadata, comments or namespace URLs; ids unique per
chart; sized by the page's CSS through its ``viewBox``.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib import dates as mdates
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure

from heard.report.callouts import pct, seconds
from heard.report.model import BINS, PATIENCE_BIN_MS, PATIENCE_BINS, GroupStats, Report

RESEARCH_SHARE = 0.43  # FACTS.md, "Conversation metrics": context, not a target
EMPLOYEE = "#2f6db5"
CUSTOMER = "#e07b39"
PATIENCE = "#2a9d8f"
NEUTRAL = "#9aa5b1"
NOISY = "#c0504d"
AUDIO_LOST = "#7e57c2"
INK = "#333333"
RESEARCH = "#666666"
MAX_BARS = 20  # lanes drawn one by one in the interruption and quality charts; else days
MAX_RANKED = 30  # rows of a comparison chart: half the highest, half the lowest
WIDTH = 8.0  # inches; the page scales every chart to its column

STYLE: dict[str, Any] = {
    "svg.fonttype": "path",
    "text.parse_math": False,  # a "$" in a lane or employee name is just a dollar sign
    "font.size": 10,
    "axes.edgecolor": "#888888",
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#555555",
    "ytick.color": "#555555",
    "legend.frameon": False,
}


@dataclass(frozen=True)
class Chart:
    key: str  # the HTML id of its figure, e.g. "talk-share"
    title: str
    caption: str  # what the chart shows, in plain words
    svg: str


@contextmanager
def style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def inline_svg(fig: Figure, key: str, label: str) -> str:
    """The figure as an ``<svg>`` element for an HTML page."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": key}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->\s*", "", text, flags=re.S)
    head = re.match(r"<svg\b[^>]*>", text)
    box = re.search(r'viewBox="([^"]+)"', head.group(0)) if head else None
    if head is None or box is None:
        raise RuntimeError("matplotlib wrote an SVG without a viewBox")
    text = (f'<svg class="chart" viewBox="{box.group(1)}" role="img" '
            f'aria-label="{_attr(label)}">' + text[head.end():])
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{key}-{m.group(1)}"', text)
    return re.sub(r'(url\(#|href="#)([^")]+)',
                  lambda m: m.group(1) + (f"{key}-{m.group(2)}" if m.group(2) in ids
                                          else m.group(2)), text)


def _attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _percent_axis(axis: Axis) -> None:
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:.0f}%"))


def _count_axis(axis: Axis) -> None:
    axis.set_major_locator(ticker.MaxNLocator(nbins=5, integer=True))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _mark(ax: Axes, x: float, text: str, color: str, left: bool, y: float = 0.97,
          dash: str = "-") -> None:
    """A vertical line at ``x`` with a note at its top, on its left or right side."""
    ax.axvline(x, color=color, linestyle=dash, linewidth=1.5, zorder=3)
    ax.annotate(text, xy=(x, y), xycoords=("data", "axes fraction"),
                xytext=(-5 if left else 5, 0), textcoords="offset points",
                ha="right" if left else "left", va="top", color=color, fontsize=9)


def _research_line(ax: Axes, vertical: bool) -> None:
    if vertical:
        ax.axvline(RESEARCH_SHARE * 100, color=RESEARCH, linestyle="--", linewidth=1, zorder=1)
    else:
        ax.axhline(RESEARCH_SHARE * 100, color=RESEARCH, linestyle="--", linewidth=1, zorder=1)


def talk_share(report: Report) -> Chart:
    """The distribution of the employee talk share, the 43% research figure marked."""
    s = report.summary.talk_share
    fig = Figure(figsize=(WIDTH, 3.3), layout="constrained")
    ax = fig.add_subplot()
    width = 100 / BINS
    ax.bar(np.arange(BINS) * width, s.bins, width=width, align="edge", color=EMPLOYEE,
           alpha=0.85, edgecolor="white", linewidth=0.8)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, max(max(s.bins, default=0), 1) * 1.3)
    ax.xaxis.set_major_locator(ticker.MultipleLocator(10))
    _percent_axis(ax.xaxis)
    _count_axis(ax.yaxis)
    ax.set_xlabel("the employee's share of the talking in a conversation")
    ax.set_ylabel("conversations")
    median = s.median if s.median is not None else RESEARCH_SHARE
    research_left = median >= RESEARCH_SHARE
    _mark(ax, RESEARCH_SHARE * 100, "research: ~43% in\nconversations that go well",
          RESEARCH, left=research_left, dash="--")
    if s.median is not None:
        _mark(ax, s.median * 100, f"typical here: {pct(s.median)}", INK,
              left=not research_left)
    caption = (f"Each bar counts the conversations whose employee talk share falls in its "
               f"5% step ({s.conversations:,} conversations where anyone talked). Left: the "
               "customer did most of the talking; right: the employee. The dashed line is "
               "context from research on sales calls, not a target.")
    return Chart("talk-share", "How much the employee talked", caption,
                 inline_svg(fig, "talk-share", "Histogram of the employee talk share"))


def _days(rows: Sequence[GroupStats]) -> np.ndarray:
    return np.array([mdates.date2num(dt.date.fromisoformat(g.key)) for g in rows])


def _day_label(x: float, _: object = None) -> str:
    d = mdates.num2date(x)
    return f"{d:%a} {d.day} {d:%b}"  # no "%-d": Windows' strftime lacks it


def _date_axis(ax: Axes, x: np.ndarray) -> None:
    """Dates on the x axis: each day named when there are a few, else concise ticks."""
    if not len(x):
        return
    if x.max() - x.min() < 10:
        ax.xaxis.set_major_locator(ticker.FixedLocator(x.tolist()))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(_day_label))
        pad = 2.0 if x.max() - x.min() < 3 else 0.75
    else:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=9)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        pad = max(0.75, (x.max() - x.min()) * 0.02)
    ax.set_xlim(x.min() - pad, x.max() + pad)


def _values(rows: Sequence[GroupStats], get: Callable[[GroupStats], float | None],
            scale: float = 1.0) -> np.ndarray:
    return np.array([np.nan if (v := get(g)) is None else v * scale for g in rows])


def trend(report: Report) -> Chart | None:
    """Employee talk share (median and middle half) and conversations, day by day."""
    rows = report.trend
    if not rows:
        return None
    x = _days(rows)
    fig = Figure(figsize=(WIDTH, 4.4), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    median = _values(rows, lambda g: g.talk_share.median, 100)
    low = _values(rows, lambda g: g.talk_share.p25, 100)
    high = _values(rows, lambda g: g.talk_share.p75, 100)
    if len(rows) <= 31:
        top.vlines(x, low, high, color=EMPLOYEE, alpha=0.35, linewidth=6,
                   label="middle half of the conversations")
    else:
        top.fill_between(x, low, high, color=EMPLOYEE, alpha=0.2, linewidth=0,
                         label="middle half of the conversations")
    top.plot(x, median, color=EMPLOYEE, marker="o" if len(rows) <= 60 else None,
             markersize=4, linewidth=1.8, label="typical (median) employee talk share")
    _research_line(top, vertical=False)
    top.set_ylim(0, 100)
    top.yaxis.set_major_locator(ticker.MultipleLocator(25))
    _percent_axis(top.yaxis)
    top.set_ylabel("employee talk")
    top.legend(loc="upper left", ncols=2, fontsize=9)
    bottom.bar(x, [g.conversations for g in rows], width=0.6 if len(rows) < 3 else 0.8,
               color=NEUTRAL)
    _count_axis(bottom.yaxis)
    bottom.set_ylabel("conversations")
    _date_axis(bottom, x)
    caption = ("Top: the typical employee talk share of each day (line) and the range of "
               "the middle half of its conversations (shaded); the dashed line is the ~43% "
               "from research. Bottom: conversations per day. Days without conversations "
               "are left out.")
    return Chart("trend", "Day by day", caption,
                 inline_svg(fig, "trend", "Employee talk share and conversations by day"))


def _by_lane(report: Report) -> bool:
    """Lane by lane when there are a few lanes (or a single day), else day by day."""
    return 2 <= len(report.lanes) <= MAX_BARS or len(report.trend) < 2


def _short(label: str, n: int = 28) -> str:
    return label if len(label) <= n else label[:n - 1] + "…"


Series = tuple[str, str, Callable[[GroupStats], float | None]]  # name, colour, value


def _paired(report: Report, series: Sequence[Series], ylabel: str, percent: bool) -> Figure:
    """Two numbers per lane (horizontal bars) or per day (lines)."""
    scale = 100.0 if percent else 1.0
    if _by_lane(report):
        rows = report.lanes
        n = len(rows)
        fig = Figure(figsize=(WIDTH, 1.3 + 0.5 * n), layout="constrained")
        ax = fig.add_subplot()
        y = np.arange(n)
        height = 0.8 / len(series)
        for i, (name, color, get) in enumerate(series):
            values = np.nan_to_num(_values(rows, get, scale))
            offset = (i - (len(series) - 1) / 2) * height
            bars = ax.barh(y + offset, values, height=height * 0.92, color=color, label=name)
            ax.bar_label(bars, labels=[f"{v:.0f}%" if percent else f"{v:.2f}" for v in values],
                         padding=3, fontsize=8, color=INK)
        ax.set_yticks(y, [_short(g.label) for g in rows])
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
        top = max(float(np.nanmax(np.nan_to_num(_values(rows, get, scale)), initial=0))
                  for _, _, get in series)
        ax.set_xlim(0, max(top * 1.2, 10 if percent else 0.1))
        if percent:
            _percent_axis(ax.xaxis)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(series),
                  fontsize=9)
        return fig
    rows = report.trend
    x = _days(rows)
    fig = Figure(figsize=(WIDTH, 3.2), layout="constrained")
    ax = fig.add_subplot()
    top = 0.0
    for name, color, get in series:
        values = _values(rows, get, scale)
        top = max(top, float(np.nanmax(values, initial=0)))
        ax.plot(x, values, color=color, label=name, linewidth=1.6,
                marker="o" if len(rows) <= 60 else None, markersize=3.5)
    ax.set_ylim(0, max(top * 1.1, 10 if percent else 0.1))
    ax.set_ylabel(ylabel)
    if percent:
        _percent_axis(ax.yaxis)
    _date_axis(ax, x)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(series), fontsize=9)
    return fig


def interruptions(report: Report) -> Chart:
    """Interruptions per conversation by the employee and by the customer."""
    fig = _paired(report, (
        ("by the employee (cutting into the customer)", EMPLOYEE,
         lambda g: g.interruptions_by_employee),
        ("by the customer (cutting into the employee)", CUSTOMER,
         lambda g: g.interruptions_by_customer),
    ), "interruptions per conversation", percent=False)
    where = "lane" if _by_lane(report) else "day"
    caption = (f"Interruptions per conversation on each {where}: how often the employee cut "
               "into the customer's turn, and the customer into the employee's. A "
               "backchannel (\"mm-hmm\") is not an interruption.")
    return Chart("interruptions", "Who interrupted whom", caption,
                 inline_svg(fig, "interruptions", f"Interruptions per conversation by {where}"))


def patience(report: Report) -> Chart | None:
    """How long the employee waited before answering a customer."""
    s = report.summary
    bins = s.patience_bins
    if not bins or not sum(bins):
        return None
    step = PATIENCE_BIN_MS / 1000
    fig = Figure(figsize=(WIDTH, 3.0), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(np.arange(PATIENCE_BINS) * step, bins, width=step, align="edge", color=PATIENCE,
           alpha=0.85, edgecolor="white", linewidth=0.8)
    ax.set_xlim(0, PATIENCE_BINS * step)
    ax.set_ylim(0, max(bins) * 1.25)
    ax.xaxis.set_major_locator(ticker.MultipleLocator(0.5))
    last = PATIENCE_BINS * step
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(
        lambda v, _: f"{v:g} s+" if v >= last else f"{v:g} s"))
    _count_axis(ax.yaxis)
    ax.set_xlabel("pause before the employee answered (the conversation's typical pause)")
    ax.set_ylabel("conversations")
    if s.median_patience_ms is not None:
        x = min(s.median_patience_ms / 1000, last)
        _mark(ax, x, f"typical: {seconds(s.median_patience_ms)}", INK, left=x > last / 2)
    caption = (f"Each bar counts the conversations whose typical pause before the employee "
               f"answered falls in its quarter-second step ({s.patience_conversations:,} "
               f"conversations with such a pause; the last bar holds every pause of "
               f"{last - step:g} s or more). Left: quick answers; right: longer waits.")
    return Chart("patience", "Patience: pauses before answering", caption,
                 inline_svg(fig, "patience", "Histogram of the employee's pause before "
                                             "answering"))


def comparison(rows: Sequence[GroupStats], key: str, noun: str) -> Chart | None:
    """Each lane's (or employee's) typical talk share and middle half, most talk first."""
    ranked = sorted((g for g in rows if g.talk_share.median is not None),
                    key=lambda g: (-(g.talk_share.median or 0), g.label))
    if len(ranked) < 2:
        return None
    half = MAX_RANKED // 2
    more = len(ranked) - MAX_RANKED
    shown: list[GroupStats | None] = (list(ranked) if more <= 0
                                      else [*ranked[:half], None, *ranked[-half:]])
    n = len(shown)
    fig = Figure(figsize=(WIDTH, 1.2 + 0.3 * n), layout="constrained")
    ax = fig.add_subplot()
    labels = []
    for i, g in enumerate(shown):
        if g is None:
            labels.append(f"… {more:,} more …")
            continue
        s = g.talk_share
        labels.append(f"{_short(g.label)} ({g.conversations:,})")
        if s.p25 is not None and s.p75 is not None:
            ax.hlines(i, s.p25 * 100, s.p75 * 100, color=EMPLOYEE, alpha=0.35, linewidth=7)
        ax.plot([(s.median or 0) * 100], [i], "o", color=EMPLOYEE, markersize=6)
    _research_line(ax, vertical=True)
    ax.set_yticks(np.arange(n), labels)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_locator(ticker.MultipleLocator(10))
    _percent_axis(ax.xaxis)
    ax.xaxis.set_ticks_position("both")
    ax.tick_params(axis="x", labeltop=True)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("employee talk share: typical (dot) and middle half (bar)")
    plural = "lanes" if noun == "lane" else "employees"
    title = "Lanes side by side" if noun == "lane" else "Employees side by side"
    cut = (f" With {len(ranked):,} {plural}, the {half} with the most and the {half} with the "
           f"least employee talk are shown; `heard report --by {noun}` lists them all."
           if more > 0 else "")
    caption = (f"Each row is one {noun} (its number of conversations in brackets), the "
               f"most employee talk at the top: the dot is its typical talk share, the bar the "
               f"middle half of its conversations; the dashed line is the ~43% from "
               f"research.{cut}")
    return Chart(key, title, caption, inline_svg(fig, key, f"Employee talk share by {noun}"))


def quality(report: Report) -> Chart:
    """Conversations flagged noisy or with audio lost, per lane or per day."""
    def share(count: Callable[[GroupStats], int]) -> Callable[[GroupStats], float | None]:
        return lambda g: count(g) / g.conversations if g.conversations else None

    fig = _paired(report, (
        ("noisy (low signal-to-noise)", NOISY, share(lambda g: g.low_snr)),
        ("audio lost", AUDIO_LOST, share(lambda g: g.audio_gap)),
    ), "share of conversations", percent=True)
    where = "lane" if _by_lane(report) else "day"
    caption = (f"The share of each {where}'s conversations that the device flagged as noisy "
               "(its numbers are less reliable) or during which it lost audio. Devices "
               "that were not synced lately, and conversations lost because a device's "
               "memory was full, are listed below.")
    return Chart("quality", "Data quality", caption,
                 inline_svg(fig, "quality", f"Noisy and audio-lost conversations by {where}"))


def charts(report: Report) -> list[Chart]:
    """Every chart the report has data for, in page order (none for an empty report)."""
    if report.empty:
        return []
    with style():
        found = [talk_share(report), trend(report), interruptions(report), patience(report),
                 comparison(report.lanes, "lanes", "lane")]
        if report.has_roster:
            found.append(comparison(report.employees, "employees", "employee"))
        found.append(quality(report))
    return [c for c in found if c is not None]
