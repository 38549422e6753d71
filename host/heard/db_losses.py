"""What was lost, as the database keeps it: sync gaps and each log's dropped counter.

A gap is a run of seqs a sync found missing from a device log (``gaps``): gone from the
device before it was synced, or found damaged there. ``device_logs`` holds each log's
records-dropped counter (hello's ``dropped``) as the last sync saw it. The events the
records carry (records_dropped, data_reset, boot) say the rest.
"""

from __future__ import annotations

import sqlite3
import time

from heard.db_schema import transaction


def add_gap(conn: sqlite3.Connection, device_id: str, log_id: str, first: int, last: int,
            now: float) -> None:
    """Keep seqs first..last of a log as lost, merged with the gaps they touch; the
    caller holds the transaction."""
    where = "device_id = ? AND log_id = ? AND first_seq <= ? AND last_seq >= ?"
    args = (device_id, log_id, last + 1, first - 1)
    met = conn.execute(f"SELECT first_seq, last_seq, found_at FROM gaps WHERE {where}",
                       args).fetchall()
    conn.execute(f"DELETE FROM gaps WHERE {where}", args)
    conn.execute(
        "INSERT INTO gaps (device_id, log_id, first_seq, last_seq, found_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (device_id, log_id, min([first, *(m[0] for m in met)]),
         max([last, *(m[1] for m in met)]), min([now, *(m[2] for m in met)])))


def note_dropped(conn: sqlite3.Connection, device_id: str, log_id: str, dropped: int) -> int:
    """Remember a log's records-dropped counter from hello; the value seen before (0 for a
    log not seen yet)."""
    with transaction(conn):
        row = conn.execute("SELECT dropped FROM device_logs WHERE device_id = ? AND "
                           "log_id = ?", (device_id, log_id)).fetchone()
        conn.execute("INSERT INTO device_logs (device_id, log_id, dropped, seen_at) VALUES "
                     "(?, ?, ?, ?) ON CONFLICT (device_id, log_id) DO UPDATE SET "
                     "dropped = excluded.dropped, seen_at = excluded.seen_at",
                     (device_id, log_id, dropped, time.time()))
    return 0 if row is None else int(row[0])
