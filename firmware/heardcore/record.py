"""The record format: what the device keeps on flash and sends to the host, numbers only.

One definition for the firmware (which writes records) and the host (which reads every
version ever written). A record is little-endian bytes:

    header  "<2sBBHII"  magic b"hR", version, kind, length (whole record), seq, boot_id
    body    per kind and version (below)
    crc     "<I"        CRC-32 (binascii.crc32) of header and body

``length`` makes records self-delimiting in a file or a batch. docs/protocol.md shows
byte-level examples. Values that do not fit their field are clamped when encoding, so a
record never fails to encode.
"""

import binascii
import struct

from micropython import const

MAGIC = b"hR"
_VERSION = const(1)
HEADER = "<2sBBHII"
HEADER_SIZE = const(14)
_CRC_SIZE = const(4)
MAX_RECORD = const(160)  # no record of any version is longer

_KIND_CONVERSATION = const(1)
_KIND_EVENT = const(2)
KIND_NAMES = {_KIND_CONVERSATION: "conversation", _KIND_EVENT: "event"}

# Event codes (field ``event`` of an event record) and what ``a``, ``b``, ``text`` hold.
EVENT_BOOT = const(1)  # a: reset cause (RESET_*), b: 0, text: firmware version
EVENT_CLOCK_SET = const(2)  # a: previous clock (unix s, 0 = unknown), b: new clock
EVENT_CONFIG_CHANGED = const(3)  # text: the names of the changed fields
EVENT_MUTE_ON = const(4)
EVENT_MUTE_OFF = const(5)  # a: ms the device was muted
EVENT_ERROR = const(6)  # text: exception type and message (never data)
EVENT_AUDIO_GAP = const(7)  # a: ms of audio lost outside a conversation
EVENT_RECORDS_DROPPED = const(8)  # a: records not written since the last such event
EVENT_EMPLOYEE_ONLY = const(9)  # a: talk ms, b: duration ms (employee talk, no customer)
EVENT_DATA_RESET = const(10)  # the data area was unreadable and was formatted; text: why
EVENT_LOG_REBUILT = const(11)  # the log's state was lost and rebuilt from its records:
# a: oldest seq kept, b: next seq; text: why. Records are kept; dropped counts start over.
EVENT_NAMES = {
    EVENT_BOOT: "boot", EVENT_CLOCK_SET: "clock_set", EVENT_CONFIG_CHANGED: "config_changed",
    EVENT_MUTE_ON: "mute_on", EVENT_MUTE_OFF: "mute_off", EVENT_ERROR: "error",
    EVENT_AUDIO_GAP: "audio_gap", EVENT_RECORDS_DROPPED: "records_dropped",
    EVENT_EMPLOYEE_ONLY: "employee_only", EVENT_DATA_RESET: "data_reset",
    EVENT_LOG_REBUILT: "log_rebuilt",
}

# Reset causes in boot events (the ESP32 layer maps machine.reset_cause() onto these).
RESET_NAMES = ("unknown", "power_on", "hard", "watchdog", "deep_sleep", "soft", "emulator")

# Version 1 bodies. Every body starts with the time of the record: ``uptime_ms`` since boot
# (never wraps) and ``clock_s``, the device clock in unix seconds, 0 when it was not set.
_CONVERSATION_V1 = "<QIIIIIHHHHHHIIiHHhIIB"
CONVERSATION_FIELDS = (
    "uptime_ms", "clock_s", "duration_ms", "employee_ms", "customer_ms", "overlap_ms",
    "turns", "switches", "interruptions_by_employee", "interruptions_by_customer",
    "backchannels_by_employee", "backchannels_by_customer", "longest_employee_monologue_ms",
    "longest_customer_story_ms", "median_latency_ms", "latency_count", "flags", "snr_db",
    "clipped_samples", "lost_ms", "channels",
)
_EVENT_V1 = "<QIBiiB"
EVENT_FIELDS = ("uptime_ms", "clock_s", "event", "a", "b")
MAX_TEXT = const(64)

_LIMITS = {"B": (0, 0xFF), "H": (0, 0xFFFF), "h": (-0x8000, 0x7FFF), "I": (0, 0xFFFFFFFF),
           "i": (-0x80000000, 0x7FFFFFFF), "Q": (0, 0xFFFFFFFFFFFFFFFF)}


class RecordError(ValueError):
    """Bytes that are not a whole, intact record of a known version."""


def _clamped(fmt, values):
    out = []
    for i in range(len(values)):
        lo, hi = _LIMITS[fmt[i + 1]]
        v = values[i]
        out.append(lo if v < lo else hi if v > hi else v)
    return out


def _seal(kind, seq, boot_id, body):
    length = HEADER_SIZE + len(body) + _CRC_SIZE
    head = struct.pack(HEADER, MAGIC, _VERSION, kind, length, seq, boot_id)
    body = bytes(body)
    crc = binascii.crc32(body, binascii.crc32(head)) & 0xFFFFFFFF
    return head + body + struct.pack("<I", crc)


def conversation(seq, boot_id, uptime_ms, clock_s, conv, channels):
    """A conversation record from a ``heardcore.events.Conversation``.

    ``uptime_ms`` and ``clock_s`` are the time of the conversation's start."""
    values = (
        uptime_ms, clock_s, conv.end_ms - conv.start_ms, conv.talk_ms[0], conv.talk_ms[1],
        conv.overlap_ms, conv.turns, conv.switches, conv.interruptions[0],
        conv.interruptions[1], conv.backchannels[0], conv.backchannels[1],
        conv.longest_employee_monologue_ms, conv.longest_customer_story_ms,
        conv.median_latency_ms, conv.latency_count, conv.flags, conv.snr_db,
        conv.clipped_samples, conv.lost_ms, channels,
    )
    body = struct.pack(_CONVERSATION_V1, *_clamped(_CONVERSATION_V1, values))
    return _seal(_KIND_CONVERSATION, seq, boot_id, body)


def event(seq, boot_id, uptime_ms, clock_s, code, a=0, b=0, text=""):
    """An event record; ``text`` is cut to ``MAX_TEXT`` bytes of printable ASCII."""
    raw = bytearray()
    for ch in text:
        if len(raw) >= MAX_TEXT:
            break
        c = ord(ch)
        raw.append(c if 0x20 <= c < 0x7F else 0x3F)  # "?"
    values = _clamped(_EVENT_V1, (uptime_ms, clock_s, code, a, b, len(raw)))
    body = struct.pack(_EVENT_V1, *values) + raw
    return _seal(_KIND_EVENT, seq, boot_id, body)


def with_seq(raw, seq, boot_id):
    """A copy of record ``raw`` renumbered (and sealed again): records are built when a
    conversation ends and numbered when they are written."""
    _m, _v, kind, length, _s, _b = struct.unpack_from(HEADER, raw, 0)
    return _seal(kind, seq, boot_id, raw[HEADER_SIZE:length - _CRC_SIZE])


def peek_length(data, offset=0):
    """The length a record at ``offset`` declares, or 0 if there are not enough bytes
    for a header or the magic is wrong."""
    if len(data) - offset < HEADER_SIZE or data[offset:offset + 2] != MAGIC:
        return 0
    return struct.unpack_from("<H", data, offset + 4)[0]


def check(data, offset=0):
    """Verify the record at ``offset``: its (length, seq); ``RecordError`` if torn,
    corrupt or of an unknown version."""
    if len(data) - offset < HEADER_SIZE:
        raise RecordError("short header")
    magic, version, kind, length, seq, _boot = struct.unpack_from(HEADER, data, offset)
    if magic != MAGIC:
        raise RecordError("bad magic")
    if length < HEADER_SIZE + _CRC_SIZE or length > MAX_RECORD:
        raise RecordError("bad length {}".format(length))
    if len(data) - offset < length:
        raise RecordError("torn: {} of {} bytes".format(len(data) - offset, length))
    end = offset + length - _CRC_SIZE
    crc = binascii.crc32(memoryview(data)[offset:end]) & 0xFFFFFFFF
    if crc != struct.unpack_from("<I", data, end)[0]:
        raise RecordError("bad CRC")
    if version not in _DECODERS:
        raise RecordError("unknown version {}".format(version))
    return length, seq


def _decode_v1(kind, body):
    if kind == _KIND_CONVERSATION:
        values = struct.unpack_from(_CONVERSATION_V1, body, 0)
        return dict(zip(CONVERSATION_FIELDS, values))
    if kind == _KIND_EVENT:
        values = struct.unpack_from(_EVENT_V1, body, 0)
        out = dict(zip(EVENT_FIELDS, values[:5]))
        start = struct.calcsize(_EVENT_V1)
        out["text"] = bytes(body[start:start + values[5]]).decode()
        out["name"] = EVENT_NAMES.get(out["event"], "event_{}".format(out["event"]))
        return out
    raise RecordError("unknown kind {}".format(kind))


_DECODERS = {1: _decode_v1}


def decode(data, offset=0):
    """The record at ``offset`` as a dict: header fields plus the body's fields."""
    length, _seq = check(data, offset)
    _m, version, kind, _l, seq, boot_id = struct.unpack_from(HEADER, data, offset)
    body = bytes(data[offset + HEADER_SIZE:offset + length - _CRC_SIZE])
    out = _DECODERS[version](kind, body)
    out["version"] = version
    out["kind"] = KIND_NAMES.get(kind, str(kind))
    out["seq"] = seq
    out["boot_id"] = boot_id
    out["length"] = length
    return out
