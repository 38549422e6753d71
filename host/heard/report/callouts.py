"""Plain-language callouts: the few sentences a store manager reads first.

Built from the report's numbers only; each sentence says what was measured, never what it
should be. The research figure for talk share (about 43% for the seller in sales calls that
went well, docs/REPORTS.md) is context for the reader, not a target these sentences apply.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from fractions import Fraction

from heard.report.model import (
    DataQuality,
    DeviceQuality,
    DriftAlert,
    Filters,
    GroupStats,
    Loss,
    LossKind,
)

MAX_DRIFT = 3  # drift alerts repeated among the callouts (all are listed separately)
MIN_LANE_CONVERSATIONS = 20  # a lane's median counts for the spread only from here
NOISY_SHARE = 0.10


def pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def seconds(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms < 10_000 else f"{ms / 1000:.0f} s"


def who(filters: Filters) -> str:
    """Whose conversations a report covers, in words (``store S, lane 3`` or ``all lanes``)."""
    f = filters
    parts = [f"store {f.store}" if f.store else "", f"lane {f.lane}" if f.lane else "",
             f"employee {f.employee}" if f.employee else ""]
    return ", ".join(p for p in parts if p) or "all lanes"


def pct_or_dash(value: float | None) -> str:
    return "–" if value is None else pct(value)


def seconds_or_dash(ms: float | None) -> str:
    return "–" if ms is None else seconds(ms)


def number_or_dash(value: float | None, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def middle_half(g: GroupStats) -> str:
    """The middle 50% of a group's employee talk shares, e.g. ``43–58%``."""
    s = g.talk_share
    return "–" if s.p25 is None or s.p75 is None else f"{s.p25 * 100:.0f}–{pct(s.p75)}"


def quality_notes(q: DataQuality, max_listed: int = 5) -> list[str]:
    """The data-quality notes of a report, in plain words (terminal and HTML)."""
    notes = []
    if q.conversations:
        noisy = f"{q.low_snr:,} noisy (low signal-to-noise)" if q.low_snr else "none noisy"
        gaps = f"{q.audio_gap:,} with audio lost" if q.audio_gap else "none with audio lost"
        notes.append(f"{q.conversations:,} conversations: {noisy}, {gaps}.")
    if q.unknown_time:
        notes.append(unknown_time(q.unknown_time))
    if q.conversations:
        notes.append("Interruptions are counted where one party takes over from the other "
                     "while the other is still talking: the detector misses some and reports "
                     "some that were not (docs/ACCURACY.md), so compare lanes and weeks rather "
                     "than single conversations.")
    if q.one_mic:
        notes.append(f"{q.one_mic:,} conversations come from a device with one microphone: "
                     "who talked how much is unreliable there (a second microphone is needed "
                     "to tell employee from customer well, and it finds hardly any interruptions; "
                     "docs/ACCURACY.md).")
    notes += loss_notes(q, max_listed)
    stale = q.stale_devices
    if stale:
        def one(d: DeviceQuality) -> str:
            age = ("never synced here" if d.days_since_sync is None
                   else f"{d.days_since_sync:.0f} days ago")
            return f"{device_name(d)} {age}"

        listed = "; ".join(one(d) for d in stale[:max_listed])
        more = f"; and {len(stale) - max_listed} more" if len(stale) > max_listed else ""
        notes.append(f"Not synced for {q.stale_days} days or more: {listed}{more}. Their "
                     "latest conversations are missing from this report.")
    elif q.devices:
        fine = "; nothing was lost." if not (q.unknown_time or q.lost) else "."
        notes.append(f"Every device synced within {q.stale_days} days{fine}")
    return notes


def unknown_time(n: int) -> str:
    """Why ``n`` conversations have no time, and what to do about it."""
    return (f"{_plural(n, 'conversation')} {'has' if n == 1 else 'have'} no known time: their "
            "device's clock was not set and no sync saw the start (boot) they were recorded "
            "in, so they cannot be placed on a day and are not in this report. Sync the "
            "device (heard sync): this computer then sets its clock, and the conversations "
            "of the device's current start get their times; those from before a restart that "
            "no sync saw keep none.")


def device_name(d: DeviceQuality) -> str:
    """A device as a manager knows it: ``Back counter (Main St · Lane 2)``."""
    where = " · ".join(x for x in (d.store, d.lane) if x)
    return f"{d.name or d.device_id}{f' ({where})' if where else ''}"


def when(t: float | None) -> str:
    """A moment in local time, for a sentence: ``on Mon 2 Nov 2026 at 09:05``."""
    if t is None:
        return "at an unknown time"
    return f"on {_moment(dt.datetime.fromtimestamp(t))}"


def _day(d: dt.datetime) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def _moment(d: dt.datetime, clock: str = "%H:%M") -> str:
    return f"{_day(d)} at {d.strftime(clock)}"


def lost_when(x: Loss) -> str:
    """When a gap's records were written, from the records around it: ``lost between 09:05
    and 09:40 on Mon 2 Nov 2026``, ``lost after ...`` (and when the sync found them),
    ``lost before ...``; ``found on ...`` when neither side's time is known."""
    after = None if x.lost_after is None else dt.datetime.fromtimestamp(x.lost_after)
    before = None if x.lost_before is None else dt.datetime.fromtimestamp(x.lost_before)
    if after is not None and before is not None and after > before:
        after = before = None  # a clock set between them: the span cannot be trusted
    if after is not None and before is None and x.time is not None and (
            x.lost_after is not None and x.lost_after > x.time):
        after = None  # "after" later than the sync that found them: a clock set, again
    if after is not None and before is not None:
        # minutes alone would read "between 09:05 and 09:05"
        same_minute = f"{after:%Y%m%d%H%M}" == f"{before:%Y%m%d%H%M}"
        clock = "%H:%M:%S" if same_minute else "%H:%M"
        if after.date() == before.date():
            return (f"lost between {after.strftime(clock)} and {before.strftime(clock)} "
                    f"on {_day(after)}")
        return f"lost between {_moment(after, clock)} and {_moment(before, clock)}"
    if after is not None:  # the sync that found them closes the span
        return f"lost after {_moment(after)}, found {when(x.time)}"
    if before is not None:
        return f"lost before {_moment(before)}"
    return f"found {when(x.time)}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n:,} times"


# Per kind of loss: the sentence (from the total), one listed loss, and advice after them.
_LOSS_WORDS: dict[LossKind, tuple[str, str, str]] = {
    "records_dropped": (
        "{records} (conversations or events) were lost because a device's memory was full",
        "{device}: {count:,}, counted {when}", " Sync those devices more often."),
    "gap": (
        ("{records} never reached this computer: a sync found them missing, gone from the "
         "device before it was synced or damaged on it"),
        "{device}: {count:,}, {detail}, {when}", ""),
    "data_reset": (
        ("A device's record log was wiped {times} because the device could not read it, "
         "losing every record not yet synced (how many is not known)"),
        "{device} {when} ({detail})", ""),
    "bytes_cut": (
        ("{bytes} of a damaged record log were cut when a device started (most likely power "
         "was lost while it was writing), losing at least the record being written then"),
        "{device}: {count:,} bytes {when}", ""),
}


def loss_notes(q: DataQuality, max_listed: int = 5) -> list[str]:
    """What was lost in the report's range, per kind: how much, where and when."""
    by_id = {d.device_id: d for d in q.devices}
    totals = {"records_dropped": q.records_dropped, "gap": q.records_missing,
              "data_reset": q.data_resets, "bytes_cut": q.bytes_cut}
    notes = []
    for kind, (head, item, tail) in _LOSS_WORDS.items():
        found: list[Loss] = [x for x in q.losses if x.kind == kind]
        total = totals[kind]
        if not found or not total:
            continue
        listed = "; ".join(item.format(
            device=device_name(by_id[x.device_id]) if x.device_id in by_id else x.device_id,
            count=x.count, detail=x.detail,
            when=lost_when(x) if x.kind == "gap" else when(x.time)) for x in found[:max_listed])
        more = f"; and {len(found) - max_listed} more" if len(found) > max_listed else ""
        sentence = head.format(records=_plural(total, "record"), times=_times(total),
                               bytes=_plural(total, "byte"))
        notes.append(f"{sentence}: {listed}{more}.{tail}")
    return notes


def one_in(share: float) -> str:
    """A share of conversations in words: ``1 of 4``, ``about 3 of 10``, ``none``."""
    if share <= 0:
        return "none"
    if share >= 1:
        return "every one"
    if share < 0.1:
        k = round(1 / share)
        return f"1 of {k}" if abs(share - 1 / k) < 0.005 else f"about 1 of {k}"
    if share > 0.9:  # all but one in k (tenths would round it to "1 of 1")
        k = round(1 / (1 - share))
        exact = abs(share - (k - 1) / k) < 0.005
        return f"{'' if exact else 'about '}{k - 1} of {k}"
    best = Fraction(share).limit_denominator(10)
    if best.numerator == 0:
        best = Fraction(1, 10)
    about = "" if abs(share - float(best)) < 0.005 else "about "
    return f"{about}{best.numerator} of {best.denominator}"


def _talk(summary: GroupStats) -> str | None:
    share = summary.talk_share
    if share.median is None or share.p25 is None or share.p75 is None:
        return None
    spread = (f" (half of them between {pct(share.p25)} and {pct(share.p75)})"
              if share.conversations >= 4 else "")
    return f"In a typical conversation the employee did {pct(share.median)} of the talking{spread}."


def _stretches(summary: GroupStats) -> str | None:
    mono, story = summary.median_longest_monologue_ms, summary.median_longest_story_ms
    if mono is None or story is None:
        return None
    return (f"The customer's longest stretch of talking was typically {seconds(story)}; "
            f"the employee's, {seconds(mono)}.")


def _lane_spread(lanes: Sequence[GroupStats]) -> str | None:
    ranked = [(lane.talk_share.median, lane.label) for lane in lanes
              if lane.talk_share.median is not None
              and lane.talk_share.conversations >= MIN_LANE_CONVERSATIONS]
    if len(ranked) < 2:
        return None
    ranked.sort()
    (low, low_label), (high, high_label) = ranked[0], ranked[-1]
    if round(low * 100) == round(high * 100):
        return None
    return (f"Employee talk share ranged from {pct(low)} on {low_label} to {pct(high)} on "
            f"{high_label}.")


def _quality(q: DataQuality) -> list[str]:
    out = []
    stale = q.stale_devices
    if stale:
        names = ", ".join(d.name or d.device_id for d in stale[:5])
        more = f" and {len(stale) - 5} more" if len(stale) > 5 else ""
        were = "device has" if len(stale) == 1 else "devices have"
        out.append(f"{len(stale)} {were} not been synced for {q.stale_days} days or more "
                   f"({names}{more}): their latest conversations are missing.")
    if q.records_dropped:
        out.append(f"Devices could not store {_plural(q.records_dropped, 'record')} "
                   "(conversations or events) because their memory was full: sync them more "
                   "often.")
    lost = [_plural(q.records_missing, "record") + " went missing before a sync"
            if q.records_missing else "",
            f"a device's record log was wiped {_times(q.data_resets)}" if q.data_resets else "",
            _plural(q.bytes_cut, "byte") + " of a damaged record log were cut"
            if q.bytes_cut else ""]
    if any(lost):
        out.append(f"Records were lost: {'; '.join(x for x in lost if x)} (see data quality).")
    if q.conversations and q.low_snr / q.conversations >= NOISY_SHARE:
        out.append(f"{pct(q.low_snr / q.conversations)} of conversations were noisy: their "
                   "numbers are less reliable.")
    if q.unknown_time:
        out.append(f"{q.unknown_time} conversations have no known time (their device's clock "
                   "was never set) and are left out.")
    return out


def callouts(summary: GroupStats, lanes: Sequence[GroupStats],
             drift: Sequence[DriftAlert], quality: DataQuality) -> tuple[str, ...]:
    """The sentences, most telling first: drift, then what happened, then data problems."""
    out = [a.message for a in drift[:MAX_DRIFT]]
    if summary.customer_interrupted_share is not None:
        share = summary.customer_interrupted_share
        words = one_in(share)
        counted = f"{round(share * summary.conversations):,} of {summary.conversations:,}"
        # "1 of 6" out of 18 conversations would read like a count of 6
        count = "" if words == counted else f" ({counted})"
        out.append("No customer was interrupted." if share == 0 else
                   f"Customers were interrupted in {words} conversations{count}."
                   if share < 1 else "Customers were interrupted in every conversation.")
    for sentence in (_talk(summary), _stretches(summary), _lane_spread(lanes)):
        if sentence:
            out.append(sentence)
    if summary.median_patience_ms is not None:
        out.append(f"After a customer finished speaking, the employee typically answered "
                   f"after {seconds(summary.median_patience_ms)}.")
    out += _quality(quality)
    return tuple(out)
