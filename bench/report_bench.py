"""Report figures for `make bench`: `heard report` on a synthetic chain-sized database.

The database (default 1,000,000 conversations on 500 lanes of 20 stores over 120 days, a
two-shift roster, a few devices that dropped records) is generated with numpy and
``executemany`` straight into the tables, not through the record path, and cached under
build/report-bench/ keyed by its parameters, so only the first run pays for it.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import numpy as np
from rich.console import Console

from heard.db import MIGRATIONS, Database
from heard.report import Filters, build_report
from heard.report.model import GroupBy
from heard.report.terminal import render
from heardcore import record

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "report-bench"
GENERATOR = 1  # bump when the generated data changes
END = dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc).timestamp()  # a Monday
LANES_PER_STORE = 25


def _lane_rows(rng: np.random.Generator, lane: int, n: int, days: int) -> list[tuple]:
    """n conversations of one lane: a lane's own habits, some lanes changing lately."""
    day = rng.integers(0, days, n)
    start = END - days * 86400 + day * 86400 + rng.uniform(8 * 3600, 20 * 3600, n)
    start.sort()
    habit = 0.40 + 0.25 * rng.random()
    if lane % 50 == 7:  # a few lanes whose employees talk more in the last week
        habit_now = np.where(start >= END - 7 * 86400, habit + 0.15, habit)
    else:
        habit_now = np.full(n, habit)
    share = np.clip(rng.normal(habit_now, 0.12), 0.02, 0.98)
    talk = rng.lognormal(np.log(30_000), 0.5, n).astype(np.int64)
    employee = (talk * share).astype(np.int64)
    customer = talk - employee
    duration = talk + rng.integers(2_000, 20_000, n)
    latency = rng.integers(200, 1_800, n)
    latency[rng.random(n) < 0.05] = -1
    flags = np.where(rng.random(n) < 0.03, 1, 0) | np.where(rng.random(n) < 0.01, 4, 0)
    columns = [
        (start - END + days * 86400).astype(np.int64) * 1000,  # uptime_ms
        start.astype(np.int64), duration, employee, customer, (talk * 0.05).astype(np.int64),
        rng.integers(2, 30, n), rng.integers(1, 25, n), rng.poisson(0.4, n),
        rng.poisson(0.2, n), rng.poisson(1.5, n), rng.poisson(2.0, n),
        (employee * rng.uniform(0.2, 0.7, n)).astype(np.int64),
        (customer * rng.uniform(0.2, 0.7, n)).astype(np.int64),
        latency, rng.integers(0, 12, n), flags, rng.integers(5, 30, n), np.zeros(n, np.int64),
        np.zeros(n, np.int64), np.full(n, 2),
    ]
    device = f"bench-{lane:04d}"
    fields = list(zip(*(c.tolist() for c in columns), strict=True))
    ratio = (employee / np.maximum(talk, 1)).tolist()
    times = start.tolist()
    return [(device, 1, i + 1, times[i], "device", *fields[i], ratio[i]) for i in range(n)]


def build(path: Path, conversations: int, lanes: int, days: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    names = ("device_id", "boot_id", "seq", "start_utc", "time_source",
             *record.CONVERSATION_FIELDS, "talk_ratio")
    insert = (f"INSERT INTO conversations ({', '.join(names)}) "
              f"VALUES ({', '.join('?' * len(names))})")
    with Database.open(tmp) as db, db.transaction() as c:
        for lane in range(lanes):
            store, number = divmod(lane, LANES_PER_STORE)
            device = f"bench-{lane:04d}"
            c.execute("INSERT INTO devices (device_id, store, lane, firmware, first_seen, "
                      "last_sync) VALUES (?, ?, ?, '0.1.0', ?, ?)",
                      (device, f"Store {store + 1:02d}", f"Lane {number + 1}",
                       END - days * 86400, END - (30 * 86400 if lane % 97 == 3 else 3600)))
            n = conversations // lanes + (1 if lane < conversations % lanes else 0)
            c.executemany(insert, _lane_rows(rng, lane, n, days))
            if lane % 61 == 5:
                c.execute("INSERT INTO events (device_id, boot_id, seq, time_utc, time_source, "
                          "uptime_ms, clock_s, name, code, a, b, text) VALUES (?, 1, 0, ?, "
                          "'device', 0, 0, 'records_dropped', 8, 12, 12, '')",
                          (device, END - 5 * 86400))
        shifts = []
        for lane in range(lanes):
            store, number = divmod(lane, LANES_PER_STORE)
            for d in range(days):
                day = END - (days - d) * 86400
                for s, (a, b) in enumerate(((8, 14), (14, 20))):
                    who = f"Employee {store + 1:02d}-{(number * 2 + s + d) % 60 + 1:02d}"
                    shifts.append((f"Store {store + 1:02d}", f"Lane {number + 1}", who,
                                   int(day + a * 3600), int(day + b * 3600)))
        c.executemany("INSERT INTO roster (store, lane, employee, shift_start, shift_end, "
                      "source) VALUES (?, ?, ?, ?, ?, 'bench')", shifts)
    os.replace(tmp, path)


def database(conversations: int = 1_000_000, lanes: int = 500, days: int = 120,
             seed: int = 1) -> Path:
    """The cached synthetic database for these parameters (built on first use)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / (f"chain-c{conversations}-l{lanes}-d{days}-s{seed}"
                    f"-g{GENERATOR}-v{len(MIGRATIONS)}.db")
    if not path.exists():
        start = time.perf_counter()
        build(path, conversations, lanes, days, seed)
        print(f"(built {path.relative_to(ROOT)} in {time.perf_counter() - start:.0f} s)",
              flush=True)
    return path


def _in_process(path: Path, by: str, runs: int = 3) -> float:
    """Median seconds to build and render the terminal report (database opened each run)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        with Database.open(path) as db:
            report = build_report(db, Filters(None, None, None, None, None,
                                              cast(GroupBy, by), 7))
        render(report, Console(file=io.StringIO(), width=140))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _command(path: Path, *args: str, runs: int = 3) -> float:
    """Median wall seconds of the whole `heard report` command (Python start and imports
    included)."""
    heard = Path(sys.executable).with_name("heard")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(heard), "report", "--db", str(path), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report_speed(conversations: int = 1_000_000, lanes: int = 500) -> str:
    path = database(conversations, lanes)
    with Database.open(path) as db:
        size = db.conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
    rows = [
        ("whole command, all stores, 120 days: one row per week (target < 5 s)",
         f"**{_command(path):.2f}**"),
        ("whole command, all stores, one row per day",
         f"{_command(path, '--by', 'day'):.2f}"),
        ("whole command, one store, from 1 Oct",
         f"{_command(path, '--since', '2026-10-01', '--store', 'Store 03'):.2f}"),
        ("build + render in process, by day", f"{_in_process(path, 'day'):.2f}"),
        ("build + render in process, by lane (500 rows)", f"{_in_process(path, 'lane'):.2f}"),
        ("build + render in process, by employee", f"{_in_process(path, 'employee'):.2f}"),
    ]
    html = importlib.util.find_spec("heard.report.html") is not None
    if html:
        seconds = _command(path, "--html", str(CACHE / "bench-report.html"))
        rows.append(("whole command, all stores, `--html` (the page with its charts)",
                     f"{seconds:.2f}"))
    lines = [
        (f"Synthetic chain: {size:,} conversations on {lanes} lanes of "
         f"{lanes // LANES_PER_STORE} stores over 120 days, a two-shift roster "
         f"({path.stat().st_size / 1e6:.0f} MB of SQLite)."),
        "",
        "| `heard report` | seconds |",
        "| --- | --- |",
        *(f"| {what} | {value} |" for what, value in rows),
        "",
        ("Median of 3 runs each. Whole command: `heard report --db ...` as a user runs it "
         "(Python start and imports included), output to /dev/null. In process: "
         "`build_report` and the terminal renderer, the database opened each time. The "
         "operating system's file cache is warm."),
    ]
    if not html:
        lines.append("The HTML report (`heard.report.html`) is not built yet, so not timed.")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report_speed(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
