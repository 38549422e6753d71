"""Helpers for tests of the emulated device: read its flash folder from the host side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heardcore import record
from heardcore.recordlog import RecordLog


def flash_records(flash: Path) -> list[dict[str, Any]]:
    """Every intact record in an emulated device's data area, decoded, oldest first.

    Opening the log repairs a torn tail exactly as the device's next boot would."""
    log = RecordLog(str(flash / "data"), lambda: 1 << 30)
    log.open()
    out: list[dict[str, Any]] = []
    seq = log.first_seq
    while seq < log.next_seq:
        raws, resume = log.read(seq, 1 << 20)
        if not raws:
            break
        for raw in raws:
            rec = record.decode(raw)
            rec["raw"] = raw
            out.append(rec)
        seq = resume
    return out


def events(records: list[dict[str, Any]], name: str | None = None) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == "event" and (name is None or r["name"] == name)]


def conversations(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == "conversation"]
