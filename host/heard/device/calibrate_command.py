"""``heard calibrate``: a guided placement check that stores ``level_mid_db10`` and
``level_unit_db10``.

The employee talks, then the customer; the device sends live frames (levels and
decisions, never audio) and ``heard.device.calibration`` turns them into the level
difference of each phase, the leakage both ways, a verdict and the calibration.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from heard.db import default_path
from heard.device import calibration as cal
from heard.device.live import LiveFrame, LiveSession, connect
from heardcore.params import Params

LIVE_INTERVAL_MS = 50  # as often as the device sends them
MID = "level_mid_db10"

PROMPTS = {
    cal.EMPLOYEE: "Employee side: please talk normally for {s} seconds",
    cal.CUSTOMER: "Customer side: please talk normally for {s} seconds, standing where "
                  "customers stand (the employee stays quiet)",
}

_GOOD, _USABLE = f"{cal.GOOD_SEPARATION_DB:.0f}", f"{cal.USABLE_SEPARATION_DB:.0f}"
_WIDE, _UNIT = f"{cal.WIDE_SEPARATION_DB:.1f}", f"{cal.WIDE_LEVEL_UNIT_DB10 / 10:.0f}"
_DEFAULT_UNIT = f"{Params().level_unit_db10 / 10:.0f}"
_GATE = f"{Params().distant_drop_db10 / 10 - cal.GATE_MARGIN_DB:.0f}"
HELP = f"""Check the mic placement and store the calibration on the device.

\b
The employee talks for --seconds, then someone on the customer side does. From the
device's live levels (never audio) heard measures the level difference between the mics
(ch0 - ch1) while each side talks, the leakage both ways (how much quieter the other mic
hears the talker) and how often the arrival-time cue points at the talker. It says
whether the placement is good, usable, or the device should move, and stores
level_mid_db10 halfway between the two differences, so the detector splits them evenly
from the start (it then refines the split from each side's talk). It also sets
level_unit_db10, the level difference worth one unit of evidence: {_UNIT} dB, so the level
counts more, when the two differences are {_WIDE} to {_GOOD} dB apart, as with omni mics
0.2-0.6 m apart whose arrival time is less clear; otherwise the default {_DEFAULT_UNIT} dB
(hardware/PLACEMENT.md); it is sent only when it changes.

\b
The placement is good when either cue below is good (one strong cue is enough: the
detector weighs both), usable when either is usable. Thresholds, from the detector's
parameters and simulated shops (the placement study, hardware/PLACEMENT.md):
- level separation (employee-phase minus customer-phase difference): good from {_GOOD} dB,
  usable from {_USABLE} dB. With level_unit_db10 = 30, 3 dB from the split is one unit of
  evidence, and the calibration puts each side half the separation from the split:
  {_GOOD} dB lets the level cue decide alone; below {_USABLE} dB (a third of a unit per
  side) it barely moves the evidence. The verdict keeps these thresholds with the
  {_UNIT} dB unit: it makes wide mics better, not as good as mics 0.1 m apart.
- arrival time pointing at the talker on at least {100 * cal.ARRIVAL_GOOD:.0f}% (good) or \
{100 * cal.ARRIVAL_USABLE:.0f}% (usable) of each
  side's talk: with mics 0.1 m apart the levels barely differ (under 1 dB in simulation)
  and the arrival time does the work.
- neither side more than distant_drop_db10 - {cal.GATE_MARGIN_DB:.0f} dB ({_GATE} dB by \
default) quieter at
  its own mic than the other side at theirs: the detector ignores speech
  distant_drop_db10 below the loudest as a passer-by.

If one side's part sounds like the other side talking (it comes from the other side and
is louder on the other side's mic, as the other side's own talk is), it asks to try
again. Exit status 1 when nothing was stored because of the placement, silence or the
wrong person talking.
"""


def _ready(side: str, seconds: float, yes: bool) -> None:
    text = PROMPTS[side].format(s=f"{seconds:g}")
    if yes:
        click.echo(text + ".")
    else:
        click.prompt(text + " — press Enter to start", default="", show_default=False,
                     prompt_suffix=" ")


def _listen(session: LiveSession, seconds: float, out: Console) -> list[LiveFrame]:
    session.keep_alive()  # the session may have closed while the installer read the prompt
    frames: list[LiveFrame] = []
    with Progress(TextColumn("listening"), BarColumn(), TimeRemainingColumn(),
                  console=out, transient=True, disable=not out.is_terminal) as bar:
        task = bar.add_task("listening", total=seconds)
        start = time.monotonic()
        for frame in session.frames(LIVE_INTERVAL_MS, seconds):
            frames.append(frame)
            bar.update(task, completed=time.monotonic() - start)
    return frames


def _report(result: cal.Result) -> None:
    for ph in (result.employee, result.customer):
        click.echo(f"{ph.side.capitalize()} talking: employee mic {ph.level0_db:.1f} dB, "
                   f"customer mic {ph.level1_db:.1f} dB: difference {ph.diff_db:+.1f} dB "
                   f"(voice on {100 * ph.talk_share:.0f}% of the time)")
    e, c = result.employee, result.customer
    click.echo(f"Leakage: the customer mic hears the employee {cal.quieter(e.leakage_db)} "
               "than the employee mic does;")
    click.echo(f"         the employee mic hears the customer {cal.quieter(c.leakage_db)} "
               "than the customer mic does.")
    click.echo(f"Arrival time points at the talker: employee {100 * e.arrival_share:.0f}%, "
               f"customer {100 * c.arrival_share:.0f}% of their talk.")
    click.echo(f"Verdict: {result.verdict.upper()}")
    for reason in result.reasons:
        click.echo(f"  because: {reason}")
    for note in result.notes:
        click.echo(f"  also: {note}")
    for advice in result.advice:
        click.echo(f"  to do: {advice}")
    if result.level_unit_db10 is not None:
        click.echo(f"Level unit: {cal.unit_reason(result.separation_db)}")


def _what(name: str, value: int, now: Any) -> str:
    return f"{name} = {value} ({value / 10:{'+' if name == MID else ''}.1f} dB; it is {now} now)"


def _store(session: LiveSession, result: cal.Result, config: dict[str, Any], yes: bool,
           dry_run: bool) -> bool:
    calibration = result.calibration()
    values = {name: value for name, value in calibration.items()
              if name == MID or config.get(name) != value}  # the midpoint: always, as asked
    what = " and ".join(_what(name, value, config.get(name)) for name, value in values.items())
    what += "".join(f", keeping {name} = {value}" for name, value in calibration.items()
                    if name not in values)
    if dry_run:
        click.echo(f"Dry run: would store {what}. Nothing stored.")
        return False
    if not yes and not click.confirm(f"Store on the device: {what}?", default=True):
        click.echo("Nothing stored.")
        return False
    session.keep_alive()
    session.client.config_set(values)
    click.echo(f"Stored on the device: {json.dumps(values)} "
               "(it applies from the next conversation).")
    return True


@click.command("calibrate", help=HELP)
@click.option("--port", "port_name", metavar="PORT",
              help="Serial port or pyserial URL. Default: the one ESP32 board connected.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="HEARD_DB", help=f"Database with the device's secret "
              f"[default: {default_path()}].")
@click.option("--seconds", type=click.FloatRange(2, 120), default=10, show_default=True,
              help="How long each side talks (the first and last 0.5 s are not measured).")
@click.option("--yes", is_flag=True,
              help="Do not wait for Enter before each side or ask before storing.")
@click.option("--dry-run", is_flag=True, help="Measure and judge, but store nothing.")
def calibrate(port_name: str | None, db_path: Path | None, seconds: float, yes: bool,
              dry_run: bool) -> None:
    out = Console(highlight=False)
    with connect(port_name, db_path) as session:
        config = session.client.config_get()
        unit = cal.tdoa_unit(config)
        click.echo(f"Calibrating {session.device_id} on {session.port_name}. Only levels "
                   "leave the device, never audio.")
        phases: dict[str, cal.Phase] = {}
        for side in (cal.EMPLOYEE, cal.CUSTOMER):
            _ready(side, seconds, yes)
            phases[side] = cal.measure(side, _listen(session, seconds, out), unit)
            if not phases[side].heard:
                click.echo(f"I did not hear anyone talking on the {side} side; try again. "
                           "Nothing stored.")
                raise SystemExit(1)  # not click Exit: heard.cli.main drops its code
        result = cal.judge(phases[cal.EMPLOYEE], phases[cal.CUSTOMER], config)
        _report(result)
        if not result.calibration():
            click.echo("Nothing stored.")
            raise SystemExit(1)
        _store(session, result, config, yes, dry_run)
