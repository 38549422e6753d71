"""Storing synced records: raw as the device sent them, decoded, with their wall time.

Each record goes to ``records`` unchanged (so a later heard can decode it again) and to
``conversations`` or ``events`` decoded. Its wall time is its ``clock_s`` when the device
clock was set (``'device'``), else the boot's clock offset seen by the host at a sync plus
its uptime (``'inferred'``), else NULL until a sync sees that boot (``set_boot_offset``).
The caller holds the transaction.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heardcore import record


@dataclass
class StoreResult:
    """What one ``store_records`` call did."""

    new: int = 0
    duplicates: int = 0
    bad: int = 0
    conversations: int = 0
    events: int = 0
    last_seq: int | None = None  # highest seq stored or already present
    # Losses the new records report: why a data area was formatted (data_reset events),
    # and bytes cut from a damaged log at a boot (boot events with ``b`` > 0).
    data_resets: list[str] = field(default_factory=list)
    bytes_cut: list[int] = field(default_factory=list)
    # Not a loss: the device rebuilt its log's lost state from its records (log_rebuilt).
    logs_rebuilt: list[str] = field(default_factory=list)


def boot_offset(conn: sqlite3.Connection, device_id: str, boot_id: int) -> float | None:
    row = conn.execute(
        "SELECT clock_offset FROM boots WHERE device_id = ? AND boot_id = ?",
        (device_id, boot_id)).fetchone()
    return None if row is None else float(row[0])


def set_boot_offset(conn: sqlite3.Connection, device_id: str, boot_id: int,
                    offset: float) -> None:
    """Keep a boot's clock offset; fill in the wall time of its records that had none."""
    conn.execute(
        "INSERT INTO boots (device_id, boot_id, clock_offset, observed_at) VALUES "
        "(?, ?, ?, ?) ON CONFLICT (device_id, boot_id) DO UPDATE SET "
        "clock_offset = excluded.clock_offset, observed_at = excluded.observed_at",
        (device_id, boot_id, offset, time.time()))
    for table, column in (("conversations", "start_utc"), ("events", "time_utc")):
        conn.execute(
            f"UPDATE {table} SET {column} = ? + uptime_ms / 1000.0, "
            "time_source = 'inferred' WHERE device_id = ? AND boot_id = ? "
            "AND time_source IS NULL", (offset, device_id, boot_id))


def store_one(conn: sqlite3.Connection, device_id: str, log_id: str, raw: bytes, now: float,
              result: StoreResult) -> None:
    """Store one record as received at ``now``, counting what happened in ``result``."""
    try:
        rec = record.decode(raw)
    except (record.RecordError, ValueError):
        result.bad += 1
        return
    if rec["length"] != len(raw):
        result.bad += 1
        return
    cur = conn.execute(
        "INSERT INTO records (device_id, log_id, boot_id, seq, kind, version, raw, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (device_id, log_id, rec["boot_id"], rec["seq"], rec["kind"], rec["version"],
         raw, now))
    result.last_seq = max(rec["seq"], result.last_seq or 0)
    if cur.rowcount == 0:
        result.duplicates += 1
        return
    result.new += 1
    when, source = _wall_time(conn, device_id, rec)
    if rec["kind"] == "conversation":
        _insert_conversation(conn, device_id, rec, when, source)
        result.conversations += 1
    elif rec["kind"] == "event":
        _insert_event(conn, device_id, rec, when, source)
        result.events += 1
        if rec["event"] == record.EVENT_DATA_RESET:
            result.data_resets.append(rec["text"])
        elif rec["event"] == record.EVENT_BOOT and rec["b"] > 0:
            result.bytes_cut.append(rec["b"])
        elif rec["event"] == record.EVENT_LOG_REBUILT:
            result.logs_rebuilt.append(rec["text"])


def _wall_time(conn: sqlite3.Connection, device_id: str,
               rec: dict[str, Any]) -> tuple[float | None, str | None]:
    if rec["clock_s"]:
        return float(rec["clock_s"]), "device"
    offset = boot_offset(conn, device_id, rec["boot_id"])
    if offset is None:
        return None, None
    return offset + rec["uptime_ms"] / 1000.0, "inferred"


def _insert_conversation(conn: sqlite3.Connection, device_id: str, rec: dict[str, Any],
                         when: float | None, source: str | None) -> None:
    fields = record.CONVERSATION_FIELDS
    talk = rec["employee_ms"] + rec["customer_ms"]
    ratio = rec["employee_ms"] / talk if talk else None
    columns = ", ".join(("device_id", "boot_id", "seq", "start_utc", "time_source",
                         *fields, "talk_ratio"))
    marks = ", ".join("?" * (len(fields) + 6))
    values = (device_id, rec["boot_id"], rec["seq"], when, source,
              *(rec[f] for f in fields), ratio)
    conn.execute(f"INSERT INTO conversations ({columns}) VALUES ({marks})", values)


def _insert_event(conn: sqlite3.Connection, device_id: str, rec: dict[str, Any],
                  when: float | None, source: str | None) -> None:
    conn.execute(
        "INSERT INTO events (device_id, boot_id, seq, time_utc, time_source, uptime_ms, "
        "clock_s, name, code, a, b, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (device_id, rec["boot_id"], rec["seq"], when, source, rec["uptime_ms"],
         rec["clock_s"], rec["name"], rec["event"], rec["a"], rec["b"], rec["text"]))
