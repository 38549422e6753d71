"""``heard report`` in the terminal: rich tables and a few sentences, from a ``Report``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from heard.report.callouts import (
    MAX_DRIFT,
    middle_half,
    number_or_dash,
    pct,
    pct_or_dash,
    quality_notes,
    seconds_or_dash,
    who,
)
from heard.report.model import BINS, GroupStats, Report

SPARK = " ▁▂▃▄▅▆▇█"
MAX_COMPARED = 14  # rows of the lane and employee comparisons (half top, half bottom)
MAX_LISTED = 10
_BY_TITLE = {"day": "Day", "week": "Week", "hour": "Hour of day", "lane": "Lane",
             "employee": "Employee"}


def sparkline(values: Sequence[float | None]) -> str:
    top = max((v for v in values if v is not None), default=0) or 1
    return "".join(" " if v is None else SPARK[max(1 if v else 0, round(v / top * 8))]
                   for v in values)


def share_line(shares: Sequence[float | None]) -> str:
    """Shares (0..1) as bars on a fixed 0-100% scale; a blank where there is none."""
    return "".join(" " if v is None else SPARK[max(1, round(v * 8))] for v in shares)


def _bullets(lines: Sequence[str]) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=3, justify="right")
    grid.add_column()
    for line in lines:
        grid.add_row("•", Text(line))
    return grid


def distribution(bins: Sequence[int], width: int = 10) -> str:
    """The talk share histogram squeezed to ``width`` characters (0% left, 100% right)."""
    step = BINS // width
    return sparkline([float(sum(bins[i:i + step])) for i in range(0, BINS, step)])





def _talk(g: GroupStats) -> str:
    s = g.talk_share
    if s.median is None or s.p25 is None or s.p75 is None:
        return "–"
    return f"{pct(s.median)} ({s.p25 * 100:.0f}–{s.p75 * 100:.0f})"



def _pair(a: float | None, b: float | None, fmt: str) -> str:
    return f"{number_or_dash(a, fmt)} / {number_or_dash(b, fmt)}"


Cell = Callable[[GroupStats], str]
# (header, cell) of the main table: what was said and for how long, then how turns went.
TALK: tuple[tuple[str, Cell], ...] = (
    ("Employee\ntalk", lambda g: pct_or_dash(g.talk_share.median)),
    ("Mid\nhalf", middle_half),
    ("Talk share\n0% … 100%", lambda g: distribution(g.talk_share.bins)),
    ("Longest\nmonologue", lambda g: seconds_or_dash(g.median_longest_monologue_ms)),
    ("Longest\nstory", lambda g: seconds_or_dash(g.median_longest_story_ms)),
)
TURNS: tuple[tuple[str, Cell], ...] = (
    ("Patience", lambda g: seconds_or_dash(g.median_patience_ms)),
    ("Interruptions\nemp. / cust.",
     lambda g: _pair(g.interruptions_by_employee, g.interruptions_by_customer, ".2f")),
    ("Customer\ninterrupted", lambda g: pct_or_dash(g.customer_interrupted_share)),
    ("Backchannels\nemp. / cust.",
     lambda g: _pair(g.backchannels_by_employee, g.backchannels_by_customer, ".1f")),
)
QUALITY: tuple[tuple[str, Cell], ...] = (
    ("Noisy", lambda g: f"{g.low_snr:,}"),
    ("Audio\nlost", lambda g: f"{g.audio_gap:,}"),
)
WIDE = 150  # from this console width on, one table (with quality); below it, two


def grid(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
         total: Sequence[str], width: int) -> Text:
    """A plain fixed-width table: first column left, the others right; the first column is
    cut with "…" if the console is too narrow. Rich's Table measures every cell, which takes
    seconds for the hundreds of rows of a chain's lanes or employees; this takes
    milliseconds."""
    head = [h.split("\n") for h in headers]
    depth = max(len(h) for h in head)
    head = [[""] * (depth - len(h)) + h for h in head]
    widths = [max([len(x) for x in h] + [len(r[i]) for r in (*rows, total)])
              for i, h in enumerate(head)]
    gap = 2
    room = width - 1 - sum(widths[1:]) - gap * (len(widths) - 1)
    if widths[0] > room:
        widths[0] = max(room, 6)

    def line(cells: Sequence[str]) -> str:
        first = cells[0] if len(cells[0]) <= widths[0] else cells[0][:widths[0] - 1] + "…"
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return (" " * gap).join([first.ljust(widths[0]), *rest]).rstrip()

    rule = "─" * (sum(widths) + gap * (len(widths) - 1))
    out = Text()
    out.append(title + "\n", style="bold")
    for k in range(depth):
        out.append(line([h[k] for h in head]) + "\n", style="bold")
    out.append(rule + "\n")
    for r in rows:
        out.append(line(r) + "\n")
    out.append(rule + "\n")
    out.append(line(total) + "\n", style="bold")
    return out


def _table(report: Report, title: str, cells: Sequence[tuple[str, Cell]], width: int) -> Text:
    headers = [_BY_TITLE[report.filters.by or "day"], "Conver-\nsations",
               *(h for h, _ in cells)]
    rows = [[g.label, f"{g.conversations:,}", *(cell(g) for _, cell in cells)]
            for g in report.groups]
    s = report.summary
    total = ["All", f"{s.conversations:,}", *(cell(s) for _, cell in cells)]
    return grid(title, headers, rows, total, width)


def _main_tables(report: Report, width: int) -> list[Text]:
    by = _BY_TITLE[report.filters.by or "day"].lower()
    if width >= WIDE:
        return [_table(report, f"By {by}", (*TALK, *TURNS, *QUALITY), width)]
    return [_table(report, f"By {by}: talk", TALK, width),
            _table(report, f"By {by}: turns", TURNS, width)]


def _comparison(title: str, rows: Sequence[GroupStats], more_hint: str) -> Table:
    ranked = sorted(rows, key=lambda g: -1 if g.talk_share.median is None
                    else g.talk_share.median, reverse=True)
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False,
                  title_style="bold", collapse_padding=True)
    table.add_column("", no_wrap=True)
    for name in ("Conver-\nsations", "Employee talk\n(mid half)", "Customer\ninterrupted",
                 "Patience", "Noisy"):
        table.add_column(name, justify="right", no_wrap=True)
    half = MAX_COMPARED // 2
    shown = ranked if len(ranked) <= MAX_COMPARED else [*ranked[:half], None, *ranked[-half:]]
    for g in shown:
        if g is None:
            table.add_row(f"… {len(ranked) - 2 * half} more: {more_hint}", *[""] * 5,
                          style="dim")
            continue
        table.add_row(g.label, f"{g.conversations:,}", _talk(g),
                      pct_or_dash(g.customer_interrupted_share),
                      seconds_or_dash(g.median_patience_ms), f"{g.low_snr:,}")
    return table


def _span(report: Report) -> str:
    f = report.filters
    first = f.since or (dt.datetime.fromtimestamp(report.first_conversation).date().isoformat()
                        if report.first_conversation is not None else None)
    last = f.until or (dt.datetime.fromtimestamp(report.last_conversation).date().isoformat()
                       if report.last_conversation is not None else None)
    if first is None and last is None:
        return "all dates"
    if first == last:
        return f"on {first}"
    return f"{first or 'the start'} to {last or 'today'}"


def _empty(report: Report, console: Console) -> None:
    f = report.filters
    unplaced = report.quality.unknown_time
    if not any((f.since, f.until, f.store, f.lane, f.employee)):
        if unplaced:
            console.print(f"{unplaced:,} conversations are in {report.database}, but none can "
                          "be placed on a day yet (see data quality below).", markup=False,
                          highlight=False)
        else:
            console.print(f"No conversations in {escape(report.database)} yet. Plug a heard "
                          "device in and run [bold]heard sync[/bold] to bring its numbers "
                          "here.", highlight=False)
    else:
        console.print(f"No conversations for {who(report.filters)}, {_span(report)}. "
                      "Try a wider date range (--since, --until) or drop a filter.",
                      markup=False, highlight=False)


def _quality(report: Report, console: Console) -> None:
    notes = quality_notes(report.quality)
    console.print("[bold]Data quality[/bold]")
    console.print(_bullets(notes))


def render(report: Report, console: Console) -> None:
    """Print the report: tables, what stands out, data quality, a short legend."""
    console.print(f"[bold]heard report[/bold]: {who(report.filters)}, {_span(report)} "
                  f"(times in {report.timezone})", highlight=False)
    if report.empty:
        _empty(report, console)
        console.print()
        _quality(report, console)
        return
    for table in _main_tables(report, console.width):
        console.print(table, highlight=False, no_wrap=True, overflow="ignore")
    by = report.filters.by
    if by != "lane" and len(report.lanes) > 1:
        console.print(_comparison("Lanes, most employee talk first", report.lanes,
                                  "--by lane"))
    if report.employees and by != "employee":
        console.print(_comparison("Employees, most employee talk first", report.employees,
                                  "--by employee"))
    if by != "day" and len(report.trend) > 1:
        recent = report.trend[-60:]
        console.print(f"[bold]Employee talk by day[/bold], {recent[0].label} to "
                      f"{recent[-1].label} (bar height: 0% to 100%)", highlight=False)
        console.print(f"  [cyan]{share_line([g.talk_share.median for g in recent])}[/cyan]")
    console.print()
    console.print("[bold]What stands out[/bold]")
    console.print(_bullets(report.callouts))
    more = report.drift[MAX_DRIFT:]
    if more:
        console.print("[bold]More changes[/bold]")
        notes = [a.message for a in more[:MAX_LISTED]]
        if len(more) > MAX_LISTED:
            notes.append(f"... and {len(more) - MAX_LISTED} more (--json lists them all)")
        console.print(_bullets(notes))
    console.print()
    _quality(report, console)
    console.print()
    console.print(
        "[dim]Employee talk: the employee's share of the talking (silence left out); mid half: "
        "the middle 50% of conversations. Interruptions and backchannels (\"mm-hmm\") are per "
        "conversation. Customer interrupted: conversations where the employee cut in at least "
        "once. Patience: the typical pause before the employee answered a customer. "
        "Definitions: docs/REPORTS.md.[/dim]")
