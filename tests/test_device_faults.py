"""Fault tests of the emulated device (the firmware on the MicroPython unix port, on a pty).

Power cuts at random points (SIGKILL) while the device records, with writes torn into
8-byte pieces: what the firmware reported as written survives, a torn tail is cut and
numbering goes on, and every record the device ever held intact reaches the host once. A
flaky link (dropped, corrupted, duplicated bytes and a burst of garbage), syncs cut off
before the acknowledgement or in the middle of fetching, thousands of random and malformed
requests on the serial port, a full data area, and a wrong secret: no record is lost,
duplicated or changed, and nothing the host did not authenticate changes the device.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from heard.db import Database
from heard.device.client import DeviceClient, FrameReader
from heard.device.emulator import Emulator, provision, wait_for
from heard.device.link import open_port
from heard.device.proxy import Faults, LinkProxy
from heard.device.sync_command import sync_device
from heard.errors import HeardError
from heardcore import record, wire
from heardcore.recordlog import RecordLog

pytestmark = [pytest.mark.micropython, pytest.mark.timeout(300)]

CONFIG = {"conversation_idle_ms": 2000}  # conversations end often: many writes to cut
SYNC_BOOT_NAMES = {"boot", "clock_set", "audio_gap"}  # what a device listening to silence writes


# --- the device's flash, read from the host side without changing it ----------------------


@dataclass
class LogState:
    """What a device's next boot will find in its data area."""

    records: dict[int, bytes]  # seq -> raw, every intact record
    first: int
    next: int
    acked: int
    dropped: int
    cut: int  # bytes the next boot cuts off a torn tail


def log_state(flash: Path) -> LogState:
    """Open a copy of the data area (repairing the copy, as the device's next boot would)."""
    with tempfile.TemporaryDirectory(prefix="heard-log-") as tmp:
        copy = Path(tmp) / "data"
        copy.mkdir()
        for path in (flash / "data").iterdir():
            try:
                shutil.copyfile(path, copy / path.name)
            except FileNotFoundError:
                pass  # a temporary file the running device just renamed
        log = RecordLog(str(copy), lambda: 1 << 30)
        log.open()
        records: dict[int, bytes] = {}
        seq = log.first_seq
        while seq < log.next_seq:
            raws, resume = log.read(seq, 1 << 20)
            for raw in raws:
                seq_of = record.decode(raw)["seq"]
                assert seq_of not in records, f"seq {seq_of} twice on flash"
                records[seq_of] = bytes(raw)
            assert resume > seq
            seq = resume
        return LogState(records, log.first_seq, log.next_seq, log.acked, log.dropped,
                        log.cut_bytes)


def segment_bytes(flash: Path) -> int:
    """Bytes in the data area's segment files, as the file system says."""
    return sum(p.stat().st_size for p in (flash / "data").glob("seg-*.log"))


def tear(flash: Path, rng: random.Random) -> int:
    """Append the first bytes of a record to the newest segment, as a write cut off by a
    power cut leaves it; how many bytes."""
    segs = sorted((flash / "data").glob("seg-*.log"))
    if not segs:
        return 0
    raw = record.event(1 << 30, 1, 0, 0, record.EVENT_ERROR, text="torn")
    n = rng.randrange(1, len(raw))
    with segs[-1].open("ab") as f:
        f.write(raw[:n])
    return n


def assert_contiguous(state: LogState) -> None:
    """Numbering without holes or repeats from the oldest record kept to the next one."""
    assert sorted(state.records) == list(range(state.first, state.next)), (
        f"seqs on flash {sorted(state.records)[:3]}..{sorted(state.records)[-3:]}, "
        f"first {state.first}, next {state.next}")


def remember(ever: dict[int, bytes], records: dict[int, bytes]) -> None:
    """Add intact records to ``ever``; a record once intact never changes its bytes."""
    for seq, raw in records.items():
        if seq in ever:
            assert ever[seq] == raw, f"record {seq} changed on flash"
        else:
            ever[seq] = raw


def only_own_events(records: dict[int, bytes], after: int) -> None:
    """Records numbered after ``after`` are only what a device listening to silence in
    real time writes by itself (its clock being set, audio gaps on a busy host)."""
    for seq, raw in records.items():
        if seq > after:
            rec = record.decode(raw)
            assert rec["kind"] == "event" and rec["name"] in SYNC_BOOT_NAMES, rec


def db_records(db: Database, device_id: str) -> dict[tuple[int, int], bytes]:
    rows = db.conn.execute("SELECT boot_id, seq, raw FROM records WHERE device_id = ?",
                           (device_id,)).fetchall()
    out = {(int(b), int(s)): bytes(raw) for b, s, raw in rows}
    assert len(out) == len(rows)
    seqs = [s for _b, s in out]
    assert len(seqs) == len(set(seqs)), "one seq stored under two boot ids"
    return out


def keyed(records: dict[int, bytes]) -> dict[tuple[int, int], bytes]:
    out = {}
    for seq, raw in records.items():
        out[(record.decode(raw)["boot_id"], seq)] = raw
    return out


# --- devices --------------------------------------------------------------------------------


def firmware_trouble(emu: Emulator) -> list[str]:
    """Debug lines that show the firmware hit an exception."""
    return [line for line in emu.debug_lines
            if line.startswith("error") or "Traceback" in line or "Error" in line]


def drain_debug(emu: Emulator) -> None:
    """Let the thread that reads the firmware's stderr catch up after it exited."""
    seen = -1
    deadline = time.monotonic() + 2
    while len(emu.debug_lines) != seen and time.monotonic() < deadline:
        seen = len(emu.debug_lines)
        time.sleep(0.03)


def cut_power(wavs: list[Path], flash: Path, delay: float) -> Emulator:
    """Record in fast mode with writes torn into 8-byte pieces; SIGKILL after ``delay`` s."""
    emu = Emulator(wavs, flash, fast=True, write_chunk=8)
    try:
        emu.start()
        time.sleep(delay)
    finally:
        emu.kill()
        emu.close()
    drain_debug(emu)
    assert emu.exit_codes == [-9], (emu.exit_codes, emu.debug_lines[-5:])
    return emu


def boot_once(flash: Path) -> Emulator:
    """Start the device, let it boot (repairing its log), and stop it at once cleanly."""
    emu = Emulator([], flash, fast=True, exit_when_done=True, tail_ms=0)
    try:
        emu.start()
        assert emu.wait(30) == 0, emu.debug_lines[-5:]
    finally:
        emu.stop()
    drain_debug(emu)
    return emu


@contextmanager
def listening(flash: Path, booted: bool = True, **kwargs: Any) -> Iterator[Emulator]:
    """A device without WAVs, listening to silence in real time (once it has written
    its boot event, if ``booted``)."""
    with Emulator([], flash, **kwargs) as emu:
        if booted:
            assert wait_for(lambda: emu.written() or not emu.running(), 10)
            assert emu.running(), emu.debug_lines[-5:]
        yield emu


@contextmanager
def serial(port_name: str) -> Iterator[Any]:
    port = open_port(port_name)
    try:
        yield port
    finally:
        port.close()


CONV = SimpleNamespace(
    start_ms=0, end_ms=8000, talk_ms=(3000, 2000), overlap_ms=0, turns=3, switches=2,
    interruptions=(0, 0), backchannels=(1, 1), longest_employee_monologue_ms=1500,
    longest_customer_story_ms=1200, median_latency_ms=300, latency_count=2, flags=0,
    snr_db=20, clipped_samples=0, lost_ms=0)


def prefill(flash: Path, n: int, seed: int = 0) -> dict[int, bytes]:
    """Write ``n`` records into a device's data area as an earlier boot would have."""
    rng = random.Random(seed)
    log = RecordLog(str(flash / "data"), lambda: 1 << 30)
    log.open()
    boot_id = rng.getrandbits(32)
    out = {}
    for i in range(n):
        seq = log.next_seq
        if i % 7 == 3:
            text = "".join(chr(rng.randrange(32, 127)) for _ in range(rng.randrange(65)))
            raw = record.event(seq, boot_id, 1000 * i, 0, record.EVENT_ERROR, text=text)
        else:
            conv = SimpleNamespace(**vars(CONV))
            conv.end_ms = rng.randrange(1000, 600_000)
            conv.talk_ms = (rng.randrange(60_000), rng.randrange(60_000))
            conv.snr_db = rng.randrange(-5, 60)
            raw = record.conversation(seq, boot_id, 1000 * i, 0, conv, 2)
        assert log.append(raw)
        out[seq] = bytes(raw)
    return out


def new_device(tmp_path: Path, config: dict[str, int] | None = None) -> tuple[Path, str, bytes]:
    flash = tmp_path / "flash"
    device_id, secret = provision(flash)
    if config is not None:
        (flash / "config.json").write_text(json.dumps(config))
    return flash, device_id, secret


def open_db(tmp_path: Path, device_id: str, secret: bytes | None) -> Database:
    db = Database.open(tmp_path / "heard.db")
    if secret is not None:
        db.set_secret(device_id, secret)
    return db


def hello(port_name: str) -> dict[str, Any]:
    with serial(port_name) as port:
        return DeviceClient(port).hello()


# --- 1. power cuts --------------------------------------------------------------------------


@dataclass
class PowerCutStats:
    trials: int = 0
    kills: int = 0
    tears: int = 0  # restarts whose boot event says a torn tail was cut (b > 0)
    hand_tears: int = 0  # of those, tails torn by the test itself
    cut_bytes: int = 0
    syncs: int = 0
    records: int = 0


def power_cuts(wavs: list[Path], tmp_path: Path, trials: int, sync_every: int,
               seed: int, hand_tear_every: int = 0) -> PowerCutStats:
    """``trials`` power cuts while recording, each followed by a power-on and checks;
    a sync every ``sync_every`` trials and at the end. Every ``hand_tear_every``-th trial
    also tears the tail by hand, so the repair path runs whatever the timing."""
    flash, device_id, secret = new_device(tmp_path, CONFIG)
    db = open_db(tmp_path, device_id, secret)
    rng = random.Random(seed)
    stats = PowerCutStats()
    ever: dict[int, bytes] = {}  # seq -> raw of every record the device held intact
    reported: set[int] = set()  # seqs the firmware said it had written and flushed
    sync_boots: set[int] = set()  # boots that served a sync (their own records: see below)
    playlist = list(wavs) * 4  # ~6.5 min of audio: recording until the power goes
    try:
        for trial in range(trials):
            stats.trials += 1
            # Mostly one cut while recording; sometimes a second one soon after the next
            # power-on, while the device boots and repairs its log.
            delays = [rng.uniform(0.02, 0.8)]
            if rng.random() < 0.2:
                delays.append(rng.uniform(0.0, 0.15))
            for delay in delays:
                emu = cut_power(playlist, flash, delay)
                stats.kills += 1
                assert not firmware_trouble(emu), firmware_trouble(emu)
                before = log_state(flash)
                wrote = set(emu.written())
                missing = sorted(s for s in wrote if s not in before.records and s > before.acked)
                assert not missing, f"trial {trial}: reported written, then gone: {missing}"
                reported |= wrote
                remember(ever, before.records)
            torn = 0
            if hand_tear_every and trial % hand_tear_every == hand_tear_every - 1:
                torn = tear(flash, rng)
                if torn:
                    cut_by_kill = before.cut
                    before = log_state(flash)
                    assert before.cut == cut_by_kill + torn
            size_before = segment_bytes(flash)
            # Power on again: the boot cuts the torn tail, says how much, numbers on.
            emu = boot_once(flash)
            assert not firmware_trouble(emu), firmware_trouble(emu)
            after = log_state(flash)
            assert after.cut == 0, "a clean stop left a torn tail"
            assert emu.written() == [before.next], (emu.written(), before.next)
            boot = record.decode(after.records[before.next])
            assert boot["name"] == "boot" and boot["a"] == 6
            assert boot["b"] == before.cut, "the boot event must give the bytes cut"
            assert boot["b"] == size_before + len(after.records[before.next]) \
                - segment_bytes(flash), "the bytes cut, as the file system sees them"
            if boot["b"] > 0:
                stats.tears += 1
                stats.hand_tears += torn > 0
                stats.cut_bytes += boot["b"]
            lost = sorted(set(before.records) - set(after.records))
            assert not lost, f"trial {trial}: intact records lost at boot: {lost}"
            assert_contiguous(after)
            assert after.acked == before.acked
            remember(ever, after.records)
            unsynced = {s for s in reported if s > after.acked}
            assert unsynced <= set(after.records), sorted(unsynced - set(after.records))
            if (trial + 1) % sync_every == 0 or trial + 1 == trials:
                final = trial + 1 == trials
                sync_boots.add(sync_into(flash, db, device_id, ever, final=final))
                stats.syncs += 1
        # The host holds exactly what the device ever held intact, each record once.
        stored = db_records(db, device_id)
        top = max(s for _b, s in stored)
        assert sorted(s for _b, s in stored) == list(range(1, top + 1))
        expected = keyed({s: raw for s, raw in ever.items() if s <= top})
        own = {k: v for k, v in stored.items() if k not in expected}
        # A device listening to silence writes in real time (its boot, the clock the sync
        # sets, audio gaps on a busy host) and a sync may take such a record before a
        # snapshot of the flash saw it: those are the only records allowed beyond `ever`.
        for (boot_id, _seq), raw in own.items():
            rec = record.decode(raw)
            assert boot_id in sync_boots and rec["kind"] == "event", rec
            assert rec["name"] in SYNC_BOOT_NAMES, rec
        assert {k: stored[k] for k in expected.keys() & stored.keys()} == expected
        assert expected.keys() <= stored.keys(), sorted(expected.keys() - stored.keys())[:5]
        assert reported <= {s for _b, s in stored}
        # Anything newer than the last sync is still on the device.
        left = log_state(flash)
        assert {s for s in ever if s > top} <= set(left.records)
        stats.records = len(stored)
    finally:
        db.close()
    return stats


def sync_into(flash: Path, db: Database, device_id: str, ever: dict[int, bytes],
              final: bool) -> int:
    """Sync the device into ``db`` (twice at the end, to fetch the clock_set event the
    first sync causes); the boot id that served it."""
    with listening(flash) as emu, serial(emu.port) as port:
        remember(ever, log_state(flash).records)
        info = DeviceClient(port).hello()
        results = [sync_device(port, db)]
        assert results[0].acked == max(s for _b, s in db_records(db, device_id))
        # The clock_set event the sync caused is written at once (no conversation is open).
        assert wait_for(lambda: len(emu.written()) >= 2, 10), emu.debug_lines[-5:]
        state = log_state(flash)
        remember(ever, state.records)
        if final:
            results.append(sync_device(port, db))
        assert not firmware_trouble(emu), firmware_trouble(emu)
    for result in results:
        assert not result.gaps and result.duplicates == 0 and not result.restarted, result
    return int(info["boot"])


def test_power_cuts_quick(device_wavs: list[Path], tmp_path: Path) -> None:
    stats = power_cuts(device_wavs, tmp_path, trials=12, sync_every=6, seed=1,
                       hand_tear_every=4)
    assert stats.kills >= 12 and stats.syncs == 2 and stats.records > 12
    assert stats.hand_tears == 3, stats  # the repair path ran, whatever the timing


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_power_cuts(device_wavs: list[Path], tmp_path: Path) -> None:
    stats = power_cuts(device_wavs, tmp_path, trials=200, sync_every=50, seed=2024)
    print(stats)
    assert stats.kills >= 200 and stats.syncs == 4 and stats.hand_tears == 0
    # The torn-tail path really ran: some cuts landed in the middle of a record's writes.
    assert stats.tears >= 3, stats


# --- 2. a flaky link ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sync_over_a_flaky_link_loses_and_duplicates_nothing(tmp_path: Path,
                                                             seed: int) -> None:
    flash, device_id, secret = new_device(tmp_path)
    prefilled = prefill(flash, 300, seed)
    db = open_db(tmp_path, device_id, secret)
    faults = Faults(drop=1e-3, corrupt=1e-3, duplicate=1e-3, burst_at=3000 + 1000 * seed,
                    burst_len=64, seed=seed)
    try:
        with listening(flash) as emu:
            own = log_state(flash).records  # the prefilled ones and this boot's event
            assert len(own) == 301
            with LinkProxy(emu.port, faults=faults) as proxy, serial(proxy.port) as port:
                result = sync_device(port, db, timeout=0.3)
            info = hello(emu.port)
            assert not firmware_trouble(emu)
        stored = db_records(db, device_id)
        assert {k: v for k, v in stored.items() if k[1] <= 301} == keyed(own)
        assert keyed(prefilled).items() <= stored.items()
        assert result.new == len(stored) and result.duplicates == 0 and not result.gaps
        assert info["acked"] == result.acked == max(s for _b, s in stored)
        s = proxy.stats
        assert s.dropped and s.corrupted and s.duplicated and s.burst == 64, s
    finally:
        db.close()


# --- 3. a sync cut off ----------------------------------------------------------------------


class HostDied(Exception):
    """The host process stops in the middle of a sync."""


def check_synced(db: Database, device_id: str, prefilled: dict[int, bytes],
                 flash: Path, port_name: str) -> None:
    """The database holds every record once, and the device acknowledged the last one."""
    stored = db_records(db, device_id)
    seqs = sorted(s for _b, s in stored)
    assert seqs == list(range(1, len(seqs) + 1))
    assert keyed(prefilled).items() <= stored.items()
    extra = sorted((s, raw) for (_b, s), raw in stored.items() if s not in prefilled)
    assert record.decode(extra[0][1])["name"] == "boot"
    only_own_events(dict(extra[1:]), 0)
    info = hello(port_name)
    assert info["acked"] == seqs[-1]
    # Whatever came after the acknowledgement is still on the device.
    assert set(range(info["acked"] + 1, info["next"])) <= set(log_state(flash).records)


def test_a_sync_cut_off_before_the_ack_is_finished_by_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flash, device_id, secret = new_device(tmp_path)
    prefilled = prefill(flash, 200)
    db = open_db(tmp_path, device_id, secret)
    real_ack = DeviceClient.ack

    def unplugged(self: DeviceClient, seq: int) -> int:
        self.port.close()  # the cable comes out after the records were stored
        return real_ack(self, seq)

    try:
        with listening(flash) as emu:
            with monkeypatch.context() as m, serial(emu.port) as port:
                m.setattr(DeviceClient, "ack", unplugged)
                with pytest.raises(HeardError, match="lost the connection"):
                    sync_device(port, db)
            assert db.counts(device_id).records >= 201  # stored before the ack
            assert hello(emu.port)["acked"] == 0  # but not acknowledged
            with serial(emu.port) as port:
                again = sync_device(port, db)
            assert again.duplicates == 0 and not again.gaps and again.acked
            check_synced(db, device_id, prefilled, flash, emu.port)
            # The clock_set event of the second sync comes with the next one.
            assert wait_for(lambda: len(emu.written()) >= 2, 10)
            with serial(emu.port) as port:
                third = sync_device(port, db)
            assert third.new >= 1 and third.duplicates == 0 and not third.gaps
            check_synced(db, device_id, prefilled, flash, emu.port)
            assert not firmware_trouble(emu), firmware_trouble(emu)
    finally:
        db.close()


@pytest.mark.parametrize("where", ["get", "store"])
def test_a_sync_cut_off_while_fetching_is_finished_by_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    flash, device_id, secret = new_device(tmp_path)
    prefilled = prefill(flash, 300)
    db = open_db(tmp_path, device_id, secret)
    calls = {"get": 0, "store": 0}
    batches: list[int] = []  # records in each batch fetched
    real_get, real_store = DeviceClient.get, Database._store_one

    def get(self: DeviceClient, *args: Any) -> Any:
        calls["get"] += 1
        if where == "get" and calls["get"] == 3:
            self.port.close()  # unplugged while asking for the third batch
        raws, resume = real_get(self, *args)
        batches.append(len(raws))
        return raws, resume

    def store_one(self: Database, *args: Any) -> None:
        calls["store"] += 1
        if where == "store" and calls["store"] == sum(batches[:2]) + 5:
            raise HostDied()  # in the middle of the third batch's transaction
        real_store(self, *args)

    try:
        with listening(flash) as emu:
            log_id = str(hello(emu.port)["log"])
            with monkeypatch.context() as m, serial(emu.port) as port:
                m.setattr(DeviceClient, "get", get)
                m.setattr(Database, "_store_one", store_one)
                with pytest.raises(HeardError if where == "get" else HostDied):
                    sync_device(port, db, max_bytes=2048)  # ~24 records a batch
            kept = db.counts(device_id).records
            assert kept == sum(batches[:2]) > 0  # two batches were committed, not the third
            assert len(batches) == (2 if where == "get" else 3)
            assert db.cursor(device_id, log_id) == kept + 1
            assert hello(emu.port)["acked"] == 0
            with serial(emu.port) as port:
                again = sync_device(port, db)
            assert again.duplicates == 0 and not again.gaps
            assert again.new >= 301 - kept and again.acked == kept + again.new
            check_synced(db, device_id, prefilled, flash, emu.port)
            assert not firmware_trouble(emu), firmware_trouble(emu)
    finally:
        db.close()


# --- 4. random and malformed requests -------------------------------------------------------


def noise_cases(rng: random.Random, n: int) -> Iterator[tuple[str, bytes]]:
    """Random and malformed requests: each followed by an END, as the device sees them."""
    specials = [b"\xc0", b"\xdb", b"\x03", b"\xdb\xdc", b"\xdb\xe3", b"\x04", b"\r\n"]
    unknown = [k for k in range(256) if k not in wire.COMMAND_NAMES]
    for i in range(n):
        req = rng.randrange(1, 256)
        what = i % 8
        if what == 0:  # random bytes, with frame ends, escapes and control bytes
            parts = [rng.randbytes(rng.randrange(1, 120)) if rng.random() < 0.6
                     else rng.choice(specials) for _ in range(rng.randrange(1, 6))]
            yield "random", b"".join(parts)
        elif what == 1:  # a valid frame with one bit flipped (bad CRC or escape)
            frame = bytearray(wire.encode(rng.choice(wire.PRIVILEGED), req,
                                          rng.randbytes(rng.randrange(8))))
            at = rng.randrange(1, len(frame) - 1)
            frame[at] ^= 1 << rng.randrange(8)
            yield "bad crc", bytes(frame)
        elif what == 2:  # cut short
            frame = wire.encode(rng.choice(list(wire.COMMAND_NAMES)), req,
                                rng.randbytes(rng.randrange(12)))
            yield "truncated", frame[:rng.randrange(1, len(frame) - 1)]
        elif what == 3:  # longer than any request may be
            body = bytes(b for b in rng.randbytes(rng.randrange(420, 1500)) if b != wire.END)
            yield "over-long", wire.encode(wire.HELLO, req, body)[:-1]
        elif what == 4:  # intact, but no such command
            yield "unknown", wire.encode(rng.choice(unknown), req, rng.randbytes(
                rng.randrange(20)))
        elif what == 5:  # a privileged command, intact, without authentication
            kind = rng.choice(wire.PRIVILEGED)
            body = {wire.GET: struct.pack("<IH", 1, 4096), wire.ACK: struct.pack("<I", 1),
                    wire.CLOCK: struct.pack("<I", 1_700_000_000),
                    wire.CONFIG_SET: b'{"conversation_idle_ms": 1000}',
                    wire.LIVE: struct.pack("<H", 100)}.get(kind, b"")
            yield "privileged", wire.encode(kind, req, body)
        elif what == 6:  # a forged proof
            yield "auth", wire.encode(wire.AUTH, req, rng.randbytes(rng.choice([0, 5, 32])))
        else:  # a privileged command with a malformed body
            kind = rng.choice(wire.PRIVILEGED)
            yield "malformed", wire.encode(kind, req, rng.randbytes(rng.randrange(1, 40)))


def expected_answer(chunk: bytes) -> tuple[int, int, int]:
    """(kind, req_id, status) the device must answer a chunk with, without a session."""
    try:
        kind, req_id, _body = wire.decode(chunk)
    except wire.FrameError:
        return wire.BAD_FRAME_ANSWER, 0, wire.E_FRAME
    if kind in (wire.HELLO, wire.BYE):
        status = wire.OK
    elif kind == wire.AUTH:
        status = wire.E_AUTH_FAILED
    elif kind not in wire.COMMAND_NAMES:
        status = wire.E_COMMAND
    else:
        status = wire.E_AUTH_NEEDED
    return kind | wire.ANSWER, req_id, status


class RawHost:
    """Writes bytes to the device's port and reads its answers as frames."""

    def __init__(self, port: Any):
        self.port = port
        self.reader = FrameReader()
        self.req_id = 0

    def exchange(self, data: bytes, timeout: float = 10) -> tuple[list[tuple[int, int, bytes]],
                                                                   dict[str, Any]]:
        """Send ``data`` then a hello; every frame answered before the hello's answer,
        and the hello's JSON."""
        self.req_id = self.req_id % 255 + 1
        self.port.write(data + wire.encode(wire.HELLO, self.req_id))
        answers: list[tuple[int, int, bytes]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.port.read(self.port.in_waiting or 1)
            for chunk in self.reader.feed(got):
                kind, req_id, body = wire.decode(chunk)  # the device sends only frames
                if (kind, req_id) == (wire.HELLO | wire.ANSWER, self.req_id):
                    assert body[0] == wire.OK
                    return answers, json.loads(body[1:])
                answers.append((kind, req_id, body))
        raise AssertionError(f"no answer to hello; {len(answers)} answers before it")


def test_random_and_malformed_requests_change_nothing(tmp_path: Path) -> None:
    flash, _device_id, _secret = new_device(tmp_path, {"conversation_idle_ms": 3000})
    prefill(flash, 20)
    config = (flash / "config.json").read_bytes()
    rng = random.Random(7)
    cases = list(noise_cases(rng, 5000))
    splitter = wire.Splitter(2 * wire.MAX_REQUEST + 8)  # the device's own
    kinds: dict[str, int] = {}
    with listening(flash) as emu, serial(emu.port) as port:
        host = RawHost(port)
        _, first = host.exchange(b"")
        for chunk in wire.encode(wire.HELLO, host.req_id):
            splitter.push(chunk)
        uptimes = [first["uptime_ms"]]
        for start in range(0, len(cases), 30):
            batch = cases[start:start + 30]
            data = b"".join(raw + bytes((wire.END,)) for _what, raw in batch)
            expected = []
            for b in data:
                chunk = splitter.push(b)
                if chunk is not None:
                    expected.append(expected_answer(chunk))
            answers, info = host.exchange(data)
            for b in wire.encode(wire.HELLO, host.req_id):
                splitter.push(b)
            got = [(kind, req_id, body[0]) for kind, req_id, body in answers]
            assert got == expected, f"cases {start}..: {[w for w, _ in batch]}"
            for want, (kind, _r, body) in zip(expected, answers, strict=True):
                if kind in (wire.HELLO | wire.ANSWER, wire.BYE | wire.ANSWER):
                    continue
                assert body[0] != wire.OK
                if want == (wire.BAD_FRAME_ANSWER, 0, wire.E_FRAME):
                    assert body == bytes((wire.E_FRAME,))  # nothing more
                name = wire.STATUS_NAMES[body[0]]
                kinds[name] = kinds.get(name, 0) + 1
            assert info["session"] == "open" and info["acked"] == 0 and info["clock"] == 0
            uptimes.append(info["uptime_ms"])
        last = info
        assert not firmware_trouble(emu), firmware_trouble(emu)
    assert uptimes == sorted(uptimes) and uptimes[-1] > uptimes[0]  # still running
    # Every kind of refusal was exercised, many times.
    assert set(kinds) == {"bad frame", "unknown command", "not authenticated",
                          "authentication failed"}, kinds
    assert min(kinds.values()) > 300 and sum(kinds.values()) > len(cases), kinds
    # Nothing was written or changed: no record but what a listening device writes by
    # itself, no acknowledgement, no clock, no config.
    state = log_state(flash)
    assert last["acked"] == state.acked == 0 and last["next"] <= state.next
    only_own_events(state.records, first["next"] - 1)
    assert not [s for s, raw in state.records.items() if s >= first["next"]
                and record.decode(raw)["name"] != "audio_gap"]
    assert (flash / "config.json").read_bytes() == config
    assert sorted(p.name for p in flash.iterdir()) == ["config.json", "data", "identity.json"]


# --- 5. a full data area --------------------------------------------------------------------

CAPACITY = 28 * 1024  # one 4 KiB segment of records (48 of 85 bytes), then full


def test_a_full_data_area_drops_new_records_and_says_so(device_wavs: list[Path],
                                                        tmp_path: Path) -> None:
    playlist = list(device_wavs) * 3
    # The same audio on a device with room: how many records the detector gives.
    ref_flash, _ref_id, _ = new_device(tmp_path / "ref", CONFIG)
    prefill(ref_flash, 40)
    ref = Emulator(playlist, ref_flash, fast=True, exit_when_done=True, tail_ms=500)
    with ref:
        assert ref.wait(60) == 0
    flash, device_id, secret = new_device(tmp_path, CONFIG)
    prefilled = prefill(flash, 40)
    full = Emulator(playlist, flash, fast=True, exit_when_done=True, tail_ms=500,
                    capacity=CAPACITY)
    with full:
        assert full.wait(60) == 0
    drain_debug(ref)
    drain_debug(full)
    assert not firmware_trouble(full) and not firmware_trouble(ref)
    wrote, should = full.written(), ref.written()
    assert wrote == should[:len(wrote)] and len(should) > len(wrote) + 10
    lost = len(should) - len(wrote)
    state = log_state(flash)
    # Nothing unsynced was overwritten: every record written is still there.
    assert keyed(prefilled).items() <= keyed(state.records).items()
    assert set(wrote) <= set(state.records) and state.next == wrote[-1] + 1
    db = open_db(tmp_path, device_id, secret)
    try:
        with listening(flash, booted=False, capacity=CAPACITY) as emu, \
                serial(emu.port) as port:
            # Still full at this boot: its boot event is one more record lost, and on a
            # busy machine the real-time listening device may also lose an audio_gap
            # event of its own (it counts as dropped like any other record).
            info = DeviceClient(port).hello()
            assert lost + 1 <= info["dropped"] <= lost + 3, (info["dropped"], lost + 1)
            first = sync_device(port, db)
            assert first.dropped >= info["dropped"] and first.new == len(state.records)
            # The sync freed the space: the clock_set event and then a records_dropped
            # event are written, and the next sync brings them.
            assert wait_for(lambda: len(emu.written()) >= 2, 10), emu.debug_lines[-5:]
            second = sync_device(port, db)
            assert not firmware_trouble(emu), firmware_trouble(emu)
        assert second.new >= 2 and not first.gaps and not second.gaps
        stored = db_records(db, device_id)
        assert keyed(state.records).items() <= stored.items()
        dropped = [record.decode(raw) for raw in stored.values()
                   if record.decode(raw)["kind"] == "event"
                   and record.decode(raw)["event"] == record.EVENT_RECORDS_DROPPED]
        # One event, or more when a small event still fitted while conversations did not;
        # each says how many since the last one (a) and the running total (b).
        dropped.sort(key=lambda e: e["b"])
        assert dropped and sum(e["a"] for e in dropped) == dropped[-1]["b"], dropped
        assert dropped[-1]["b"] >= first.dropped
        assert sorted(s for _b, s in stored) == list(range(1, len(stored) + 1))
    finally:
        db.close()


# --- 6. a wrong secret ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["stored", "given"])
def test_a_wrong_secret_reads_and_changes_nothing(tmp_path: Path, how: str) -> None:
    flash, device_id, secret = new_device(tmp_path, {"conversation_idle_ms": 3000})
    prefill(flash, 50)
    config = (flash / "config.json").read_bytes()
    wrong = bytes(b ^ 0x5A for b in secret)
    db = open_db(tmp_path, device_id, wrong if how == "stored" else None)
    try:
        with listening(flash) as emu:
            with serial(emu.port) as port, pytest.raises(HeardError) as caught:
                sync_device(port, db, secret=wrong if how == "given" else None)
            assert "wrong secret" in str(caught.value) and device_id in str(caught.value)
            info = hello(emu.port)
            assert not firmware_trouble(emu)
        assert db.counts().records == 0 and db.cursor(device_id, str(info["log"])) is None
        assert db.conn.execute("SELECT count(*) FROM boots").fetchone()[0] == 0
        assert db.secret(device_id) == (wrong if how == "stored" else None)
        assert info["acked"] == 0 and info["clock"] == 0
        state = log_state(flash)
        assert state.acked == 0 and set(range(1, 52)) <= set(state.records)
        boot = record.decode(state.records[51])
        assert boot["name"] == "boot" and state.next >= info["next"]
        # Nothing the sync would have caused (a clock_set event): only gaps, if any.
        assert not [s for s, raw in state.records.items() if s > 51
                    and record.decode(raw)["name"] != "audio_gap"]
        assert (flash / "config.json").read_bytes() == config
    finally:
        db.close()
