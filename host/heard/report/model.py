"""What a report holds: plain dataclasses that every renderer (terminal, JSON, HTML) reads.

Shares are fractions (0.42 is 42%), durations are milliseconds, times are unix seconds,
days are ISO dates in the host's local time. ``None`` means "no data for this number"
(no conversation, or none where it applies), never zero. Definitions: docs/REPORTS.md.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

GroupBy = Literal["day", "week", "hour", "lane", "employee"]
GROUP_BY: tuple[GroupBy, ...] = ("day", "week", "hour", "lane", "employee")
BINS = 20  # talk share histogram: 5% bins
PATIENCE_BIN_MS = 250  # patience histogram: 0.25 s bins ...
PATIENCE_BINS = 16  # ... from 0 to 4 s; the last one also holds every longer pause
AUTO_DAYS = 31  # without --by: one row per day up to this many days of data, else per week


@dataclass(frozen=True)
class Filters:
    """What the report was asked for (dates as typed, resolved to local days)."""

    since: str | None  # first local day included, ISO date
    until: str | None  # last local day included, ISO date
    store: str | None
    lane: str | None
    employee: str | None
    by: GroupBy | None  # None: by day up to 31 days of data, else by week (a Report has it set)
    stale_days: int


@dataclass(frozen=True)
class ShareDistribution:
    """Employee talk share over conversations where anyone talked."""

    conversations: int  # conversations with any talk (the others have no share)
    median: float | None
    p25: float | None  # 25th and 75th percentiles (linear interpolation)
    p75: float | None
    bins: tuple[int, ...]  # BINS counts; bins[i]: share in [5i %, 5i+5 %), 100 % in the last


@dataclass(frozen=True)
class GroupStats:
    """One row of a table: the conversations of a day, week, hour, lane or employee."""

    key: str  # stable: "2026-11-02", "2026-W45", "09", "Main St/Lane 3", employee name
    label: str  # for people: "Mon 2 Nov", "Week of 2 Nov", "09:00-10:00", "Lane 3"
    conversations: int
    talk_share: ShareDistribution
    interruptions_by_employee: float | None  # per conversation
    interruptions_by_customer: float | None  # per conversation
    customer_interrupted_share: float | None  # conversations where the employee interrupted
    backchannels_by_employee: float | None  # per conversation
    backchannels_by_customer: float | None  # per conversation
    median_patience_ms: float | None  # employee's pause after the customer stops
    patience_conversations: int  # conversations with such a pause measured
    median_longest_monologue_ms: float | None  # employee's longest stretch
    median_longest_story_ms: float | None  # customer's longest stretch
    low_snr: int  # conversations flagged: noisy, numbers less reliable
    audio_gap: int  # conversations flagged: audio was lost during them
    # PATIENCE_BINS counts of the conversations' patience (those with one measured);
    # bins[i]: [250i, 250i+250) ms, the last from 3750 ms up. Empty: not computed.
    patience_bins: tuple[int, ...] = ()


@dataclass(frozen=True)
class DeviceQuality:
    """One device: naming, last sync and the data problems seen in the report's range."""

    device_id: str
    name: str | None
    store: str | None
    lane: str | None
    last_sync: float | None  # unix seconds; None: never synced to this computer
    days_since_sync: float | None
    stale: bool  # not synced for stale_days or more (or never)
    conversations: int
    low_snr: int
    audio_gap: int
    records_dropped: int  # records (conversations or events) not stored: memory was full
    records_missing: int = 0  # records a sync found missing (gone or damaged on the device)
    data_resets: int = 0  # times the device wiped its record log (unsynced records lost)
    bytes_cut: int = 0  # bytes cut from a damaged record log at boots


LossKind = Literal["records_dropped", "gap", "data_reset", "bytes_cut"]


@dataclass(frozen=True)
class Loss:
    """One loss of records on a device, placed in the report's range.

    ``count``: records not stored (records_dropped), records missing (gap), bytes cut
    (bytes_cut); 0 for a data_reset, which cannot say how many records it took. A gap's
    records were written after ``lost_after`` and before ``lost_before``: when the records
    before and after them in the device's log were written (a conversation at its end;
    None: that record is not in the database, or its time is unknown; always None for the
    other kinds)."""

    device_id: str
    kind: LossKind
    time: float | None  # unix seconds: the device's event, or when a sync found a gap
    count: int
    detail: str  # gap: "seq 5-14"; data_reset: the device's reason; else ""
    lost_after: float | None = None  # unix seconds
    lost_before: float | None = None


@dataclass(frozen=True)
class DataQuality:
    conversations: int
    low_snr: int
    audio_gap: int
    unknown_time: int  # conversations with no known time: not in any other number
    records_dropped: int
    stale_days: int
    devices: tuple[DeviceQuality, ...]
    one_mic: int = 0  # conversations from a one-microphone device: talk shares unreliable
    records_missing: int = 0  # totals of the devices' numbers of the same names
    data_resets: int = 0
    bytes_cut: int = 0
    losses: tuple[Loss, ...] = ()  # every loss in the range, in time order (unknown last)

    @property
    def stale_devices(self) -> tuple[DeviceQuality, ...]:
        return tuple(d for d in self.devices if d.stale)

    @property
    def lost(self) -> bool:
        """Whether records were lost in the report's range, in any way."""
        return bool(self.records_dropped or self.records_missing or self.data_resets
                    or self.bytes_cut)


Metric = Literal["talk_share", "customer_interrupted_share"]
Subject = Literal["lane", "employee"]


@dataclass(frozen=True)
class DriftWindow:
    """The recent days drift alerts look at, and the weeks before them (ISO dates)."""

    current_first: str
    current_last: str
    baseline_first: str
    baseline_last: str


@dataclass(frozen=True)
class DriftAlert:
    """A lane or employee whose recent numbers moved away from its own past or its peers."""

    kind: Subject
    key: str
    label: str
    metric: Metric
    comparison: Literal["baseline", "peers"]
    current: float  # in the current window
    reference: float  # own baseline, or the median of the peers' current values
    change: float  # current - reference
    conversations: int  # in the current window
    reference_conversations: int  # in the baseline window, or the peers' total
    message: str


@dataclass(frozen=True)
class Report:
    filters: Filters
    database: str
    generated_at: float  # unix seconds
    timezone: str  # the host zone the days and hours are in, e.g. "CET (UTC+01:00)"
    first_conversation: float | None  # unix seconds of the first and last included
    last_conversation: float | None
    summary: GroupStats  # every conversation in the report
    groups: tuple[GroupStats, ...]  # by filters.by, in order
    trend: tuple[GroupStats, ...]  # by local day, in order
    lanes: tuple[GroupStats, ...]  # lane comparison, by lane name
    employees: tuple[GroupStats, ...]  # employee comparison; empty without a roster
    has_roster: bool
    quality: DataQuality
    drift_window: DriftWindow | None
    drift: tuple[DriftAlert, ...]
    callouts: tuple[str, ...]  # plain-language sentences, most telling first

    @property
    def empty(self) -> bool:
        return self.summary.conversations == 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
