"""Managing report data: naming devices, importing a roster, exporting, merging stores."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from pathlib import Path

import pytest
from test_report import MON, conv, conversation_record

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.cli import main
from heard.db import Database
from heard.errors import HeardError
from heard.report import Filters, build_report
from heard.report.export import CONVERSATION_COLUMNS, EVENT_COLUMNS
from heard.report.roster import read_csv
from heardcore import record

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("utc_zone")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A database with two devices, three conversations (one of unknown time), one event
    and one gap (records 5-7 of dev-a, found missing by a sync an hour after MON)."""
    where = tmp_path / "heard.db"
    with Database.open(where) as db:
        db.set_secret("dev-a", bytes(range(32)))
        db.set_secret("dev-b", bytes(32))
        conv(db, "dev-a", MON + 9 * 3600 + 0.25, e=4000, c=6000, ie=1, latency=700)
        conv(db, "dev-a", MON + 2 * 86400, e=1000, c=1000)
        conv(db, "dev-b", None, e=0, c=0, latency=-1)
        db.conn.execute(
            "INSERT INTO events (device_id, boot_id, seq, time_utc, time_source, uptime_ms, "
            "clock_s, name, code, a, b, text) VALUES ('dev-a', 1, 99, ?, 'device', 5, ?, "
            "'boot', 1, 1, 0, 'fw, \"0.1\"')", (MON + 60, MON + 60))
        db.conn.execute("INSERT INTO gaps (device_id, log_id, first_seq, last_seq, found_at) "
                        "VALUES ('dev-a', 'log-1', 5, 7, ?)", (MON + 3600,))
    return where


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# --- devices -------------------------------------------------------------------------------


def test_name_and_list_devices(path: Path, capsys):
    code, out, _ = run(capsys, "device", "name", "dev-a", "--store", "Main St", "--lane",
                       "Lane 3", "--db", str(path))
    assert code == 0 and out.strip() == "dev-a: store Main St, lane Lane 3, name -"
    code, out, _ = run(capsys, "device", "name", "dev-a", "--name", "Front", "--db", str(path))
    assert out.strip() == "dev-a: store Main St, lane Lane 3, name Front"  # others kept
    code, out, _ = run(capsys, "device", "name", "dev-a", "--lane", "", "--db", str(path))
    assert out.strip() == "dev-a: store Main St, lane -, name Front"  # "" clears
    code, out, _ = run(capsys, "device", "list", "--db", str(path))
    assert code == 0
    assert re.search(r"dev-a .*Main St.*Front.*never +2", out)
    assert re.search(r"dev-b .*never +1", out)


def test_naming_an_unknown_device_or_nothing(path: Path, capsys):
    code, _, err = run(capsys, "device", "name", "dev-zz", "--lane", "1", "--db", str(path))
    assert code == 1 and "no device 'dev-zz'" in err and "heard device list" in err
    code, _, err = run(capsys, "device", "name", "dev-a", "--db", str(path))
    assert code == 2 and "give at least one of --store, --lane, --name" in err


def test_naming_decides_the_report_lanes(path: Path):
    with Database.open(path) as db:
        db.name_device("dev-a", store="Main St", lane="Lane 3")
        r = build_report(db, Filters(None, None, "main st", None, None, "lane", 7))
    assert [(g.label, g.conversations) for g in r.groups] == [("Lane 3", 2)]


# --- roster --------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "roster.csv") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


GOOD = """Lane,Employee,Shift Start,shift_end
Lane 3,Ann,2026-11-02 09:00,2026-11-02 13:00
Lane 3,Bob,2026-11-02 13:00,2026-11-02 17:00

Lane 9,Cy,2026-11-02T22:00+00:00,2026-11-03 06:00
"""


def test_roster_import_and_report_by_employee(path: Path, tmp_path: Path, capsys):
    with Database.open(path) as db:
        db.name_device("dev-a", store="Main St", lane="Lane 3")
    code, out, err = run(capsys, "roster", "import", str(write(tmp_path, GOOD)), "--db",
                         str(path))
    assert code == 0 and "imported 3 shifts" in out
    assert "no device is named for lane Lane 9 yet" in err
    code, out, _ = run(capsys, "roster", "import", str(write(tmp_path, GOOD)), "--db",
                       str(path))
    assert "imported 0 shifts" in out and "(3 already there)" in out
    code, out, _ = run(capsys, "roster", "list", "--db", str(path))
    assert re.search(r"any +Lane 3 +Ann +2026-11-02 09:00 +2026-11-02 13:00", out)
    code, out, _ = run(capsys, "report", "--by", "employee", "--json", "--db", str(path))
    groups = {g["key"]: g["conversations"] for g in json.loads(out)["groups"]}
    assert groups == {"Ann": 1, "": 1}  # 09:00:00.25 is Ann's; two days later nobody's


def test_roster_errors_name_their_lines(tmp_path: Path):
    bad = write(tmp_path, """lane,employee,shift_start,shift_end
Lane 1,Ann,2026-11-02 09:00,2026-11-02 13:00
Lane 1,,2026-11-02 09:00,2026-11-02 13:00
Lane 1,Bob,11/02/2026 13:00,2026-11-02 17:00
Lane 1,Cy,2026-11-02 17:00,2026-11-02 16:00
Lane 1,Di,2026-11-02,2026-11-02 18:00
Lane 1,Ed,2026-11-02 08:00,2026-11-04 08:00
lane 1,Flo,2026-11-02 12:30,2026-11-02 14:00
""")
    with pytest.raises(HeardError) as info:
        read_csv(bad)
    text = str(info.value)
    assert "nothing was imported" in text
    assert "roster.csv line 3: no employee" in text
    assert ("roster.csv line 4: shift_start '11/02/2026 13:00' is not a date and time like "
            "2026-11-02 09:00") in text
    assert "line 5: the shift ends (2026-11-02 16:00) before it starts (2026-11-02 17:00)" in text
    assert "line 6: shift_start '2026-11-02' has no time of day" in text
    assert "line 7: a shift of more than 24 hours" in text
    assert ("Ann on Lane 1, 2026-11-02 09:00 to 2026-11-02 13:00 (roster.csv line 2) overlaps "
            "Flo on lane 1, 2026-11-02 12:30 to 2026-11-02 14:00 (roster.csv line 8)") in text


def test_roster_needs_its_columns(tmp_path: Path):
    with pytest.raises(HeardError, match="missing: shift_start, shift_end") as info:
        read_csv(write(tmp_path, "lane,employee,start,end\nL,A,x,y\n"))
    assert "lane,employee,shift_start,shift_end" in (info.value.hint or "")
    with pytest.raises(HeardError, match="no shifts"):
        read_csv(write(tmp_path, "lane,employee,shift_start,shift_end\n"))


def test_roster_stores_keep_same_named_lanes_apart(tmp_path: Path):
    rows = read_csv(write(tmp_path, """store,lane,employee,shift_start,shift_end
North,Lane 1,Ann,2026-11-02 09:00,2026-11-02 13:00
South,Lane 1,Bob,2026-11-02 09:00,2026-11-02 13:00
"""))
    assert [(r.line, r.shift.store, r.shift.employee) for r in rows] == [
        (2, "North", "Ann"), (3, "South", "Bob")]
    with pytest.raises(HeardError, match="overlaps"):
        read_csv(write(tmp_path, """store,lane,employee,shift_start,shift_end
North,Lane 1,Ann,2026-11-02 09:00,2026-11-02 13:00
,Lane 1,Bob,2026-11-02 09:00,2026-11-02 13:00
"""))


def test_roster_overlap_with_imported_shifts_and_replace(path: Path, tmp_path: Path, capsys):
    run(capsys, "roster", "import", str(write(tmp_path, GOOD)), "--db", str(path))
    later = write(tmp_path, """lane,employee,shift_start,shift_end
Lane 3,Dee,2026-11-02 16:00,2026-11-02 20:00
""", "later.csv")
    code, _, err = run(capsys, "roster", "import", str(later), "--db", str(path))
    assert code == 1
    assert ("Dee on Lane 3, 2026-11-02 16:00 to 2026-11-02 20:00 (later.csv line 2) overlaps "
            "Bob on Lane 3, 2026-11-02 13:00 to 2026-11-02 17:00 (already imported)") in err
    assert "--replace" in err
    code, out, _ = run(capsys, "roster", "import", str(later), "--replace", "--db", str(path))
    assert code == 0 and "removed the 3 shifts" in out and "imported 1 shifts" in out
    with Database.open(path) as db:
        assert db.conn.execute("SELECT employee FROM roster").fetchall() == [("Dee",)]


# --- export --------------------------------------------------------------------------------


def db_rows(path: Path, table: str) -> list[dict]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY device_id, seq")]
    conn.close()
    return rows


def test_export_json_round_trip(path: Path, tmp_path: Path, capsys):
    out = tmp_path / "all.json"
    code, _, err = run(capsys, "export", "--format", "json", "--out", str(out), "--db",
                       str(path))
    said = "exported 3 conversations, 1 events, 1 gaps (records lost) and 2 devices"
    assert code == 0 and said in err
    data = json.loads(out.read_text())
    assert (data["format"], data["version"]) == ("heard-export", 1)
    for exported, stored in zip(data["conversations"], db_rows(path, "conversations"),
                                strict=True):
        assert list(exported) == list(CONVERSATION_COLUMNS)
        for key, value in stored.items():
            assert exported[key] == value
    first = data["conversations"][0]
    assert first["start_local"] == "2026-11-02T09:00:00+00:00"
    assert data["conversations"][2]["start_local"] is None
    assert data["events"][0]["text"] == 'fw, "0.1"'
    assert list(data["events"][0]) == list(EVENT_COLUMNS)
    assert all("secret" not in d for d in data["devices"])
    assert data["gaps"] == [{"device_id": "dev-a", "store": None, "lane": None,
                             "device_name": None, "log_id": "log-1", "first_seq": 5,
                             "last_seq": 7, "found_utc": MON + 3600,
                             "found_local": "2026-11-02T01:00:00+00:00",
                             "lost_after_utc": None, "lost_after_local": None,
                             "lost_before_utc": None, "lost_before_local": None}]


def test_export_csv_round_trip(path: Path, tmp_path: Path, capsys):
    folder = tmp_path / "out"
    code, _, _ = run(capsys, "export", "--format", "csv", "--out", str(folder), "--db",
                     str(path))
    assert code == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "conversations.csv", "devices.csv", "events.csv", "gaps.csv"]
    with open(folder / "conversations.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    stored = db_rows(path, "conversations")
    assert len(rows) == len(stored) == 3
    for exported, row in zip(rows, stored, strict=True):
        for key, value in row.items():
            if value is None:
                assert exported[key] == ""
            elif isinstance(value, float):
                assert float(exported[key]) == value
            else:
                assert exported[key] == str(value)
    with open(folder / "events.csv", newline="") as f:
        assert next(csv.DictReader(f))["text"] == 'fw, "0.1"'
    with open(folder / "devices.csv", newline="") as f:
        assert "secret" not in next(csv.reader(f))
    with open(folder / "gaps.csv", newline="") as f:
        gap = next(csv.DictReader(f))
    assert (gap["first_seq"], gap["last_seq"], float(gap["found_utc"])) == ("5", "7", MON + 3600)


def test_export_dates_gaps_by_the_records_around_them(path: Path, tmp_path: Path, capsys):
    """Records 4 (a conversation from 00:10, 60 s long) and 8 (an event at 00:58) of log-1
    are around its gap 5-7; log-2 has records 1-2 then a gap 3-4, nothing after it."""
    with Database.open(path) as db:
        db.store_records("dev-a", "log-1", [
            conversation_record(4, MON + 600),
            bytes(record.event(8, 7, 0, MON + 3480, record.EVENT_MUTE_ON))])
        db.store_records("dev-a", "log-2", [conversation_record(s, MON + 60 * s) for s in (1, 2)])
        db.conn.execute("INSERT INTO gaps VALUES ('dev-a', 'log-2', 3, 4, ?)", (MON + 7200,))
    out = tmp_path / "all.json"
    assert run(capsys, "export", "--format", "json", "--out", str(out), "--db", str(path))[0] == 0
    lost = [{k: g[k] for k in g if k.startswith("lost_")}
            for g in json.loads(out.read_text())["gaps"]]
    assert lost == [
        {"lost_after_utc": MON + 660, "lost_after_local": "2026-11-02T00:11:00+00:00",
         "lost_before_utc": MON + 3480, "lost_before_local": "2026-11-02T00:58:00+00:00"},
        {"lost_after_utc": MON + 180, "lost_after_local": "2026-11-02T00:03:00+00:00",
         "lost_before_utc": None, "lost_before_local": None}]
    folder = tmp_path / "csv"
    assert run(capsys, "export", "--format", "csv", "--out", str(folder), "--db",
               str(path))[0] == 0
    with open(folder / "gaps.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["log_id"], r["lost_after_utc"], r["lost_before_utc"], r["lost_before_local"])
            for r in rows] == [("log-1", str(float(MON + 660)), str(float(MON + 3480)),
                                "2026-11-02T00:58:00+00:00"),
                               ("log-2", str(float(MON + 180)), "", "")]


def test_export_date_range_leaves_out_unknown_times(path: Path, tmp_path: Path, capsys):
    out = tmp_path / "day.json"
    run(capsys, "export", "--format", "json", "--since", "2026-11-02", "--until",
        "2026-11-02", "--out", str(out), "--db", str(path))
    data = json.loads(out.read_text())
    assert [c["seq"] for c in data["conversations"]] == [db_rows(path, "conversations")[0]["seq"]]
    assert len(data["events"]) == 1 and len(data["gaps"]) == 1
    run(capsys, "export", "--format", "json", "--since", "2026-11-03", "--out", str(out),
        "--db", str(path))
    assert json.loads(out.read_text())["gaps"] == []  # found on the 2nd


def test_export_creates_folders_and_reports_paths_it_cannot_write(path: Path,
                                                                    tmp_path: Path, capsys):
    out = tmp_path / "new" / "dir" / "x.json"
    code, _, err = run(capsys, "export", "--format", "json", "--out", str(out), "--db",
                       str(path))
    assert code == 0 and json.loads(out.read_text())["format"] == "heard-export"
    afile = tmp_path / "afile"
    afile.write_text("")
    for fmt, where in (("json", tmp_path / "new"), ("csv", afile / "sub"),
                       ("json", afile / "x.json")):
        code, _, err = run(capsys, "export", "--format", fmt, "--out", str(where), "--db",
                           str(path))
        assert code == 1 and err.startswith(f"error: {where}")
        assert "cannot write" in err and len(err.splitlines()) == 1


def test_reading_commands_leave_an_empty_file_alone(tmp_path: Path, capsys):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert run(capsys, "device", "list", "--db", str(empty))[0] == 0
    assert run(capsys, "roster", "list", "--db", str(empty))[0] == 0
    code, out, _ = run(capsys, "export", "--format", "json", "--db", str(empty))
    assert code == 0 and json.loads(out)["conversations"] == []
    assert empty.read_bytes() == b""


def test_export_to_stdout_and_errors(path: Path, tmp_path: Path, capsys):
    code, out, _ = run(capsys, "export", "--format", "json", "--db", str(path))
    assert code == 0 and json.loads(out)["devices"][0]["device_id"] == "dev-a"
    code, _, err = run(capsys, "export", "--db", str(path))
    assert code == 2 and "Missing option '--format'" in err
    code, _, err = run(capsys, "export", "--format", "csv", "--since", "soon", "--db",
                       str(path))
    assert code == 2 and "Invalid value for '--since'" in err
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    code, _, err = run(capsys, "export", "--format", "csv", "--out", str(afile), "--db",
                       str(path))
    assert code == 1 and "CSV export writes a folder" in err


# --- a chain -------------------------------------------------------------------------------


def merge_sql() -> tuple[str, str]:
    """The statements docs/REPORTS.md gives for merging store databases."""
    doc = (ROOT / "docs" / "REPORTS.md").read_text()
    block = doc.split("<!-- merge-sql:begin -->")[1].split("<!-- merge-sql:end -->")[0]
    sql = block.split("```sql")[1].split("```")[0]
    first, rest = sql.split("-- then for every other store's database:")
    return first, rest


def store_db(path: Path, store: str, devices: int, day: int) -> None:
    with Database.open(path) as db:
        for i in range(devices):
            db.set_secret(f"{store}-{i}", bytes(32))
            db.name_device(f"{store}-{i}", store=store, lane=f"Lane {i + 1}")
            conv(db, f"{store}-{i}", MON + day * 86400 + 3600)
        db.conn.execute("INSERT INTO roster (store, lane, employee, shift_start, shift_end) "
                        "VALUES (?, 'Lane 1', ?, ?, ?)",
                        (store, f"{store} lead", MON + day * 86400, MON + day * 86400 + 7200))


def test_documented_merge_of_store_databases(tmp_path: Path):
    first, each = merge_sql()
    store_db(tmp_path / "chain.db", "North", 2, 0)
    store_db(tmp_path / "store-2.db", "South", 3, 1)
    conn = sqlite3.connect(tmp_path / "chain.db")
    conn.executescript(first)
    # the recipe names the store's database by a path relative to where it runs
    conn.executescript(each.replace("'store-2.db'", f"'{tmp_path / 'store-2.db'}'"))
    conversations_again = each.split("INSERT OR IGNORE INTO conversations")[1].split(";")[0]
    conn.executescript(f"ATTACH '{tmp_path / 'store-2.db'}' AS store; INSERT OR IGNORE INTO "
                       f"conversations {conversations_again}; DETACH store;")
    conn.close()
    with Database.open(tmp_path / "chain.db") as db:
        assert db.conn.execute("SELECT count(*) FROM devices WHERE secret IS NOT NULL"
                               ).fetchone()[0] == 0
        r = build_report(db, Filters(None, None, None, None, None, "lane", 7))
        assert [(g.label, g.conversations) for g in r.groups] == [
            ("North · Lane 1", 1), ("North · Lane 2", 1), ("South · Lane 1", 1),
            ("South · Lane 2", 1), ("South · Lane 3", 1)]
        assert r.summary.conversations == 5  # merging the same store twice adds nothing
        by_employee = build_report(db, Filters(None, None, None, None, None, "employee", 7))
        assert {g.key: g.conversations for g in by_employee.groups} == {
            "North lead": 1, "South lead": 1, "": 3}


def test_records_are_not_part_of_reports(path: Path):
    """Reports read decoded conversations only: raw records may be absent (merged DBs)."""
    raw = bytes(record.event(1, 1, 0, 0, record.EVENT_BOOT))
    with Database.open(path) as db:
        db.store_records("dev-a", "log", [raw])
        db.conn.execute("DELETE FROM records")
        r = build_report(db, Filters("2026-11-01", None, None, None, None, "day", 7))
    assert r.summary.conversations == 2
    assert r.first_conversation == MON + 9 * 3600  # whole seconds
