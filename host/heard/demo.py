"""``heard demo``: the whole path on one machine, from two counters' audio to the report.

Synthesizes counter conversations for two lanes of one store (``heard synth``, a seed per
lane), plays each lane's into its own emulated device (the real firmware on the
MicroPython unix port, on a pseudo-terminal; both devices run at once), names the devices
for their lanes, syncs each into a fresh database over its serial port with ``heard
sync``'s code, then builds the report: printed in the terminal and written as
``report.html`` (``heard report --html``).
"""

from __future__ import annotations

import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console

from heard.db import Database
from heard.device.client import DeviceClient
from heard.device.emulator import Emulator, provision
from heard.device.link import open_port
from heard.device.sync_command import SyncResult, sync_device
from heard.errors import HeardError
from heard.report import Filters, Report, build_report
from heard.report.terminal import render

STORE = "Demo store"
LANES = ("Lane 1", "Lane 2")
GAP_MS = 12_000  # between customers: longer than the 8 s that ends a conversation
IDLE_MS = 9_000  # the idle time after the last conversation that must pass before it is written


@dataclass
class Lane:
    """One lane of the demo: its conversations and its emulated device."""

    name: str
    device_id: str
    wavs: list[Path]
    flash: Path

    @property
    def audio_ms(self) -> int:
        import soundfile

        played = sum(soundfile.info(str(w)).duration for w in self.wavs) * 1000
        return int(played) + GAP_MS * (len(self.wavs) - 1)


def _wait_until_played(client: DeviceClient, audio_ms: int, timeout: float) -> dict:
    """Poll hello until the device has played the audio and written what it found."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.hello()
        if info["uptime_ms"] >= audio_ms and not info["pending"]:
            return info
        time.sleep(0.2)
    raise HeardError("the emulated device did not finish playing the conversations in time")


def _synthesize(out: Path, n: int, seed: int, console: Console) -> list[Lane]:
    from heard.synth import generate_corpus

    lanes = []
    for i, name in enumerate(LANES):
        corpus = out / f"lane-{i + 1}" / "corpus"
        console.print(f"[bold]1.[/] {name}: synthesizing {n} counter conversations "
                      f"(seed {seed + i}) into {corpus}")
        wavs = sorted(generate_corpus(corpus, n=n, seed=seed + i, channels=2))
        lanes.append(Lane(name, f"demo-lane-{i + 1}", wavs, out / f"lane-{i + 1}" / "flash"))
    return lanes


def _play_and_sync(lanes: list[Lane], db: Database, console: Console) -> list[SyncResult]:
    """Run every lane's emulated device at once; sync each when it has played its audio."""
    results = []
    with ExitStack() as stack:
        ports = []
        for lane in lanes:
            emu = stack.enter_context(Emulator(lane.wavs, lane.flash, fast=True,
                                               gap_ms=GAP_MS))
            console.print(f"[bold]2.[/] {lane.name}: emulated device {lane.device_id} plays "
                          f"{lane.audio_ms / 1000:.0f} s of audio (firmware on the MicroPython "
                          f"unix port, serial port {emu.port})")
            port = open_port(emu.port)
            stack.callback(port.close)
            ports.append((lane, emu.port, port))
        for lane, name, port in ports:
            _wait_until_played(DeviceClient(port), lane.audio_ms + IDLE_MS, timeout=180)
            console.print(f"[bold]3.[/] heard sync --port {name} --db {db.path}")
            result = sync_device(port, db, port_name=name)
            console.print(f"   {lane.name}: received {result.new} records "
                          f"({result.conversations} conversations, {result.events} events) "
                          f"from {result.device_id}; device clock set")
            results.append(result)
    return results


def run_demo(out: Path, n: int, seed: int, console: Console) -> Report:
    """Run the demo into ``out`` (replaced); the report it wrote to ``out/report.html``."""
    from heard.report.html import write_html

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    lanes = _synthesize(out, n, seed, console)
    with Database.open(out / "heard.db") as db:
        for i, lane in enumerate(lanes):
            device_id, secret = provision(lane.flash, lane.device_id)
            db.set_secret(device_id, secret)
            db.name_device(device_id, store=STORE, lane=lane.name, name=f"Counter {i + 1}")
        _play_and_sync(lanes, db, console)
        report = build_report(db, Filters(None, None, None, None, None, None, 7))
    console.print(f"[bold]4.[/] heard report --db {out / 'heard.db'} "
                  f"--html {out / 'report.html'}")
    write_html(report, out / "report.html")
    console.print()
    render(report, console)
    return report


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("build/demo"), show_default=True,
              help="Folder for the demo's audio, device flash, database and report (replaced).")
@click.option("--n", "n", default=6, show_default=True,
              help="Conversations to synthesize per lane.")
@click.option("--seed", default=7, show_default=True, help="Lane 1's seed; Lane 2 uses the next.")
def demo(out: Path, n: int, seed: int) -> None:
    """Two lanes: emulated devices -> serial sync -> database -> report (terminal and HTML)."""
    console = Console()
    start = time.monotonic()
    run_demo(out, n, seed, console)
    page = (out / "report.html").resolve()
    console.print(f"\n[bold]done[/] in {time.monotonic() - start:.0f} s: everything is in "
                  f"{out}/ (database: {out / 'heard.db'})")
    console.print(f"[bold]The report for store managers:[/] {page}", soft_wrap=True)
    console.print(f"   open it in a browser: {page.as_uri()}", soft_wrap=True)
