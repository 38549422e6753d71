"""The host database: migrations, idempotent storing, bad records, wall-time inference."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.db import MIGRATIONS, Database
from heard.errors import HeardError
from heardcore import record

DEV = "heard-0001"
LOG = "6f1e"
BOOT = 0x1234ABCD


def conversation(seq: int, uptime_ms: int = 60_000, clock_s: int = 0, boot: int = BOOT,
                 employee_ms: int = 3000, customer_ms: int = 1000) -> bytes:
    conv = SimpleNamespace(
        start_ms=0, end_ms=10_000, talk_ms=(employee_ms, customer_ms), overlap_ms=100,
        turns=4, switches=3, interruptions=(1, 0), backchannels=(0, 2),
        longest_employee_monologue_ms=2000, longest_customer_story_ms=900,
        median_latency_ms=250, latency_count=3, flags=0, snr_db=18, clipped_samples=0,
        lost_ms=0)
    return bytes(record.conversation(seq, boot, uptime_ms, clock_s, conv, 2))


def event(seq: int, uptime_ms: int = 1000, clock_s: int = 0, boot: int = BOOT) -> bytes:
    return bytes(record.event(seq, boot, uptime_ms, clock_s, record.EVENT_BOOT, 1, 0, "0.1.0"))


@pytest.fixture
def db(tmp_path: Path):
    with Database.open(tmp_path / "heard.db") as d:
        yield d


def test_fresh_database_has_every_table(tmp_path: Path):
    path = tmp_path / "sub" / "heard.db"
    with Database.open(path) as d:
        assert d.schema_version() == len(MIGRATIONS)
        tables = {r[0] for r in d.conn.execute("SELECT name FROM sqlite_master "
                                               "WHERE type = 'table'")}
    assert {"schema_version", "devices", "records", "conversations", "events", "boots",
            "cursors"} <= tables
    with Database.open(path) as d:  # reopening changes nothing
        assert d.schema_version() == len(MIGRATIONS)


def test_conversation_table_has_every_record_field(db: Database):
    columns = {r[1] for r in db.conn.execute("PRAGMA table_info(conversations)")}
    assert set(record.CONVERSATION_FIELDS) | {"start_utc", "time_source", "talk_ratio"} \
        <= columns


def test_empty_sqlite_file_is_upgraded(tmp_path: Path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # a v0 database: nothing in it
    with Database.open(path) as d:
        assert d.schema_version() == len(MIGRATIONS)


def test_older_schema_is_upgraded_step_by_step(tmp_path: Path):
    path = tmp_path / "heard.db"
    with Database.open(path) as d:
        d.set_secret(DEV, bytes(32))

    def add_notes(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE devices ADD COLUMN notes TEXT")
        conn.execute("UPDATE devices SET notes = 'migrated'")

    with Database.open(path, migrations=(*MIGRATIONS, add_notes)) as d:
        assert d.schema_version() == len(MIGRATIONS) + 1
        assert d.conn.execute("SELECT notes FROM devices").fetchone()[0] == "migrated"
        assert d.secret(DEV) == bytes(32)


def test_failed_migration_leaves_the_older_schema(tmp_path: Path):
    path = tmp_path / "heard.db"
    Database.open(path).close()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Database.open(path, migrations=(*MIGRATIONS, broken))
    with Database.open(path) as d:
        assert d.schema_version() == len(MIGRATIONS)
        assert d.conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'"
                              ).fetchone() is None


def test_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "heard.db"
    Database.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(HeardError, match=r"newer heard \(schema 99\); this heard knows up to "
                       rf"{len(MIGRATIONS)}") as info:
        Database.open(path)
    assert info.value.hint == "upgrade heard"


def test_not_a_database_is_a_heard_error(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(HeardError, match="cannot use database"):
        Database.open(path)


def test_open_to_read_creates_and_changes_nothing(tmp_path: Path):
    blank = tmp_path / "blank.wav"
    blank.write_bytes(b"")
    with Database.open_to_read(blank) as d:  # a 0-byte file reads as an empty database
        assert d.path == blank and d.is_empty()
        assert d.schema_version() == len(MIGRATIONS)
    assert blank.read_bytes() == b""
    text = tmp_path / "notes.txt"
    text.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(HeardError, match="cannot use database .*not a database"):
        Database.open_to_read(text)
    assert text.read_bytes() == b"this is not sqlite at all" * 100
    foreign = tmp_path / "other.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    with pytest.raises(HeardError, match="not one of heard's"):
        Database.open_to_read(foreign)
    assert foreign.read_bytes() == before
    with pytest.raises(HeardError, match="cannot open database"):
        Database.open_to_read(tmp_path / "none.db")
    assert not (tmp_path / "none.db").exists()


def test_open_to_read_reads_a_heard_database_and_upgrades_an_old_one(tmp_path: Path):
    path = tmp_path / "heard.db"
    with Database.open(path, migrations=MIGRATIONS[:1]) as d:
        d.set_secret(DEV, bytes(32))
    with Database.open_to_read(path) as d:
        assert d.schema_version() == len(MIGRATIONS) and d.secret(DEV) == bytes(32)
    with Database.open_to_read(path) as d:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            d.set_secret(DEV, None)
    with Database.open(path) as d:
        assert d.secret(DEV) == bytes(32)


def test_is_empty(db: Database):
    assert db.is_empty()
    db.set_secret(DEV, None)
    assert not db.is_empty()


def test_secrets(db: Database):
    assert db.secret(DEV) is None
    db.set_secret(DEV, b"\x01" * 32)
    assert db.secret(DEV) == b"\x01" * 32
    with pytest.raises(HeardError, match="32 bytes"):
        db.set_secret(DEV, b"short")


def test_store_is_idempotent(db: Database):
    raws = [event(1), conversation(2), conversation(3)]
    first = db.store_records(DEV, LOG, raws, next_seq=4)
    assert (first.new, first.duplicates, first.bad) == (3, 0, 0)
    assert (first.conversations, first.events, first.last_seq) == (2, 1, 3)
    again = db.store_records(DEV, LOG, raws, next_seq=4)
    assert (again.new, again.duplicates, again.conversations) == (0, 3, 0)
    counts = db.counts(DEV)
    assert (counts.records, counts.conversations, counts.events) == (3, 2, 1)
    assert db.cursor(DEV, LOG) == 4
    assert db.cursor(DEV, "other-log") is None


def test_raw_bytes_and_decoded_fields_are_kept(db: Database):
    raw = conversation(7, employee_ms=3000, customer_ms=1000)
    db.store_records(DEV, LOG, [raw])
    stored = db.conn.execute("SELECT raw, kind, version, log_id FROM records").fetchone()
    assert stored == (raw, "conversation", 1, LOG)
    row = db.conn.execute("SELECT turns, employee_ms, talk_ratio, channels FROM conversations"
                          ).fetchone()
    assert row == (4, 3000, 0.75, 2)
    ev = db.conn.execute("SELECT name, code, a, text FROM events").fetchone()
    assert ev is None
    db.store_records(DEV, LOG, [event(8)])
    assert db.conn.execute("SELECT name, code, a, text FROM events").fetchone() == (
        "boot", 1, 1, "0.1.0")


def test_bad_crc_record_is_never_stored(db: Database):
    good = conversation(1)
    bad = bytearray(conversation(2))
    bad[20] ^= 0xFF
    torn = conversation(3)[:-5]
    result = db.store_records(DEV, LOG, [good, bytes(bad), torn])
    assert (result.new, result.bad) == (1, 2)
    assert db.counts().records == 1
    assert [r[0] for r in db.conn.execute("SELECT seq FROM conversations")] == [1]


def test_cursor_moves_with_the_records_or_not_at_all(db: Database):
    db.set_cursor(DEV, LOG, 5)
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as c:
        db.store_records(DEV, LOG, [conversation(5)], next_seq=6)
        c.execute("INSERT INTO cursors (device_id, log_id, next_seq) VALUES (?, ?, 1)",
                  (DEV, LOG))  # fails: the whole transaction goes
    assert db.cursor(DEV, LOG) == 5
    assert db.counts().records == 0


def test_wall_time_from_device_clock(db: Database):
    db.store_records(DEV, LOG, [conversation(1, uptime_ms=5000, clock_s=1_700_000_000)])
    assert db.conn.execute("SELECT start_utc, time_source FROM conversations").fetchone() == (
        1_700_000_000.0, "device")


def test_wall_time_inferred_from_the_boot_offset(db: Database):
    result = db.store_records(DEV, LOG, [conversation(1, uptime_ms=2500)],
                              boot_offsets={BOOT: 1_000_000.0})
    assert result.new == 1
    assert db.conn.execute("SELECT start_utc, time_source FROM conversations").fetchone() == (
        1_000_002.5, "inferred")
    assert db.boot_offset(DEV, BOOT) == 1_000_000.0


def test_wall_time_unknown_until_the_boot_is_seen(db: Database):
    db.store_records(DEV, LOG, [conversation(1, uptime_ms=4000), event(2, uptime_ms=500),
                                conversation(3, boot=999)])
    rows = db.conn.execute("SELECT start_utc, time_source FROM conversations").fetchall()
    assert rows == [(None, None), (None, None)]
    db.set_boot_offset(DEV, BOOT, 2_000_000.0)  # a later sync sees that boot
    assert db.conn.execute("SELECT start_utc, time_source FROM conversations WHERE seq = 1"
                           ).fetchone() == (2_000_004.0, "inferred")
    assert db.conn.execute("SELECT time_utc FROM events").fetchone() == (2_000_000.5,)
    assert db.conn.execute("SELECT start_utc FROM conversations WHERE seq = 3"
                           ).fetchone() == (None,)


def test_same_seq_in_another_boot_is_another_record(db: Database):
    db.store_records(DEV, LOG, [conversation(1)])
    result = db.store_records(DEV, "new-log", [conversation(1, boot=42)])
    assert result.new == 1
    assert db.counts().records == 2


def test_note_sync(db: Database):
    db.note_sync(DEV, "0.1.0", 123.0)
    device = db.device(DEV)
    assert device is not None
    assert (device["firmware"], device["last_sync"], device["secret"]) == ("0.1.0", 123.0, None)


# --- what was lost ---------------------------------------------------------------------------


def gap_rows(db: Database) -> list[tuple[str, str, int, int]]:
    return db.conn.execute("SELECT device_id, log_id, first_seq, last_seq FROM gaps "
                           "ORDER BY device_id, log_id, first_seq").fetchall()


def test_gaps_are_kept_with_the_records_and_merged(db: Database, monkeypatch):
    monkeypatch.setattr("heard.db.time.time", lambda: 1000.0)
    db.store_records(DEV, LOG, [conversation(4)], next_seq=10, gaps=[(1, 3), (5, 9)])
    monkeypatch.setattr("heard.db.time.time", lambda: 2000.0)
    # A gap that goes on in the next batch is one gap; found again, it is not counted twice.
    db.store_records(DEV, LOG, [conversation(15)], next_seq=16, gaps=[(10, 14)])
    db.store_records(DEV, LOG, [], gaps=[(6, 12), (2, 2)])
    db.store_records(DEV, "other-log", [], gaps=[(5, 5)])
    db.store_records("heard-0002", LOG, [], gaps=[(5, 6)])
    assert gap_rows(db) == [(DEV, LOG, 1, 3), (DEV, LOG, 5, 14), (DEV, "other-log", 5, 5),
                            ("heard-0002", LOG, 5, 6)]
    found = dict(db.conn.execute(
        "SELECT first_seq, found_at FROM gaps WHERE device_id = ? AND log_id = ?", (DEV, LOG)))
    assert found == {1: 1000.0, 5: 1000.0}  # when it was first found


def test_a_gap_goes_with_its_transaction(db: Database):
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as c:
        db.store_records(DEV, LOG, [conversation(5)], next_seq=6, gaps=[(1, 4)])
        c.execute("INSERT INTO cursors (device_id, log_id, next_seq) VALUES (?, ?, 1)",
                  (DEV, LOG))  # fails: the whole transaction goes
    assert gap_rows(db) == [] and db.cursor(DEV, LOG) is None


def test_new_records_that_say_something_was_lost(db: Database):
    reset = bytes(record.event(1, BOOT, 5, 0, record.EVENT_DATA_RESET, 0, 0,
                               "LogCorrupt: state: bad value"))
    cut = bytes(record.event(2, BOOT, 9, 0, record.EVENT_BOOT, 6, 37, "0.2.0"))
    first = db.store_records(DEV, LOG, [reset, cut, event(3), conversation(4)])
    assert first.data_resets == ["LogCorrupt: state: bad value"] and first.bytes_cut == [37]
    again = db.store_records(DEV, LOG, [reset, cut])  # duplicates say nothing new
    assert again.data_resets == [] and again.bytes_cut == [] and again.duplicates == 2


def test_dropped_counter_is_remembered_per_log(db: Database):
    assert db.note_dropped(DEV, LOG, 4) == 0  # never seen
    assert db.note_dropped(DEV, LOG, 6) == 4
    assert db.note_dropped(DEV, LOG, 6) == 6
    assert db.note_dropped(DEV, "new-log", 1) == 0  # a formatted log counts from 0 again
    assert db.note_dropped("heard-0002", LOG, 0) == 0


def test_schema_2_database_gets_the_loss_tables(tmp_path: Path):
    path = tmp_path / "heard.db"
    with Database.open(path, migrations=MIGRATIONS[:2]) as old:
        old.store_records(DEV, LOG, [conversation(1)], next_seq=2)
    with Database.open(path) as new:
        assert new.counts().conversations == 1 and new.cursor(DEV, LOG) == 2
        new.store_records(DEV, LOG, [], gaps=[(2, 3)])
        assert gap_rows(new) == [(DEV, LOG, 2, 3)] and new.note_dropped(DEV, LOG, 1) == 0


def test_a_database_path_that_cannot_be_made_is_one_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for bad in (blocker / "heard.db", tmp_path):  # under a file; a folder as the file
        with pytest.raises(HeardError, match="cannot (create|open) database") as info:
            Database.open(bad)
        assert info.value.hint and "--db" in info.value.hint
