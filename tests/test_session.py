"""The device's protocol session (heardcore.session) on CPython, with a real record log.

What a host may do without the secret, authentication, batching, acknowledgement, config
errors that name the field, Ctrl-C handling, live frames, and random bytes on the port
(thousands of hypothesis cases): the session keeps answering and writes nothing.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heardcore import auth, record, wire
from heardcore.events import Conversation
from heardcore.params import Params
from heardcore.recordlog import RecordLog
from heardcore.session import IDLE_CLOSE_MS, Session

SECRET = bytes(range(32))
DEVICE_ID = "dev-test"


class FakeDevice:
    """What the session needs from the app, with a real RecordLog underneath."""

    def __init__(self, root: Path, records: int = 0):
        self.device_id = DEVICE_ID
        self.secret: bytes | None = SECRET
        self.log = RecordLog(str(root), lambda: 1 << 30)
        self.log.open()
        self.kbd: list[bool] = []
        self.clock = 0
        self.config: dict[str, int] = {}
        self.reboots = 0
        self.out: list[bytes] = []
        conv = Conversation()
        conv.end_ms = 30000
        conv.talk_ms[0] = 10000
        for _ in range(records):
            self.log.append(record.conversation(self.log.next_seq, 7, 1000, 0, conv, 2))

    def hello_info(self) -> dict[str, object]:
        return {"heard": 1, "device": self.device_id, "next": self.log.next_seq}

    def set_clock(self, now_s: int) -> int:
        previous, self.clock = self.clock, now_s
        return previous

    def config_get(self) -> dict[str, int]:
        return Params(self.config).as_dict()

    def config_set(self, changes: dict[str, int]) -> None:
        merged = dict(self.config, **changes)
        Params(merged)
        self.config = merged

    def live_values(self) -> tuple[int, ...]:
        return (1, 2, 3, 4, 5, 1, 0, 1, 0, 1, -3, 7)

    def reboot(self) -> None:
        self.reboots += 1

    def kbd_intr(self, on: bool) -> None:
        self.kbd.append(on)

    def random(self, n: int) -> bytes:
        return os.urandom(n)


class Host:
    """Sends requests into a session and collects its answers."""

    def __init__(self, device: FakeDevice):
        self.device = device
        self.sent: list[bytes] = []
        self.session = Session(device, self.sent.append)
        self.req_id = 0

    def feed(self, data: bytes) -> None:
        for b in data:
            self.session.receive(b)

    def request(self, kind: int, body: bytes = b"") -> tuple[int, bytes]:
        self.req_id = self.req_id % 255 + 1
        before = len(self.sent)
        self.feed(wire.encode(kind, self.req_id, body))
        assert len(self.sent) == before + 1, "exactly one answer per request"
        answer_kind, req_id, answer = wire.decode(self.sent[-1][1:-1])
        assert (answer_kind, req_id) == (kind | wire.ANSWER, self.req_id)
        return answer[0], answer[1:]

    def hello(self) -> dict[str, object]:
        status, body = self.request(wire.HELLO)
        assert status == wire.OK
        return json.loads(body)

    def login(self, secret: bytes = SECRET) -> int:
        info = self.hello()
        proof = auth.proof(secret, bytes.fromhex(str(info["challenge"])), DEVICE_ID)
        return self.request(wire.AUTH, proof)[0]


@pytest.fixture
def device(tmp_path: Path) -> FakeDevice:
    return FakeDevice(tmp_path / "data", records=10)


def test_without_the_secret_only_hello_is_answered(device: FakeDevice) -> None:
    host = Host(device)
    assert host.hello()["device"] == DEVICE_ID
    for kind, body in [
        (wire.GET, struct.pack("<IH", 1, 4096)), (wire.ACK, struct.pack("<I", 5)),
        (wire.CLOCK, struct.pack("<I", 1700000000)), (wire.CONFIG_GET, b""),
        (wire.CONFIG_SET, b'{"vad_on_db10": 100}'), (wire.LIVE, struct.pack("<H", 100)),
        (wire.REBOOT, b""),
    ]:
        status, _ = host.request(kind, body)
        assert status == wire.E_AUTH_NEEDED, wire.COMMAND_NAMES[kind]
    assert device.log.acked == 0 and device.clock == 0 and device.config == {}
    assert device.reboots == 0


def test_a_wrong_secret_is_refused_and_a_challenge_is_good_once(device: FakeDevice) -> None:
    host = Host(device)
    assert host.login(secret=b"\x00" * 32) == wire.E_AUTH_FAILED
    assert host.request(wire.GET, struct.pack("<IH", 1, 100))[0] == wire.E_AUTH_NEEDED
    # Replaying a proof that was right for a used challenge fails.
    info = host.hello()
    proof = auth.proof(SECRET, bytes.fromhex(str(info["challenge"])), DEVICE_ID)
    assert host.request(wire.AUTH, proof)[0] == wire.OK
    assert host.request(wire.AUTH, proof)[0] == wire.E_AUTH_FAILED


def test_an_unprovisioned_device_refuses_every_proof(device: FakeDevice) -> None:
    device.secret = None
    assert Host(device).login() == wire.E_AUTH_FAILED


def test_get_returns_intact_records_in_batches_with_resume(device: FakeDevice) -> None:
    host = Host(device)
    assert host.login() == wire.OK
    got: list[int] = []
    seq = 1
    while seq < device.log.next_seq:
        status, body = host.request(wire.GET, struct.pack("<IH", seq, 200))
        assert status == wire.OK
        resume, count = struct.unpack_from("<IB", body)
        assert 1 <= count <= 2  # 85-byte records, at most 200 bytes (at least one)
        offset = 5
        for _ in range(count):
            rec = record.decode(body, offset)
            got.append(rec["seq"])
            offset += rec["length"]
        assert offset == len(body)
        seq = resume
    assert got == list(range(1, 11))


def test_ack_is_idempotent_and_range_checked(device: FakeDevice) -> None:
    host = Host(device)
    host.login()
    assert host.request(wire.ACK, struct.pack("<I", 6)) == (wire.OK, struct.pack("<I", 6))
    assert host.request(wire.ACK, struct.pack("<I", 6)) == (wire.OK, struct.pack("<I", 6))
    assert host.request(wire.ACK, struct.pack("<I", 3)) == (wire.OK, struct.pack("<I", 6))
    status, message = host.request(wire.ACK, struct.pack("<I", 11))
    assert status == wire.E_RANGE and b"up to 10" in message
    assert device.log.acked == 6


def test_config_errors_name_the_field_and_change_nothing(device: FakeDevice) -> None:
    host = Host(device)
    host.login()
    status, message = host.request(wire.CONFIG_SET, b'{"vad_on_db10": 100, "bogus": 1}')
    assert status == wire.E_CONFIG and b"bogus" in message
    status, message = host.request(wire.CONFIG_SET, b'{"vad_on_db10": 5000}')
    assert status == wire.E_CONFIG and b"vad_on_db10" in message
    assert host.request(wire.CONFIG_SET, b"{not json")[0] == wire.E_CONFIG
    assert device.config == {}
    assert host.request(wire.CONFIG_SET, b'{"vad_on_db10": 100}')[0] == wire.OK
    status, body = host.request(wire.CONFIG_GET)
    assert status == wire.OK and json.loads(body)["vad_on_db10"] == 100


def test_ctrl_c_is_off_only_while_a_session_is_open(device: FakeDevice) -> None:
    host = Host(device)
    host.hello()
    assert device.kbd == [False]
    host.request(wire.BYE)
    assert device.kbd == [False, True]
    host.hello()
    host.session.poll(IDLE_CLOSE_MS + 1)  # the host went away without a bye
    assert device.kbd == [False, True, False, True]
    assert not host.session.open


def test_frames_never_contain_ctrl_a_to_ctrl_e() -> None:
    body = bytes(range(256))
    frame = wire.encode(wire.HELLO, 3, body)
    assert not set(frame) & {1, 2, 3, 4, 5}
    assert frame.count(wire.END) == 2
    assert wire.decode(frame[1:-1]) == (wire.HELLO, 3, body)


def test_live_frames_only_after_the_host_asks(device: FakeDevice) -> None:
    host = Host(device)
    host.login()
    host.session.poll(500)
    assert len(host.sent) == 2  # hello and auth answers only: nothing unasked
    host.request(wire.LIVE, struct.pack("<H", 100))
    host.session.poll(10)
    host.session.poll(100)
    host.session.poll(100)
    live = [wire.decode(f[1:-1]) for f in host.sent[3:]]
    assert len(live) == 3 and all(kind == wire.LIVE_FRAME for kind, _, _ in live)
    fields = dict(zip(wire.LIVE_FIELDS, struct.unpack(wire.LIVE_FORMAT, live[0][2]),
                      strict=True))
    assert fields["tdoa"] == -3 and fields["evidence"] == 7
    host.request(wire.LIVE, struct.pack("<H", 0))
    before = len(host.sent)
    host.session.poll(1000)
    assert len(host.sent) == before


def test_reboot_answers_first(device: FakeDevice) -> None:
    host = Host(device)
    host.login()
    assert host.request(wire.REBOOT)[0] == wire.OK
    assert device.reboots == 1 and not host.session.open


def test_a_damaged_request_gets_a_bad_frame_answer(device: FakeDevice) -> None:
    host = Host(device)
    frame = bytearray(wire.encode(wire.HELLO, 1))
    frame[2] ^= 0x40  # flip a bit of the req_id
    host.feed(bytes(frame))
    assert [wire.decode(f[1:-1]) for f in host.sent] == [
        (wire.BAD_FRAME_ANSWER, 0, bytes((wire.E_FRAME,)))
    ]
    assert host.hello()["device"] == DEVICE_ID  # still listening


def test_a_flood_without_frame_ends_stays_bounded(device: FakeDevice) -> None:
    host = Host(device)
    host.feed(b"x" * 100_000)
    assert len(host.session.splitter.buf) == host.session.splitter.limit
    assert len(host.sent) == 1  # one bad-frame answer for the whole over-long chunk
    assert host.hello()["device"] == DEVICE_ID


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(noise=st.lists(st.binary(max_size=300) | st.sampled_from([b"\xc0", b"\xdb", b"\x03"]),
                      max_size=8))
def test_random_bytes_never_change_anything(tmp_path: Path, noise: list[bytes]) -> None:
    root = tmp_path / f"d{os.urandom(6).hex()}"
    device = FakeDevice(root, records=3)
    host = Host(device)
    host.feed(b"".join(noise))
    for frame in host.sent:
        kind, _req, body = wire.decode(frame[1:-1])
        if kind == wire.HELLO | wire.ANSWER:
            continue  # random bytes can hold a valid hello (it has no body): harmless
        assert kind == wire.BAD_FRAME_ANSWER or body[0] != wire.OK or kind in (
            wire.BYE | wire.ANSWER,), (kind, body)
    assert device.log.next_seq == 4 and device.log.acked == 0
    assert device.config == {} and device.clock == 0 and device.reboots == 0
    host.feed(b"\xc0")
    assert host.hello()["device"] == DEVICE_ID
