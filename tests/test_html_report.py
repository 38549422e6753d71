"""The HTML report: a self-contained page with every chart, checked in headless Chromium.

The browser test renders a report of four lanes over five weeks (a roster, a lane whose
employee talk share rose lately, noisy and stale devices), opens it in Chromium, checks
that every chart is drawn and no script error or outside resource appeared, and keeps a
screenshot at build/test-artifacts/report.png.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_report import records_around_a_gap

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.cli import main
from heard.db import Database
from heard.report import Filters, build_report
from heard.report.html import render_html, write_html
from heard.report.model import PATIENCE_BINS, Report
from heardcore import record

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "build" / "test-artifacts"
DAY = 86_400
END = int(dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc).timestamp())  # a Monday, 00:00
DAYS = 35
LANES = ("Lane 1", "Lane 2", "Lane 3", "Lane 4")
ODD_NAME = 'Jo <b>"Bo"</b> & $Co'  # must come out escaped, and not as mathtext
CHARTS = ("talk-share", "trend", "interruptions", "patience", "lanes", "employees", "quality")


@pytest.fixture(autouse=True, scope="module")
def utc() -> Iterator[None]:
    """Reports use the host's zone: these tests pin it to UTC."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        time.tzset()
        yield
    time.tzset()


def _insert(db: Database, device_id: str, rows: list[dict[str, int]], starts: np.ndarray,
            first_seq: int = 1) -> None:
    names = ("device_id", "boot_id", "seq", "start_utc", "time_source",
             *record.CONVERSATION_FIELDS, "talk_ratio")
    sql = (f"INSERT INTO conversations ({', '.join(names)}) "
           f"VALUES ({', '.join('?' * len(names))})")
    values = []
    for i, (fields, start) in enumerate(zip(rows, starts.tolist(), strict=True)):
        full = dict.fromkeys(record.CONVERSATION_FIELDS, 0) | fields
        talk = full["employee_ms"] + full["customer_ms"]
        values.append((device_id, 1, first_seq + i, start, "device", *full.values(),
                       full["employee_ms"] / talk if talk else None))
    db.conn.executemany(sql, values)


def sample_db(path: Path, seed: int = 5) -> Path:
    """Four lanes of one store over 35 days, 12 conversations a lane a day, a roster of two
    shifts; Lane 3's employees talk more in the last week; Lane 4 was last synced 9 days
    ago and dropped records."""
    rng = np.random.default_rng(seed)
    with Database.open(path) as db, db.transaction() as c:
        for k, lane in enumerate(LANES):
            device_id = f"heard-{k + 1:02d}"
            synced = END - (9 if k == 3 else 0.2) * DAY
            c.execute("INSERT INTO devices (device_id, name, store, lane, last_sync) "
                      "VALUES (?, ?, 'Main St', ?, ?)", (device_id, f"Counter {k + 1}", lane,
                                                         synced))
            n = DAYS * 12
            day = np.repeat(np.arange(DAYS), 12)
            starts = END - (DAYS - day) * DAY + rng.uniform(9 * 3600, 19 * 3600, n)
            starts.sort()
            habit = np.full(n, 0.44 + 0.04 * k)
            if lane == "Lane 3":
                habit[day >= DAYS - 7] = 0.68
            share = np.clip(rng.normal(habit, 0.1), 0.03, 0.97)
            talk = rng.integers(20_000, 90_000, n)
            employee = (talk * share).astype(int)
            latency = rng.gamma(3.0, 250 + 80 * k, n).astype(int)
            latency[rng.random(n) < 0.05] = -1
            flags = np.where(rng.random(n) < 0.06, 1, 0) | np.where(rng.random(n) < 0.03, 4, 0)
            rows = [dict(employee_ms=int(e), customer_ms=int(t - e), duration_ms=int(t) + 5000,
                         interruptions_by_employee=int(rng.poisson(0.2 + 0.1 * k)),
                         interruptions_by_customer=int(rng.poisson(0.35)),
                         backchannels_by_employee=int(rng.poisson(2)),
                         backchannels_by_customer=int(rng.poisson(3)),
                         longest_employee_monologue_ms=int(e * 0.4),
                         longest_customer_story_ms=int((t - e) * 0.4),
                         median_latency_ms=int(w), flags=int(f))
                    for e, t, w, f in zip(employee, talk, latency, flags, strict=True)]
            _insert(db, device_id, rows, starts)
        c.execute("INSERT INTO events (device_id, boot_id, seq, time_utc, time_source, "
                  "uptime_ms, clock_s, name, code, a, b, text) VALUES ('heard-04', 1, 0, ?, "
                  "'device', 0, 0, 'records_dropped', 8, 6, 0, '')", (END - 12 * DAY,))
        people = ["Alex", "Sam", "Robin", "Kim", "Noor", "Lee", "Ana", ODD_NAME]
        shifts = []
        for d in range(DAYS):
            day_start = END - (DAYS - d) * DAY
            for k, lane in enumerate(LANES):
                shifts += [("Main St", lane, people[(2 * k + d // 7) % 8], day_start + 9 * 3600,
                            day_start + 14 * 3600),
                           ("Main St", lane, people[(2 * k + 1 + d // 7) % 8],
                            day_start + 14 * 3600, day_start + 19 * 3600)]
        c.executemany("INSERT INTO roster (store, lane, employee, shift_start, shift_end, "
                      "source) VALUES (?, ?, ?, ?, ?, 'test')", shifts)
    return path


def build(path: Path, **filters: str) -> Report:
    with Database.open(path) as db:
        return build_report(db, Filters(filters.get("since"), filters.get("until"),
                                        filters.get("store"), filters.get("lane"), None, None,
                                        7), now=END)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_db(tmp_path_factory.mktemp("html") / "heard.db")


@pytest.fixture(scope="module")
def page(sample: Path) -> str:
    return render_html(build(sample))


# --- the page ------------------------------------------------------------------------------


def test_page_has_every_part(page: str):
    for key in CHARTS:
        assert re.search(rf'<figure id="{key}">.*?<svg class="chart" viewBox="[^"]+"', page,
                         re.S), key
    assert page.count("<svg") == len(CHARTS)
    for heading in ("In short", "What stands out", "Changes to look at", "Charts",
                    "The numbers behind the charts", "Data quality", "How to read this"):
        assert f"<h2>{heading}</h2>" in page
    assert "research: ~43%" not in page  # chart text is drawn as paths, not page text
    assert "~43% in conversations that go well" in page
    # drift: Lane 3 rose, against its own past and against its peers
    assert re.search(r"Lane 3&#x27;s employee talk share rose from 5\d% to 6\d%", page)
    assert "Customers were interrupted in" in page
    assert "Not synced for 7 days or more: Counter 4" in page
    assert ("6 records (conversations or events) were lost because a device&#x27;s memory "
            "was full") in page


def test_page_is_self_contained(page: str):
    assert not re.search(r"https?:|//[a-z]", page, re.I)
    for tag in ("<script", "<link", "<img", "<iframe", "<object", "@import", "url(http",
                "src="):
        assert tag not in page.lower()
    refs = set(re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', page))
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "ids repeat across charts"
    assert all(r in ids for pair in refs for r in pair if r)


def test_names_are_escaped(page: str):
    assert ODD_NAME not in page
    assert "Jo &lt;b&gt;&quot;Bo&quot;&lt;/b&gt; &amp; $Co" in page


def test_empty_database_says_there_is_no_data(tmp_path: Path):
    Database.open(tmp_path / "empty.db").close()
    out = tmp_path / "r.html"
    write_html(build(tmp_path / "empty.db"), out)
    text = out.read_text()
    assert "There is no data yet" in text and "heard sync" in text and "<svg" not in text


def test_filter_without_conversations(sample: Path):
    text = render_html(build(sample, since="2027-01-01"))
    assert "No conversations for all lanes" in text and "<svg" not in text


def test_one_lane_one_day(tmp_path: Path):
    """A first sync: a handful of conversations on one lane, one day; no roster."""
    with Database.open(tmp_path / "one.db") as db:
        db.set_secret("heard-9", bytes(32))
        rows = [dict(employee_ms=e, customer_ms=c, median_latency_ms=w,
                     interruptions_by_employee=i) for e, c, w, i in
                ((3000, 1000, 400, 1), (2000, 2000, -1, 0), (1000, 3000, 900, 0))]
        _insert(db, "heard-9", rows, np.array([END + 3600, END + 4000, END + 5000]))
    text = render_html(build(tmp_path / "one.db"))
    for key in ("talk-share", "trend", "interruptions", "patience", "quality"):
        assert f'<figure id="{key}">' in text
    assert '<figure id="lanes">' not in text and '<figure id="employees">' not in text
    assert "Customers interrupted</div><div class=\"value\">1 of 3" in text


def test_losses_and_conversations_of_unknown_time_are_on_the_page(tmp_path: Path):
    with Database.open(tmp_path / "u.db") as db:
        db.conn.execute("INSERT INTO devices (device_id, name, store, lane, last_sync) "
                        "VALUES ('heard-7', 'Front', 'Main St', 'Lane 1', ?)", (END - DAY,))
        _insert(db, "heard-7", [dict(employee_ms=1000, customer_ms=1000)] * 2,
                np.array([None, None], dtype=object))  # the device clock was never set
        db.conn.execute("INSERT INTO gaps VALUES ('heard-7', 'log', 5, 7, ?)", (END - DAY,))
    text = render_html(build(tmp_path / "u.db"))
    assert "There is no data yet" not in text
    assert "2 conversations have reached this computer, but none can be placed" in text
    assert "2 conversations have no known time" in text and "sets its clock" in text
    assert "<th>Records missing at sync</th>" in text and "<td>3</td>" in text
    assert ("3 records never reached this computer: a sync found them missing, gone from the "
            "device before it was synced or damaged on it: Front (Main St · Lane 1): 3, "
            "seq 5-7, found on Sun 22 Nov 2026 at 00:00.") in text
    assert "nothing was lost" not in text


def test_a_gap_is_dated_by_the_records_around_it(tmp_path: Path):
    with Database.open(tmp_path / "g.db") as db:
        db.conn.execute("INSERT INTO devices (device_id, name, store, lane, last_sync) "
                        "VALUES ('heard-7', 'Front', 'Main St', 'Lane 1', ?)", (END - DAY,))
        records_around_a_gap(db, "heard-7")
    text = render_html(build(tmp_path / "g.db"))
    assert ("3 records never reached this computer: a sync found them missing, gone from the "
            "device before it was synced or damaged on it: Front (Main St · Lane 1): 3, "
            "seq 4-6, lost between 09:21 and 10:01 on Mon 2 Nov 2026.") in text


def test_patience_histogram_in_the_model(tmp_path: Path):
    with Database.open(tmp_path / "p.db") as db:
        db.set_secret("d", bytes(32))
        waits = (-1, 0, 249, 250, 1000, 3749, 3750, 60_000)
        _insert(db, "d", [dict(employee_ms=1, customer_ms=1, median_latency_ms=w)
                          for w in waits], END + np.arange(len(waits)))
    s = build(tmp_path / "p.db").summary
    assert len(s.patience_bins) == PATIENCE_BINS
    assert s.patience_bins[0] == 2 and s.patience_bins[1] == 1 and s.patience_bins[4] == 1
    assert s.patience_bins[14] == 1 and s.patience_bins[15] == 2
    assert sum(s.patience_bins) == s.patience_conversations == 7


def test_cli_writes_the_page(sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "sub" / "report.html"
    code = main(["report", "--db", str(sample), "--html", str(out)])
    captured = capsys.readouterr()
    assert code == 0 and captured.out == ""
    assert f"wrote {out}" in captured.err
    assert out.read_text().count("<svg") == len(CHARTS)


# --- in a browser --------------------------------------------------------------------------

CHECK = """<script>
(function () {
  var out = {errors: [], charts: []};
  window.addEventListener('error', function (e) { out.errors.push(String(e.message)); });
  document.querySelectorAll('figure svg.chart').forEach(function (svg) {
    var box = svg.getBBox(), rect = svg.getBoundingClientRect();
    out.charts.push({id: svg.closest('figure').id, bbox: [box.width, box.height],
                     rect: [rect.width, rect.height],
                     shapes: svg.querySelectorAll('path, use').length});
  });
  out.resources = performance.getEntriesByType('resource').map(function (r) {
    return r.name; });
  out.height = document.documentElement.scrollHeight;
  console.log('heard-check done');
  var pre = document.createElement('pre');
  pre.id = 'heard-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing on CI: `make setup` (scripts/setup.sh) installs it")
        pytest.skip("chromium is not installed (scripts/setup.sh installs the Debian package "
                    "`chromium`)")
    return found


def run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
         "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=180, check=False)


def test_chromium_draws_every_chart(sample: Path, tmp_path: Path):
    browser = chromium()
    report = tmp_path / "report.html"
    write_html(build(sample), report)
    checked = tmp_path / "checked.html"
    checked.write_text(report.read_text().replace("</body>", CHECK + "\n</body>"))

    dom = run_chromium(browser, tmp_path / "profile", "--virtual-time-budget=5000",
                       "--dump-dom", checked.as_uri())
    found = re.search(r'<pre id="heard-check">(.*?)</pre>', dom.stdout, re.S)
    assert found, f"no check output; chromium said:\n{dom.stderr[-3000:]}"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert result["errors"] == []
    assert result["resources"] == []  # nothing loaded from outside the file
    assert [c["id"] for c in result["charts"]] == list(CHARTS)
    for chart in result["charts"]:
        assert min(chart["bbox"]) > 50 and chart["rect"][0] > 500, chart
        assert chart["shapes"] > 20, chart
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert any("heard-check done" in line for line in console), dom.stderr[-3000:]
    assert not [line for line in console if "heard-check done" not in line], console

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    height = min(int(result["height"]) + 20, 16_000)
    run_chromium(browser, tmp_path / "profile", f"--window-size=1280,{height}",
                 f"--screenshot={shot}", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 50_000
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, height)
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(np.int32)
    packed = pixels[:, 0] << 16 | pixels[:, 1] << 8 | pixels[:, 2]
    assert len(np.unique(packed)) > 200, "the screenshot is (nearly) blank"
    employee_blue = np.all(np.abs(pixels - (0x2F, 0x6D, 0xB5)) <= 6, axis=1)
    assert employee_blue.sum() > 2000, "the charts' bars are not on the screenshot"
