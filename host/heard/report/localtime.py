"""Local time for reports: the host's time zone, turned into cheap array arithmetic.

Reports group by local day, week and hour of the computer they run on (the ``TZ``
environment variable, else the system zone). The zone's UTC offsets over a time span are
found once (``Offsets``), so a million timestamps become local days and hours with numpy,
daylight saving changes included. Dates the user types (``--since``) are local days too.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass

import numpy as np

from heard.errors import HeardError

DAY = 86_400
_STEP = 6 * 3600  # zones change offset at most a few times a year, never twice in 6 h
_RELATIVE = re.compile(r"^(\d{1,4})([dw])$")


def offset_at(t: int) -> int:
    """The local zone's offset from UTC (s) at unix time ``t``."""
    return int(time.localtime(t).tm_gmtoff)


def zone_name(t: float | None = None) -> str:
    """E.g. ``CET (UTC+01:00)``: the zone's abbreviation and offset at ``t`` (now)."""
    when = int(time.time() if t is None else t)
    offset = offset_at(when)
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    name = time.strftime("%Z", time.localtime(when))
    if offset == 0 and name in ("UTC", "GMT", "Z"):
        return "UTC"
    return f"{name} (UTC{sign}{hours:02d}:{minutes:02d})"


@dataclass(frozen=True)
class Offsets:
    """The local zone's UTC offset over a span: ``offsets[i]`` from ``starts[i]`` on."""

    starts: np.ndarray  # int64 unix seconds, ascending; starts[0] is the span's start
    offsets: np.ndarray  # int64 seconds east of UTC

    @classmethod
    def over(cls, first: int, last: int) -> Offsets:
        starts, offsets = [first], [offset_at(first)]
        t = first
        while t < last:
            step_end = min(t + _STEP, last)
            if offset_at(step_end) != offsets[-1]:
                lo, hi = t, step_end  # the change is in (lo, hi]: bisect to the second
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if offset_at(mid) == offsets[-1]:
                        lo = mid
                    else:
                        hi = mid
                starts.append(hi)
                offsets.append(offset_at(hi))
            t = step_end
        return cls(np.array(starts, dtype=np.int64), np.array(offsets, dtype=np.int64))

    def local_seconds(self, t: np.ndarray) -> np.ndarray:
        """Seconds since 1970-01-01 00:00 local time (the clock on the wall, as a count)."""
        index = np.searchsorted(self.starts, t, side="right") - 1
        return t + self.offsets[np.maximum(index, 0)]


def local_day(t: np.ndarray, offsets: Offsets) -> np.ndarray:
    """Local calendar day numbers (days since 1970-01-01)."""
    return offsets.local_seconds(t) // DAY


def local_hour(t: np.ndarray, offsets: Offsets) -> np.ndarray:
    """Local hour of the day, 0..23."""
    return (offsets.local_seconds(t) % DAY) // 3600


def week_of(day: np.ndarray) -> np.ndarray:
    """Day number of the Monday starting each day's week (1970-01-01 was a Thursday)."""
    return day - (day + 3) % 7


def date_of_day(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day))


def day_of_date(date: dt.date) -> int:
    return (date - dt.date(1970, 1, 1)).days


def day_start(date: dt.date) -> int:
    """Unix time of local midnight starting ``date``."""
    return int(dt.datetime(date.year, date.month, date.day).timestamp())


def local_datetime(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t)


def parse_day(text: str, today: dt.date | None = None) -> dt.date:
    """``2026-11-02``, ``today``, ``yesterday``, or ``7d`` / ``4w`` (days or weeks before
    today); raises ValueError with a message for anything else."""
    today = today or dt.date.today()
    value = text.strip().lower()
    if value == "today":
        return today
    if value == "yesterday":
        return today - dt.timedelta(days=1)
    relative = _RELATIVE.match(value)
    if relative:
        n = int(relative.group(1))
        return today - dt.timedelta(days=n * (7 if relative.group(2) == "w" else 1))
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a date: use YYYY-MM-DD (e.g. 2026-11-02), "
                         "today, yesterday, or 7d / 4w for days / weeks ago") from None


def parse_local_datetime(text: str) -> int:
    """Unix seconds of ``2026-11-02 09:00`` (local time) or an ISO 8601 date and time with
    an offset (``2026-11-02T09:00+01:00``)."""
    value = text.strip()
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise HeardError(f"{text!r} is not a date and time like 2026-11-02 09:00") from None
    if len(value) <= 10:  # a date alone is not a shift boundary
        raise HeardError(f"{text!r} has no time of day: write it like 2026-11-02 09:00")
    return int(when.timestamp())
