"""``heard demo``: two emulated lanes synced into a fresh database, and the report written."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from heard.cli import main
from heard.db import Database
from heard.demo import LANES, STORE
from heard.report import Filters, build_report

pytestmark = [pytest.mark.micropython, pytest.mark.timeout(300)]


def test_demo_two_lanes_to_html_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "demo"
    days = {dt.date.today()}
    start = time.time()
    assert main(["demo", "--out", str(out), "--n", "2", "--seed", "11"]) == 0
    days.add(dt.date.today())  # in case the demo ran over midnight
    printed = capsys.readouterr().out

    with Database.open(out / "heard.db") as db:
        rows = db.conn.execute(
            "SELECT d.store, d.lane, count(c.seq), min(c.start_utc), max(c.start_utc), "
            "sum(c.time_source = 'inferred') FROM devices d JOIN conversations c "
            "USING (device_id) GROUP BY d.device_id ORDER BY d.lane").fetchall()
        report = build_report(db, Filters(None, None, None, None, None, None, 7))
    assert [(r[0], r[1]) for r in rows] == [(STORE, lane) for lane in LANES]
    for _, _, count, first, last, inferred in rows:
        assert count >= 2 and inferred == count  # the device clock was set only at sync
        # inferred from the boot's offset at sync: the audio played just before it
        assert start - 900 < first <= last <= time.time()
        assert dt.datetime.fromtimestamp(last).date() in days

    assert [g.label for g in report.lanes] == list(LANES)
    assert report.summary.conversations == sum(r[2] for r in rows)
    page = out / "report.html"
    text = page.read_text()
    assert text.count('<svg class="chart"') >= 5 and "Lane 2" in text
    for line in ("heard sync --port", "--html", "What stands out", str(page.resolve())):
        assert line in printed.replace("\n", ""), line
