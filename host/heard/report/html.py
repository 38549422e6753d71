"""``heard report --html FILE``: the report as one self-contained page for a store manager.

Everything is inside the file: the CSS, and the charts as inline SVG (``charts.py``). It
loads nothing from anywhere, runs no script, and opens without a network. The page
reads top-down: headline numbers, what stands out, changes to look at (drift alerts),
charts, the numbers behind them, data quality, and how to read it all.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path

from heard.report.callouts import (
    middle_half,
    number_or_dash,
    one_in,
    pct,
    pct_or_dash,
    quality_notes,
    seconds_or_dash,
    who,
)
from heard.report.charts import CUSTOMER, EMPLOYEE, PATIENCE, Chart, charts
from heard.report.drift import DriftRules
from heard.report.model import DeviceQuality, DriftAlert, GroupStats, Report

SHOWN_ALERTS = 10  # drift alerts shown at once, the strongest first ...
MAX_ALERTS = 60  # ... and listed on the page in all, the rest folded (--json has all)
MAX_ROWS = 500  # rows of a table (the terminal's --by and --json give all)
COLLAPSE = 15  # longer tables start folded

CSS = """
:root { --ink: #222; --muted: #666; --line: #e3e6ea; --soft: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 36px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 24px 0 6px; }
.scope { color: var(--muted); margin: 0 0 20px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr));
  gap: 12px; }
.card { background: var(--soft); border-radius: 8px; padding: 14px 16px; }
.card .value { font-size: 1.9rem; font-weight: 650; line-height: 1.1; }
.card .what { font-weight: 600; margin-bottom: 6px; }
.card .note { color: var(--muted); font-size: 0.9rem; margin-top: 6px; }
ul.callouts { padding-left: 1.2em; }
ul.callouts li { margin: 6px 0; }
figure { margin: 18px 0 28px; }
figure h3 { margin-top: 0; }
svg.chart { display: block; width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 0.92rem; margin-top: 6px; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.84rem; margin: 8px 0; }
th, td { padding: 5px 5px; border-bottom: 1px solid var(--line); text-align: right;
  vertical-align: top; }
td { white-space: nowrap; }
th:first-child, td:first-child, th.text, td.text { text-align: left; }
td.text, td:first-child { white-space: normal; }
th { background: var(--soft); font-weight: 600; vertical-align: bottom; }
tr.total td { font-weight: 650; border-top: 2px solid #c9ced4; }
tr.stale td { background: #fff4e5; }
.change { white-space: nowrap; font-weight: 650; }
.up { color: #a0401c; } .down { color: #1c5fa0; }
details { margin: 10px 0; }
summary { cursor: pointer; color: #1c5fa0; }
.key { display: inline-block; width: 0.9em; height: 0.9em; border-radius: 2px;
  vertical-align: -0.1em; margin-right: 4px; }
dl.legend dt { font-weight: 600; margin-top: 10px; }
dl.legend dd { margin: 2px 0 0 0; color: #444; }
.empty { background: var(--soft); border-radius: 8px; padding: 20px; font-size: 1.1rem; }
footer { color: var(--muted); font-size: 0.85rem; margin-top: 40px; }
@media print { details { display: block; } figure { break-inside: avoid; } }
"""


def write_html(report: Report, path: Path) -> None:
    """Write the report to ``path`` as one HTML file (replacing it whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_html(report), encoding="utf-8")
    os.replace(tmp, path)


def render_html(report: Report) -> str:
    """The whole page as text."""
    scope = escape(_scope(report))
    body = [f'<h1>Conversations at the counter</h1>\n<p class="scope">{scope}</p>']
    if report.empty:
        body.append(_empty(report))
    else:
        body += [_headline(report), _callouts(report), _drift(report), _charts(charts(report)),
                 _tables(report)]
    body += [_quality(report), _legend(), _footer(report)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>heard report: {escape(_scope(report))}</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n" + "\n".join(body)
            + "\n</main>\n</body>\n</html>\n")


# --- words -----------------------------------------------------------------------------------


def _date(d: dt.date, year: bool = True) -> str:
    return f"{d:%a} {d.day} {d:%b}" + (f" {d.year}" if year else "")


def _day(t: float) -> dt.date:
    return dt.datetime.fromtimestamp(t).date()


def _iso(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _span(report: Report) -> str:
    f = report.filters
    first = (_iso(f.since) if f.since else
             _day(report.first_conversation) if report.first_conversation is not None else None)
    last = (_iso(f.until) if f.until else
            _day(report.last_conversation) if report.last_conversation is not None else None)
    if first is None or last is None:
        return "all dates"
    if first == last:
        return _date(first)
    return f"{_date(first, first.year != last.year)} to {_date(last)}"


def _scope(report: Report) -> str:
    whose = who(report.filters)
    return f"{whose[:1].upper()}{whose[1:]}, {_span(report)}"






# --- sections --------------------------------------------------------------------------------


def _empty(report: Report) -> str:
    f = report.filters
    unplaced = report.quality.unknown_time
    if not any((f.since, f.until, f.store, f.lane, f.employee)):
        text = (f"{unplaced:,} conversations have reached this computer, but none can be "
                "placed on a day yet (see data quality below)." if unplaced else
                "There is no data yet: no conversations have reached this computer. Plug a "
                "heard device in and run <b>heard sync</b> to bring its numbers here, then "
                "make this report again.")
    else:
        text = (f"No conversations for {escape(who(report.filters))}, "
                f"{escape(_span(report))}. Try a "
                "wider date range (--since, --until) or drop a filter.")
    return f'<p class="empty">{text}</p>'


def _card(what: str, value: str, note: str) -> str:
    return (f'<div class="card"><div class="what">{escape(what)}</div>'
            f'<div class="value">{escape(value)}</div><div class="note">{escape(note)}</div>'
            "</div>")


def _headline(report: Report) -> str:
    s = report.summary
    days = len(report.trend)
    lanes = len(report.lanes)
    cards = [_card("Conversations", f"{s.conversations:,}",
                   f"on {lanes} lane{'s' * (lanes != 1)}, over {days} "
                   f"day{'s' * (days != 1)} with conversations")]
    share = s.talk_share
    cards.append(_card(
        "Employee talk share", pct_or_dash(share.median),
        "typical conversation" + (f"; half of them between {pct(share.p25)} and "
                                  f"{pct(share.p75)}" if share.p25 is not None
                                  and share.p75 is not None else "")
        + ". Research: ~43% in conversations that go well (context, not a target)."))
    if s.customer_interrupted_share is not None:
        interrupted = round(s.customer_interrupted_share * s.conversations)
        words = one_in(s.customer_interrupted_share)
        value = {"none": "none", "every one": "all"}.get(words, words.replace("about ", "≈ "))
        note = (f"conversations in which the employee interrupted the customer "
                f"({interrupted:,} of {s.conversations:,})")
        cards.append(_card("Customers interrupted", value, note))
    cards.append(_card("Patience", seconds_or_dash(s.median_patience_ms),
                       "typical pause before the employee answered a customer "
                       f"({s.patience_conversations:,} conversations)"))
    return f'<h2>In short</h2>\n<div class="cards">{"".join(cards)}</div>'


def _callouts(report: Report) -> str:
    items = "".join(f"<li>{escape(c)}</li>" for c in report.callouts)
    return f'<h2>What stands out</h2>\n<ul class="callouts">{items}</ul>'


def _change(a: DriftAlert) -> str:
    up = a.change > 0
    return (f'<span class="change {"up" if up else "down"}">{"▲" if up else "▼"} '
            f'{abs(a.change) * 100:.0f} points</span>')


def _drift(report: Report) -> str:
    rules = DriftRules()
    w = report.drift_window
    window = ""
    if w is not None:
        window = (f" The recent days are {_date(_iso(w.current_first), False)} to "
                  f"{_date(_iso(w.current_last), False)}, compared with "
                  f"{_date(_iso(w.baseline_first), False)} to "
                  f"{_date(_iso(w.baseline_last), False)} and with the other "
                  f"{'lanes or employees' if report.has_roster else 'lanes'}.")
    intro = (f"<p>Each lane{' and employee' if report.has_roster else ''} is compared with its "
             f"own past {rules.baseline_days // 7} weeks and with its peers, on the employee "
             f"talk share and on how often customers were interrupted.{escape(window)} An "
             "alert is a prompt to look, not a verdict: a new employee, a different mix of "
             "customers or a noisier week can all move the numbers.</p>")
    if not report.drift:
        return (f"<h2>Changes to look at</h2>\n{intro}<p>Nothing moved far enough to flag. "
                f"(An alert needs at least {rules.min_conversations} conversations in the "
                "days compared, so a quiet or new lane shows none.)</p>")
    def table(alerts: Sequence[DriftAlert]) -> str:
        rows = "".join(f'<tr><td>{_change(a)}</td><td class="text">{escape(a.message)}</td>'
                       "</tr>" for a in alerts)
        return (f'<table><tr><th>Change</th><th class="text">What moved</th></tr>{rows}'
                "</table>")

    shown = [table(report.drift[:SHOWN_ALERTS])]
    folded = report.drift[SHOWN_ALERTS:MAX_ALERTS]
    if folded:
        shown.append(f"<details><summary>{len(folded)} more changes</summary>"
                     f"{table(folded)}</details>")
    more = len(report.drift) - MAX_ALERTS
    if more > 0:
        shown.append(f"<p>… and {more:,} more (<code>heard report --json</code> lists them "
                     "all).</p>")
    return f"<h2>Changes to look at</h2>\n{intro}{''.join(shown)}"


def _charts(found: Sequence[Chart]) -> str:
    figures = [f'<figure id="{c.key}"><h3>{escape(c.title)}</h3>{c.svg}'
               f"<figcaption>{escape(c.caption)}</figcaption></figure>" for c in found]
    return "<h2>Charts</h2>\n" + "\n".join(figures)


Column = tuple[str, Callable[[GroupStats], str]]
COLUMNS: tuple[Column, ...] = (
    ("Conversations", lambda g: f"{g.conversations:,}"),
    ("Employee talk", lambda g: pct_or_dash(g.talk_share.median)),
    ("Mid half", middle_half),
    ("Customer interrupted", lambda g: pct_or_dash(g.customer_interrupted_share)),
    ("Interruptions emp. / cust.", lambda g: f"{number_or_dash(g.interruptions_by_employee)} / "
                                             f"{number_or_dash(g.interruptions_by_customer)}"),
    ("Backchannels emp. / cust.",
     lambda g: f"{number_or_dash(g.backchannels_by_employee, '.1f')} / "
               f"{number_or_dash(g.backchannels_by_customer, '.1f')}"),
    ("Patience", lambda g: seconds_or_dash(g.median_patience_ms)),
    ("Longest monologue / story", lambda g: f"{seconds_or_dash(g.median_longest_monologue_ms)} / "
                                            f"{seconds_or_dash(g.median_longest_story_ms)}"),
    ("Noisy", lambda g: f"{g.low_snr:,}"),
    ("Audio lost", lambda g: f"{g.audio_gap:,}"),
)


def _table(title: str, first: str, rows: Sequence[GroupStats], total: GroupStats | None,
           more_hint: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in (first, *(h for h, _ in COLUMNS)))
    body = ["<tr>" + f"<td>{escape(g.label)}</td>"
            + "".join(f"<td>{escape(cell(g))}</td>" for _, cell in COLUMNS) + "</tr>"
            for g in rows[:MAX_ROWS]]
    if total is not None:
        body.append('<tr class="total"><td>All</td>'
                    + "".join(f"<td>{escape(cell(total))}</td>" for _, cell in COLUMNS)
                    + "</tr>")
    table = f'<div class="wide"><table><tr>{head}</tr>{"".join(body)}</table></div>'
    if len(rows) > MAX_ROWS:
        table += (f"<p>The first {MAX_ROWS} of {len(rows):,} rows; {escape(more_hint)} gives "
                  "them all.</p>")
    if len(rows) > COLLAPSE:
        return (f"<details><summary>{escape(title)} ({len(rows):,} rows)</summary>{table}"
                "</details>")
    return f"<h3>{escape(title)}</h3>{table}"


_BY = {"day": "Day", "week": "Week", "hour": "Hour of day", "lane": "Lane",
       "employee": "Employee"}


def _tables(report: Report) -> str:
    by = report.filters.by or "day"
    parts = ["<h2>The numbers behind the charts</h2>",
             _table(f"By {_BY[by].lower()}", _BY[by], report.groups, report.summary,
                    f"heard report --by {by}")]
    if by != "lane":
        parts.append(_table("Lanes", "Lane", report.lanes, None, "heard report --by lane"))
    if report.employees and by != "employee":
        parts.append(_table("Employees", "Employee", report.employees, None,
                            "heard report --by employee"))
    return "\n".join(parts)


def _synced(d: DeviceQuality) -> str:
    if d.days_since_sync is None:
        return "never synced here"
    if d.days_since_sync < 1:
        return "today" if d.days_since_sync * 24 < 12 else "within a day"
    return f"{d.days_since_sync:.0f} days ago"


def _quality(report: Report) -> str:
    q = report.quality
    notes = quality_notes(q)
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    head = ('<tr><th>Device</th><th class="text">Store</th><th class="text">Lane</th>'
            '<th class="text">Last synced</th><th>Conversations</th><th>Noisy</th>'
            "<th>Audio lost</th><th>Records lost, memory full</th>"
            "<th>Records missing at sync</th><th>Log wiped</th><th>Bytes cut at start</th></tr>")
    rows = []
    for d in q.devices[:MAX_ROWS]:
        name = d.name or d.device_id
        text = [name, d.store or "", d.lane or "", _synced(d)]
        numbers = [d.conversations, d.low_snr, d.audio_gap, d.records_dropped,
                   d.records_missing, d.data_resets, d.bytes_cut]
        rows.append(("<tr class=\"stale\">" if d.stale else "<tr>")
                    + "".join(f'<td class="text">{escape(c)}</td>' for c in text)
                    + "".join(f"<td>{n:,}</td>" for n in numbers) + "</tr>")
    table = f'<div class="wide"><table>{head}{"".join(rows)}</table></div>' if rows else ""
    if len(q.devices) > COLLAPSE:
        table = (f"<details><summary>Devices ({len(q.devices):,})</summary>{table}"
                 "</details>")
    note = (f"<p>Highlighted: not synced for {q.stale_days} days or more.</p>"
            if q.stale_devices and rows else "")
    return f'<h2>Data quality</h2>\n<ul class="callouts">{items}</ul>{table}{note}'


def _key(color: str) -> str:
    return f'<span class="key" style="background:{color}"></span>'


LEGEND: tuple[tuple[str, str], ...] = (
    ("Employee talk share", (
        f"{_key(EMPLOYEE)}The employee's share of the talking in a conversation: employee "
        "talk time divided by employee plus customer talk time. Silence does not count. "
        "\"Typical\" is the median: half of the conversations are above it, half below. "
        "\"Mid half\": the middle 50% of the conversations lie in this range.")),
    ("~43% from research", (
        "In research on 25,537 recorded sales calls, the best-performing sellers talked about "
        "43% of the time and the average 65–75%. A service counter is not a sales call: the "
        "figure is context, not a target, and this report never marks a share as good or "
        "bad.")),
    ("Interruptions", (
        f"{_key(EMPLOYEE)}By the employee: cutting into the customer's turn. "
        f"{_key(CUSTOMER)}By the customer: cutting into the employee's. Counted per "
        "conversation. A short listening sound (\"mm-hmm\", a backchannel) is not an "
        "interruption. \"Customers interrupted\": the conversations in which the employee "
        "interrupted the customer at least once.")),
    ("Patience", (
        f"{_key(PATIENCE)}The pause before the employee answered after the customer stopped "
        "talking, typical for each conversation.")),
    ("Longest monologue / story", (
        "The longest stretch the employee talked without the customer taking the turn, and "
        "the same for the customer.")),
    ("Changes to look at", (
        "A lane or employee whose recent days differ clearly from its own past weeks or from "
        "its peers, with enough conversations that chance alone rarely explains it.")),
    ("Data quality", (
        "Noisy conversations (low signal-to-noise) have less reliable numbers. Audio lost: "
        "the device missed some audio during the conversation. Records lost: conversations "
        "or events a device could not store (memory full), that a sync found missing, that "
        "went when a device wiped an unreadable record log, or that were cut from a damaged "
        "log when a device started; each is listed with its device and time. No audio ever "
        "leaves the device: only these numbers do.")),
)


def _legend() -> str:
    items = "".join(f"<dt>{escape(term)}</dt><dd>{text}</dd>" for term, text in LEGEND)
    return f'<h2>How to read this</h2>\n<dl class="legend">{items}</dl>'


def _footer(report: Report) -> str:
    made = dt.datetime.fromtimestamp(report.generated_at)
    return (f"<footer>Made by heard on {escape(_date(made.date()))} at {made:%H:%M} from "
            f"{escape(report.database)}. Times are in {escape(report.timezone)}. Every "
            "number is defined in docs/REPORTS.md.</footer>")
