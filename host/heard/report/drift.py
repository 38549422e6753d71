"""Drift alerts: a lane or employee whose recent numbers moved away from its own past or
from its peers.

The current window is the report's last ``current_days`` local days; the baseline the
``baseline_days`` before them. Two numbers are watched: the median employee talk share and
the share of conversations in which the customer was interrupted. A subject is compared
only when it has at least ``min_conversations`` in each window it is compared on; peers
are the other lanes (or employees) of the report with enough conversations in the current
window, their median taken, and only when there are ``min_peers`` of them.

An alert needs a difference of at least the rule's points *and* at least ``min_z``
standard errors, so that chance alone rarely raises one: the standard error of a share of
conversations is sqrt(p(1-p)/n); of a median, 1.2533 sigma/sqrt(n) with sigma estimated
as the interquartile range / 1.349. The peers' median is taken as exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from heard.report.localtime import date_of_day
from heard.report.model import DriftAlert, DriftWindow, Metric, Subject
from heard.report.stats import Columns, quantiles


@dataclass(frozen=True)
class DriftRules:
    current_days: int = 7
    baseline_days: int = 28
    min_conversations: int = 30
    min_peers: int = 3
    # least differences, in share points, against the own baseline and against peers
    talk_share: float = 0.10
    customer_interrupted: float = 0.15
    peer_talk_share: float = 0.15
    peer_customer_interrupted: float = 0.20
    min_z: float = 3.0  # least difference in standard errors


@dataclass(frozen=True)
class Window:
    """Local day numbers, last days included."""

    current_first: int
    current_last: int
    baseline_first: int
    baseline_last: int

    @classmethod
    def ending(cls, last_day: int, first_day: int | None, rules: DriftRules) -> Window:
        first = last_day - rules.current_days + 1
        if first_day is not None:
            first = max(first, first_day)
        return cls(first, last_day, first - rules.baseline_days, first - 1)

    def model(self) -> DriftWindow:
        return DriftWindow(*(date_of_day(d).isoformat() for d in (
            self.current_first, self.current_last, self.baseline_first, self.baseline_last)))

    def phrase(self) -> str:
        """``the last 7 days (16-22 Nov)``."""
        first, last = date_of_day(self.current_first), date_of_day(self.current_last)
        days = self.current_last - self.current_first + 1
        span = _span(first, last)
        return f"the last {days} days ({span})" if days > 1 else f"the last day ({span})"

    @property
    def baseline_weeks(self) -> int:
        return round((self.baseline_last - self.baseline_first + 1) / 7)


def _span(first: dt.date, last: dt.date) -> str:
    if first == last:
        return f"{last.day} {last:%b}"
    if first.month == last.month:
        return f"{first.day}–{last.day} {last:%b}"
    return f"{first.day} {first:%b}–{last.day} {last:%b}"


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


@dataclass(frozen=True)
class _Values:
    """Per subject and window: the value (NaN: too few conversations), its standard error
    and the conversations it stands on."""

    value: np.ndarray
    error: np.ndarray
    count: np.ndarray


def _measure(cols: Columns, metric: Metric, codes: np.ndarray, groups: int,
             rules: DriftRules) -> _Values:
    if metric == "talk_share":
        q, n = quantiles(cols, "share", codes, groups, (0.25, 0.5, 0.75))
        value = q[:, 1]
        sigma = (q[:, 2] - q[:, 0]) / 1.349
        error = 1.2533 * sigma / np.sqrt(np.maximum(n, 1))
    else:
        inside = codes >= 0
        n = np.bincount(codes[inside], minlength=groups)
        hit = np.bincount(codes[inside], weights=cols["interruptions_by_employee"][inside] > 0,
                          minlength=groups)
        value = hit / np.maximum(n, 1)
        error = np.sqrt(value * (1 - value) / np.maximum(n, 1))
    enough = n >= rules.min_conversations
    return _Values(np.where(enough, value, np.nan), error, n)


def alerts(cols: Columns, day: np.ndarray, codes: np.ndarray,
           labels: Sequence[tuple[str, str]], kind: Subject, window: Window,
           rules: DriftRules = DriftRules()) -> list[DriftAlert]:
    """Alerts for the subjects ``codes`` assigns (-1: none) over the loaded days ``day``."""
    groups = len(labels)
    in_current = (day >= window.current_first) & (day <= window.current_last)
    in_baseline = (day >= window.baseline_first) & (day <= window.baseline_last)
    cur_codes = np.where(in_current, codes, -1)
    base_codes = np.where(in_baseline, codes, -1)
    found: list[DriftAlert] = []
    metrics: tuple[tuple[Metric, float, float], ...] = (
        ("talk_share", rules.talk_share, rules.peer_talk_share),
        ("customer_interrupted_share", rules.customer_interrupted,
         rules.peer_customer_interrupted))
    for metric, own_points, peer_points in metrics:
        cur = _measure(cols, metric, cur_codes, groups, rules)
        base = _measure(cols, metric, base_codes, groups, rules)
        enough = ~np.isnan(cur.value)
        peer_median = _medians_without_each(cur.value)
        for g, (key, label) in enumerate(labels):
            if not enough[g]:
                continue
            now = float(cur.value[g])
            if not np.isnan(base.value[g]):
                ref = float(base.value[g])
                error = float(np.hypot(cur.error[g], base.error[g]))
                if abs(now - ref) >= max(own_points, rules.min_z * error):
                    found.append(DriftAlert(
                        kind=kind, key=key, label=label, metric=metric, comparison="baseline",
                        current=now, reference=ref, change=now - ref,
                        conversations=int(cur.count[g]),
                        reference_conversations=int(base.count[g]),
                        message=_own_message(kind, label, metric, now, ref, window)))
            peers = int(enough.sum()) - 1
            if peers >= rules.min_peers:
                ref = float(peer_median[g])
                if abs(now - ref) >= max(peer_points, rules.min_z * float(cur.error[g])):
                    found.append(DriftAlert(
                        kind=kind, key=key, label=label, metric=metric, comparison="peers",
                        current=now, reference=ref, change=now - ref,
                        conversations=int(cur.count[g]),
                        reference_conversations=int(cur.count[enough].sum() - cur.count[g]),
                        message=_peer_message(kind, label, metric, now, ref, window)))
    found.sort(key=lambda a: (-abs(a.change), a.label, a.metric, a.comparison))
    return found


def _medians_without_each(values: np.ndarray) -> np.ndarray:
    """For each non-NaN value, the median of all the other non-NaN values (NaN elsewhere,
    or when none is left): one sort instead of one median per subject."""
    out = np.full(len(values), np.nan)
    where = np.flatnonzero(~np.isnan(values))
    m = len(where) - 1  # how many are left without one of them
    if m < 1:
        return out
    order = np.argsort(values[where], kind="stable")
    ordered = values[where][order]
    rank = np.empty(len(where), dtype=np.int64)
    rank[order] = np.arange(len(where))

    def kth(k: int) -> np.ndarray:  # the k-th smallest once the one at ``rank`` is gone
        return np.where(k < rank, ordered[k], ordered[np.minimum(k + 1, m)])

    out[where] = (kth((m - 1) // 2) + kth(m // 2)) / 2
    return out


def _own_message(kind: Subject, label: str, metric: Metric, now: float, ref: float,
                 window: Window) -> str:
    direction = "rose" if now > ref else "fell"
    before = f"the {window.baseline_weeks} weeks before"
    if metric == "talk_share":
        who = f"{label}'s employee talk share" if kind == "lane" else f"{label}'s talk share"
        return (f"{who} {direction} from {_pct(ref)} to {_pct(now)} in {window.phrase()}, "
                f"compared with {before}.")
    up = "up" if now > ref else "down"
    subject = (f"On {label}, customers were interrupted" if kind == "lane"
               else f"{label} interrupted customers")
    return (f"{subject} in {_pct(now)} of conversations in {window.phrase()}, {up} from "
            f"{_pct(ref)} in {before}.")


def _peer_message(kind: Subject, label: str, metric: Metric, now: float, ref: float,
                  window: Window) -> str:
    others = "the other lanes" if kind == "lane" else "the other employees"
    if metric == "talk_share":
        who = f"{label}'s employee talk share" if kind == "lane" else f"{label}'s talk share"
        return (f"{who} was {_pct(now)} in {window.phrase()}, against {_pct(ref)} for "
                f"{others} (median).")
    subject = (f"On {label}, customers were interrupted" if kind == "lane"
               else f"{label} interrupted customers")
    return (f"{subject} in {_pct(now)} of conversations in {window.phrase()}, against "
            f"{_pct(ref)} for {others} (median).")
