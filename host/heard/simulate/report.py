"""Readable summaries of simulation results: one table per file, one row per conversation."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from heard.annotations import CUSTOMER, EMPLOYEE
from heard.shown import shown_name
from heard.simulate.protocol import SimulationResult

_NONE = "-"


def clock(ms: int) -> str:
    """Position in the file as m:ss (h:mm:ss past an hour)."""
    s = ms // 1000
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def seconds(ms: int) -> str:
    return f"{ms / 1000:.1f} s"


def percent(ratio: float | None) -> str:
    return _NONE if ratio is None else f"{ratio * 100:.0f} %"


def conversation_table(result: SimulationResult, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("#", "right"), ("start", "right"), ("duration", "right"), ("talk\nratio E", "right"),
        ("overlap", "right"), ("turns", "right"), ("switches\n/min", "right"),
        ("interrupt.\nE/C", "center"), ("backch.\nE/C", "center"),
        ("longest E\nmonologue", "right"), ("longest C\nstory", "right"),
        ("median\nlatency", "right"), ("flags", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for i, conv in enumerate(result.conversations, 1):
        latency = conv.get("median_latency_ms", -1)
        rate = conv.switches_per_minute
        table.add_row(
            str(i),
            clock(conv.start_ms),
            seconds(conv.duration_ms),
            percent(conv.talk_ratio),
            seconds(conv.get("overlap_ms")),
            str(conv.get("turns")),
            _NONE if rate is None else f"{rate:.1f}",
            f"{conv.get('interruptions_by_employee')}/{conv.get('interruptions_by_customer')}",
            f"{conv.get('backchannels_by_employee')}/{conv.get('backchannels_by_customer')}",
            seconds(conv.get("longest_employee_monologue_ms")),
            seconds(conv.get("longest_customer_story_ms")),
            _NONE if latency < 0 else f"{latency / 1000:.2f} s",
            ", ".join(conv.flags) or _NONE,
        )
    return table


def totals_text(result: SimulationResult) -> str:
    ann = result.annotation()
    emp, cus = ann.talk_ms(EMPLOYEE), ann.talk_ms(CUSTOMER)
    by = {p: sum(1 for e in ann.interruptions if e.by == p) for p in (EMPLOYEE, CUSTOMER)}
    bc = {p: sum(1 for e in ann.backchannels if e.by == p) for p in (EMPLOYEE, CUSTOMER)}
    alone = sum(e.talk_ms for e in result.employee_only)
    return (
        f"{len(result.conversations)} conversation(s) in {seconds(result.duration_ms)} of audio "
        f"({result.channels} channel(s), {result.engine} engine)\n"
        f"talk: employee {seconds(emp)}, customer {seconds(cus)}, "
        f"ratio {percent(ann.talk_ratio())} (E = employee, C = customer)\n"
        f"interruptions E/C {by[EMPLOYEE]}/{by[CUSTOMER]}, "
        f"backchannels E/C {bc[EMPLOYEE]}/{bc[CUSTOMER]}, "
        f"employee-only talk: {len(result.employee_only)} stretch(es), {seconds(alone)}"
        + ("\nthe input was truncated" if result.truncated else "")
        + ("\none channel: each talk spurt goes to the party its reverberation suggests, "
           "so who is who is unreliable (docs/ACCURACY.md)" if result.channels == 1 else "")
    )


def print_summary(result: SimulationResult, console: Console) -> None:
    """Per-conversation table and the file's totals."""
    name = shown_name(result.source.name) if result.source else "input"
    if result.conversations:
        console.print(conversation_table(result, title=name))
    else:
        console.print(f"{name}: no conversation found")
    console.print(totals_text(result), highlight=False)


def print_dir_summary(results: dict[str, SimulationResult], console: Console) -> None:
    """One row per file, then the totals over all files."""
    table = Table(title_justify="left")
    for col in ("file", "duration", "conversations", "talk ratio E", "interruptions E/C",
                "backchannels E/C", "flagged"):
        table.add_column(col, justify="left" if col == "file" else "right")
    total_ms = total_conv = emp_total = cus_total = 0
    for name, result in results.items():
        ann = result.annotation()
        emp, cus = ann.talk_ms(EMPLOYEE), ann.talk_ms(CUSTOMER)
        ie = sum(1 for e in ann.interruptions if e.by == EMPLOYEE)
        be = sum(1 for e in ann.backchannels if e.by == EMPLOYEE)
        flagged = sum(1 for c in result.conversations if c.flags)
        table.add_row(
            shown_name(name), seconds(result.duration_ms), str(len(result.conversations)),
            percent(ann.talk_ratio()),
            f"{ie}/{len(ann.interruptions) - ie}", f"{be}/{len(ann.backchannels) - be}",
            str(flagged),
        )
        total_ms += result.duration_ms
        total_conv += len(result.conversations)
        emp_total += emp
        cus_total += cus
    console.print(table)
    ratio = None if emp_total + cus_total == 0 else emp_total / (emp_total + cus_total)
    console.print(
        f"{len(results)} file(s), {seconds(total_ms)} of audio, {total_conv} conversation(s), "
        f"talk ratio {percent(ratio)}"
    )
