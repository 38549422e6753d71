"""Per-group numbers of many conversations at once, with numpy: counts, rates, medians.

Conversations are columns of numbers (``Columns``); a grouping is one integer code per
conversation (-1: not in any group). Sums are ``bincount``s; quantiles come from one sort
of a combined (group, value) key per metric and grouping. A million conversations cost a
few numpy passes per table, never a Python loop per conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from heard.report.model import BINS, PATIENCE_BIN_MS, PATIENCE_BINS, GroupStats, ShareDistribution

FLAG_LOW_SNR = 1
FLAG_AUDIO_GAP = 4

# The conversation fields a report reads, in the order query.py loads them.
COLUMNS = (
    "start_utc", "employee_ms", "customer_ms", "interruptions_by_employee",
    "interruptions_by_customer", "backchannels_by_employee", "backchannels_by_customer",
    "longest_employee_monologue_ms", "longest_customer_story_ms", "median_latency_ms",
    "flags",
)


_COUNTS = ("interruptions_by_employee", "interruptions_by_customer",
           "backchannels_by_employee", "backchannels_by_customer")


@dataclass
class Columns:
    """The loaded conversations: ``device`` indexes the query's device list, ``t`` is the
    start in unix seconds; every other array is a conversation field (int64)."""

    device: np.ndarray
    t: np.ndarray
    fields: dict[str, np.ndarray]
    _cache: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    _derived: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.t)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.fields[name]

    def derived(self, name: str) -> np.ndarray:
        """Per-conversation values every grouping counts, computed once: ``talked`` (anyone
        talked), ``share_bin`` (talk share histogram bin), ``patience_bin`` (patience
        histogram bin, -1 where none was measured), the interruption and backchannel
        counts as float64, and as 0.0/1.0 ``interrupted`` (the employee interrupted),
        ``low_snr``, ``audio_gap``."""
        if name not in self._derived:
            talk = self["employee_ms"] + self["customer_ms"]
            if name == "talked":
                value = talk > 0
            elif name == "share_bin":
                value = np.minimum(BINS * self["employee_ms"] // np.maximum(talk, 1), BINS - 1)
            elif name == "patience_bin":
                latency = self["median_latency_ms"]
                value = np.where(latency >= 0,
                                 np.minimum(latency // PATIENCE_BIN_MS, PATIENCE_BINS - 1), -1)
            elif name in _COUNTS:
                value = self[name].astype(np.float64)
            elif name == "interrupted":
                value = (self["interruptions_by_employee"] > 0).astype(np.float64)
            else:
                flag = {"low_snr": FLAG_LOW_SNR, "audio_gap": FLAG_AUDIO_GAP}[name]
                value = ((self["flags"] & flag) != 0).astype(np.float64)
            self._derived[name] = value
        return self._derived[name]

    def metric(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(values, where they apply) of a quantile metric: ``share`` (employee talk
        share, where anyone talked), ``patience`` (where measured), ``monologue``,
        ``story``."""
        if metric not in self._cache:
            if metric == "share":
                talk = self["employee_ms"] + self["customer_ms"]
                found = (self["employee_ms"] / np.maximum(talk, 1), talk > 0)
            elif metric == "patience":
                latency = self["median_latency_ms"]
                found = (latency, latency >= 0)
            else:
                column = {"monologue": "longest_employee_monologue_ms",
                          "story": "longest_customer_story_ms"}[metric]
                found = (self[column], np.ones(len(self), dtype=bool))
            self._cache[metric] = found
        return self._cache[metric]


def quantiles(cols: Columns, metric: str, codes: np.ndarray, groups: int,
              qs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the ``qs`` quantiles of ``metric`` (linear interpolation, as numpy's
    default; NaN for an empty group) and how many values each group had.

    One ``np.sort`` of a key that puts the group first and the value second: for the
    integer metrics ``group << 32 | value`` (exact), for the share ``group + share / 2``
    (a float64: exact to about 1e-11)."""
    values, valid = cols.metric(metric)
    take = valid & (codes >= 0)
    code = codes[take]
    chosen = values[take]
    if groups == 1:  # one group needs no sort: numpy selects (partition) in linear time
        found = np.full((1, len(qs)), np.nan)
        if len(chosen):
            found[0] = np.percentile(chosen, [q * 100 for q in qs])
        return found, np.array([len(chosen)])
    if metric == "share":
        key = code + chosen * 0.5
    else:  # record fields of 32 bits at most; patience is used only where >= 0
        key = (code << 32) | chosen
    key.sort()
    counts = np.bincount(code, minlength=groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = np.full((groups, len(qs)), np.nan)
    has = np.flatnonzero(counts)
    n, first = counts[has], starts[has]

    def value_at(i: np.ndarray) -> np.ndarray:
        if metric == "share":
            return (key[i] - has) * 2.0
        return (key[i] - (has << 32)).astype(np.float64)

    for j, q in enumerate(qs):
        pos = q * (n - 1)
        lo = np.floor(pos).astype(np.int64)
        a = value_at(first + lo)
        b = value_at(first + np.minimum(lo + 1, n - 1))
        out[has, j] = a + (pos - lo) * (b - a)
    return out, counts


def group_stats(cols: Columns, codes: np.ndarray, labels: Sequence[tuple[str, str]],
                keep_empty: bool = False) -> list[GroupStats]:
    """A ``GroupStats`` per (key, label) in ``labels`` (code i is ``labels[i]``); groups
    without conversations are left out unless ``keep_empty``."""
    groups = len(labels)
    slot = np.where(codes >= 0, codes, groups)  # outsiders count in one extra bin

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(slot, weights=values, minlength=groups + 1)[:groups]

    n = np.bincount(slot, minlength=groups + 1)[:groups]
    sums = {name: total(cols.derived(name)) for name in _COUNTS}
    interrupted = total(cols.derived("interrupted"))
    low_snr = total(cols.derived("low_snr"))
    gap = total(cols.derived("audio_gap"))
    hist_slot = np.where(cols.derived("talked"), slot * BINS + cols.derived("share_bin"),
                         groups * BINS)
    hist = np.bincount(hist_slot, minlength=(groups + 1) * BINS)[:groups * BINS].reshape(
        groups, BINS)
    wait = cols.derived("patience_bin")
    wait_slot = np.where(wait >= 0, slot * PATIENCE_BINS + wait, groups * PATIENCE_BINS)
    waits = np.bincount(wait_slot, minlength=(groups + 1) * PATIENCE_BINS)[
        :groups * PATIENCE_BINS].reshape(groups, PATIENCE_BINS)
    share_q, share_n = quantiles(cols, "share", codes, groups, (0.25, 0.5, 0.75))
    patience, patience_n = quantiles(cols, "patience", codes, groups, (0.5,))
    monologue, _ = quantiles(cols, "monologue", codes, groups, (0.5,))
    story, _ = quantiles(cols, "story", codes, groups, (0.5,))

    out = []
    for g, (key, label) in enumerate(labels):
        count = int(n[g])
        if count == 0 and not keep_empty:
            continue

        def per(values: np.ndarray, g: int = g, count: int = count) -> float | None:
            return float(values[g]) / count if count else None

        out.append(GroupStats(
            key=key, label=label, conversations=count,
            talk_share=ShareDistribution(
                conversations=int(share_n[g]), median=_num(share_q[g, 1]),
                p25=_num(share_q[g, 0]), p75=_num(share_q[g, 2]),
                bins=tuple(int(b) for b in hist[g])),
            interruptions_by_employee=per(sums["interruptions_by_employee"]),
            interruptions_by_customer=per(sums["interruptions_by_customer"]),
            customer_interrupted_share=per(interrupted),
            backchannels_by_employee=per(sums["backchannels_by_employee"]),
            backchannels_by_customer=per(sums["backchannels_by_customer"]),
            median_patience_ms=_num(patience[g, 0]), patience_conversations=int(patience_n[g]),
            median_longest_monologue_ms=_num(monologue[g, 0]),
            median_longest_story_ms=_num(story[g, 0]),
            low_snr=int(low_snr[g]), audio_gap=int(gap[g]),
            patience_bins=tuple(int(b) for b in waits[g]),
        ))
    return out


def _num(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
