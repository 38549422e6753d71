"""docs/protocol.md's byte-level examples are what the code produces, and records of
every format version ever written still decode."""

from __future__ import annotations

from pathlib import Path

import pytest

from heard.device import protocol_examples
from heardcore import record

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"

# A version-1 conversation record as firmware 0.2.0 wrote it. Never edit: a later heard must
# read it exactly like this (add a fixture per new version instead).
V1_CONVERSATION = bytes.fromhex(
    "6852010155002a0000004d3c2b1a80ee360000000000c086fd6a60ea00000852000078690000b004"
    "00000e000c000100000000000300b8240000bc1b0000800200000600000015000000000000000000"
    "029e7b4f75"
)


def test_the_examples_in_the_doc_are_current() -> None:
    text = DOC.read_text()
    assert protocol_examples.section() in text, (
        "docs/protocol.md is out of date: run "
        "`python -m heard.device.protocol_examples docs/protocol.md`"
    )


def test_version_1_records_decode_forever() -> None:
    rec = record.decode(V1_CONVERSATION)
    assert rec["version"] == 1 and rec["kind"] == "conversation"
    assert (rec["seq"], rec["boot_id"], rec["uptime_ms"]) == (42, 0x1A2B3C4D, 3_600_000)
    assert (rec["clock_s"], rec["duration_ms"]) == (1_795_000_000, 60_000)
    assert (rec["employee_ms"], rec["customer_ms"], rec["turns"]) == (21_000, 27_000, 14)
    assert (rec["interruptions_by_employee"], rec["backchannels_by_customer"]) == (1, 3)
    assert (rec["median_latency_ms"], rec["snr_db"], rec["channels"]) == (640, 21, 2)


@pytest.mark.parametrize("cut", [1, 14, 84])
def test_a_torn_or_altered_record_is_refused(cut: int) -> None:
    with pytest.raises(record.RecordError):
        record.decode(V1_CONVERSATION[:cut])
    altered = bytearray(V1_CONVERSATION)
    altered[cut] ^= 1
    with pytest.raises(record.RecordError):
        record.decode(bytes(altered))
