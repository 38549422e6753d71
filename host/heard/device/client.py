"""The host end of the serial protocol (docs/protocol.md), built on ``heardcore.wire``.

``DeviceClient`` sends one request at a time and waits for its answer, matched by kind
and req_id; anything else is dropped. A timeout, a damaged answer or the device's
bad-frame answer sends the same request again (every command is idempotent). Bytes
between frames that read as text (a boot banner, a traceback) go to ``on_text``. Inside
``with client.deadline(seconds):`` requests give up when the time is up, whatever their
retries (closing a session after Ctrl-C must not wait for a device that does not answer).
"""

from __future__ import annotations

import json
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.errors import HeardError
from heardcore import auth, record, wire

T = TypeVar("T")

DEFAULT_TIMEOUT = 1.0  # seconds to wait for an answer before sending the request again
DEFAULT_RETRIES = 8
QUIET = 0.3  # while bytes keep arriving, wait at least this long after the last one
CHUNK_LIMIT = 1 << 16  # longer runs of bytes without END are cut (answers are ~9 KiB at most)
_FRAME_OVERHEAD = 6  # kind, req_id, CRC-32

_NOT_HEARD_HINT = ("is this the right port? a heard device answers `hello`; "
                   "a board without the heard firmware does not (see `heard flash`)")


class DeviceError(HeardError):
    """The device answered a request with a non-zero status."""

    def __init__(self, command: str, status: int, detail: str,
                 message: str, hint: str | None = None):
        super().__init__(message, hint)
        self.command = command
        self.status = status
        self.detail = detail


class NotAnswering(HeardError):
    """No usable answer after every retry."""


class _Corrupt(Exception):
    """An answer whose frame was intact but whose contents were not: ask again."""


@dataclass
class LinkStats:
    requests: int = 0
    resends: int = 0
    corrupt: int = 0  # chunks that were neither a frame nor text, and damaged answers
    stale: int = 0  # intact frames that answered nothing we were waiting for
    text_bytes: int = 0


class FrameReader:
    """Cuts a byte stream into the chunks between END bytes.

    Unbounded in the number of chunks, capped in size: a run of more than ``limit``
    bytes without an END (device text, noise) is handed out in ``limit``-byte pieces."""

    def __init__(self, limit: int = CHUNK_LIMIT):
        self.limit = limit
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        parts = data.split(bytes((wire.END,)))
        for i, part in enumerate(parts):
            if i:
                if self.buf:
                    out.append(bytes(self.buf))
                self.buf.clear()
            self.buf += part
            while len(self.buf) > self.limit:
                out.append(bytes(self.buf[:self.limit]))
                del self.buf[:self.limit]
        return out

    def take_pending(self) -> bytes:
        pending = bytes(self.buf)
        self.buf.clear()
        return pending


class DeviceClient:
    """One device on an open port (anything with pyserial's read, write and in_waiting)."""

    def __init__(
        self,
        port: Any,
        on_text: Callable[[str], None] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        name: str | None = None,
    ):
        self.port = port
        self.on_text = on_text
        self.timeout = timeout
        self.retries = retries
        self.name = name or str(getattr(port, "port", None) or getattr(port, "name", "port"))
        self.stats = LinkStats()
        self.info: dict[str, Any] | None = None  # the latest hello answer
        self.live_frames: deque[dict[str, int]] = deque(maxlen=4096)
        self._reader = FrameReader()
        self._chunks: deque[bytes] = deque()
        self._req_id = 0
        self._resent = False  # a request was sent again since the latest hello
        self._challenge_used = False
        self._give_up: float | None = None  # time.monotonic() after which requests fail

    @contextmanager
    def deadline(self, seconds: float, timeout: float | None = None) -> Iterator[None]:
        """Requests inside the block raise NotAnswering ``seconds`` from now at the latest
        (sooner than their retries would), each try waiting at most ``timeout`` seconds
        (default: the client's). Nested deadlines keep the earlier one."""
        old_give_up, old_timeout = self._give_up, self.timeout
        give_up = time.monotonic() + seconds
        self._give_up = give_up if old_give_up is None else min(old_give_up, give_up)
        if timeout is not None:
            self.timeout = min(self.timeout, timeout)
        try:
            yield
        finally:
            self._give_up, self.timeout = old_give_up, old_timeout

    # --- commands ------------------------------------------------------------------------

    def hello(self) -> dict[str, Any]:
        """Open a session; the device's JSON (``device``, ``boot``, ``first``, ``next``...)."""
        self._resent = False
        try:
            body = self._call(wire.HELLO, b"", bytes)
        except DeviceError as exc:
            raise HeardError(f"not a heard device on {self.name} (hello: {exc})",
                             hint=_NOT_HEARD_HINT) from exc
        except NotAnswering as exc:
            if self.stats.corrupt:  # answers came, but damaged: the link, not the port
                raise HeardError(
                    f"the link to {self.name} damaged every answer to hello "
                    f"({self.stats.corrupt} damaged frames)",
                    hint="a flaky USB cable or port: try another cable or USB port, then "
                    "run the command again (nothing is lost)") from exc
            raise HeardError(f"not a heard device on {self.name}: no answer to hello",
                             hint=_NOT_HEARD_HINT) from exc
        info = _hello_info(body, self.name)
        self.info = info
        self._challenge_used = False
        return info

    def auth(self, secret: bytes) -> None:
        """Prove the secret for the latest hello's challenge (a fresh hello if it is used).

        If requests had to be sent again, the device may have answered two hellos and hold
        the newer challenge: a refusal then gets one more try with a fresh hello."""
        for attempt in range(2):
            if self.info is None or self._challenge_used:
                self.hello()
            info = self.info
            assert info is not None
            proof = auth.proof(bytes(secret), bytes.fromhex(info["challenge"]), info["device"])
            self._challenge_used = True
            try:
                self._call(wire.AUTH, proof, bytes)
                return
            except DeviceError as exc:
                if exc.status != wire.E_AUTH_FAILED:
                    raise
                if attempt == 0 and self._resent:
                    continue
                raise HeardError(
                    f"wrong secret for device {info['device']}: it refused authentication",
                    hint="the secret stored on this computer does not match the device's; "
                    "provision it again (`heard flash`) or pass the right --secret-hex",
                ) from exc

    def get(self, from_seq: int, max_bytes: int = 4096) -> tuple[list[bytes], int]:
        """Records with seq >= ``from_seq`` (each CRC-checked) and the seq to ask for next."""
        body = struct.pack("<IH", from_seq, min(max_bytes, 0xFFFF))
        return self._call(wire.GET, body, _parse_records)

    def ack(self, seq: int) -> int:
        """Mark every record up to ``seq`` as received; the device's acknowledged seq."""
        return self._call(wire.ACK, struct.pack("<I", seq), _u32)

    def set_clock(self, unix_s: int) -> int:
        """Set the device clock; its previous value (0: it was unset)."""
        return self._call(wire.CLOCK, struct.pack("<I", unix_s), _u32)

    def config_get(self) -> dict[str, Any]:
        return self._call(wire.CONFIG_GET, b"", _json_object)

    def config_set(self, values: dict[str, Any]) -> None:
        """Change settings, all or nothing; a refused field raises a DeviceError naming it."""
        body = json.dumps(values, separators=(",", ":")).encode()
        try:
            self._call(wire.CONFIG_SET, body, bytes)
        except DeviceError as exc:
            if exc.status != wire.E_CONFIG:
                raise
            raise DeviceError("config_set", exc.status, exc.detail,
                              f"the device refused the config: {exc.detail}",
                              hint="`heard params` lists every setting and its range") from exc

    def live(self, interval_ms: int) -> None:
        """Start (interval > 0) or stop (0) live frames; read them with ``read_live``."""
        self._call(wire.LIVE, struct.pack("<H", interval_ms), bytes)

    def read_live(self, duration: float) -> list[dict[str, int]]:
        """Live frames received within ``duration`` seconds (and any already received).

        The device closes a session after 10 s without a request: keep talking to it."""
        end = time.monotonic() + duration
        while time.monotonic() < end:
            self._feed(self._read())
            while self._chunks:
                self._dispatch(self._chunks.popleft(), -1, -1)
        frames = list(self.live_frames)
        self.live_frames.clear()
        return frames

    def reboot(self) -> None:
        """Reset the device (it answers first). The session ends."""
        self._resent = False
        try:
            self._call(wire.REBOOT, b"", bytes)
        except DeviceError as exc:
            # Our first request got through and the device rebooted before we saw its
            # answer: the resent request found no session.
            if not (exc.status == wire.E_AUTH_NEEDED and self._resent):
                raise
        self.info = None

    def bye(self) -> None:
        """Close the session (Ctrl-C reaches the REPL again)."""
        self._call(wire.BYE, b"", bytes)
        self.flush_text()

    def flush_text(self) -> None:
        """Hand received bytes that are not (yet) a frame to ``on_text`` if they are text."""
        pending = self._reader.take_pending()
        if pending and wire.looks_like_text(pending):
            self._text(pending)
        elif pending:
            self._reader.buf += pending

    # --- requests and answers ------------------------------------------------------------

    def _call(self, code: int, body: bytes, parse: Callable[[bytes], T]) -> T:
        """Send a request until an answer with status ok parses; DeviceError otherwise."""
        if len(body) + _FRAME_OVERHEAD > wire.MAX_REQUEST:
            raise HeardError(f"{_command(code)} request too long for the device "
                             f"({len(body)} bytes)", hint="send fewer values at once")
        frame = wire.encode(code, self._next_req_id(), body)
        req_id = self._req_id
        self.stats.requests += 1
        tries = 0
        for attempt in range(self.retries + 1):
            if self._give_up is not None and time.monotonic() >= self._give_up:
                break
            if attempt:
                self.stats.resends += 1
                self._resent = True
            tries += 1
            self._write(frame)
            answer = self._await(code | wire.ANSWER, req_id)
            if not answer or answer[0] == wire.E_FRAME:
                continue
            if answer[0] != wire.OK:
                raise _status_error(code, answer[0], answer[1:])
            try:
                return parse(answer[1:])
            except _Corrupt:
                self.stats.corrupt += 1
        self.flush_text()
        raise NotAnswering(
            f"device not answering on {self.name} ({_command(code)}, "
            f"{tries} {'try' if tries == 1 else 'tries'})",
            hint="is the cable connected and the device running? unplug and replug it")

    def _await(self, kind: int, req_id: int) -> bytes | None:
        """The body of the answer, or None on a timeout or the device's bad-frame answer."""
        start = time.monotonic()
        deadline, hard = start + self.timeout, start + 4 * self.timeout
        if self._give_up is not None:
            deadline, hard = min(deadline, self._give_up), min(hard, self._give_up)
        while True:
            while self._chunks:
                found = self._dispatch(self._chunks.popleft(), kind, req_id)
                if found is not None:
                    return found[1] if found[0] == 0 else None
            now = time.monotonic()
            if now >= deadline:
                self.flush_text()
                return None
            if self._feed(self._read()):
                deadline = min(hard, max(deadline, now + QUIET))

    def _dispatch(self, chunk: bytes, kind: int, req_id: int) -> tuple[int, bytes] | None:
        """Handle one chunk: (0, body) for the awaited answer, (1, b"") for a bad-frame
        answer, None for anything else (text, live frames, stale or damaged frames)."""
        try:
            k, r, body = wire.decode(chunk)
        except wire.FrameError:
            # An answer's kind byte has the top bit set, which device text never starts
            # with: a damaged answer (hello's is mostly JSON) is not shown as text.
            if chunk[:1] < b"\x80" and wire.looks_like_text(chunk):
                self._text(chunk)
            else:
                self.stats.corrupt += 1
                if kind >= 0:
                    return 1, b""  # a damaged answer: ask again at once
            return None
        if k == kind and r == req_id:
            return 0, body
        if k == wire.BAD_FRAME_ANSWER and kind >= 0:
            return 1, b""
        if k == wire.LIVE_FRAME:
            self._live(body)
        else:
            self.stats.stale += 1
        return None

    def _live(self, body: bytes) -> None:
        if len(body) != struct.calcsize(wire.LIVE_FORMAT):
            self.stats.corrupt += 1
            return
        values = struct.unpack(wire.LIVE_FORMAT, body)
        self.live_frames.append(dict(zip(wire.LIVE_FIELDS, values, strict=True)))

    def _text(self, chunk: bytes) -> None:
        self.stats.text_bytes += len(chunk)
        if self.on_text is not None:
            self.on_text(chunk.decode("utf-8", "replace"))

    def _next_req_id(self) -> int:
        self._req_id = self._req_id % 255 + 1
        return self._req_id

    # --- the port ------------------------------------------------------------------------

    def _feed(self, data: bytes) -> bool:
        if data:
            self._chunks.extend(self._reader.feed(data))
        return bool(data)

    def _read(self) -> bytes:
        try:
            waiting = self.port.in_waiting
            return bytes(self.port.read(waiting or 1))
        except (OSError, ValueError) as exc:  # SerialException is an OSError
            raise HeardError(f"lost the connection to {self.name}: {exc}",
                             hint="was the device unplugged?") from exc

    def _write(self, frame: bytes) -> None:
        try:
            self.port.write(frame)
        except (OSError, ValueError) as exc:
            raise HeardError(f"lost the connection to {self.name}: {exc}",
                             hint="was the device unplugged?") from exc


# --- answer bodies -------------------------------------------------------------------------


def _command(code: int) -> str:
    return wire.COMMAND_NAMES.get(code, f"command {code:#04x}")


def _u32(body: bytes) -> int:
    if len(body) != 4:
        raise _Corrupt()
    return int(struct.unpack("<I", body)[0])


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise HeardError(f"the device sent malformed JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise HeardError("the device sent JSON that is not an object")
    return value


def _parse_records(body: bytes) -> tuple[list[bytes], int]:
    """``get``'s answer: resume seq, count, then that many intact records, nothing more."""
    if len(body) < 5:
        raise _Corrupt()
    resume, count = struct.unpack_from("<IB", body)
    offset, out = 5, []
    for _ in range(count):
        try:
            length, _seq = record.check(body, offset)
        except record.RecordError as exc:
            if str(exc).startswith("unknown version"):  # intact, but newer than this heard
                raise HeardError(f"the device sent a record this heard cannot read ({exc})",
                                 hint="upgrade heard") from exc
            raise _Corrupt() from exc
        out.append(body[offset:offset + length])
        offset += length
    if offset != len(body):
        raise _Corrupt()
    return out, int(resume)


def _hello_info(body: bytes, name: str) -> dict[str, Any]:
    try:
        info = json.loads(body.decode())
    except (UnicodeDecodeError, ValueError):
        info = None
    if not isinstance(info, dict) or "heard" not in info:
        raise HeardError(f"not a heard device on {name}: its hello answer is not heard's",
                         hint=_NOT_HEARD_HINT)
    if info["heard"] != wire.PROTOCOL:
        raise HeardError(f"the device on {name} speaks heard protocol {info['heard']}; "
                         f"this heard speaks {wire.PROTOCOL}",
                         hint="upgrade heard (or the device firmware) so they match")
    missing = [k for k in ("device", "boot", "uptime_ms", "log", "first", "next", "challenge")
               if k not in info]
    if missing:
        raise HeardError(f"the device on {name} sent a hello without {', '.join(missing)}",
                         hint="update the device firmware (`heard flash`)")
    try:
        bytes.fromhex(str(info["challenge"]))
    except ValueError as exc:
        raise HeardError(f"the device on {name} sent a malformed challenge",
                         hint="update the device firmware (`heard flash`)") from exc
    return info


_STATUS_TEXT = {
    wire.E_COMMAND: ("the device does not know the {cmd} command",
                     "update the device firmware (`heard flash`)"),
    wire.E_REQUEST: ("the device refused the {cmd} request as malformed: {msg}", None),
    wire.E_AUTH_NEEDED: ("the device wants authentication before {cmd} (session timed out?)",
                         "run the command again"),
    wire.E_AUTH_FAILED: ("the device refused authentication: {msg}", None),
    wire.E_CONFIG: ("the device refused the config: {msg}", None),
    wire.E_RANGE: ("{cmd}: out of range for the device: {msg}", None),
    wire.E_STORAGE: ("the device's storage failed during {cmd}: {msg}",
                     "its flash may be full or failing; see its events"),
}


def _status_error(code: int, status: int, rest: bytes) -> DeviceError:
    msg = rest.decode("utf-8", "replace")
    template, hint = _STATUS_TEXT.get(
        status, ("the device answered {cmd} with status {status}: {msg}", None))
    text = template.format(cmd=_command(code), msg=msg, status=status)
    return DeviceError(_command(code), status, msg, text, hint)
