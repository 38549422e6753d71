"""Assemble a ``Report`` from the database: scope, load, attribute, group, judge.

The steps: devices in scope (``--store``, ``--lane``), conversations of the date range plus
the weeks before it that drift alerts compare with, local days and hours, roster
attribution (``--employee``, ``--by employee``), then every table of the report from the
same loaded columns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sqlite3
import time
from collections.abc import Sequence

import numpy as np

from heard.db import Database
from heard.errors import HeardError
from heard.report import drift, localtime, query, roster
from heard.report.callouts import callouts
from heard.report.localtime import DAY, date_of_day, day_of_date, day_start
from heard.report.model import (
    AUTO_DAYS,
    DataQuality,
    DeviceQuality,
    DriftAlert,
    Filters,
    GroupBy,
    GroupStats,
    Report,
)
from heard.report.query import Device, Lane
from heard.report.stats import FLAG_AUDIO_GAP, FLAG_LOW_SNR, Columns, group_stats

NOT_ON_ROSTER = "Not on the roster"
_DEVICE_HINT = ("`heard device list` shows how devices are named; name one with "
                "`heard device name DEVICE --store STORE --lane LANE`")


def _natural(text: str) -> list[object]:
    """Sort key putting Lane 2 before Lane 10."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p.casefold())
            for p in re.split(r"(\d+)", text) if p]


def _scope(devices: Sequence[Device], filters: Filters) -> list[Device]:
    chosen = list(devices)
    if filters.store is not None:
        chosen = [d for d in chosen if (d.store or "").casefold() == filters.store.casefold()]
        if not chosen:
            raise HeardError(f"no device is named for store {filters.store!r}",
                             hint=_DEVICE_HINT)
    if filters.lane is not None:
        chosen = [d for d in chosen if d.lane_name.casefold() == filters.lane.casefold()]
        if not chosen:
            where = f" in store {filters.store!r}" if filters.store else ""
            raise HeardError(f"no device is named for lane {filters.lane!r}{where}",
                             hint=_DEVICE_HINT)
    return chosen


def _date_label(d: dt.date, with_year: bool) -> str:
    return f"{d.day} {d:%b %Y}" if with_year else f"{d.day} {d:%b}"


def _day_labels(first: int, count: int) -> list[tuple[str, str]]:
    """ISO date keys; labels like ``Mon 2 Nov`` (with the year if the days span two)."""
    years = date_of_day(first).year != date_of_day(first + count - 1).year
    return [(d.isoformat(), f"{d:%a} {_date_label(d, years)}")
            for d in (date_of_day(first + i) for i in range(count))]


def _week_labels(first: int, count: int) -> list[tuple[str, str]]:
    """ISO week keys (``2026-W45``); labels like ``Week of 2 Nov`` (its Monday)."""
    years = date_of_day(first).year != date_of_day(first + 7 * (count - 1)).year
    out = []
    for d in (date_of_day(first + 7 * i) for i in range(count)):
        year, week, _ = d.isocalendar()
        out.append((f"{year}-W{week:02d}", f"Week of {_date_label(d, years)}"))
    return out


HOUR_LABELS = [(f"{h:02d}", f"{h:02d}:00–{h + 1:02d}:00") for h in range(24)]


class _Built:
    """The loaded conversations and the per-conversation keys every table groups by."""

    def __init__(self, db: Database, filters: Filters, rules: drift.DriftRules):
        conn = db.conn
        self.filters = filters
        self.devices = query.devices(conn)
        self.scope = _scope(self.devices, filters)
        narrowed = filters.store is not None or filters.lane is not None
        self.device_ids = [d.device_id for d in self.scope] if narrowed else None
        since = dt.date.fromisoformat(filters.since) if filters.since else None
        until = dt.date.fromisoformat(filters.until) if filters.until else None
        self.start = day_start(since) if since else None
        self.end = day_start(until + dt.timedelta(days=1)) if until else None
        self.first_day = day_of_date(since) if since else None
        self.last_day = day_of_date(until) if until else None
        # Drift compares the first days of the range with the weeks before it.
        load_start = (None if self.start is None
                      else self.start - (rules.baseline_days + 1) * DAY)
        ids, self.cols = query.load_conversations(conn, self.device_ids, load_start, self.end)
        by_id = {d.device_id: d for d in self.devices}
        # A database merged from elsewhere may hold conversations of unlisted devices.
        self.loaded = [by_id.get(i) or Device(i, None, None, None, None) for i in ids]
        if not narrowed:
            self.scope += [d for d in self.loaded if d.device_id not in by_id]
        self._lanes()
        t = self.cols.t
        offsets = localtime.Offsets.over(int(t.min()), int(t.max())) if len(t) else None
        self.day = (localtime.local_day(t, offsets) if offsets
                    else np.zeros(0, dtype=np.int64))
        self.hour = (localtime.local_hour(t, offsets) if offsets
                     else np.zeros(0, dtype=np.int64))
        self.in_range = np.ones(len(t), dtype=bool)
        if self.start is not None:
            self.in_range &= t >= self.start
        self.has_roster = query.has_roster(conn)
        self.employees: list[str] = []
        self.who = np.full(len(t), -1, dtype=np.int64)
        self.in_scope = np.ones(len(t), dtype=bool)
        self._roster(conn, load_start)
        self.in_report = self.in_range & self.in_scope

    def _lanes(self) -> None:
        """One lane per store and lane name in any case, named as first met."""
        def same(d: Device) -> tuple[str, str]:
            return (d.store or "").casefold(), d.lane_name.casefold()

        found: dict[tuple[str, str], Lane] = {}
        for d in self.loaded:
            found.setdefault(same(d), Lane(d.store, d.lane_name))
        order = sorted(found, key=lambda k: (_natural(found[k].store or ""),
                                             _natural(found[k].name)))
        self.lanes = [found[k] for k in order]
        index = {k: i for i, k in enumerate(order)}
        lane_of_device = np.array([index[same(d)] for d in self.loaded], dtype=np.int64)
        self.lane = lane_of_device[self.cols.device] if len(self.loaded) else self.cols.device
        stores = {(lane.store or "").casefold() for lane in self.lanes}
        self.lane_labels = [(lane.key, lane.label(len(stores) > 1)) for lane in self.lanes]

    def _roster(self, conn: sqlite3.Connection, load_start: int | None) -> None:
        f = self.filters
        if (f.by == "employee" or f.employee is not None) and not self.has_roster:
            option = "--by employee" if f.by == "employee" else "--employee"
            raise HeardError(
                f"{option} needs a roster of who worked which lane when, and none is imported",
                hint="import one with `heard roster import FILE.csv` (columns lane, employee, "
                     "shift_start, shift_end; see docs/REPORTS.md), or group by lane or hour")
        if not self.has_roster:
            return
        shifts = query.lane_shifts(conn, load_start, self.end)
        self.employees, self.who = roster.attribute(self.lanes, self.lane, self.cols.t, shifts)
        if f.employee is not None:
            everyone = [r[0] for r in conn.execute(
                "SELECT DISTINCT employee FROM roster ORDER BY employee")]
            match = [n for n in self.employees if n.casefold() == f.employee.casefold()]
            if not any(n.casefold() == f.employee.casefold() for n in everyone):
                shown = ", ".join(everyone[:10]) + (" ..." if len(everyone) > 10 else "")
                raise HeardError(f"{f.employee!r} is not on the roster",
                                 hint=f"names on the roster: {shown}")
            wanted = [self.employees.index(n) for n in match]
            self.in_scope = np.isin(self.who, wanted)

    def codes(self, by: str) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """Group code per conversation (-1: outside the report) and the groups' labels."""
        inside = self.in_report
        if by in ("day", "week"):
            if not inside.any():
                return np.full(len(inside), -1, dtype=np.int64), []
            days = self.day[inside]
            if by == "day":
                first, count = int(days.min()), int(days.max() - days.min()) + 1
                return np.where(inside, self.day - first, -1), _day_labels(first, count)
            weeks = localtime.week_of(self.day)
            first = int(weeks[inside].min())
            count = (int(weeks[inside].max()) - first) // 7 + 1
            return np.where(inside, (weeks - first) // 7, -1), _week_labels(first, count)
        if by == "hour":
            return np.where(inside, self.hour, -1), HOUR_LABELS
        if by == "lane":
            return np.where(inside, self.lane, -1), self.lane_labels
        labels = [(n, n) for n in self.employees] + [("", NOT_ON_ROSTER)]
        who = np.where(self.who >= 0, self.who, len(self.employees))
        return np.where(inside, who, -1), labels

    def quality(self, conn: sqlite3.Connection, now: float) -> DataQuality:
        f = self.filters
        inside = self.in_report
        n = len(self.loaded)
        per_device = self.cols.device[inside]
        count = np.bincount(per_device, minlength=n)
        flags = self.cols["flags"][inside]
        low = np.bincount(per_device, weights=(flags & FLAG_LOW_SNR) != 0, minlength=n)
        gap = np.bincount(per_device, weights=(flags & FLAG_AUDIO_GAP) != 0, minlength=n)
        row = {d.device_id: i for i, d in enumerate(self.loaded)}
        losses = query.losses(conn, self.device_ids, self.start, self.end)
        lost: dict[tuple[str, str], int] = {}  # (device, kind): records, resets or bytes
        for x in losses:
            key = (x.device_id, x.kind)
            lost[key] = lost.get(key, 0) + (1 if x.kind == "data_reset" else x.count)
        scope = list(self.scope)
        if self.device_ids is None:  # a loss of a device the database has no row for
            known = {d.device_id for d in scope}
            scope += [Device(i, None, None, None, None)
                      for i in sorted({x.device_id for x in losses} - known)]
        devices = []
        for d in sorted(scope, key=lambda d: (_natural(d.store or ""),
                                              _natural(d.lane_name), d.device_id)):
            i = row.get(d.device_id)
            age = None if d.last_sync is None else max(0.0, (now - d.last_sync) / DAY)
            devices.append(DeviceQuality(
                device_id=d.device_id, name=d.name, store=d.store, lane=d.lane,
                last_sync=d.last_sync, days_since_sync=age,
                stale=age is None or age >= f.stale_days,
                conversations=0 if i is None else int(count[i]),
                low_snr=0 if i is None else int(low[i]),
                audio_gap=0 if i is None else int(gap[i]),
                records_dropped=lost.get((d.device_id, "records_dropped"), 0),
                records_missing=lost.get((d.device_id, "gap"), 0),
                data_resets=lost.get((d.device_id, "data_reset"), 0),
                bytes_cut=lost.get((d.device_id, "bytes_cut"), 0)))
        return DataQuality(
            conversations=int(inside.sum()), low_snr=int(low.sum()), audio_gap=int(gap.sum()),
            unknown_time=query.unknown_time(conn, self.device_ids),
            records_dropped=sum(d.records_dropped for d in devices),
            stale_days=f.stale_days, devices=tuple(devices),
            one_mic=query.one_mic(conn, self.device_ids, self.start, self.end),
            records_missing=sum(d.records_missing for d in devices),
            data_resets=sum(d.data_resets for d in devices),
            bytes_cut=sum(d.bytes_cut for d in devices),
            losses=tuple(losses))


def _default_by(days: np.ndarray) -> GroupBy:
    """By day when the report's conversations span up to AUTO_DAYS days, else by week."""
    return "day" if not len(days) or days.max() - days.min() < AUTO_DAYS else "week"


def build_report(db: Database, filters: Filters, now: float | None = None,
                 rules: drift.DriftRules | None = None) -> Report:
    """The report for ``filters``; ``now`` (unix seconds) decides which devices are stale."""
    rules = rules or drift.DriftRules()
    now = time.time() if now is None else now
    b = _Built(db, filters, rules)
    cols: Columns = b.cols

    def stats(by: str, keep_empty: bool = False) -> tuple[GroupStats, ...]:
        codes, labels = b.codes(by)
        return tuple(group_stats(cols, codes, labels, keep_empty))

    by = filters.by or _default_by(b.day[b.in_report])
    filters = dataclasses.replace(filters, by=by)
    everything = np.where(b.in_report, 0, -1)
    summary = group_stats(cols, everything, [("all", "All conversations")], keep_empty=True)[0]
    trend = stats("day")
    groups = trend if by == "day" else stats(by)
    lanes = groups if by == "lane" else stats("lane")
    employees: tuple[GroupStats, ...] = ()
    if b.has_roster:
        employees = groups if by == "employee" else stats("employee")
    quality = b.quality(db.conn, now)

    alerts: list[DriftAlert] = []
    window = None
    times = cols.t[b.in_report]
    last_day = b.last_day if b.last_day is not None else (
        int(b.day[b.in_report].max()) if len(times) else None)
    if last_day is not None:
        window = drift.Window.ending(last_day, b.first_day, rules)
        alerts = drift.alerts(cols, b.day, np.where(b.in_scope, b.lane, -1), b.lane_labels,
                              "lane", window, rules)
        if b.has_roster:
            alerts += drift.alerts(cols, b.day, np.where(b.in_scope, b.who, -1),
                                   [(n, n) for n in b.employees], "employee", window, rules)
        alerts.sort(key=lambda a: (-abs(a.change), a.label, a.metric, a.comparison))

    first = float(times.min()) if len(times) else None
    last = float(times.max()) if len(times) else None
    return Report(
        filters=filters, database=str(db.path or ":memory:"), generated_at=now,
        timezone=localtime.zone_name(last if last is not None else now),
        first_conversation=first, last_conversation=last, summary=summary, groups=groups,
        trend=trend, lanes=lanes, employees=employees, has_roster=b.has_roster,
        quality=quality, drift_window=window.model() if window else None,
        drift=tuple(alerts), callouts=callouts(summary, lanes, alerts, quality))
