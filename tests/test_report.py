"""Reports: exact numbers on known conversations, grouping in local time, roster
attribution, filters, drift alerts, callouts, data quality, migrations and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.cli import main
from heard.db import MIGRATIONS, Database
from heard.errors import HeardError
from heard.report import Filters, build_report, stats
from heard.report.callouts import one_in
from heard.report.drift import DriftRules, _medians_without_each
from heard.report.model import BINS, GroupBy, Report
from heardcore import record

DAY = 86_400
MON = int(dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc).timestamp())  # Monday 00:00 UTC



def set_zone(monkeypatch: pytest.MonkeyPatch, zone: str) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()

pytestmark = pytest.mark.usefixtures("utc_zone")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database.open(tmp_path / "heard.db") as d:
        yield d


def device(db: Database, device_id: str, store: str | None = None, lane: str | None = None,
           last_sync: float | None = None, name: str | None = None) -> None:
    db.conn.execute("INSERT INTO devices (device_id, name, store, lane, last_sync) "
                    "VALUES (?, ?, ?, ?, ?)", (device_id, name, store, lane, last_sync))


_seq = iter(range(1, 10**9))


def conv(db: Database, device_id: str, start: float | None, *, e: int = 3000, c: int = 1000,
         ie: int = 0, ic: int = 0, be: int = 0, bc: int = 0, mono: int = 2000,
         story: int = 1000, latency: int = 500, flags: int = 0, channels: int = 2) -> None:
    """Insert one decoded conversation row directly."""
    fields = dict.fromkeys(record.CONVERSATION_FIELDS, 0)
    fields["channels"] = channels
    fields.update(employee_ms=e, customer_ms=c, interruptions_by_employee=ie,
                  interruptions_by_customer=ic, backchannels_by_employee=be,
                  backchannels_by_customer=bc, longest_employee_monologue_ms=mono,
                  longest_customer_story_ms=story, median_latency_ms=latency, flags=flags,
                  duration_ms=e + c)
    names = ("device_id", "boot_id", "seq", "start_utc", "time_source", *fields, "talk_ratio")
    values = (device_id, 1, next(_seq), start, None if start is None else "device",
              *fields.values(), e / (e + c) if e + c else None)
    db.conn.execute(f"INSERT INTO conversations ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' * len(names))})", values)


def report(db: Database, by: GroupBy | None = "day", since: str | None = None,
           until: str | None = None, store: str | None = None, lane: str | None = None,
           employee: str | None = None, now: float = MON + 30 * DAY, stale_days: int = 7,
           rules: DriftRules | None = None) -> Report:
    return build_report(db, Filters(since, until, store, lane, employee, by, stale_days),
                        now=now, rules=rules)


def four(db: Database) -> None:
    """Four conversations on one lane with hand-checked numbers."""
    device(db, "d1", "Main St", "Lane 1", last_sync=MON + 29 * DAY)
    t = MON + 10 * 3600
    conv(db, "d1", t, e=1000, c=3000, ie=1, ic=0, be=2, bc=1, mono=4000, story=9000,
         latency=400)
    conv(db, "d1", t + 60, e=2000, c=2000, ie=0, ic=1, be=0, bc=3, mono=2000, story=3000,
         latency=-1, flags=1)
    conv(db, "d1", t + 120, e=3000, c=1000, ie=0, ic=0, be=1, bc=0, mono=6000, story=1000,
         latency=800, flags=4)
    conv(db, "d1", t + 180, e=0, c=0, ie=0, ic=2, be=1, bc=0, mono=0, story=0,
         latency=1200, flags=5)


# --- numbers -------------------------------------------------------------------------------


def test_summary_numbers_are_exact(db: Database):
    four(db)
    s = report(db).summary
    assert s.conversations == 4
    # shares 0.25, 0.5, 0.75; the silent one has none
    assert s.talk_share.conversations == 3
    assert (s.talk_share.p25, s.talk_share.median, s.talk_share.p75) == (0.375, 0.5, 0.625)
    assert s.talk_share.bins[5] == s.talk_share.bins[10] == s.talk_share.bins[15] == 1
    assert sum(s.talk_share.bins) == 3 and len(s.talk_share.bins) == BINS
    assert (s.interruptions_by_employee, s.interruptions_by_customer) == (0.25, 0.75)
    assert s.customer_interrupted_share == 0.25
    assert (s.backchannels_by_employee, s.backchannels_by_customer) == (1.0, 1.0)
    assert (s.median_patience_ms, s.patience_conversations) == (800.0, 3)  # -1 left out
    assert s.median_longest_monologue_ms == 3000.0  # of 0, 2000, 4000, 6000
    assert s.median_longest_story_ms == 2000.0  # of 0, 1000, 3000, 9000
    assert (s.low_snr, s.audio_gap) == (2, 2)


def test_histogram_bin_edges(db: Database):
    device(db, "d1", "S", "L")
    for e, c in ((0, 100), (5, 95), (49, 51), (50, 50), (999, 1), (100, 0)):
        conv(db, "d1", MON + 3600, e=e, c=c)
    bins = report(db).summary.talk_share.bins
    assert bins[0] == 1 and bins[1] == 1  # 0% and exactly 5%
    assert bins[9] == 1 and bins[10] == 1  # 49% and 50%
    assert bins[19] == 2  # 99.9% and 100% share the last bin


@pytest.mark.parametrize("groups", [1, 3, 40])
def test_group_quantiles_match_numpy(groups: int):
    rng = np.random.default_rng(groups)
    n = 2000
    e, c = rng.integers(0, 5000, n), rng.integers(0, 5000, n)
    latency = rng.integers(-1, 3000, n)
    fields = {name: np.zeros(n, dtype=np.int64) for name in stats.COLUMNS[1:]}
    fields.update(employee_ms=e, customer_ms=c, median_latency_ms=latency)
    cols = stats.Columns(np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), fields)
    codes = rng.integers(-1, groups, n)
    share, counts = stats.quantiles(cols, "share", codes, groups, (0.25, 0.5, 0.75))
    patience, _ = stats.quantiles(cols, "patience", codes, groups, (0.5,))
    for g in range(groups):
        mine = (codes == g) & (e + c > 0)
        expected = np.percentile(e[mine] / (e[mine] + c[mine]), [25, 50, 75])
        assert counts[g] == mine.sum()
        assert share[g] == pytest.approx(expected, abs=1e-9)
        waits = latency[(codes == g) & (latency >= 0)]
        assert patience[g, 0] == pytest.approx(np.median(waits))


def test_report_of_records_stored_by_sync(db: Database):
    """The whole host path: records as the device sends them, stored, then reported."""
    def raw(seq: int, clock: int, employee: int, customer: int) -> bytes:
        c = SimpleNamespace(
            start_ms=0, end_ms=60_000, talk_ms=(employee, customer), overlap_ms=0, turns=6,
            switches=5, interruptions=(1, 0), backchannels=(2, 3),
            longest_employee_monologue_ms=5000, longest_customer_story_ms=7000,
            median_latency_ms=600, latency_count=3, flags=0, snr_db=20, clipped_samples=0,
            lost_ms=0)
        return bytes(record.conversation(seq, 7, 1000 * seq, clock, c, 2))

    db.set_secret("dev-9", bytes(32))
    db.store_records("dev-9", "log", [raw(1, MON + 3600, 20_000, 30_000),
                                      raw(2, MON + 7200, 30_000, 10_000)])
    s = report(db).summary
    assert s.conversations == 2
    assert s.talk_share.median == pytest.approx((0.4 + 0.75) / 2)
    assert (s.customer_interrupted_share, s.backchannels_by_customer) == (1.0, 3.0)
    assert s.median_patience_ms == 600.0
    assert report(db, "lane").groups[0].label == "dev-9"  # an unnamed device is its own lane


# --- grouping and time ---------------------------------------------------------------------


def test_day_week_hour_groups_use_local_time(db: Database, monkeypatch: pytest.MonkeyPatch):
    set_zone(monkeypatch, "EST5EDT,M3.2.0,M11.1.0")  # New York rules; 2 Nov 2026 is EST
    device(db, "d1", "S", "L")
    conv(db, "d1", MON + 3 * 3600)  # 22:00 on Sunday 1 Nov local
    conv(db, "d1", MON + 6 * 3600)  # 01:00 on Monday 2 Nov
    conv(db, "d1", MON + 7 * 3600)  # 02:00 on Monday 2 Nov
    days = report(db, "day").groups
    assert [(g.key, g.label, g.conversations) for g in days] == [
        ("2026-11-01", "Sun 1 Nov", 1), ("2026-11-02", "Mon 2 Nov", 2)]
    weeks = report(db, "week").groups
    assert [(g.key, g.label, g.conversations) for g in weeks] == [
        ("2026-W44", "Week of 26 Oct", 1), ("2026-W45", "Week of 2 Nov", 2)]
    hours = report(db, "hour").groups
    assert [(g.key, g.label, g.conversations) for g in hours] == [
        ("01", "01:00–02:00", 1), ("02", "02:00–03:00", 1), ("22", "22:00–23:00", 1)]


def test_default_grouping_is_by_day_up_to_a_month(db: Database):
    device(db, "d1", "S", "L")
    conv(db, "d1", MON)
    conv(db, "d1", MON + 30 * DAY)
    r = report(db, None)
    assert r.filters.by == "day" and len(r.groups) == 2
    conv(db, "d1", MON + 31 * DAY)
    r = report(db, None)
    assert r.filters.by == "week"
    assert [(g.key, g.conversations) for g in r.groups] == [("2026-W45", 1), ("2026-W49", 2)]


def test_local_hours_follow_daylight_saving(db: Database, monkeypatch: pytest.MonkeyPatch):
    set_zone(monkeypatch, "EST5EDT,M3.2.0,M11.1.0")
    device(db, "d1", "S", "L")
    conv(db, "d1", MON - 2 * DAY + 15 * 3600)  # Sat 31 Oct 15:00 UTC = 11:00 EDT
    conv(db, "d1", MON + 15 * 3600)  # Mon 2 Nov 15:00 UTC = 10:00 EST
    assert [g.key for g in report(db, "hour").groups] == ["10", "11"]


def test_lanes_merge_devices_and_sort_naturally(db: Database):
    device(db, "a", "Main St", "Lane 10")
    device(db, "b", "Main St", "Lane 2")
    device(db, "c", "Main St", "lane 2")  # a replacement device, typed differently
    device(db, "d", "Main St", "Lane 2")
    for d in "abcd":
        conv(db, d, MON + 3600)
    lanes = report(db, "lane").groups
    assert [(g.key, g.label, g.conversations) for g in lanes] == [
        ("Main St/Lane 2", "Lane 2", 3), ("Main St/Lane 10", "Lane 10", 1)]


def test_lane_labels_name_the_store_when_there_are_several(db: Database):
    device(db, "a", "North", "Lane 1")
    device(db, "b", "South", "Lane 1")
    conv(db, "a", MON + 3600)
    conv(db, "b", MON + 3600)
    assert [g.label for g in report(db, "lane").lanes] == ["North · Lane 1", "South · Lane 1"]


def test_filters(db: Database):
    device(db, "a", "North", "Lane 1")
    device(db, "b", "North", "Lane 2")
    device(db, "c", "South", "Lane 1")
    for d, day in (("a", 0), ("a", 1), ("b", 1), ("c", 2), ("c", 3)):
        conv(db, d, MON + day * DAY + 3600)
    assert report(db).summary.conversations == 5
    assert report(db, since="2026-11-03").summary.conversations == 4
    assert report(db, until="2026-11-03").summary.conversations == 3
    assert report(db, since="2026-11-03", until="2026-11-03").summary.conversations == 2
    assert report(db, store="north").summary.conversations == 3  # any case
    assert report(db, store="North", lane="Lane 1").summary.conversations == 2
    assert report(db, lane="Lane 1").summary.conversations == 4
    with pytest.raises(HeardError, match="no device is named for store 'East'"):
        report(db, store="East")
    with pytest.raises(HeardError, match="lane 'Lane 9' in store 'North'") as info:
        report(db, store="North", lane="Lane 9")
    assert "heard device list" in (info.value.hint or "")


def test_unknown_time_is_counted_but_not_reported(db: Database):
    device(db, "a", "S", "L")
    conv(db, "a", MON + 3600)
    conv(db, "a", None)
    conv(db, "a", None)
    r = report(db)
    assert r.summary.conversations == 1
    assert r.quality.unknown_time == 2
    assert any("2 conversations have no known time" in c for c in r.callouts)


def test_empty_range_is_an_empty_report(db: Database):
    device(db, "a", "S", "L")
    conv(db, "a", MON + 3600)
    r = report(db, since="2027-01-01")
    assert r.empty and r.groups == () and r.summary.talk_share.median is None
    assert r.drift == () and r.summary.customer_interrupted_share is None


# --- roster --------------------------------------------------------------------------------


def shift(db: Database, lane: str, employee: str, start: int, end: int,
          store: str | None = None) -> None:
    db.conn.execute("INSERT INTO roster (store, lane, employee, shift_start, shift_end) "
                    "VALUES (?, ?, ?, ?, ?)", (store, lane, employee, start, end))


def test_roster_attribution_at_shift_boundaries(db: Database):
    device(db, "a", "S", "Lane 1")
    nine, one, five = MON + 9 * 3600, MON + 13 * 3600, MON + 17 * 3600
    shift(db, "lane 1", "Ann", nine, one)
    shift(db, "Lane 1", "Bob", one, five)
    for t in (nine - 1, nine, one - 1, one, five - 1, five):
        conv(db, "a", t)
    groups = report(db, "employee").groups
    assert [(g.key, g.label, g.conversations) for g in groups] == [
        ("Ann", "Ann", 2), ("Bob", "Bob", 2), ("", "Not on the roster", 2)]
    assert report(db, employee="ann").summary.conversations == 2


def test_roster_store_column_narrows_a_lane(db: Database):
    device(db, "a", "North", "Lane 1")
    device(db, "b", "South", "Lane 1")
    shift(db, "Lane 1", "Ann", MON, MON + DAY, store="North")
    shift(db, "Lane 1", "Cy", MON, MON + DAY)  # any store: here only South is left
    conv(db, "a", MON + 3600)
    conv(db, "b", MON + 3600)
    groups = {g.key: g.conversations for g in report(db, "employee").groups}
    assert groups == {"Ann": 1, "Cy": 1}


def test_by_employee_needs_a_roster(db: Database):
    device(db, "a", "S", "L")
    conv(db, "a", MON)
    with pytest.raises(HeardError, match="--by employee needs a roster") as info:
        report(db, "employee")
    assert "heard roster import" in (info.value.hint or "")
    with pytest.raises(HeardError, match="--employee needs a roster"):
        report(db, employee="Ann")
    shift(db, "L", "Ann", MON, MON + 3600)
    with pytest.raises(HeardError, match="'Zed' is not on the roster") as info:
        report(db, employee="Zed")
    assert "Ann" in (info.value.hint or "")


# --- drift and callouts --------------------------------------------------------------------


def lanes_with_history(db: Database, recent_share_lane1: float, lanes: int = 5) -> None:
    """Lanes at 50% talk share for five weeks; lane 1's last week at ``recent_share_lane1``."""
    for i in range(1, lanes + 1):
        device(db, f"d{i}", "S", f"Lane {i}")
        for day in range(35):
            start = MON - 34 * DAY + day * DAY + 10 * 3600
            recent = day >= 28
            for k in range(6):
                share = recent_share_lane1 if (i == 1 and recent) else 0.5
                share += (k - 2.5) * 0.01  # a little spread
                conv(db, f"d{i}", start + k * 60, e=int(share * 10_000),
                     c=10_000 - int(share * 10_000))


def test_drift_fires_against_own_baseline_and_peers(db: Database):
    lanes_with_history(db, 0.65)
    r = report(db, "lane", until="2026-11-02")
    assert r.drift_window is not None
    assert (r.drift_window.current_first, r.drift_window.current_last) == (
        "2026-10-27", "2026-11-02")
    assert (r.drift_window.baseline_first, r.drift_window.baseline_last) == (
        "2026-09-29", "2026-10-26")
    found = {(a.label, a.metric, a.comparison) for a in r.drift}
    assert found == {("Lane 1", "talk_share", "baseline"), ("Lane 1", "talk_share", "peers")}
    own = next(a for a in r.drift if a.comparison == "baseline")
    assert own.current == pytest.approx(0.65) and own.reference == pytest.approx(0.5)
    assert own.conversations == 42 and own.reference_conversations == 168
    assert own.message == ("Lane 1's employee talk share rose from 50% to 65% in the last 7 "
                           "days (27 Oct–2 Nov), compared with the 4 weeks before.")
    peers = next(a for a in r.drift if a.comparison == "peers")
    assert peers.message == ("Lane 1's employee talk share was 65% in the last 7 days "
                             "(27 Oct–2 Nov), against 50% for the other lanes (median).")
    assert r.callouts[0] == own.message or r.callouts[0] == peers.message


def test_drift_stays_quiet_below_threshold_or_with_too_few(db: Database):
    lanes_with_history(db, 0.57)  # 7 points: under both thresholds
    assert report(db, "lane", until="2026-11-02").drift == ()


def test_drift_needs_enough_conversations(tmp_path: Path):
    with Database.open(tmp_path / "few.db") as db:
        lanes_with_history(db, 0.8)
        strict = DriftRules(min_conversations=43)  # lane 1 has 42 in its last week
        assert report(db, "lane", until="2026-11-02", rules=strict).drift == ()


def test_drift_on_customer_interruptions(db: Database):
    for i in range(1, 5):
        device(db, f"d{i}", "S", f"Lane {i}")
        for day in range(35):
            for k in range(8):
                interrupted = (i == 2 and day >= 28) or k < 2  # 25%, lane 2 100% lately
                conv(db, f"d{i}", MON - 34 * DAY + day * DAY + 3600 + k,
                     ie=1 if interrupted else 0)
    r = report(db, until="2026-11-02")
    messages = [a.message for a in r.drift if a.metric == "customer_interrupted_share"]
    assert ("On Lane 2, customers were interrupted in 100% of conversations in the last 7 "
            "days (27 Oct–2 Nov), up from 25% in the 4 weeks before.") in messages


def test_interruption_callout_gives_the_count_when_the_fraction_is_reduced(db: Database):
    device(db, "d1", "Main St", "Lane 1", last_sync=MON + 29 * DAY)
    for k in range(8):  # 2 of 8 interrupted: "1 of 4" alone would read like 4 conversations
        conv(db, "d1", MON + 10 * 3600 + 60 * k, ie=1 if k < 2 else 0)
    assert "Customers were interrupted in 1 of 4 conversations (2 of 8)." in report(db).callouts


def test_callouts_for_a_known_case(db: Database):
    four(db)
    r = report(db)
    assert "Customers were interrupted in 1 of 4 conversations." in r.callouts
    assert ("In a typical conversation the employee did 50% of the talking.") in r.callouts
    assert ("The customer's longest stretch of talking was typically 2.0 s; the employee's, "
            "3.0 s.") in r.callouts
    assert ("After a customer finished speaking, the employee typically answered after "
            "0.8 s.") in r.callouts


def test_peer_medians_leave_each_subject_out():
    values = np.array([0.5, np.nan, 0.7, 0.4, 0.6])
    got = _medians_without_each(values)
    assert np.isnan(got[1])
    assert list(got[[0, 2, 3, 4]]) == pytest.approx([0.6, 0.5, 0.6, 0.5])


@pytest.mark.parametrize("share, words", [
    (0.25, "1 of 4"), (0.3, "3 of 10"), (1 / 3, "1 of 3"), (0.31, "about 3 of 10"),
    (0.05, "1 of 20"), (0.7, "7 of 10"), (0.0, "none"), (1.0, "every one"),
    (0.96, "24 of 25"), (0.99, "99 of 100"), (0.95, "19 of 20"), (0.93, "13 of 14")])
def test_one_in(share: float, words: str):
    assert one_in(share) == words


# --- data quality --------------------------------------------------------------------------


def test_quality_counts(db: Database):
    now = MON + 30 * DAY
    device(db, "fresh", "S", "Lane 1", last_sync=now - 2 * DAY)
    device(db, "old", "S", "Lane 2", last_sync=now - 9 * DAY, name="Back counter")
    device(db, "never", "S", "Lane 3")
    conv(db, "fresh", MON, flags=1)
    conv(db, "fresh", MON + 60, flags=4)
    conv(db, "old", MON, flags=5)
    for seq, (dev, when, lost) in enumerate((("old", MON, 3), ("old", None, 2),
                                             ("fresh", MON - 40 * DAY, 7))):
        db.conn.execute(
            "INSERT INTO events (device_id, boot_id, seq, time_utc, time_source, uptime_ms, "
            "clock_s, name, code, a, b, text) VALUES (?, 1, ?, ?, NULL, 0, 0, "
            "'records_dropped', 8, ?, 0, '')", (dev, seq, when, lost))
    q = report(db, since="2026-11-01", now=now).quality
    assert (q.conversations, q.low_snr, q.audio_gap) == (3, 2, 2)
    assert q.records_dropped == 5  # the event before --since is not counted
    by_id = {d.device_id: d for d in q.devices}
    assert by_id["old"].records_dropped == 5 and by_id["fresh"].records_dropped == 0
    assert [d.device_id for d in q.stale_devices] == ["old", "never"]
    assert by_id["old"].days_since_sync == pytest.approx(9.0)
    assert by_id["never"].days_since_sync is None
    assert [d.device_id for d in report(db, stale_days=10, now=now).quality.stale_devices] == [
        "never"]


def event_row(db: Database, dev: str, seq: int, when: float | None, name: str, code: int,
              a: int = 0, b: int = 0, text: str = "") -> None:
    db.conn.execute(
        "INSERT INTO events (device_id, boot_id, seq, time_utc, time_source, uptime_ms, "
        "clock_s, name, code, a, b, text) VALUES (?, 1, ?, ?, NULL, 0, 0, ?, ?, ?, ?, ?)",
        (dev, seq, when, name, code, a, b, text))


def test_what_was_lost_is_reported_per_device_with_its_time(db: Database):
    from heard.report.callouts import quality_notes

    now = MON + 30 * DAY
    device(db, "a", "S", "Lane 1", last_sync=now - DAY, name="Front")
    device(db, "b", "S", "Lane 2", last_sync=now - DAY)
    conv(db, "a", MON + 3600)
    conv(db, "b", MON + 3600)
    event_row(db, "a", 100, MON + 2 * DAY + 9 * 3600, "boot", 1, a=1)  # cut nothing
    assert "Every device synced within 7 days; nothing was lost." in quality_notes(
        report(db, since="2026-11-01", now=now).quality)
    event_row(db, "a", 101, MON + 2 * DAY + 9 * 3600, "data_reset", 10,
              text="LogCorrupt: state: bad value")
    event_row(db, "b", 102, MON + 3 * DAY, "boot", 1, a=1, b=45)
    event_row(db, "b", 103, MON - 40 * DAY, "boot", 1, a=1, b=99)  # before --since
    db.conn.execute("INSERT INTO gaps VALUES ('b', 'log', 5, 14, ?)", (MON + 4 * DAY,))
    db.conn.execute("INSERT INTO gaps VALUES ('a', 'log', 2, 2, ?)", (MON - 40 * DAY,))
    r = report(db, since="2026-11-01", now=now)
    q = r.quality
    assert (q.records_missing, q.data_resets, q.bytes_cut, q.records_dropped) == (10, 1, 45, 0)
    by_id = {d.device_id: d for d in q.devices}
    assert (by_id["a"].data_resets, by_id["a"].records_missing, by_id["a"].bytes_cut) == (
        1, 0, 0)
    assert (by_id["b"].data_resets, by_id["b"].records_missing, by_id["b"].bytes_cut) == (
        0, 10, 45)
    assert [(x.device_id, x.kind, x.time, x.count, x.detail) for x in q.losses] == [
        ("a", "data_reset", MON + 2 * DAY + 9 * 3600, 0, "LogCorrupt: state: bad value"),
        ("b", "bytes_cut", MON + 3 * DAY, 45, ""),
        ("b", "gap", MON + 4 * DAY, 10, "seq 5-14")]
    text = " ".join(quality_notes(q))
    assert "nothing was lost" not in text and "Every device synced within 7 days." in text
    assert ("10 records never reached this computer: a sync found them missing, gone from the "
            "device before it was synced or damaged on it: b (S · Lane 2): 10, seq 5-14, "
            "found on Fri 6 Nov 2026 at 00:00.") in text
    assert ("A device's record log was wiped once because the device could not read it, "
            "losing every record not yet synced (how many is not known): Front (S · Lane 1) "
            "on Wed 4 Nov 2026 at 09:00 (LogCorrupt: state: bad value).") in text
    assert ("45 bytes of a damaged record log were cut when a device started (most likely "
            "power was lost while it was writing), losing at least the record being written "
            "then: b (S · Lane 2): 45 bytes on Thu 5 Nov 2026 at 00:00.") in text
    assert any(c.startswith("Records were lost: 10 records went missing before a sync; a "
                            "device's record log was wiped once; 45 bytes") for c in r.callouts)
    one = report(db, since="2026-11-01", lane="Lane 1", now=now).quality
    assert (one.records_missing, one.data_resets, one.bytes_cut) == (0, 1, 0)
    assert json.loads(r.to_json())["quality"]["losses"][2] == {
        "device_id": "b", "kind": "gap", "time": MON + 4 * DAY, "count": 10,
        "detail": "seq 5-14", "lost_after": None, "lost_before": None}


def conversation_record(seq: int, start: int | None, boot: int = 7) -> bytes:
    """A 60 s conversation record as the device sends it (``start`` None: its clock was
    unset, and no sync saw its boot: a record of unknown time)."""
    c = SimpleNamespace(
        start_ms=0, end_ms=60_000, talk_ms=(20_000, 30_000), overlap_ms=0, turns=6,
        switches=5, interruptions=(1, 0), backchannels=(2, 3),
        longest_employee_monologue_ms=5000, longest_customer_story_ms=7000,
        median_latency_ms=600, latency_count=3, flags=0, snr_db=20, clipped_samples=0,
        lost_ms=0)
    return bytes(record.conversation(seq, boot, 1000 * seq, start or 0, c, 2))


def gap(db: Database, device_id: str, log_id: str, first: int, last: int,
        found: float) -> None:
    db.conn.execute("INSERT INTO gaps VALUES (?, ?, ?, ?, ?)",
                    (device_id, log_id, first, last, found))


NINE = MON + 9 * 3600  # Monday 2 Nov 2026, 09:00 UTC


def records_around_a_gap(db: Database, device_id: str = "a") -> None:
    """Conversations 1-3 and 7-9 of one log, ten minutes apart from 09:00 (each 60 s
    long), and a gap 4-6 between them that a sync found four days later."""
    db.store_records(device_id, "log", [conversation_record(s, NINE + 600 * (s - 1))
                                        for s in (1, 2, 3, 7, 8, 9)])
    gap(db, device_id, "log", 4, 6, MON + 4 * DAY)


def test_a_gap_is_dated_by_the_records_around_it(db: Database):
    from rich.console import Console

    from heard.report.callouts import quality_notes
    from heard.report.terminal import render

    device(db, "a", "S", "Lane 1", last_sync=MON + 29 * DAY, name="Front")
    records_around_a_gap(db)
    r = report(db)
    (loss,) = r.quality.losses
    # written after record 3 (which ended 09:20 + 60 s), before record 7 (10:00 + 60 s)
    assert (loss.kind, loss.count, loss.detail) == ("gap", 3, "seq 4-6")
    assert (loss.time, loss.lost_after, loss.lost_before) == (
        MON + 4 * DAY, NINE + 1260, NINE + 3660)
    said = ("3 records never reached this computer: a sync found them missing, gone from the "
            "device before it was synced or damaged on it: Front (S · Lane 1): 3, seq 4-6, "
            "lost between 09:21 and 10:01 on Mon 2 Nov 2026.")
    assert said in quality_notes(r.quality)
    console = Console(width=100, record=True)
    render(r, console)
    assert said in " ".join(console.export_text().split())
    assert json.loads(r.to_json())["quality"]["losses"][0] == {
        "device_id": "a", "kind": "gap", "time": MON + 4 * DAY, "count": 3,
        "detail": "seq 4-6", "lost_after": NINE + 1260, "lost_before": NINE + 3660}


def test_a_gap_is_in_the_report_of_the_day_its_records_were_written(db: Database):
    device(db, "a", "S", "Lane 1", last_sync=MON + 29 * DAY)
    records_around_a_gap(db)  # written Monday 09:21-10:01, found on Friday
    # Records 2-3 of another device lost after Monday 09:00, none after them: they were
    # written between then and the sync that found them on Friday.
    db.store_records("b", "log", [conversation_record(1, NINE - 60)])
    gap(db, "b", "log", 2, 3, MON + 4 * DAY)

    def gaps(since: str, until: str) -> list[str]:
        return [x.device_id for x in report(db, since=since, until=until).quality.losses
                if x.kind == "gap"]

    assert gaps("2026-11-02", "2026-11-02") == ["a", "b"]  # Monday
    assert gaps("2026-11-04", "2026-11-04") == ["b"]  # Wednesday: only b's span covers it
    assert gaps("2026-11-06", "2026-11-06") == ["a", "b"]  # Friday, when both were found
    assert gaps("2026-11-07", "2026-11-30") == []


def test_gap_placement_at_the_edges():
    from heard.report.query import gap_in_range

    day = 86400
    found = 10 * day

    def days(after: float | None, before: float | None) -> list[int]:
        """The days (0-11) whose one-day range holds the gap."""
        return [d for d in range(12) if gap_in_range(found, after, before, d * day,
                                                     (d + 1) * day)]

    assert days(2 * day + 5, 4 * day + 5) == [2, 3, 4, 10]  # written in 2-4, found on 10
    assert days(2 * day + 5, 4 * day) == [2, 3, 10]  # the record after came at 4's start
    assert days(2 * day + 5, None) == [2, 3, 4, 5, 6, 7, 8, 9, 10]  # up to when found
    assert days(None, 4 * day) == [10]  # no earlier bound: open-ended, only when found
    assert days(None, None) == [10]
    assert days(4 * day, 2 * day) == [10]  # backwards: a clock set in between
    assert days(11 * day + 5, None) == [10]  # "after" later than found: clock again
    assert gap_in_range(found, 2 * day, 4 * day, None, 3 * day)  # --until alone
    assert not gap_in_range(found, 2 * day, 4 * day, 5 * day, 9 * day)
    assert gap_in_range(found, 2 * day, 4 * day, 5 * day, None)  # --since alone: found
    assert gap_in_range(found, None, None, None, None)


def test_a_gap_is_dated_in_local_time(db: Database, monkeypatch: pytest.MonkeyPatch):
    from heard.report.callouts import quality_notes

    set_zone(monkeypatch, "America/New_York")  # UTC-5 in November
    device(db, "a", "S", "Lane 1", last_sync=MON + 29 * DAY)
    records_around_a_gap(db)
    assert "seq 4-6, lost between 04:21 and 05:01 on Mon 2 Nov 2026." in " ".join(
        quality_notes(report(db).quality))


def gap_words(db: Database) -> dict[str, str]:
    """How the report dates each device's gap (one gap a device)."""
    from heard.report.callouts import lost_when

    return {x.device_id: f"{x.detail}, {lost_when(x)}" for x in report(db).quality.losses
            if x.kind == "gap"}


def test_a_gap_with_one_or_no_record_of_known_time_around_it(db: Database):
    found = MON + 4 * DAY
    # Records 1-4 lost; 5 is a boot event at 09:00: nothing before, so "before" alone.
    db.store_records("first", "log", [bytes(record.event(5, 7, 0, NINE, record.EVENT_BOOT))])
    gap(db, "first", "log", 1, 4, found)
    # Records 3-4 lost, none after them yet: "after", closed by the sync that found them.
    db.store_records("last", "log", [conversation_record(2, NINE + 600)])
    gap(db, "last", "log", 3, 4, found)
    # Records around 3-4 of unknown time (clock unset, boot never seen): the sync's time.
    db.store_records("unknown", "log", [conversation_record(s, None) for s in (2, 5)])
    gap(db, "unknown", "log", 3, 4, found)
    # One of them of unknown time: the other says what it can.
    db.store_records("half", "log", [conversation_record(2, None),
                                     conversation_record(5, NINE + 1800)])
    gap(db, "half", "log", 3, 4, found)
    # Records 3 and 7 of another log of the device say nothing about this log's gap.
    db.store_records("other", "old-log", [conversation_record(s, NINE + 600 * s)
                                          for s in (3, 7)])
    gap(db, "other", "log", 4, 6, found)
    assert gap_words(db) == {
        "first": "seq 1-4, lost before Mon 2 Nov 2026 at 09:00",
        "last": "seq 3-4, lost after Mon 2 Nov 2026 at 09:11, found on Fri 6 Nov 2026 at 00:00",
        "unknown": "seq 3-4, found on Fri 6 Nov 2026 at 00:00",
        "half": "seq 3-4, lost before Mon 2 Nov 2026 at 09:31",
        "other": "seq 4-6, found on Fri 6 Nov 2026 at 00:00"}


def test_a_gap_across_days_within_a_minute_or_around_a_restart(db: Database):
    found = MON + 4 * DAY
    # Overnight: the last conversation of Monday, the first of Tuesday.
    db.store_records("night", "log", [conversation_record(1, MON + 17 * 3600),
                                      conversation_record(3, MON + DAY + 9 * 3600)])
    gap(db, "night", "log", 2, 2, found)
    # Within a minute (a conversation written at 09:01, an event 30 s later): seconds say
    # which way round.
    db.store_records("quick", "log", [
        conversation_record(1, NINE),
        bytes(record.event(3, 7, 0, NINE + 90, record.EVENT_CONFIG_CHANGED))])
    gap(db, "quick", "log", 2, 2, found)
    # Record 1 cut at a restart gave its seq to the next one, of the new boot: the gap
    # came after both.
    db.store_records("restart", "log", [conversation_record(1, NINE, boot=7),
                                        conversation_record(1, NINE + 600, boot=8),
                                        conversation_record(3, NINE + 1200, boot=8)])
    gap(db, "restart", "log", 2, 2, found)
    # The record after was written "before" the one before: the device's clock was set in
    # between, so the span says nothing and the sync's time is given.
    db.store_records("backwards", "log", [
        conversation_record(1, NINE + 600),
        bytes(record.event(3, 7, 0, NINE, record.EVENT_CONFIG_CHANGED))])
    gap(db, "backwards", "log", 2, 2, found)
    # Nothing after the gap, and the record before it dated after the sync that found it:
    # the device's clock was wrong then, and the sync's time is given.
    db.store_records("ahead", "log", [conversation_record(1, MON + 5 * DAY)])
    gap(db, "ahead", "log", 2, 2, found)
    assert gap_words(db) == {
        "ahead": "seq 2, found on Fri 6 Nov 2026 at 00:00",
        "backwards": "seq 2, found on Fri 6 Nov 2026 at 00:00",
        "night": "seq 2, lost between Mon 2 Nov 2026 at 17:01 and Tue 3 Nov 2026 at 09:01",
        "quick": "seq 2, lost between 09:01:00 and 09:01:30 on Mon 2 Nov 2026",
        "restart": "seq 2, lost between 09:11 and 09:21 on Mon 2 Nov 2026"}


def test_records_dropped_are_not_all_called_conversations(db: Database):
    from heard.report.callouts import quality_notes

    device(db, "a", "S", "Lane 1", last_sync=MON + 29 * DAY)
    conv(db, "a", MON + 3600)
    event_row(db, "a", 100, MON + DAY, "records_dropped", 8, a=6, b=6)
    r = report(db)
    text = " ".join(quality_notes(r.quality))
    assert ("6 records (conversations or events) were lost because a device's memory was "
            "full: a (S · Lane 1): 6, counted on Tue 3 Nov 2026 at 00:00. Sync those devices "
            "more often.") in text
    assert "conversations were lost" not in text and "nothing was lost" not in text
    assert any("could not store 6 records (conversations or events)" in c for c in r.callouts)


def test_one_microphone_conversations_are_flagged(db: Database):
    device(db, "mono", "S", "Lane 1")
    device(db, "stereo", "S", "Lane 2")
    conv(db, "mono", MON, channels=1)
    conv(db, "mono", MON + 60, channels=1)
    conv(db, "mono", MON - 40 * DAY, channels=1)  # before --since
    conv(db, "stereo", MON)
    assert report(db, since="2026-11-01").quality.one_mic == 2
    assert report(db, since="2026-11-01", lane="Lane 2").quality.one_mic == 0
    from rich.console import Console

    from heard.report.terminal import render

    console = Console(width=100, record=True)
    render(report(db, since="2026-11-01"), console)
    text = " ".join(console.export_text().split())
    assert "2 conversations come from a device with one microphone" in text


def test_json_has_every_part(db: Database):
    four(db)
    data = json.loads(report(db).to_json())
    assert set(data) >= {"filters", "summary", "groups", "trend", "lanes", "employees",
                         "quality", "drift", "drift_window", "callouts", "timezone"}
    assert data["summary"]["talk_share"]["median"] == 0.5
    assert data["quality"]["devices"][0]["device_id"] == "d1"


# --- schema --------------------------------------------------------------------------------


def test_schema_1_database_is_upgraded_with_its_data(tmp_path: Path):
    path = tmp_path / "old.db"
    raw = bytes(record.conversation(1, 5, 1000, MON + 3600, SimpleNamespace(
        start_ms=0, end_ms=9000, talk_ms=(3000, 1000), overlap_ms=0, turns=2, switches=1,
        interruptions=(1, 0), backchannels=(0, 0), longest_employee_monologue_ms=3000,
        longest_customer_story_ms=1000, median_latency_ms=300, latency_count=1, flags=0,
        snr_db=20, clipped_samples=0, lost_ms=0), 2))
    with Database.open(path, migrations=MIGRATIONS[:1]) as old:
        assert old.schema_version() == 1
        old.set_secret("dev-1", bytes(range(32)))
        old.store_records("dev-1", "log", [raw], next_seq=2)
        old.conn.execute("UPDATE devices SET store = 'S', lane = 'L'")
    with Database.open(path) as new:
        assert new.schema_version() == len(MIGRATIONS) >= 2
        assert new.secret("dev-1") == bytes(range(32))
        assert new.cursor("dev-1", "log") == 2
        assert new.conn.execute("SELECT raw FROM records").fetchone()[0] == raw
        indexes = {r[0] for r in new.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"conversations_report", "conversations_unknown_time"} <= indexes
        r = report(new, "lane")
        assert [(g.label, g.conversations) for g in r.groups] == [("L", 1)]


def test_report_reads_through_the_covering_index(db: Database):
    plan = db.conn.execute(
        "EXPLAIN QUERY PLAN SELECT device_id, count(*), group_concat(employee_ms) "
        "FROM conversations WHERE start_utc IS NOT NULL GROUP BY device_id").fetchall()
    assert "COVERING INDEX conversations_report" in str(plan)


# --- the command ---------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_prints_tables_callouts_and_quality(tmp_path: Path, capsys):
    with Database.open(tmp_path / "h.db") as d:
        four(d)
    code, out, _ = run(capsys, "--db", str(tmp_path / "h.db"), "--by", "hour")
    assert code == 0
    for text in ("By hour of day", "10:00–11:00", "What stands out",
                 "Customers were interrupted in 1 of 4 conversations.", "Data quality",
                 "docs/REPORTS.md"):
        assert text in out
    # The least reliable number says how it is counted and how far to trust it.
    assert "Interruptions are counted where one party takes over" in out


def test_cli_json(tmp_path: Path, capsys):
    with Database.open(tmp_path / "h.db") as d:
        four(d)
    code, out, _ = run(capsys, "--db", str(tmp_path / "h.db"), "--json", "--by", "lane")
    assert code == 0
    data = json.loads(out)
    assert data["filters"]["by"] == "lane" and data["groups"][0]["label"] == "Lane 1"


def test_cli_empty_database_is_friendly(tmp_path: Path, capsys):
    Database.open(tmp_path / "h.db").close()
    code, out, _ = run(capsys, "--db", str(tmp_path / "h.db"))
    assert code == 0
    assert "No conversations in" in out and "heard sync" in out
    code, out, _ = run(capsys, "--db", str(tmp_path / "h.db"), "--since", "2026-01-01")
    assert code == 0 and "No conversations for all lanes, 2026-01-01 to today" in out


def test_cli_conversations_with_no_known_time_are_not_no_conversations(tmp_path: Path,
                                                                         capsys):
    with Database.open(tmp_path / "h.db") as d:
        device(d, "a", "S", "L", last_sync=time.time())
        for _ in range(3):
            conv(d, "a", None)  # the device clock was never set
        event_row(d, "a", 100, None, "records_dropped", 8, a=4, b=4)
    code, out, _ = run(capsys, "--db", str(tmp_path / "h.db"))
    text = " ".join(out.split())
    assert code == 0
    assert "No conversations in" not in text and "Plug a heard device in" not in text
    assert f"3 conversations are in {tmp_path / 'h.db'}, but none can be placed on a day" in text
    assert "Data quality" in text
    assert ("3 conversations have no known time: their device's clock was not set" in text
            and "Sync the device (heard sync): this computer then sets its clock" in text)
    assert "4 records (conversations or events) were lost" in text
    assert "nothing was lost" not in text


def test_cli_missing_database(tmp_path: Path, capsys):
    code, _, err = run(capsys, "--db", str(tmp_path / "none.db"))
    assert code == 1
    assert "there is no heard database at" in err and "heard sync" in err
    assert not (tmp_path / "none.db").exists()


def test_cli_empty_file_is_reported_and_left_alone(tmp_path: Path, capsys):
    for name in ("empty.db", "bempty.wav"):
        path = tmp_path / name
        path.write_bytes(b"")
        code, out, _ = run(capsys, "--db", str(path))
        # rich wraps long paths mid-word: compare without whitespace
        assert code == 0 and f"Noconversationsin{path}" in "".join(out.split())
        assert path.read_bytes() == b""  # no database made of it


def test_cli_file_that_is_not_a_database(tmp_path: Path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n" * 50)
    code, out, err = run(capsys, "--db", str(path))
    assert code == 1 and out == ""
    assert err.startswith(f"error: cannot use database {path}: file is not a database\n")
    assert path.read_text() == "shopping list\n" * 50


def test_cli_database_from_environment(tmp_path: Path, capsys, monkeypatch):
    with Database.open(tmp_path / "env.db") as d:
        four(d)
    monkeypatch.setenv("HEARD_DB", str(tmp_path / "env.db"))
    code, out, _ = run(capsys, "--json")
    assert code == 0 and json.loads(out)["summary"]["conversations"] == 4


@pytest.mark.parametrize("args, message", [
    (["--since", "2026-13-01"], "Invalid value for '--since': '2026-13-01' is not a date"),
    (["--until", "last tuesday"], "Invalid value for '--until'"),
    (["--since", "2026-11-05", "--until", "2026-11-01"],
     "Invalid value for --until: 2026-11-01 is before --since 2026-11-05"),
    (["--by", "month"], "Invalid value for '--by'"),
])
def test_cli_bad_options_name_the_option(tmp_path: Path, capsys, args: list[str],
                                         message: str):
    Database.open(tmp_path / "h.db").close()
    code, _, err = run(capsys, "--db", str(tmp_path / "h.db"), *args)
    assert code == 2 and message in err


def test_cli_relative_dates(tmp_path: Path, capsys):
    with Database.open(tmp_path / "h.db") as d:
        four(d)
    code, out, _ = run(capsys, "--db", str(tmp_path / "h.db"), "--json", "--since", "2w")
    today = dt.date.today()
    assert code == 0
    assert json.loads(out)["filters"]["since"] == (today - dt.timedelta(days=14)).isoformat()


def test_cli_by_employee_without_roster(tmp_path: Path, capsys):
    with Database.open(tmp_path / "h.db") as d:
        four(d)
    code, _, err = run(capsys, "--db", str(tmp_path / "h.db"), "--by", "employee")
    assert code == 1
    assert "--by employee needs a roster" in err and "heard roster import" in err


def test_cli_html_calls_write_html(tmp_path: Path, capsys, monkeypatch):
    import sys
    import types

    written: list[tuple[Report, Path]] = []
    fake = types.ModuleType("heard.report.html")
    fake.write_html = lambda report, path: written.append((report, path))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "heard.report.html", fake)
    with Database.open(tmp_path / "h.db") as d:
        four(d)
    code, out, err = run(capsys, "--db", str(tmp_path / "h.db"), "--html",
                         str(tmp_path / "r.html"))
    assert code == 0 and out == ""
    assert written[0][0].summary.conversations == 4 and written[0][1] == tmp_path / "r.html"
    assert "wrote" in err


def test_old_heard_refuses_this_database(tmp_path: Path):
    path = tmp_path / "new.db"
    Database.open(path).close()
    with pytest.raises(HeardError, match=rf"newer heard \(schema {len(MIGRATIONS)}\); this heard "
                       "knows up to 1"):
        Database.open(path, migrations=MIGRATIONS[:1])
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()
