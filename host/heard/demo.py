"""``heard demo``: the whole path on one machine, from a counter's audio to the host.

Synthesizes counter conversations (``heard synth``), plays them into an emulated device
(the real firmware on the MicroPython unix port, on a pseudo-terminal), syncs the device
into a fresh database over that serial port, and prints what the host received.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from heard.db import Database
from heard.device.client import DeviceClient
from heard.device.emulator import Emulator, provision
from heard.device.link import open_port
from heard.device.sync_command import SyncResult, sync_device
from heard.errors import HeardError


def _wait_until_played(client: DeviceClient, audio_ms: int, timeout: float) -> dict:
    """Poll hello until the device has played the audio and written what it found."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.hello()
        if info["uptime_ms"] >= audio_ms and not info["pending"]:
            return info
        time.sleep(0.2)
    raise HeardError("the emulated device did not finish playing the conversations in time")


def run_demo(out: Path, n: int, seed: int, console: Console) -> SyncResult:
    from heard.synth import generate_corpus

    if out.exists():
        shutil.rmtree(out)
    corpus = out / "corpus"
    console.print(f"[bold]1.[/] synthesizing {n} counter conversations into {corpus}")
    generate_corpus(corpus, n=n, seed=seed, channels=2)
    wavs = sorted(corpus.glob("*.wav"))
    import soundfile

    gap_ms = 12000  # between customers: longer than the 8 s that ends a conversation
    audio_ms = int(sum(soundfile.info(str(w)).duration for w in wavs) * 1000)
    audio_ms += gap_ms * (len(wavs) - 1)
    flash = out / "device-flash"
    device_id, secret = provision(flash, "demo-lane-1")
    db = Database.open(out / "heard.db")
    db.set_secret(device_id, secret)
    console.print(f"[bold]2.[/] playing {audio_ms / 1000:.0f} s of audio into emulated "
                  f"device {device_id} (firmware on the MicroPython unix port)")
    # The idle time after the last conversation must pass before it is written.
    with Emulator(wavs, flash, fast=True, gap_ms=gap_ms) as emu:
        console.print(f"   its serial port is {emu.port}")
        port = open_port(emu.port)
        try:
            client = DeviceClient(port)
            _wait_until_played(client, audio_ms + 9000, timeout=120)
            console.print(f"[bold]3.[/] heard sync --port {emu.port} --db {out / 'heard.db'}")
            result = sync_device(port, db, port_name=emu.port)
        finally:
            port.close()
    _show(console, db, result)
    db.close()
    return result


def _show(console: Console, db: Database, result: SyncResult) -> None:
    console.print(f"   received {result.new} records ({result.conversations} conversations, "
                  f"{result.events} events) from {result.device_id}; "
                  f"acknowledged up to {result.acked}; device clock set")
    rows = db.conn.execute(
        "SELECT seq, duration_ms, employee_ms, customer_ms, talk_ratio, turns,"
        " interruptions_by_employee, interruptions_by_customer, backchannels_by_employee,"
        " backchannels_by_customer, longest_employee_monologue_ms,"
        " longest_customer_story_ms, median_latency_ms FROM conversations"
        " WHERE device_id = ? ORDER BY seq", (result.device_id,)).fetchall()
    table = Table(title="Conversations the host received")
    for name in ("#", "length", "emp %", "turns", "int e/c", "bc e/c", "monol.", "story",
                 "patience"):
        table.add_column(name, justify="right")
    for r in rows:
        ratio = "-" if r[4] is None else f"{r[4] * 100:.0f}%"
        patience = "-" if r[12] is None or r[12] < 0 else f"{r[12] / 1000:.1f} s"
        table.add_row(str(r[0]), f"{r[1] / 1000:.0f} s", ratio, str(r[5]), f"{r[6]}/{r[7]}",
                      f"{r[8]}/{r[9]}", f"{r[10] / 1000:.1f} s", f"{r[11] / 1000:.1f} s",
                      patience)
    console.print(table)
    console.print("   emp %: employee share of the talk; int e/c: interruptions by the "
                  "employee / the customer; bc: backchannels; monol.: longest employee "
                  "monologue; story: longest customer story; patience: median pause before "
                  "the employee answers")
    names = db.conn.execute(
        "SELECT name, COUNT(*) FROM events WHERE device_id = ? GROUP BY name ORDER BY name",
        (result.device_id,)).fetchall()
    console.print("   events: " + ", ".join(f"{n} x{c}" for n, c in names))


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("build/demo"), show_default=True,
              help="Folder for the demo's audio, device flash and database (replaced).")
@click.option("--n", "n", default=4, show_default=True, help="Conversations to synthesize.")
@click.option("--seed", default=7, show_default=True)
def demo(out: Path, n: int, seed: int) -> None:
    """Emulated device -> serial sync -> database, on synthesized counter audio."""
    console = Console()
    run_demo(out, n, seed, console)
    console.print(f"[bold]done:[/] everything is in {out}/ (database: {out / 'heard.db'})")
