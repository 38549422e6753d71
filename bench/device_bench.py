"""Device figures for `make bench`: record sizes, flash use, sync throughput, SQLite rate,
and the app's heap on the unix port.

Sync is measured end to end: the emulated device (firmware on the MicroPython unix port)
serves a pre-filled record log over a pty, through a proxy that paces bytes like a UART at
115200 baud, to `sync_device` writing into SQLite.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from heard.db import Database
from heard.device.emulator import Emulator, provision
from heard.device.link import open_port
from heard.device.proxy import LinkProxy
from heard.device.sync_command import sync_device
from heard.mpytools import compiled_firmware, find_micropython, micropython_env
from heardcore import record
from heardcore.events import Conversation
from heardcore.recordlog import RecordLog

ROOT = Path(__file__).resolve().parent.parent
BAUD = 115200
DATA_AREA = 2 * 1024 * 1024
PER_DAY = 500


def _conversation(i: int) -> Conversation:
    conv = Conversation()
    conv.start_ms, conv.end_ms = 0, 40_000 + i % 50_000
    conv.talk_ms[0], conv.talk_ms[1] = 12_000 + i % 7000, 15_000
    conv.turns, conv.switches, conv.median_latency_ms = 12, 11, 600
    return conv


def _folder_free(root: Path, capacity: int):  # type: ignore[no-untyped-def]
    """Free bytes of a folder as the emulator counts them (4 KiB blocks, metadata)."""
    def free() -> int:
        used = 8192
        for name in os.listdir(root):
            used += (os.stat(root / name).st_size + 4095) // 4096 * 4096
        return max(0, capacity - used)
    return free


def _fill(root: Path, n: int | None, capacity: int = 1 << 30) -> RecordLog:
    root.mkdir(parents=True, exist_ok=True)
    log = RecordLog(str(root), _folder_free(root, capacity))
    log.open()
    i = 0
    while n is None or i < n:
        raw = record.conversation(log.next_seq, 0x5EED, 1000 * i, 0, _conversation(i), 2)
        if not log.append(raw):
            break
        i += 1
    return log


def flash_use() -> str:
    conv = record.conversation(1, 1, 0, 0, _conversation(0), 2)
    event = record.event(1, 1, 0, 0, record.EVENT_MUTE_ON)
    with tempfile.TemporaryDirectory() as tmp:
        log = _fill(Path(tmp) / "data", None, DATA_AREA)
        kept = log.next_seq - 1
        stored = log.stored_bytes()
    per_conv = DATA_AREA / kept
    return "\n".join([
        (f"- record size: conversation {len(conv)} B, event {len(event)} B + its text "
        f"(at most {record.MAX_TEXT} B)"),
        (f"- a 2 MiB data area (4 KiB blocks, 8 KiB kept free for the state file) holds "
        f"{kept:,} conversation records ({stored:,} B of records): {per_conv:.0f} B of flash "
        f"per conversation, segment and filesystem overhead included"),
        (f"- at {PER_DAY} conversations a day (a busy counter) that is "
        f"**{kept / PER_DAY:.0f} days** between syncs before the device starts counting "
        f"dropped conversations (boot and other events take a little of it)"),
    ])


def sync_throughput(n: int = 1200) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        flash = Path(tmp) / "flash"
        device_id, secret = provision(flash, "bench-1")
        _fill(flash / "data", n)
        db = Database.open(Path(tmp) / "heard.db")
        db.set_secret(device_id, secret)
        with Emulator([], flash) as emu:
            time.sleep(0.5)
            with LinkProxy(emu.port, baud=BAUD) as proxy:
                port = open_port(proxy.port)
                try:
                    start = time.perf_counter()
                    result = sync_device(port, db, timeout=2.0)
                    elapsed = time.perf_counter() - start
                finally:
                    port.close()
                wire_bytes = proxy.stats.bytes_to_device + proxy.stats.bytes_to_host
        db.close()
    record_bytes = result.new * len(record.conversation(1, 1, 0, 0, _conversation(0), 2))
    line_rate = BAUD / 10
    return "\n".join([
        (f"- {result.new:,} records ({record_bytes:,} B) synced through a proxy paced at "
        f"{BAUD} baud ({line_rate:,.0f} B/s each way) in {elapsed:.2f} s, hello, auth, ack, "
        f"clock and bye included"),
        (f"- record bytes per second: {record_bytes / elapsed:,.0f} B/s = "
        f"**{record_bytes / elapsed / line_rate:.0%} of the line rate**; all bytes on the "
        f"wire (framing, escapes, requests): {wire_bytes:,} B"),
        f"- {result.new / elapsed:,.0f} records per second end to end",
    ])


def sqlite_rate(n: int = 100_000) -> str:
    raws = [record.conversation(i + 1, 7, 1000 * i, 1_790_000_000 + i, _conversation(i), 2)
            for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.open(Path(tmp) / "heard.db")
        db.set_secret("bench-1", bytes(32))
        start = time.perf_counter()
        for i in range(0, n, 48):  # a sync batch of 4 KiB holds 48 conversation records
            db.store_records("bench-1", "1", raws[i:i + 48], next_seq=min(i + 49, n + 1))
        elapsed = time.perf_counter() - start
        db.close()
    return (f"- {n:,} conversation records stored (decoded, checked, one transaction per "
            f"48-record batch): {n / elapsed:,.0f} records/s into SQLite")


def app_memory() -> str:
    modules = compiled_firmware(ROOT / "firmware")
    script = (
        "import gc, micropython\n"
        "gc.collect()\n"
        "from heardapp.app import App\n"
        "from heardapp.hw_unix import UnixHardware\n"
        "import sys\n"
        "hw = UnixHardware([], sys.argv[1], fast=True, exit_when_done=True, tail_ms=3000)\n"
        "app = App(hw)\n"
        "app.boot()\n"
        "gc.collect()\n"
        "booted = gc.mem_alloc()\n"
        "while not hw.finished():\n"
        "    app.step()\n"
        "gc.collect()\n"
        "print(booted, gc.mem_alloc(), gc.mem_alloc() + gc.mem_free())\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mem.py"
        path.write_text(script)
        out = subprocess.run(
            [find_micropython(), "-X", "heapsize=192k", str(path), str(Path(tmp) / "flash")],
            env=micropython_env([modules]), capture_output=True, text=True, check=True,
            stdin=subprocess.DEVNULL,
        ).stdout.split()
    booted, after, total = (int(v) for v in out[-3:])
    return "\n".join([
        (f"- the whole app (detector, record log, session; modules precompiled to .mpy) after "
        f"boot: {booted:,} B of a {total:,} B heap on the x64 unix port; {after:,} B after "
        f"3 s of running"),
        ("- the unix port's objects use 8-byte words where the ESP32 uses 4, so this is an "
        "upper bound for the device, whose heap without PSRAM is 111,936 B (FACTS.md). In "
        "a heap of exactly that size the x64 port fails to find 5 KiB in one piece for the "
        "audio block, so the emulator runs with 192 KiB; the detector alone runs in a "
        "64 KiB heap on the unix port (tests/firmware/test_detector*.py). Not yet measured "
        "on an ESP32."),
    ])
