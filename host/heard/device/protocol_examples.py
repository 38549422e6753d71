"""Byte-level examples for docs/protocol.md, computed by the code they document.

``python -m heard.device.protocol_examples`` prints the section; a test keeps the copy in
docs/protocol.md equal to it, so the document cannot drift from the wire format.
"""

from __future__ import annotations

import struct

from heardcore import auth, record, wire
from heardcore.events import Conversation

BEGIN = "<!-- examples:begin -->"
END = "<!-- examples:end -->"


def _hex(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def _example_conversation() -> Conversation:
    conv = Conversation()
    conv.start_ms, conv.end_ms = 5_000, 65_000
    conv.talk_ms[0], conv.talk_ms[1] = 21_000, 27_000
    conv.overlap_ms, conv.turns, conv.switches = 1_200, 14, 12
    conv.interruptions[0], conv.backchannels[1] = 1, 3
    conv.longest_employee_monologue_ms, conv.longest_customer_story_ms = 9_400, 7_100
    conv.median_latency_ms, conv.latency_count, conv.snr_db = 640, 6, 21
    return conv


def examples() -> str:
    conv = _example_conversation()
    rec = record.conversation(42, 0x1A2B3C4D, 3_600_000, 1_795_000_000, conv, 2)
    event = record.event(43, 0x1A2B3C4D, 3_700_000, 1_795_000_100, record.EVENT_MUTE_ON)
    secret = bytes(range(32))
    challenge = bytes.fromhex("00112233445566778899aabbccddeeff")
    lines = [
        "All bytes in hex. Produced by `python -m heard.device.protocol_examples` (a test keeps",
        "this section equal to its output).",
        "",
        "A conversation record (seq 42, boot id 0x1a2b3c4d, 60 s long, employee 21 s,",
        "customer 27 s, 14 turns, patience 640 ms), 85 bytes as stored and sent:",
        "",
        "    " + _hex(rec[:14]) + "   header",
        *("    " + _hex(rec[i:min(i + 16, len(rec) - 4)]) for i in range(14, len(rec) - 4, 16)),
        "    " + _hex(rec[-4:]) + "   CRC-32",
        "",
        "A mute_on event record (seq 43): `" + _hex(event) + "`",
        "",
        "hello, req_id 1: `" + _hex(wire.encode(wire.HELLO, 1)) + "`",
        "",
        "get from seq 1, at most 4096 bytes, req_id 2: `"
        + _hex(wire.encode(wire.GET, 2, struct.pack("<IH", 1, 4096))) + "`",
        "",
        "Its answer with that one record (status 0, resume 43, count 1), escapes included: `"
        + _hex(wire.encode(wire.GET | wire.ANSWER, 2,
                           b"\x00" + struct.pack("<IB", 43, 1) + rec)) + "`",
        "",
        "ack up to seq 3, req_id 3: `"
        + _hex(wire.encode(wire.ACK, 3, struct.pack("<I", 3))) + "` (the seq's 03 byte is sent as",
        "db e3, its 00 bytes as they are)",
        "",
        "auth for device `dev-1` with secret 00 01 … 1f and challenge "
        "00112233445566778899aabbccddeeff, req_id 4: `"
        + _hex(wire.encode(wire.AUTH, 4, auth.proof(secret, challenge, "dev-1"))) + "`",
        "",
        "The device's answer to bytes that are not an intact frame: `"
        + _hex(wire.encode(wire.BAD_FRAME_ANSWER, 0, bytes((wire.E_FRAME,)))) + "`",
    ]
    return "\n".join(lines)


def section() -> str:
    return f"{BEGIN}\n{examples()}\n{END}"


def replace_in(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + section() + text[end:]


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
        path.write_text(replace_in(path.read_text()))
    else:
        print(section())
