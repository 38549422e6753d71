"""The serial protocol's framing and vocabulary, shared by the device and the host.

A frame on the wire is ``END escaped(payload) END`` with ``END = 0xC0``; inside, 0xC0 and
0xDB are sent as ``0xDB 0xDC`` and ``0xDB 0xDD`` (SLIP), and 0x01-0x05 as ``0xDB 0xE1`` to
``0xDB 0xE5``: no frame byte is ever a Ctrl-C, and probing a board that sits at a plain
MicroPython REPL never switches its modes (Ctrl-A raw REPL, Ctrl-D soft reset, Ctrl-E
paste). The payload is

    kind u8 | req_id u8 | body | CRC-32 of kind, req_id and body, u32 little-endian

Requests carry a command code as ``kind``; answers carry ``code | 0x80``, the request's
``req_id`` and a status byte first in the body. Bytes between frames that are not a frame
(a traceback, a boot banner) are device text, not errors. docs/protocol.md has the
commands, their bodies and byte-level examples.
"""

import binascii
import struct

from micropython import const

END = const(0xC0)
_ESC = const(0xDB)
_ESC_END = const(0xDC)
_ESC_ESC = const(0xDD)
_ESC_CTRL = const(0xE0)  # 0x01-0x05 are sent as _ESC, 0xE0 + byte
_ETX = const(0x03)

PROTOCOL = const(1)
MAX_REQUEST = const(200)  # payload bytes of a request: the ESP32 UART ring is 260 bytes

# Commands (host -> device).
HELLO = const(0x01)
AUTH = const(0x02)
BYE = const(0x05)
GET = const(0x10)
ACK = const(0x11)
CLOCK = const(0x12)
CONFIG_GET = const(0x13)
CONFIG_SET = const(0x14)
LIVE = const(0x15)
REBOOT = const(0x16)
COMMAND_NAMES = {
    HELLO: "hello", AUTH: "auth", BYE: "bye", GET: "get", ACK: "ack", CLOCK: "clock",
    CONFIG_GET: "config_get", CONFIG_SET: "config_set", LIVE: "live", REBOOT: "reboot",
}
PRIVILEGED = (GET, ACK, CLOCK, CONFIG_GET, CONFIG_SET, LIVE, REBOOT)
ANSWER = const(0x80)
LIVE_FRAME = const(0x40)  # device -> host while the host has live levels on
BAD_FRAME_ANSWER = const(0xFF)  # the answer to bytes that were not a valid request

# Status byte of an answer.
OK = const(0)
E_FRAME = const(1)  # the request was damaged (CRC, escape, length): send it again
E_COMMAND = const(2)  # unknown command
E_REQUEST = const(3)  # the body is malformed
E_AUTH_NEEDED = const(4)  # a privileged command without a session
E_AUTH_FAILED = const(5)  # wrong proof (wrong secret, stale challenge)
E_CONFIG = const(6)  # a config value was refused; the message names the field
E_RANGE = const(7)  # a sequence number outside what the device has
E_STORAGE = const(8)  # the flash refused a write
STATUS_NAMES = ("ok", "bad frame", "unknown command", "bad request", "not authenticated",
                "authentication failed", "bad config", "out of range", "storage error")

# A live-levels frame body: uptime ms (wraps), level/floor of both channels in dB*10,
# voice activity of both channels, employee, customer, near-talk, TDOA lag, evidence.
LIVE_FORMAT = "<IhhhhBBBBBbh"
LIVE_FIELDS = ("uptime_ms", "level0_db10", "level1_db10", "floor0_db10", "floor1_db10",
               "vad0", "vad1", "employee", "customer", "near", "tdoa", "evidence")


def live_values(uptime_ms, st):
    """A live-levels body's values from a detector's ``frame_state()`` ``st`` (levels in
    1/256 dB there, dB x 10 here; the lag and evidence clamped to their fields)."""
    return (
        uptime_ms & 0xFFFFFFFF, st[0] * 10 >> 8, st[1] * 10 >> 8, st[2] * 10 >> 8,
        st[3] * 10 >> 8, st[4], st[5], st[9], st[10], st[6], max(-128, min(127, st[7])),
        max(-32768, min(32767, st[8])),
    )


class FrameError(ValueError):
    """A chunk between two END bytes that is not an intact frame."""


def crc32(data):
    return binascii.crc32(data) & 0xFFFFFFFF


def encode(kind, req_id, body=b""):
    """The bytes to send for one frame, END bytes included."""
    payload = bytes((kind, req_id)) + bytes(body)
    payload += struct.pack("<I", crc32(payload))
    out = bytearray((END,))
    for b in payload:
        if b == END:
            out.append(_ESC)
            out.append(_ESC_END)
        elif b == _ESC:
            out.append(_ESC)
            out.append(_ESC_ESC)
        elif 0 < b < 6:
            out.append(_ESC)
            out.append(_ESC_CTRL + b)
        else:
            out.append(b)
    out.append(END)
    return bytes(out)


def decode(chunk):
    """``(kind, req_id, body)`` from the escaped bytes between two END bytes."""
    payload = bytearray()
    escaped = False
    for b in chunk:
        if escaped:
            if b == _ESC_END:
                payload.append(END)
            elif b == _ESC_ESC:
                payload.append(_ESC)
            elif 0xE0 < b < 0xE6:
                payload.append(b - _ESC_CTRL)
            else:
                raise FrameError("bad escape")
            escaped = False
        elif b == _ESC:
            escaped = True
        else:
            payload.append(b)
    if escaped:
        raise FrameError("ends in an escape")
    if len(payload) < 6:
        raise FrameError("too short")
    if crc32(payload[:-4]) != struct.unpack_from("<I", payload, len(payload) - 4)[0]:
        raise FrameError("bad CRC")
    return payload[0], payload[1], bytes(payload[2:-4])


def looks_like_text(chunk):
    """True for bytes a person should see (device output such as a traceback)."""
    if not chunk:
        return False
    printable = 0
    for b in chunk:
        if 0x20 <= b < 0x7F or b in (9, 10, 13):
            printable += 1
    return printable * 10 >= len(chunk) * 9


class Splitter:
    """Cuts a byte stream into the chunks between END bytes, with a bounded buffer.

    ``push(byte)`` returns a finished chunk (bytes) or None. A chunk longer than
    ``limit`` is cut off and returned as soon as it reaches the limit, flagged by
    ``overflowed``, so a flood of garbage never grows the buffer."""

    def __init__(self, limit):
        self.buf = bytearray(limit)
        self.limit = limit
        self.n = 0
        self.overflowed = False
        self.skipping = False

    def push(self, b):
        if b == END:
            if self.skipping:
                self.skipping = False
                self.n = 0
                return None
            if self.n == 0:
                return None
            chunk = bytes(self.buf[:self.n])
            self.n = 0
            self.overflowed = False
            return chunk
        if self.skipping:
            return None
        if self.n == self.limit:
            # Too long to be a request: report it once and drop the rest up to the next END.
            self.skipping = True
            self.overflowed = True
            chunk = bytes(self.buf[:self.n])
            self.n = 0
            return chunk
        self.buf[self.n] = b
        self.n += 1
        return None

    def pending(self):
        """The bytes received since the last END (for showing unframed device text)."""
        return bytes(self.buf[:self.n])
