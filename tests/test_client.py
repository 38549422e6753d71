"""The protocol client and sync against a scripted fake device on a real pty pair.

The fake device is built only from ``heardcore.wire``, ``record`` and ``auth`` and runs in a
thread on the pty's master end; the client opens the slave end through ``open_port``
like any serial port. Faults are scripted per command: drop, corrupt or duplicate an
answer, send device text, answer "bad frame".
"""

from __future__ import annotations

import errno
import json
import os
import select
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import serial

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.db import Database
from heard.device import link
from heard.device.client import DeviceClient, DeviceError, FrameReader
from heard.device.sync_command import start_seq, sync_device
from heard.errors import HeardError
from heardcore import auth, record, wire

pytestmark = pytest.mark.timeout(60)

SECRET = bytes(range(32))
DEVICE = "heard-fake01"
BOOT = 0xB007


def conversation(seq: int, boot: int = BOOT, clock_s: int = 0) -> bytes:
    conv = SimpleNamespace(
        start_ms=0, end_ms=8000, talk_ms=(3000, 2000), overlap_ms=0, turns=3, switches=2,
        interruptions=(0, 0), backchannels=(1, 1), longest_employee_monologue_ms=1500,
        longest_customer_story_ms=1200, median_latency_ms=300, latency_count=2, flags=0,
        snr_db=20, clipped_samples=0, lost_ms=0)
    return bytes(record.conversation(seq, boot, 10_000 * seq, clock_s, conv, 2))


def event(seq: int, boot: int = BOOT) -> bytes:
    return bytes(record.event(seq, boot, 500, 0, record.EVENT_BOOT, 1, 0, "0.1.0"))


class FakeDevice:
    """A heard device on a pty: hello, auth, get, ack, clock, config, live, bye."""

    def __init__(self, records: dict[int, bytes] | None = None, *, next_seq: int | None = None,
                 first: int | None = None, log: str = "log-1", dropped: int = 0,
                 heard_protocol: int = 1, repl: bool = False):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.records = dict(records or {})
        self.next_seq = next_seq or (max(self.records, default=0) + 1)
        self.first = first or min(self.records, default=self.next_seq)
        self.log, self.dropped, self.protocol, self.repl = log, dropped, heard_protocol, repl
        self.acked = 0
        self.boot = BOOT
        self.clock = 0
        self.config: dict[str, Any] = {"vad_threshold": 5}
        self.faults: list[tuple[str, str]] = []  # (command name, action), used in order
        self.received: list[tuple[str, int, bytes]] = []  # (command, req_id, body)
        self.challenge = b""
        self.authed = False
        self.last_answer = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self.slave)

    def commands(self) -> list[str]:
        return [name for name, _, _ in self.received]

    # --- the device loop -----------------------------------------------------------------

    def _run(self) -> None:
        splitter = wire.Splitter(260)
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if self.repl:
                self._send(b"\r\nMicroPython v1.23.0 on 2024-06-02; ESP32 with ESP32\r\n>>> ")
                continue
            for b in data:
                chunk = splitter.push(b)
                if chunk is not None:
                    self._frame(chunk)

    def _send(self, data: bytes) -> None:
        os.write(self.master, data)

    def _frame(self, chunk: bytes) -> None:
        try:
            kind, req_id, body = wire.decode(chunk)
        except wire.FrameError:
            self._send(wire.encode(wire.BAD_FRAME_ANSWER, 0, bytes((wire.E_FRAME,))))
            return
        name = wire.COMMAND_NAMES.get(kind, "?")
        self.received.append((name, req_id, body))
        status, answer = self._handle(kind, body)
        frame = wire.encode(kind | wire.ANSWER, req_id, bytes((status,)) + answer)
        self._deliver(name, frame)

    def _deliver(self, name: str, frame: bytes) -> None:
        action = ""
        for i, (command, what) in enumerate(self.faults):
            if command == name:
                action = what
                del self.faults[i]
                break
        if action == "drop":
            pass
        elif action == "corrupt":
            damaged = bytearray(frame)
            damaged[len(damaged) // 2] ^= 0x55
            self._send(bytes(damaged))
        elif action == "stale":  # the previous answer again, then this one
            self._send(self.last_answer + frame)
        elif action == "double":
            self._send(frame + frame)
        elif action == "text":
            self._send(b"Traceback (most recent call last):\r\n  oops\r\n" + frame)
        elif action == "late":  # after the client gave up waiting and sent it again
            time.sleep(0.45)
            self._send(frame)
        elif action == "badframe":
            self._send(wire.encode(wire.BAD_FRAME_ANSWER, 0, bytes((wire.E_FRAME,))))
        else:
            self._send(frame)
        if action != "drop":
            self.last_answer = frame

    def _handle(self, kind: int, body: bytes) -> tuple[int, bytes]:
        if kind == wire.HELLO:
            return wire.OK, self._hello()
        if kind == wire.AUTH:
            proof = auth.proof(SECRET, self.challenge, DEVICE)
            good = bool(self.challenge) and auth.same(proof, body)
            self.challenge = b""  # one attempt per challenge
            self.authed = good
            return (wire.OK, b"") if good else (wire.E_AUTH_FAILED, b"bad proof")
        if kind == wire.BYE:
            self.authed = False
            return wire.OK, b""
        if kind in wire.PRIVILEGED and not self.authed:
            return wire.E_AUTH_NEEDED, b"hello and auth first"
        return self._privileged(kind, body)

    def _hello(self) -> bytes:
        self.challenge = os.urandom(auth.CHALLENGE_SIZE)
        info = {"heard": self.protocol, "device": DEVICE, "firmware": "0.1.0", "boot": self.boot,
                "uptime_ms": 3_600_000, "clock": self.clock, "log": self.log,
                "first": self.first, "next": self.next_seq, "acked": self.acked,
                "free": 100000, "dropped": self.dropped, "channels": 2, "listening": True,
                "muted": False, "session": "open", "challenge": self.challenge.hex()}
        return json.dumps(info).encode()

    def _privileged(self, kind: int, body: bytes) -> tuple[int, bytes]:
        if kind == wire.GET:
            start, max_bytes = struct.unpack("<IH", body)
            return wire.OK, self._get(start, max_bytes)
        if kind == wire.ACK:
            (seq,) = struct.unpack("<I", body)
            if seq >= self.next_seq:
                return wire.E_RANGE, b"beyond the last record"
            self.acked = max(self.acked, seq)
            return wire.OK, struct.pack("<I", self.acked)
        if kind == wire.CLOCK:
            previous, (self.clock,) = self.clock, struct.unpack("<I", body)
            return wire.OK, struct.pack("<I", previous)
        if kind == wire.CONFIG_GET:
            return wire.OK, json.dumps(self.config).encode()
        if kind == wire.CONFIG_SET:
            values = json.loads(body)
            for key in values:
                if key not in self.config:
                    return wire.E_CONFIG, key.encode() + b": unknown setting"
            self.config.update(values)
            return wire.OK, b""
        if kind == wire.LIVE:
            live = struct.pack(wire.LIVE_FORMAT, 1234, -300, -310, -600, -610, 1, 0, 1, 0, 1,
                               -2, 40)
            self._send(wire.encode(wire.LIVE_FRAME, 0, live) * 2)
            return wire.OK, b""
        return wire.E_COMMAND, b""

    def _get(self, start: int, max_bytes: int) -> bytes:
        out, resume = b"", self.next_seq
        for seq in range(max(start, self.first), self.next_seq):
            raw = self.records.get(seq)
            if raw is None:
                continue  # not on the device: skipped
            if out and len(out) + len(raw) > max_bytes:
                resume = seq
                break
            out += raw
        else:
            resume = self.next_seq
        count = sum(1 for _ in _split(out))
        return struct.pack("<IB", resume, count) + out


def _split(data: bytes) -> Iterator[bytes]:
    offset = 0
    while offset < len(data):
        length = record.peek_length(data, offset)
        yield data[offset:offset + length]
        offset += length


@pytest.fixture
def device() -> Iterator[FakeDevice]:
    dev = FakeDevice({seq: conversation(seq) if seq % 3 else event(seq) for seq in range(1, 41)})
    yield dev
    dev.close()


@pytest.fixture
def port(device: FakeDevice) -> Iterator[Any]:
    p = link.open_port(device.path)
    yield p
    p.close()


def client_for(port: Any, texts: list[str] | None = None, retries: int = 4) -> DeviceClient:
    on_text = texts.append if texts is not None else None
    return DeviceClient(port, on_text, timeout=0.3, retries=retries)


# --- framing ---------------------------------------------------------------------------------


def test_frame_reader_splits_and_caps():
    reader = FrameReader(limit=8)
    assert reader.feed(b"\xc0abc") == []
    assert reader.feed(b"def\xc0\xc0gh") == [b"abcdef"]
    assert reader.feed(b"0123456789") == [b"gh012345"]  # capped, not dropped
    assert reader.take_pending() == b"6789"


def test_hello_and_auth(device: FakeDevice, port: Any):
    client = client_for(port)
    info = client.hello()
    assert (info["device"], info["next"]) == (DEVICE, 41)
    client.auth(SECRET)
    assert device.authed
    assert client.ack(3) == 3
    assert client.set_clock(1_700_000_000) == 0
    assert device.clock == 1_700_000_000


def test_req_ids_change_per_request_and_wrap(device: FakeDevice, port: Any):
    client = client_for(port)
    client._req_id = 254
    client.hello()
    client.bye()
    client.hello()
    assert [r for _, r, _ in device.received] == [255, 1, 2]


def test_resend_after_dropped_answer(device: FakeDevice, port: Any):
    device.faults = [("hello", "drop")]
    client = client_for(port)
    client.hello()
    assert device.commands() == ["hello", "hello"]
    assert device.received[0][1] == device.received[1][1]  # a retry keeps its req_id
    assert client.stats.resends == 1


def test_resend_after_corrupted_answer(device: FakeDevice, port: Any):
    client = client_for(port)
    client.hello()
    client.auth(SECRET)
    device.faults = [("get", "corrupt")]
    raws, resume = client.get(1, 500)
    assert device.commands().count("get") == 2
    assert client.stats.corrupt >= 1
    assert raws == [device.records[s] for s in range(1, len(raws) + 1)]
    assert resume == len(raws) + 1


def test_record_failing_its_crc_makes_the_answer_corrupt(device: FakeDevice, port: Any):
    client = client_for(port)
    client.hello()
    client.auth(SECRET)
    damaged = bytearray(device.records[1])
    damaged[30] ^= 1  # the frame CRC is right, the record's is not
    device.records[1] = bytes(damaged)
    with pytest.raises(HeardError, match="not answering"):
        client.get(1, 100)
    assert client.stats.corrupt == client.retries + 1


def test_stale_and_duplicate_answers_are_ignored(device: FakeDevice, port: Any):
    client = client_for(port)
    client.hello()
    client.auth(SECRET)
    device.faults = [("ack", "stale"), ("clock", "double")]
    assert client.ack(5) == 5  # the stale auth answer before it is dropped
    assert client.set_clock(1000) == 0
    assert client.set_clock(2000) == 1000  # the duplicate clock answer is dropped
    assert client.stats.stale >= 2
    assert client.stats.resends == 0


def test_bad_frame_answer_resends_at_once(device: FakeDevice, port: Any):
    device.faults = [("hello", "badframe")]
    client = client_for(port)
    client.hello()
    assert device.commands() == ["hello", "hello"]


def test_text_between_frames_goes_to_on_text(device: FakeDevice, port: Any):
    texts: list[str] = []
    device.faults = [("hello", "text")]
    client = client_for(port, texts)
    client.hello()
    assert "".join(texts).startswith("Traceback (most recent call last):")
    assert client.stats.text_bytes > 0
    assert client.stats.resends == 0


def test_gives_up_after_retries(device: FakeDevice, port: Any):
    client = client_for(port, retries=2)
    client.hello()
    device.faults = [("bye", "drop")] * 3
    with pytest.raises(HeardError, match="device not answering"):
        client.bye()
    assert device.commands().count("bye") == 3


def test_a_link_that_damages_every_answer_is_not_called_the_wrong_port(device: FakeDevice,
                                                                       port: Any):
    device.faults = [("hello", "corrupt")] * 3
    texts: list[str] = []
    with pytest.raises(HeardError) as info:
        client_for(port, texts, retries=2).hello()
    assert "damaged every answer to hello (3 damaged frames)" in str(info.value)
    assert "not a heard device" not in str(info.value) and "cable" in (info.value.hint or "")
    assert texts == []  # the damaged JSON is not shown as if the device had said it


def test_not_a_heard_device():
    repl = FakeDevice(repl=True)
    p = link.open_port(repl.path)
    texts: list[str] = []
    try:
        with pytest.raises(HeardError, match="not a heard device") as info:
            client_for(p, texts, retries=1).hello()
    finally:
        p.close()
        repl.close()
    assert info.value.hint
    assert "MicroPython" in "".join(texts)  # what it said is shown, not swallowed


def test_other_protocol_version(port: Any, device: FakeDevice):
    device.protocol = 2
    with pytest.raises(HeardError, match="protocol 2"):
        client_for(port).hello()


def test_wrong_secret(device: FakeDevice, port: Any):
    client = client_for(port)
    client.hello()
    with pytest.raises(HeardError, match="wrong secret"):
        client.auth(bytes(32))
    assert not device.authed


def test_auth_survives_a_repeated_hello(device: FakeDevice, port: Any):
    # The first hello's answer comes late: the client has sent hello again, takes the first
    # answer, but the device holds the second hello's challenge. A fresh hello sorts it out.
    device.faults = [("hello", "late")]
    client = client_for(port)
    client.auth(SECRET)
    assert device.authed
    assert device.commands() == ["hello", "hello", "auth", "hello", "auth"]


def test_privileged_command_without_auth(port: Any):
    client = client_for(port)
    client.hello()
    with pytest.raises(DeviceError, match="wants authentication") as info:
        client.get(1)
    assert info.value.status == wire.E_AUTH_NEEDED


def test_config_and_live(device: FakeDevice, port: Any):
    client = client_for(port)
    client.hello()
    client.auth(SECRET)
    assert client.config_get() == {"vad_threshold": 5}
    client.config_set({"vad_threshold": 7})
    assert device.config == {"vad_threshold": 7}
    with pytest.raises(DeviceError, match="refused the config: no_such: unknown setting"):
        client.config_set({"no_such": 1})
    with pytest.raises(HeardError, match="too long"):
        client.config_set({"x" * 300: 1})
    client.live(200)
    frames = client.read_live(0.1)
    assert len(frames) == 2 and frames[0]["level0_db10"] == -300
    assert frames[0]["tdoa"] == -2


# --- the serial port -------------------------------------------------------------------------


def test_dtr_and_rts_are_low_before_open(monkeypatch: pytest.MonkeyPatch):
    seen: list[tuple[bool, bool, bool]] = []
    real = serial.serial_for_url

    def spy(url: str, *args: Any, **kwargs: Any) -> Any:
        port = real(url, *args, **kwargs)
        original = port.open

        def open_() -> None:
            seen.append((port.dtr, port.rts, port.is_open))
            original()

        port.open = open_
        return port

    monkeypatch.setattr(serial, "serial_for_url", spy)
    p = link.open_port("loop://")
    try:
        assert seen == [(False, False, False)]
        assert p.is_open and p.dtr is False and p.rts is False
    finally:
        p.close()


def test_pty_port_is_exclusive(device: FakeDevice, port: Any):
    assert port.dtr is False and port.rts is False
    with pytest.raises(HeardError, match="busy") as info:
        link.open_port(device.path)
    assert "close the other program" in (info.value.hint or "")


def test_empty_port_name():
    with pytest.raises(HeardError, match=r"no serial port given \(--port is empty\)"):
        link.open_port("  ")


def test_missing_port():
    with pytest.raises(HeardError, match="no serial port /dev/heard-none"):
        link.open_port("/dev/heard-none")


def test_permission_denied_hint():
    exc = serial.SerialException(errno.EACCES, "could not open port /dev/ttyUSB0")
    err = link.open_error("/dev/ttyUSB0", exc)
    assert "permission denied" in str(err)
    assert "usermod -aG dialout" in (err.hint or "")


def test_bad_url():
    with pytest.raises(HeardError, match="cannot use serial port"):
        link.open_port("nosuch://x")


def test_find_ports_keeps_esp32_bridges(monkeypatch: pytest.MonkeyPatch):
    def info(device: str, vid: int | None, pid: int | None) -> SimpleNamespace:
        return SimpleNamespace(device=device, vid=vid, pid=pid, description="d",
                               serial_number=None)

    monkeypatch.setattr(link.serial.tools.list_ports, "comports", lambda: [
        info("/dev/ttyUSB1", 0x1A86, 0x7523), info("/dev/ttyS0", None, None),
        info("/dev/ttyACM0", 0x303A, 0x1001), info("/dev/ttyACM1", 0x2E8A, 0x0005)])
    assert [(p.device, p.bridge) for p in link.find_ports()] == [
        ("/dev/ttyACM0", "ESP32 USB-Serial/JTAG"), ("/dev/ttyUSB1", "CH340")]


# --- sync ------------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database.open(tmp_path / "heard.db") as d:
        d.set_secret(DEVICE, SECRET)
        yield d


def test_start_seq():
    assert start_seq(None, 5, 9) == (5, None, False)
    assert start_seq(7, 5, 9) == (7, None, False)
    assert start_seq(3, 5, 9) == (5, (3, 4), False)
    assert start_seq(20, 5, 9) == (5, None, True)


def test_sync_stores_acks_and_sets_the_clock(device: FakeDevice, port: Any, db: Database):
    device.faults = [("get", "drop"), ("get", "corrupt"), ("ack", "text")]
    seen: list[tuple[int, int]] = []
    result = sync_device(port, db, now=lambda: 1_700_000_000.0, max_bytes=600,
                         timeout=0.3, retries=3, progress=lambda d, t: seen.append((d, t)))
    assert (result.new, result.duplicates, result.gaps) == (40, 0, [])
    assert (result.conversations, result.events) == (27, 13)
    assert result.acked == 40 and device.acked == 40
    assert device.clock == 1_700_000_000 and result.clock_before == 0
    assert device.commands()[-2:] == ["clock", "bye"]
    assert device.commands().index("ack") > max(
        i for i, c in enumerate(device.commands()) if c == "get")
    assert db.cursor(DEVICE, "log-1") == 41
    assert result.text and "Traceback" in result.text[0]
    assert seen[-1] == (40, 40)
    # Clock 0 in every record: wall time from hello's uptime (3600 s) and host time.
    row = db.conn.execute("SELECT start_utc, time_source FROM conversations WHERE seq = 1"
                          ).fetchone()
    assert row == (1_700_000_000.0 - 3600 + 10, "inferred")


def test_sync_twice_adds_nothing(device: FakeDevice, port: Any, db: Database):
    sync_device(port, db, timeout=0.3)
    device.acked = 0  # as if the first ack had been lost
    again = sync_device(port, db, timeout=0.3)
    assert (again.new, again.duplicates) == (0, 0)  # the same boot: nothing was renumbered
    assert device.acked == 40  # the host acknowledges what it already has
    assert db.counts().records == 40


def test_a_seq_given_again_after_a_lost_ack_is_not_lost(device: FakeDevice, port: Any,
                                                         db: Database):
    # The host stored 1..40 but the device saw the ack only up to 38; then record 40 rotted
    # on flash, was cut at a reboot, and seq 40 went to the next record (a new boot id).
    sync_device(port, db, timeout=0.3)
    device.acked = 38
    device.boot = BOOT + 1
    device.records[40] = conversation(40, boot=BOOT + 1)
    again = sync_device(port, db, timeout=0.3)
    assert (again.new, again.duplicates, again.gaps) == (1, 1, [])
    assert db.counts().records == 41 and device.acked == 40


def test_sync_fetches_only_new_records(device: FakeDevice, port: Any, db: Database):
    sync_device(port, db, timeout=0.3)
    device.records[41] = conversation(41)
    device.next_seq = 42
    result = sync_device(port, db, timeout=0.3)
    assert (result.new, result.duplicates) == (1, 0)
    gets = [struct.unpack("<IH", body)[0] for c, _, body in device.received if c == "get"]
    assert gets[-1] == 41


def test_sync_says_when_another_database_collected_the_first_records(
        device: FakeDevice, port: Any, db: Database):
    device.first = 11  # 1..10 acknowledged by another computer and deleted
    for seq in range(1, 11):
        del device.records[seq]
    result = sync_device(port, db, timeout=0.3)
    assert result.collected_elsewhere == 11 and result.gaps == [] and result.new == 30
    again = sync_device(port, db, timeout=0.3)  # this database now has the device's records
    assert again.collected_elsewhere == 0


def test_sync_notes_gaps(device: FakeDevice, port: Any, db: Database):
    db.set_cursor(DEVICE, "log-1", 3)
    device.first = 6  # 3..5 were deleted before this host got them
    for seq in (10, 11, 20):
        del device.records[seq]  # found corrupt on flash: skipped by the device
    result = sync_device(port, db, timeout=0.3, max_bytes=400)
    assert result.gaps == [(3, 5), (10, 11), (20, 20)]
    assert result.new == 40 - 5 - 3


def test_sync_new_log_id_starts_its_own_cursor(device: FakeDevice, port: Any, db: Database):
    sync_device(port, db, timeout=0.3)
    device.log = "log-2"
    device.records = {1: conversation(1, boot=77), 2: event(2, boot=77)}
    device.first, device.next_seq, device.acked = 1, 3, 0
    result = sync_device(port, db, timeout=0.3)
    assert result.new == 2
    assert db.cursor(DEVICE, "log-2") == 3 and db.cursor(DEVICE, "log-1") == 41


def test_sync_numbering_went_back(device: FakeDevice, port: Any, db: Database):
    db.set_cursor(DEVICE, "log-1", 100)
    result = sync_device(port, db, timeout=0.3)
    assert result.restarted and result.new == 40


def test_sync_unprovisioned_device(device: FakeDevice, port: Any, tmp_path: Path):
    with Database.open(tmp_path / "empty.db") as empty:
        with pytest.raises(HeardError, match=f"device {DEVICE} is not provisioned") as info:
            sync_device(port, empty, timeout=0.3)
        assert "heard flash" in (info.value.hint or "")
        result = sync_device(port, empty, secret=SECRET, timeout=0.3)
        assert result.secret_saved and empty.secret(DEVICE) == SECRET


def test_sync_reports_dropped(device: FakeDevice, port: Any, db: Database):
    device.dropped = 3
    assert sync_device(port, db, timeout=0.3).dropped == 3


def test_sync_command(device: FakeDevice, db: Database, capsys: pytest.CaptureFixture[str]):
    from heard.cli import main

    db.close()
    device.dropped = 2
    device.faults = [("get", "text")]
    assert main(["sync", "--port", device.path, "--db", str(db.path)]) == 0
    out, err = capsys.readouterr()
    assert f"{DEVICE} on {device.path}" in out
    assert "new records: 40 (27 conversations, 13 events)" in out
    assert "clock: set (it was unset)" in out
    assert "device: Traceback (most recent call last):" in err
    assert "dropped 2 records" in err


def test_sync_command_with_several_boards(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]):
    from heard.cli import main

    boards = [link.PortInfo("/dev/ttyUSB0", "CP210x", "", None),
              link.PortInfo("/dev/ttyUSB1", "CH340", "", "1234")]
    monkeypatch.setattr("heard.device.sync_command.find_ports", lambda: boards)
    assert main(["sync"]) == 1
    err = capsys.readouterr().err
    assert "2 ESP32 boards are connected" in err and "/dev/ttyUSB1 (CH340, serial 1234)" in err
    assert "--all" in err
    monkeypatch.setattr("heard.device.sync_command.find_ports", list)
    assert main(["sync"]) == 1
    assert "no ESP32 board found" in capsys.readouterr().err
