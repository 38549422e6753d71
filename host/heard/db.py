"""The host's SQLite database: devices and their secrets, synced records, decoded rows.

Raw records are kept exactly as the device sent them (``records``) next to their decoded
form (``conversations``, ``events``), so a later heard can decode them again. The schema
is versioned: ``MIGRATIONS`` are applied in order, each in its own transaction, when a
database is opened, and a database written by a newer heard is refused.

What was lost is kept too: the records a sync found missing (``gaps``) and each device
log's records-dropped counter as last seen (``device_logs``); events say the rest.

Wall time of a record: its ``clock_s`` when the device clock was set (``'device'``), else
the boot's clock offset seen by the host at a sync plus its uptime (``'inferred'``), else
NULL.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.errors import HeardError
from heardcore import record
from heardcore.auth import SECRET_SIZE

Migration = Callable[[sqlite3.Connection], None]

_CONVERSATION_COLUMNS = ", ".join(f"{name} INTEGER NOT NULL" for name in
                                  record.CONVERSATION_FIELDS)

_V1 = (
    """CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        secret BLOB CHECK (secret IS NULL OR length(secret) = 32),
        name TEXT, store TEXT, lane TEXT, firmware TEXT,
        first_seen REAL, last_sync REAL)""",
    """CREATE TABLE records (
        device_id TEXT NOT NULL, log_id TEXT NOT NULL, boot_id INTEGER NOT NULL,
        seq INTEGER NOT NULL, kind TEXT NOT NULL, version INTEGER NOT NULL,
        raw BLOB NOT NULL, received_at REAL NOT NULL,
        UNIQUE (device_id, boot_id, seq))""",
    "CREATE INDEX records_by_log ON records (device_id, log_id, seq)",
    f"""CREATE TABLE conversations (
        device_id TEXT NOT NULL, boot_id INTEGER NOT NULL, seq INTEGER NOT NULL,
        start_utc REAL, time_source TEXT CHECK (time_source IN ('device', 'inferred')),
        {_CONVERSATION_COLUMNS}, talk_ratio REAL,
        UNIQUE (device_id, boot_id, seq))""",
    """CREATE TABLE events (
        device_id TEXT NOT NULL, boot_id INTEGER NOT NULL, seq INTEGER NOT NULL,
        time_utc REAL, time_source TEXT CHECK (time_source IN ('device', 'inferred')),
        uptime_ms INTEGER NOT NULL, clock_s INTEGER NOT NULL,
        name TEXT NOT NULL, code INTEGER NOT NULL, a INTEGER NOT NULL, b INTEGER NOT NULL,
        text TEXT NOT NULL,
        UNIQUE (device_id, boot_id, seq))""",
    """CREATE TABLE boots (
        device_id TEXT NOT NULL, boot_id INTEGER NOT NULL, clock_offset REAL NOT NULL,
        observed_at REAL NOT NULL, PRIMARY KEY (device_id, boot_id))""",
    """CREATE TABLE cursors (
        device_id TEXT NOT NULL, log_id TEXT NOT NULL, next_seq INTEGER NOT NULL,
        PRIMARY KEY (device_id, log_id))""",
)


def _migration_1(conn: sqlite3.Connection) -> None:
    for statement in _V1:
        conn.execute(statement)


_REPORT_COLUMNS = (
    "device_id", "start_utc", "employee_ms", "customer_ms", "interruptions_by_employee",
    "interruptions_by_customer", "backchannels_by_employee", "backchannels_by_customer",
    "longest_employee_monologue_ms", "longest_customer_story_ms", "median_latency_ms", "flags")

_V2 = (
    # Reports read the conversations of devices in a time range: this index holds every
    # column they read (a covering index), so a report never visits the wide table rows.
    f"CREATE INDEX conversations_report ON conversations ({', '.join(_REPORT_COLUMNS)})",
    """CREATE INDEX conversations_unknown_time ON conversations (device_id)
        WHERE start_utc IS NULL""",
    "CREATE INDEX events_by_name ON events (name, device_id, time_utc)",
    # Who worked which lane when (`heard roster import`); times in unix seconds, the end
    # excluded; store NULL: the lane of that name in any store.
    """CREATE TABLE roster (
        store TEXT, lane TEXT NOT NULL, employee TEXT NOT NULL,
        shift_start INTEGER NOT NULL, shift_end INTEGER NOT NULL,
        source TEXT, imported_at REAL,
        CHECK (shift_end > shift_start))""",
    "CREATE INDEX roster_by_lane ON roster (lane, shift_start)",
)


def _migration_2(conn: sqlite3.Connection) -> None:
    """Report indexes and the roster; devices already carry their store and lane names."""
    for statement in _V2:
        conn.execute(statement)


_V3 = (
    # Records a sync found missing from a device's log (no longer on the device, or found
    # corrupt there): lost for good, kept so that reports can say so.
    """CREATE TABLE gaps (
        device_id TEXT NOT NULL, log_id TEXT NOT NULL, first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL, found_at REAL NOT NULL, CHECK (last_seq >= first_seq),
        PRIMARY KEY (device_id, log_id, first_seq))""",
    # The records-dropped counter of each device log (hello's ``dropped``, cumulative) as
    # the last sync saw it: a sync warns only when it grew.
    """CREATE TABLE device_logs (
        device_id TEXT NOT NULL, log_id TEXT NOT NULL, dropped INTEGER NOT NULL,
        seen_at REAL NOT NULL, PRIMARY KEY (device_id, log_id))""",
)


def _migration_3(conn: sqlite3.Connection) -> None:
    """What was lost: sync gaps, and the dropped counter last seen per device log."""
    for statement in _V3:
        conn.execute(statement)


# Index i holds the step from schema i to schema i + 1. Append only; never edit a step.
MIGRATIONS: tuple[Migration, ...] = (_migration_1, _migration_2, _migration_3)


def default_path() -> Path:
    """``heard.db`` in the user data directory (``~/.local/share/heard`` on Linux)."""
    return platformdirs.user_data_path("heard") / "heard.db"


@dataclass
class StoreResult:
    """What one ``store_records`` call did."""

    new: int = 0
    duplicates: int = 0
    bad: int = 0
    conversations: int = 0
    events: int = 0
    last_seq: int | None = None  # highest seq stored or already present
    # Losses the new records report: why a data area was formatted (data_reset events),
    # and bytes cut from a damaged log at a boot (boot events with ``b`` > 0).
    data_resets: list[str] = field(default_factory=list)
    bytes_cut: list[int] = field(default_factory=list)
    # Not a loss: the device rebuilt its log's lost state from its records (log_rebuilt).
    logs_rebuilt: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Counts:
    devices: int
    records: int
    conversations: int
    events: int


class Database:
    """One open database; use ``Database.open`` and close it (or use ``with``)."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None):
        self.conn = conn
        self.path = path

    @classmethod
    def open(
        cls, path: Path | str | None = None, migrations: Sequence[Migration] = MIGRATIONS
    ) -> Database:
        """Open (creating if needed) and upgrade the database at ``path``.

        ``path`` None is ``default_path()``; ``":memory:"`` is a private in-memory one."""
        where: Path | None = None
        if path != ":memory:":
            where = Path(path) if path is not None else default_path()
            try:
                where.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # e.g. under /proc, or a file where a folder should be
                raise HeardError(f"cannot create database {where}: {exc.strerror}",
                                 hint="pass a writable path with --db") from None
        try:
            conn = sqlite3.connect(str(where or ":memory:"), timeout=10, isolation_level=None)
        except sqlite3.Error as exc:
            raise HeardError(f"cannot open database {where}: {exc}",
                             hint="pass a writable path with --db") from exc
        db = cls(conn, where)
        try:
            migrate(conn, migrations, str(where or ":memory:"))
        except BaseException:
            conn.close()
            raise
        return db

    @classmethod
    def open_to_read(cls, path: Path | str) -> Database:
        """Open the existing database at ``path`` for reading, creating and changing nothing.

        A 0-byte file, or an SQLite file with nothing in it, reads as an empty database
        (held in memory); an older heard schema is upgraded in place as ``open`` does; any
        other file is refused with a ``HeardError``."""
        where = Path(path)
        try:
            empty = where.stat().st_size == 0
        except OSError as exc:
            raise HeardError(f"cannot open database {where}: {exc.strerror}") from None
        if empty:
            return cls._empty_in_memory(where)
        try:
            conn = sqlite3.connect(f"{where.resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=10, isolation_level=None)
        except sqlite3.Error as exc:
            raise HeardError(f"cannot open database {where}: {exc}") from exc
        try:
            version = _version(conn)
            others = conn.execute("SELECT count(*) FROM sqlite_master "
                                  "WHERE name != 'schema_version'").fetchone()[0]
        except sqlite3.OperationalError:  # e.g. a journal to roll back: needs write access
            conn.close()
            return cls.open(where)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise HeardError(f"cannot use database {where}: {exc}",
                             hint="is it a heard database? pass another one with --db") from exc
        if version == len(MIGRATIONS):
            return cls(conn, where)
        conn.close()
        if version == 0 and not others:
            return cls._empty_in_memory(where)
        if version == 0:
            raise HeardError(f"{where} is an SQLite database, but not one of heard's",
                             hint="pass a heard database with --db")
        return cls.open(where)  # upgrades an older schema, refuses a newer one

    @classmethod
    def _empty_in_memory(cls, path: Path) -> Database:
        db = cls.open(":memory:")
        db.path = path  # for messages: "no conversations in PATH"
        return db

    def is_empty(self) -> bool:
        """True if no table holds a row (the schema version aside)."""
        tables = [row[0] for row in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'schema_version'")]
        return not any(self.conn.execute(f"SELECT 1 FROM \"{t}\" LIMIT 1").fetchone()
                       for t in tables)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with _transaction(self.conn):
            yield self.conn

    # --- devices -------------------------------------------------------------------------

    def set_secret(self, device_id: str, secret: bytes | None) -> None:
        """Record a device's 32-byte secret (None: unknown), adding the device if new."""
        if secret is not None and len(secret) != SECRET_SIZE:
            raise HeardError(f"a device secret is {SECRET_SIZE} bytes, not {len(secret)}")
        with self.transaction() as c:
            c.execute("INSERT INTO devices (device_id, first_seen) VALUES (?, ?) "
                      "ON CONFLICT (device_id) DO NOTHING", (device_id, time.time()))
            c.execute("UPDATE devices SET secret = ? WHERE device_id = ?",
                      (None if secret is None else bytes(secret), device_id))

    def secret(self, device_id: str) -> bytes | None:
        row = self.conn.execute(
            "SELECT secret FROM devices WHERE device_id = ?", (device_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def note_sync(self, device_id: str, firmware: str | None, when: float) -> None:
        """Remember a successful sync: the device's firmware and the time."""
        with self.transaction() as c:
            c.execute("INSERT INTO devices (device_id, first_seen) VALUES (?, ?) "
                      "ON CONFLICT (device_id) DO NOTHING", (device_id, when))
            c.execute("UPDATE devices SET firmware = ?, last_sync = ? WHERE device_id = ?",
                      (firmware, when, device_id))

    def name_device(self, device_id: str, *, store: str | None = None,
                    lane: str | None = None, name: str | None = None) -> None:
        """Set the store, lane and name a device counts for (None: leave as is; "": clear).
        Only a device this database knows (synced or provisioned) can be named."""
        if self.device(device_id) is None:
            raise HeardError(f"no device {device_id!r} in {self.path or 'the database'}",
                             hint="`heard device list` shows the devices this computer knows")
        with self.transaction() as c:
            for column, value in (("store", store), ("lane", lane), ("name", name)):
                if value is not None:
                    c.execute(f"UPDATE devices SET {column} = ? WHERE device_id = ?",
                              (value.strip() or None, device_id))

    def device(self, device_id: str) -> dict[str, Any] | None:
        cur = self.conn.execute("SELECT * FROM devices WHERE device_id = ?", (device_id,))
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))

    # --- boots and time ------------------------------------------------------------------

    def set_boot_offset(self, device_id: str, boot_id: int, offset: float) -> None:
        """Host unix time minus device uptime (s) for one boot; fills in the wall time of
        that boot's records that had none."""
        with self.transaction():
            self._set_boot_offset(device_id, boot_id, offset)

    def boot_offset(self, device_id: str, boot_id: int) -> float | None:
        row = self.conn.execute(
            "SELECT clock_offset FROM boots WHERE device_id = ? AND boot_id = ?",
            (device_id, boot_id)).fetchone()
        return None if row is None else float(row[0])

    def _set_boot_offset(self, device_id: str, boot_id: int, offset: float) -> None:
        c = self.conn
        c.execute(
            "INSERT INTO boots (device_id, boot_id, clock_offset, observed_at) VALUES "
            "(?, ?, ?, ?) ON CONFLICT (device_id, boot_id) DO UPDATE SET "
            "clock_offset = excluded.clock_offset, observed_at = excluded.observed_at",
            (device_id, boot_id, offset, time.time()))
        for table, column in (("conversations", "start_utc"), ("events", "time_utc")):
            c.execute(
                f"UPDATE {table} SET {column} = ? + uptime_ms / 1000.0, "
                "time_source = 'inferred' WHERE device_id = ? AND boot_id = ? "
                "AND time_source IS NULL", (offset, device_id, boot_id))

    # --- records -------------------------------------------------------------------------

    def store_records(
        self,
        device_id: str,
        log_id: str,
        raws: Sequence[bytes],
        boot_offsets: Mapping[int, float] | None = None,
        next_seq: int | None = None,
        gaps: Sequence[tuple[int, int]] = (),
    ) -> StoreResult:
        """Store records as received, all in one transaction; idempotent.

        A record that fails its CRC (or is of an unknown version) is never stored: it is
        counted in ``bad``. ``boot_offsets`` (boot id -> clock offset) are saved first, so
        the records' wall times can use them; ``next_seq`` moves the (device, log) cursor
        and ``gaps`` (first, last seq the device skipped) are kept, in the same
        transaction."""
        result = StoreResult()
        now = time.time()
        with self.transaction():
            for boot_id, offset in (boot_offsets or {}).items():
                self._set_boot_offset(device_id, boot_id, offset)
            for raw in raws:
                self._store_one(device_id, log_id, bytes(raw), now, result)
            for first, last in gaps:
                self._add_gap(device_id, log_id, first, last, now)
            if next_seq is not None:
                self._set_cursor(device_id, log_id, next_seq)
        return result

    def _store_one(
        self, device_id: str, log_id: str, raw: bytes, now: float, result: StoreResult
    ) -> None:
        try:
            rec = record.decode(raw)
        except (record.RecordError, ValueError):
            result.bad += 1
            return
        if rec["length"] != len(raw):
            result.bad += 1
            return
        cur = self.conn.execute(
            "INSERT INTO records (device_id, log_id, boot_id, seq, kind, version, raw, "
            "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (device_id, log_id, rec["boot_id"], rec["seq"], rec["kind"], rec["version"],
             raw, now))
        result.last_seq = max(rec["seq"], result.last_seq or 0)
        if cur.rowcount == 0:
            result.duplicates += 1
            return
        result.new += 1
        when, source = self._wall_time(device_id, rec)
        if rec["kind"] == "conversation":
            self._insert_conversation(device_id, rec, when, source)
            result.conversations += 1
        elif rec["kind"] == "event":
            self._insert_event(device_id, rec, when, source)
            result.events += 1
            if rec["event"] == record.EVENT_DATA_RESET:
                result.data_resets.append(rec["text"])
            elif rec["event"] == record.EVENT_BOOT and rec["b"] > 0:
                result.bytes_cut.append(rec["b"])
            elif rec["event"] == record.EVENT_LOG_REBUILT:
                result.logs_rebuilt.append(rec["text"])

    def _wall_time(self, device_id: str, rec: dict[str, Any]) -> tuple[float | None, str | None]:
        if rec["clock_s"]:
            return float(rec["clock_s"]), "device"
        offset = self.boot_offset(device_id, rec["boot_id"])
        if offset is None:
            return None, None
        return offset + rec["uptime_ms"] / 1000.0, "inferred"

    def _insert_conversation(
        self, device_id: str, rec: dict[str, Any], when: float | None, source: str | None
    ) -> None:
        fields = record.CONVERSATION_FIELDS
        talk = rec["employee_ms"] + rec["customer_ms"]
        ratio = rec["employee_ms"] / talk if talk else None
        columns = ", ".join(("device_id", "boot_id", "seq", "start_utc", "time_source",
                             *fields, "talk_ratio"))
        marks = ", ".join("?" * (len(fields) + 6))
        values = (device_id, rec["boot_id"], rec["seq"], when, source,
                  *(rec[f] for f in fields), ratio)
        self.conn.execute(f"INSERT INTO conversations ({columns}) VALUES ({marks})", values)

    def _insert_event(
        self, device_id: str, rec: dict[str, Any], when: float | None, source: str | None
    ) -> None:
        self.conn.execute(
            "INSERT INTO events (device_id, boot_id, seq, time_utc, time_source, uptime_ms, "
            "clock_s, name, code, a, b, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (device_id, rec["boot_id"], rec["seq"], when, source, rec["uptime_ms"],
             rec["clock_s"], rec["name"], rec["event"], rec["a"], rec["b"], rec["text"]))

    # --- cursors -------------------------------------------------------------------------

    def cursor(self, device_id: str, log_id: str) -> int | None:
        """The next seq to fetch from this device's log ``log_id`` (None: never synced)."""
        row = self.conn.execute(
            "SELECT next_seq FROM cursors WHERE device_id = ? AND log_id = ?",
            (device_id, log_id)).fetchone()
        return None if row is None else int(row[0])

    def set_cursor(self, device_id: str, log_id: str, next_seq: int) -> None:
        with self.transaction():
            self._set_cursor(device_id, log_id, next_seq)

    def _set_cursor(self, device_id: str, log_id: str, next_seq: int) -> None:
        self.conn.execute(
            "INSERT INTO cursors (device_id, log_id, next_seq) VALUES (?, ?, ?) "
            "ON CONFLICT (device_id, log_id) DO UPDATE SET next_seq = excluded.next_seq",
            (device_id, log_id, next_seq))

    # --- what was lost -------------------------------------------------------------------

    def _add_gap(self, device_id: str, log_id: str, first: int, last: int, now: float) -> None:
        """Keep seqs first..last of a log as lost, merged with the gaps they touch."""
        where = "device_id = ? AND log_id = ? AND first_seq <= ? AND last_seq >= ?"
        args = (device_id, log_id, last + 1, first - 1)
        met = self.conn.execute(f"SELECT first_seq, last_seq, found_at FROM gaps WHERE {where}",
                                args).fetchall()
        self.conn.execute(f"DELETE FROM gaps WHERE {where}", args)
        self.conn.execute(
            "INSERT INTO gaps (device_id, log_id, first_seq, last_seq, found_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (device_id, log_id, min([first, *(m[0] for m in met)]),
             max([last, *(m[1] for m in met)]), min([now, *(m[2] for m in met)])))

    def note_dropped(self, device_id: str, log_id: str, dropped: int) -> int:
        """Remember a log's records-dropped counter from hello; the value seen before (0
        for a log not seen yet)."""
        with self.transaction() as c:
            row = c.execute("SELECT dropped FROM device_logs WHERE device_id = ? AND "
                            "log_id = ?", (device_id, log_id)).fetchone()
            c.execute("INSERT INTO device_logs (device_id, log_id, dropped, seen_at) VALUES "
                      "(?, ?, ?, ?) ON CONFLICT (device_id, log_id) DO UPDATE SET "
                      "dropped = excluded.dropped, seen_at = excluded.seen_at",
                      (device_id, log_id, dropped, time.time()))
        return 0 if row is None else int(row[0])

    # --- reporting -----------------------------------------------------------------------

    def counts(self, device_id: str | None = None) -> Counts:
        """How many devices, records, conversations and events (of one device or all)."""
        def count(table: str) -> int:
            if device_id is None:
                return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            return int(self.conn.execute(
                f"SELECT count(*) FROM {table} WHERE device_id = ?", (device_id,)).fetchone()[0])

        return Counts(count("devices"), count("records"), count("conversations"),
                      count("events"))

    def schema_version(self) -> int:
        return _version(self.conn)


# --- schema versions -----------------------------------------------------------------------


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE .. COMMIT (ROLLBACK on error); nested uses join the outer one."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration], name: str) -> int:
    """Bring the database to ``len(migrations)``, one transaction per step; the version."""
    known = len(migrations)
    try:
        with _transaction(conn):
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = _version(conn)
        if current > known:
            raise HeardError(
                f"database {name} was written by a newer heard (schema {current}); "
                f"this heard knows up to {known}", hint="upgrade heard")
        for version in range(current, known):
            with _transaction(conn):
                migrations[version](conn)
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
    except sqlite3.DatabaseError as exc:
        raise HeardError(f"cannot use database {name}: {exc}",
                         hint="is it a heard database? pass another one with --db") from exc
    return known
