"""``heard monitor``: watch a device's live levels and decisions in the terminal.

Only live frames (levels, noise floors, voice activity, who the detector thinks talks, the
arrival-time cue): the device never sends audio. The leakage estimate is computed here,
on the host, from those frames (``Leakage``). On a terminal the view is a rich Live
display; otherwise one line per frame, for logs and tests.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from heard.db import default_path
from heard.device.live import CLOSE_S, MIN_INTERVAL_MS, LiveSession, connect, ctrl_c_interrupts

LEAK_SMOOTH = 0.1  # share of each new frame in the smoothed leakage (~ the last 10 frames)
FULL_SCALE_DB = 82.0  # a full-scale 1 kHz square wave (after the emphasis); dB above 1 LSB
BAR = 32
REFRESH_PER_S = 4

Frame = Mapping[str, int]


def who(frame: Frame) -> str:
    """Who the detector thinks is talking: employee, customer, both, nobody, or "someone"
    (near talk whose party is not decided yet: a one-microphone device decides per spurt,
    when it ends)."""
    e, c = frame["employee"], frame["customer"]
    if e or c:
        return "both" if e and c else "employee" if e else "customer"
    talk = (frame["vad0"] or frame["vad1"]) and frame["near"]
    return "someone" if talk else "nobody"


class Leakage:
    """How loud the other mic hears the one party talking, relative to the talker's own mic
    (dB, other minus own: -10 means 10 dB quieter; smoothed). Uses frames where the device
    says exactly one party talks with voice and near talk, so it is only as right as the
    device's own attribution."""

    def __init__(self, smooth: float = LEAK_SMOOTH):
        self.smooth = smooth
        self.employee: float | None = None  # employee talking: ch1 - ch0
        self.customer: float | None = None  # customer talking: ch0 - ch1

    def update(self, frame: Frame) -> None:
        if not ((frame["vad0"] or frame["vad1"]) and frame["near"]):
            return
        party = who(frame)
        diff = (frame["level1_db10"] - frame["level0_db10"]) / 10
        if party == "employee":
            self.employee = self._mix(self.employee, diff)
        elif party == "customer":
            self.customer = self._mix(self.customer, -diff)

    def _mix(self, old: float | None, new: float) -> float:
        return new if old is None else old + (new - old) * self.smooth


def _db(value: float | None) -> str:
    return "--" if value is None else f"{value:+.1f} dB"


def line(frame: Frame, leak: Leakage) -> str:
    """One frame as a line of text."""
    def chan(i: int) -> str:
        voice = "voice" if frame[f"vad{i}"] else "quiet"
        return (f"ch{i} {frame[f'level{i}_db10'] / 10:5.1f} dB "
                f"floor {frame[f'floor{i}_db10'] / 10:5.1f} {voice}")

    return (f"{frame['uptime_ms'] / 1000:10.2f} s  {chan(0)}  {chan(1)}  "
            f"talking: {who(frame)}  {'near' if frame['near'] else 'far'}  "
            f"tdoa {frame['tdoa']:+d}  leakage employee->customer mic {_db(leak.employee)}, "
            f"customer->employee mic {_db(leak.customer)}")


def _bar(level_db: float, floor_db: float) -> Text:
    def pos(db: float) -> int:
        return max(0, min(BAR - 1, round(db / FULL_SCALE_DB * BAR)))

    filled, mark = pos(level_db), pos(floor_db)
    text = Text()
    for i in range(BAR):
        char = "|" if i == mark else "#" if i < filled else "."
        text.append(char, style="bold yellow" if i == mark else "green" if i < filled else "dim")
    return text


def view(frame: Frame, leak: Leakage, header: str) -> Group:
    """The Live display for the latest frame."""
    table = Table(title=header, title_justify="left", expand=False)
    for col in ("mic", "level", "", "noise floor", "voice"):
        table.add_column(col)
    for i, name in ((0, "ch0 employee"), (1, "ch1 customer")):
        level, floor = frame[f"level{i}_db10"] / 10, frame[f"floor{i}_db10"] / 10
        voice = Text("VOICE", style="bold green") if frame[f"vad{i}"] else Text("-")
        table.add_row(name, f"{level:5.1f} dB", _bar(level, floor), f"{floor:5.1f} dB", voice)
    talking = who(frame)
    lines = Text()
    lines.append("talking: ")
    lines.append(talking.upper() if talking != "nobody" else "nobody", style="bold")
    lines.append(f"    near talk: {'yes' if frame['near'] else 'no'}")
    lines.append(f"    arrival-time cue (tdoa): {frame['tdoa']:+d}"
                 f" (> 0: employee side)    evidence {frame['evidence'] / 256:+.2f}\n")
    lines.append(f"leakage: employee->customer mic {_db(leak.employee)}, "
                 f"customer->employee mic {_db(leak.customer)}  (other mic minus talker's "
                 "mic, estimated on this computer from live frames)\n")
    lines.append("levels in dB above one sample step; | marks the noise floor. Ctrl-C stops.",
                 style="dim")
    return Group(table, lines)


@click.command("monitor")
@click.option("--port", "port_name", metavar="PORT",
              help="Serial port or pyserial URL. Default: the one ESP32 board connected.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="HEARD_DB", help=f"Database with the device's secret "
              f"[default: {default_path()}].")
@click.option("--interval", "interval_ms", type=click.IntRange(MIN_INTERVAL_MS, 60000),
              default=100, show_default=True, help="Milliseconds between live frames.")
@click.option("--seconds", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop after this many seconds [default: until Ctrl-C].")
def monitor(port_name: str | None, db_path: Path | None, interval_ms: int,
            seconds: float | None) -> None:
    """Watch a device's live levels: per mic level, noise floor and voice activity, who
    the detector thinks is talking, near talk, the arrival-time cue, and the leakage
    between the mics (estimated on this computer while one party talks).

    Only levels and decisions leave the device, never audio. When the output is not a
    terminal, prints one line per live frame."""
    out = Console(highlight=False)
    leak = Leakage()
    frames = 0
    session: LiveSession | None = None
    # Ctrl-C stops the frames, then leaving ``connect`` closes the session (giving up after
    # CLOSE_S seconds); a second Ctrl-C gives up closing at once.
    with ctrl_c_interrupts():
        try:
            with connect(port_name, db_path) as session:
                header = (f"heard monitor: {session.device_id} on {session.port_name}, "
                          f"a live frame every {interval_ms} ms")
                click.echo(header + " (Ctrl-C stops)", err=True)
                stream = session.frames(interval_ms, seconds)
                try:
                    if out.is_terminal:
                        with Live(console=out, refresh_per_second=REFRESH_PER_S,
                                  transient=False) as display:
                            shown = 0.0
                            for frame in stream:
                                frames += 1
                                leak.update(frame)
                                now = time.monotonic()
                                if now - shown >= 1 / REFRESH_PER_S:
                                    display.update(view(frame, leak, header))
                                    shown = now
                    else:
                        for frame in stream:
                            frames += 1
                            leak.update(frame)
                            click.echo(line(frame, leak))
                except KeyboardInterrupt:
                    click.echo(f"closing the session (at most {CLOSE_S:g} s; Ctrl-C again "
                               "quits at once)", err=True)
        except KeyboardInterrupt:
            pass
        with suppress(KeyboardInterrupt):  # one Ctrl-C too many: the session is over anyway
            if session is None:
                click.echo("stopped before the session was open", err=True)
            elif session.closed:
                click.echo(f"stopped after {frames} live frames; session closed", err=True)
            else:
                click.echo(f"stopped after {frames} live frames; the device did not confirm "
                           "closing the session (it closes it by itself after 10 s)", err=True)
