"""The optional roster: who worked which lane when, so reports can group by employee.

A roster CSV has a header row naming the columns ``lane``, ``employee``, ``shift_start``,
``shift_end`` and, optionally, ``store`` (any order; case, spaces and underscores in the
names do not matter). Shift times are local date and time, ``2026-11-02 09:00`` (an ISO
8601 offset such as ``+01:00`` is also accepted); a shift contains its start, not its end.
Shifts on the same lane must not overlap; a lane with no store applies to that lane name in
every store. Employees are only the names typed in. Lanes no device is named for yet are
accepted (the device may be named later) and reported back as a warning.
"""

from __future__ import annotations

import csv
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from heard.errors import HeardError
from heard.report.localtime import parse_local_datetime
from heard.report.query import Lane, LaneShifts, Shift

REQUIRED = ("lane", "employee", "shift_start", "shift_end")
MAX_SHIFT_S = 24 * 3600
_MAX_ERRORS = 20


@dataclass(frozen=True)
class RosterRow:
    line: int  # in the file, header = 1; 0 for shifts already in the database
    shift: Shift


@dataclass
class ImportResult:
    added: int = 0
    duplicates: int = 0  # identical shifts already imported
    removed: int = 0  # shifts deleted first (replace)
    unknown_lanes: list[str] = field(default_factory=list)


def _column(name: str) -> str:
    return "_".join(name.strip().lower().replace("_", " ").split())


def read_csv(path: Path) -> list[RosterRow]:
    """Parse and check a roster file; every problem found is reported with its line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HeardError(f"cannot read roster {path}: {exc}") from exc
    reader = csv.reader(text.splitlines())
    header = [_column(c) for c in next(reader, [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise HeardError(
            f"{path}: the first line must name the columns; missing: {', '.join(missing)}",
            hint="e.g. lane,employee,shift_start,shift_end (optionally store) then rows like "
                 "Lane 1,Alex,2026-11-02 09:00,2026-11-02 17:00")
    where = {name: header.index(name) for name in (*REQUIRED, "store") if name in header}
    rows: list[RosterRow] = []
    errors: list[str] = []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        try:
            rows.append(RosterRow(line, _shift(cells, where)))
        except HeardError as exc:
            errors.append(f"{path.name} line {line}: {exc}")
    errors += _overlaps(rows, path.name)
    if errors:
        more = f"\n  ... and {len(errors) - _MAX_ERRORS} more" if len(errors) > _MAX_ERRORS else ""
        raise HeardError("the roster has problems; nothing was imported:\n  "
                         + "\n  ".join(errors[:_MAX_ERRORS]) + more)
    if not rows:
        raise HeardError(f"{path}: no shifts in the file")
    return rows


def _shift(cells: list[str], where: dict[str, int]) -> Shift:
    def cell(name: str) -> str:
        i = where.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    lane, employee = cell("lane"), cell("employee")
    if not lane:
        raise HeardError("no lane")
    if not employee:
        raise HeardError("no employee")
    if any(ord(ch) < 32 for ch in lane + employee + cell("store")):
        raise HeardError("a control character in a name")
    times = []
    for name in ("shift_start", "shift_end"):
        try:
            times.append(parse_local_datetime(cell(name)))
        except HeardError as exc:
            raise HeardError(f"{name} {exc}") from None
    start, end = times
    if end <= start:
        raise HeardError(f"the shift ends ({cell('shift_end')}) before it starts "
                         f"({cell('shift_start')})")
    if end - start > MAX_SHIFT_S:
        raise HeardError(f"a shift of more than 24 hours ({cell('shift_start')} to "
                         f"{cell('shift_end')}): is a date wrong?")
    return Shift(cell("store") or None, lane, employee, start, end)


def _same_lane(a: Shift, b: Shift) -> bool:
    if a.lane.casefold() != b.lane.casefold():
        return False
    return a.store is None or b.store is None or a.store.casefold() == b.store.casefold()


def _describe(row: RosterRow, source: str) -> str:
    s = row.shift
    what = f"{s.employee} on {s.lane}" + (f" ({s.store})" if s.store else "")
    span = (f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(s.start))} to "
            f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(s.end))}")
    where = f"{source} line {row.line}" if row.line else "already imported"
    return f"{what}, {span} ({where})"


def _overlaps(rows: Sequence[RosterRow], source: str) -> list[str]:
    """Pairs of shifts on the same lane that overlap in time, file lines first."""
    by_lane: dict[str, list[RosterRow]] = defaultdict(list)
    for row in rows:
        by_lane[row.shift.lane.casefold()].append(row)
    errors = []
    for group in by_lane.values():
        group.sort(key=lambda r: r.shift.start)
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if b.shift.start >= a.shift.end:
                    break
                if _same_lane(a.shift, b.shift):
                    first, second = sorted((a, b), key=lambda r: (r.line == 0, r.line))
                    errors.append(f"{_describe(first, source)} overlaps "
                                  f"{_describe(second, source)}")
    return errors


def import_rows(conn: sqlite3.Connection, rows: Sequence[RosterRow], source: str,
                known_lanes: Iterable[str], replace: bool = False) -> ImportResult:
    """Add the shifts (all or none); identical shifts already present are skipped."""
    result = ImportResult()
    conn.execute("BEGIN IMMEDIATE")
    try:
        if replace:
            result.removed = conn.execute("DELETE FROM roster").rowcount
        existing = [RosterRow(0, Shift(*r)) for r in conn.execute(
            "SELECT store, lane, employee, shift_start, shift_end FROM roster")]
        present = {r.shift for r in existing}
        new = [r for r in rows if r.shift not in present]
        result.duplicates = len(rows) - len(new)
        clashes = _overlaps([*existing, *new], source)
        if clashes:
            raise HeardError("the roster overlaps shifts already imported; nothing was "
                             "imported:\n  " + "\n  ".join(clashes[:_MAX_ERRORS]),
                             hint="to start over with this file: heard roster import --replace")
        now = time.time()
        conn.executemany(
            "INSERT INTO roster (store, lane, employee, shift_start, shift_end, source, "
            "imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(r.shift.store, r.shift.lane, r.shift.employee, r.shift.start, r.shift.end,
              source, now) for r in new])
        result.added = len(new)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    lanes = {lane.casefold() for lane in known_lanes}
    result.unknown_lanes = sorted({r.shift.lane for r in rows if r.shift.lane.casefold()
                                   not in lanes}, key=str.casefold)
    return result


def attribute(lanes: Sequence[Lane], lane_of: np.ndarray, t: np.ndarray,
              shifts: Sequence[LaneShifts]) -> tuple[list[str], np.ndarray]:
    """The employees on the roster (sorted) and, per conversation, the index of the one
    whose shift on its lane contains its start (-1: nobody on the roster)."""
    names = sorted({n for s in shifts for n in s.employees}, key=lambda n: (n.casefold(), n))
    index = {name: i for i, name in enumerate(names)}
    who = np.full(len(t), -1, dtype=np.int64)
    by_lane: dict[str, list[LaneShifts]] = defaultdict(list)
    for s in shifts:
        by_lane[s.lane.casefold()].append(s)
    order = np.argsort(lane_of, kind="stable")
    bounds = np.searchsorted(lane_of[order], np.arange(len(lanes) + 1))
    for i, lane in enumerate(lanes):
        mine = [s for s in by_lane.get(lane.name.casefold(), ())
                if s.store is None or (lane.store or "").casefold() == s.store.casefold()]
        if not mine:
            continue
        starts = np.concatenate([s.starts for s in mine])
        ends = np.concatenate([s.ends for s in mine])
        staff = np.array([index[n] for s in mine for n in s.employees], dtype=np.int64)
        by_start = np.argsort(starts, kind="stable")
        starts, ends, staff = starts[by_start], ends[by_start], staff[by_start]
        rows = order[bounds[i]:bounds[i + 1]]
        k = np.searchsorted(starts, t[rows], side="right") - 1
        on_shift = (k >= 0) & (t[rows] < ends[np.maximum(k, 0)])
        who[rows[on_shift]] = staff[k[on_shift]]
    return names, who
