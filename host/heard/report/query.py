"""The SQL side of reports: devices and lanes, conversations as numpy columns, quality.

Conversations are read in one aggregate query per report, grouped by device from the
covering index ``conversations_report`` (db_schema.py): SQLite concatenates each column of
a device's rows (``group_concat``, every column visiting the rows in the same order) and
numpy parses the text, so a million conversations never become a million Python row
objects. Conversations whose start time is unknown (NULL) are not loaded; ``unknown_time``
counts them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from heard.report.model import Loss, LossKind
from heard.report.stats import COLUMNS, Columns


@dataclass(frozen=True)
class Device:
    device_id: str
    name: str | None
    store: str | None
    lane: str | None
    last_sync: float | None

    @property
    def lane_name(self) -> str:
        """The lane it counts for: its lane name, else its own name or id."""
        return self.lane or self.name or self.device_id


@dataclass(frozen=True)
class Lane:
    """A counter or lane of a store; devices with the same store and lane name share it."""

    store: str | None
    name: str

    @property
    def key(self) -> str:
        return f"{self.store}/{self.name}" if self.store else self.name

    def label(self, with_store: bool) -> str:
        return f"{self.store} · {self.name}" if with_store and self.store else self.name


def devices(conn: sqlite3.Connection) -> list[Device]:
    """Every device this database knows (synced, provisioned or named)."""
    return [Device(*r) for r in conn.execute(
        "SELECT device_id, name, store, lane, last_sync FROM devices ORDER BY device_id")]


def _device_clause(device_ids: Sequence[str] | None) -> tuple[str, list[object]]:
    if device_ids is None:
        return "", []
    return f" AND device_id IN ({', '.join('?' * len(device_ids))})", list(device_ids)


def time_clause(column: str, start: int | None, end: int | None) -> tuple[str, list[object]]:
    sql, args = f"{column} IS NOT NULL", list[object]()
    if start is not None:
        sql += f" AND {column} >= ?"
        args.append(start)
    if end is not None:
        sql += f" AND {column} < ?"
        args.append(end)
    return sql, args


def load_conversations(conn: sqlite3.Connection, device_ids: Sequence[str] | None,
                       start: int | None, end: int | None) -> tuple[list[str], Columns]:
    """Conversations starting in [start, end) (None: unbounded) of the given devices (None:
    all): the device ids met, and the columns (``Columns.device`` indexes that list)."""
    where, args = time_clause("start_utc", start, end)
    in_devices, device_args = _device_clause(device_ids)
    # Whole seconds (times are after 1970: truncating is flooring).
    values = ["CAST(start_utc AS INTEGER)" if c == "start_utc" else c for c in COLUMNS]
    select = ", ".join(f"group_concat({v})" for v in values)
    sql = (f"SELECT device_id, count(*), {select} FROM conversations "
           f"WHERE {where}{in_devices} GROUP BY device_id")
    ids: list[str] = []
    counts: list[int] = []
    parts: list[list[np.ndarray]] = [[] for _ in COLUMNS]
    for row in conn.execute(sql, args + device_args):
        ids.append(row[0])
        counts.append(int(row[1]))
        for i, text in enumerate(row[2:]):
            column = np.fromstring(text, dtype=np.int64, sep=",")
            if len(column) != counts[-1]:
                raise RuntimeError(f"conversations of {row[0]}: column {COLUMNS[i]} has "
                                   f"{len(column)} values for {counts[-1]} rows")
            parts[i].append(column)
    arrays = [np.concatenate(p) if p else np.zeros(0, dtype=np.int64) for p in parts]
    device = np.repeat(np.arange(len(ids), dtype=np.int64), counts)
    fields = dict(zip(COLUMNS[1:], arrays[1:], strict=True))
    return ids, Columns(device=device, t=arrays[0], fields=fields)


def unknown_time(conn: sqlite3.Connection, device_ids: Sequence[str] | None) -> int:
    """Conversations of these devices whose start time was never known."""
    in_devices, args = _device_clause(device_ids)
    row = conn.execute(f"SELECT count(*) FROM conversations WHERE start_utc IS NULL"
                       f"{in_devices}", args).fetchone()
    return int(row[0])


def one_mic(conn: sqlite3.Connection, device_ids: Sequence[str] | None,
            start: int | None, end: int | None) -> int:
    """Conversations in [start, end) recorded with one microphone (channels = 1)."""
    where, args = time_clause("start_utc", start, end)
    in_devices, device_args = _device_clause(device_ids)
    row = conn.execute(f"SELECT count(*) FROM conversations WHERE channels = 1 AND {where}"
                       f"{in_devices}", args + device_args).fetchone()
    return int(row[0])


def _neighbour_time(seq: str, value: str, pick: str) -> str:
    """SQL: ``pick`` of ``value`` over the records of seq ``seq`` in the log of gap ``g``."""
    return (f"(SELECT {pick}({value}) FROM records r "
            "LEFT JOIN conversations c ON c.device_id = r.device_id AND c.boot_id = r.boot_id "
            "AND c.seq = r.seq "
            "LEFT JOIN events e ON e.device_id = r.device_id AND e.boot_id = r.boot_id "
            "AND e.seq = r.seq "
            f"WHERE r.device_id = g.device_id AND r.log_id = g.log_id AND r.seq = {seq})")


# When the records of a gap ``g`` were written, from the records on either side of it in
# the same log: a record is written when it is complete (a conversation at its end, an
# event at its time) and seqs follow the order of writing, so the lost ones were written
# after the record before them and before the record after them. (Not the start of the
# record after: an event written during a conversation has a lower seq than that
# conversation.) NULL when the database does not hold that record (a merged chain database
# holds one store's records) or its time is unknown. One seq can be held twice (a record
# cut at a restart gives its seq to the next one, of the new boot): the latest and the
# earliest write are the bounds that hold for both.
_WRITTEN = "coalesce(c.start_utc + c.duration_ms / 1000.0, e.time_utc)"
GAP_LOST_AFTER = _neighbour_time("g.first_seq - 1", _WRITTEN, "max")
GAP_LOST_BEFORE = _neighbour_time("g.last_seq + 1", _WRITTEN, "min")


def gap_in_range(found_at: float, lost_after: float | None, lost_before: float | None,
                 start: int | None, end: int | None) -> bool:
    """Whether a gap belongs to the report range [start, end): a sync found it in the range
    (so a report of the day it was found always shows it), or its records may have been
    written in it: after ``lost_after`` and before ``lost_before`` (before the sync that
    found them when no later record is known). With no earlier record known the span is
    open-ended, and a span that runs backwards (a clock set in between) says nothing: then
    only the time it was found counts."""
    def inside(t: float) -> bool:
        return (start is None or t >= start) and (end is None or t < end)

    if inside(found_at):
        return True
    high = lost_before if lost_before is not None else found_at
    if lost_after is None or lost_after > high:
        return False
    return (end is None or lost_after < end) and (start is None or high > start)


def losses(conn: sqlite3.Connection, device_ids: Sequence[str] | None,
           start: int | None, end: int | None) -> list[Loss]:
    """Records the devices lost in [start, end), in time order: ``records_dropped``,
    ``data_reset`` and boot events that cut bytes (also those of unknown time: a loss that
    cannot be placed is still reported), and the gaps syncs found (``gap_in_range``: found
    in the range, or written in it; in time order by when they were found)."""
    in_devices, device_args = _device_clause(device_ids)
    where, args = time_clause("time_utc", start, end)
    found = []
    kinds: tuple[tuple[LossKind, str, str], ...] = (
        ("records_dropped", "a, ''", "name = 'records_dropped'"),
        ("data_reset", "0, text", "name = 'data_reset'"),
        ("bytes_cut", "b, ''", "name = 'boot' AND b > 0"))
    for kind, select, which in kinds:
        found += [Loss(d, kind, t, int(n), str(x)) for d, t, n, x in conn.execute(
            f"SELECT device_id, time_utc, {select} FROM events WHERE {which} "
            f"AND (({where}) OR time_utc IS NULL){in_devices}", args + device_args)]
    found += [Loss(d, "gap", t, last - first + 1,
                   f"seq {first}" if first == last else f"seq {first}-{last}",
                   lost_after=after, lost_before=before)
              for d, t, first, last, after, before in conn.execute(
                  f"SELECT device_id, found_at, first_seq, last_seq, {GAP_LOST_AFTER}, "
                  f"{GAP_LOST_BEFORE} FROM gaps g WHERE 1{in_devices}", device_args)
              if gap_in_range(t, after, before, start, end)]
    found.sort(key=lambda x: (x.time is None, x.time or 0.0, x.device_id, x.kind))
    return found


@dataclass(frozen=True)
class Shift:
    store: str | None
    lane: str
    employee: str
    start: int
    end: int


def shifts(conn: sqlite3.Connection, start: int | None, end: int | None) -> list[Shift]:
    """Roster shifts overlapping [start, end), in start order."""
    where, args = _overlapping(start, end)
    sql = "SELECT store, lane, employee, shift_start, shift_end FROM roster WHERE " + where
    return [Shift(*r) for r in conn.execute(sql + " ORDER BY shift_start", args)]


def _overlapping(start: int | None, end: int | None) -> tuple[str, list[object]]:
    """WHERE clause and arguments for roster shifts overlapping [start, end)."""
    where, args = "1", list[object]()
    if start is not None:
        where += " AND shift_end > ?"
        args.append(start)
    if end is not None:
        where += " AND shift_start < ?"
        args.append(end)
    return where, args


@dataclass(frozen=True)
class LaneShifts:
    """The shifts of one (store, lane) of the roster, as arrays."""

    store: str | None
    lane: str
    starts: np.ndarray
    ends: np.ndarray
    employees: list[str]  # one per shift


_UNIT = "\x1f"  # separates employee names in group_concat (the roster refuses it in names)


def lane_shifts(conn: sqlite3.Connection, start: int | None, end: int | None
                ) -> list[LaneShifts]:
    """Roster shifts overlapping [start, end), one entry per (store, lane) as written."""
    where, args = _overlapping(start, end)
    sql = "SELECT * FROM roster WHERE " + where
    out = []
    for store, lane, n, starts, ends, names in conn.execute(
            f"SELECT store, lane, count(*), group_concat(shift_start), group_concat(shift_end), "
            f"group_concat(employee, char(31)) FROM ({sql}) GROUP BY store, lane", args):
        employees = names.split(_UNIT)
        s = np.fromstring(starts, dtype=np.int64, sep=",")
        e = np.fromstring(ends, dtype=np.int64, sep=",")
        if not len(s) == len(e) == len(employees) == n:
            raise RuntimeError(f"roster of lane {lane!r} did not read back whole")
        out.append(LaneShifts(store, lane, s, e, employees))
    return out


def has_roster(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM roster LIMIT 1").fetchone() is not None
