"""``heard export``: conversations, events and lost records, with their device's naming.

CSV goes to a folder as four files (``devices.csv``, ``conversations.csv``, ``events.csv``,
``gaps.csv``), one header row each; JSON is one document ``{"format": "heard-export",
"version": 1, "devices": [...], "conversations": [...], "events": [...], "gaps": [...]}``.
Rows carry every field of the records plus the device's store, lane and name, the time in
unix seconds (``start_utc``, ``time_utc``; for a gap ``found_utc``, when a sync found the
records missing) and the same time as local ISO 8601 text. A gap also says when its
records were written, as far as the records around it tell: after ``lost_after_utc`` and
before ``lost_before_utc``, when the records before and after it were written (a
conversation at its end), empty where unknown. Device secrets are never exported. With a
date range, rows of unknown time are left out (gaps are placed by ``found_utc``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.report.query import GAP_LOST_AFTER, GAP_LOST_BEFORE, time_clause
from heardcore import record

FORMAT_VERSION = 1
DEVICE_COLUMNS = ("device_id", "name", "store", "lane", "firmware", "first_seen", "last_sync")
_NAMING = ("store", "lane", "device_name")
CONVERSATION_COLUMNS = ("device_id", *_NAMING, "boot_id", "seq", "start_utc", "start_local",
                        "time_source", *record.CONVERSATION_FIELDS, "talk_ratio")
EVENT_COLUMNS = ("device_id", *_NAMING, "boot_id", "seq", "time_utc", "time_local",
                 "time_source", "uptime_ms", "clock_s", "name", "code", "a", "b", "text")
GAP_COLUMNS = ("device_id", *_NAMING, "log_id", "first_seq", "last_seq", "found_utc",
               "found_local", "lost_after_utc", "lost_after_local", "lost_before_utc",
               "lost_before_local")


@dataclass
class ExportResult:
    devices: int = 0
    conversations: int = 0
    events: int = 0
    gaps: int = 0


def _local(t: float | None) -> str | None:
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def _rows(conn: sqlite3.Connection, table: str, time_column: str, start: int | None,
          end: int | None) -> Iterator[tuple[Any, ...]]:
    """Rows of ``conversations`` or ``events`` in export column order."""
    columns = CONVERSATION_COLUMNS if table == "conversations" else EVENT_COLUMNS
    own = [c for c in columns if c not in (*_NAMING, "start_local", "time_local")]
    select = ", ".join([f"t.{own[0]}", "d.store", "d.lane", "d.name",
                        *(f"t.{c}" for c in own[1:])])
    where, args = _range(f"t.{time_column}", start, end)
    sql = (f"SELECT {select} FROM {table} t LEFT JOIN devices d USING (device_id) "
           f"WHERE {where} ORDER BY t.device_id, t.boot_id, t.seq")
    at = 6  # the time column's place among the selected ones
    for row in conn.execute(sql, args):
        yield (*row[:at + 1], _local(row[at]), *row[at + 1:])


def _range(column: str, start: int | None, end: int | None) -> tuple[str, list[object]]:
    """Every row without a date range; with one, the rows of known time inside it."""
    return ("1", []) if start is None and end is None else time_clause(column, start, end)


def _gaps(conn: sqlite3.Connection, start: int | None,
          end: int | None) -> Iterator[tuple[Any, ...]]:
    """The records syncs found missing (``gaps``), in export column order."""
    where, args = _range("g.found_at", start, end)
    for *row, found, after, before in conn.execute(
            "SELECT g.device_id, d.store, d.lane, d.name, g.log_id, g.first_seq, g.last_seq, "
            f"g.found_at, {GAP_LOST_AFTER}, {GAP_LOST_BEFORE} FROM gaps g "
            f"LEFT JOIN devices d USING (device_id) WHERE {where} "
            "ORDER BY g.device_id, g.found_at, g.first_seq", args):
        yield (*row, found, _local(found), after, _local(after), before, _local(before))


def _parts(conn: sqlite3.Connection, start: int | None,
           end: int | None) -> tuple[tuple[str, tuple[str, ...], Iterator[tuple[Any, ...]]], ...]:
    return (("devices", DEVICE_COLUMNS, iter(_devices(conn))),
            ("conversations", CONVERSATION_COLUMNS,
             _rows(conn, "conversations", "start_utc", start, end)),
            ("events", EVENT_COLUMNS, _rows(conn, "events", "time_utc", start, end)),
            ("gaps", GAP_COLUMNS, _gaps(conn, start, end)))


def _devices(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT {', '.join(DEVICE_COLUMNS)} FROM devices "
                        "ORDER BY device_id").fetchall()


def export_csv(conn: sqlite3.Connection, folder: Path, start: int | None = None,
               end: int | None = None) -> ExportResult:
    folder.mkdir(parents=True, exist_ok=True)
    result = ExportResult()
    for name, columns, rows in _parts(conn, start, end):
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            count = 0
            for row in rows:
                writer.writerow(row)
                count += 1
        setattr(result, name, count)
    return result


def export_json(conn: sqlite3.Connection, out: TextIO, start: int | None = None,
                end: int | None = None) -> ExportResult:
    """Stream one JSON document to ``out`` (a row per line inside the lists)."""
    result = ExportResult()
    head = {"format": "heard-export", "version": FORMAT_VERSION, "exported_at": time.time()}
    out.write(json.dumps(head)[:-1])
    for name, columns, rows in _parts(conn, start, end):
        out.write(f', "{name}": [')
        count = 0
        for row in rows:
            out.write(("," if count else "") + "\n" + json.dumps(dict(zip(columns, row,
                                                                          strict=True))))
            count += 1
        out.write("\n]")
        setattr(result, name, count)
    out.write("}\n")
    return result
