"""The database's schema: its versions as ``MIGRATIONS``, and bringing a database up to date.

``migrate`` applies the missing steps in order, each in its own transaction, and refuses a
database written by a newer heard. ``transaction`` is the one way every module of the
database writes: BEGIN IMMEDIATE .. COMMIT, nested uses joining the outer one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.errors import HeardError
from heardcore import record

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


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
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


def version(conn: sqlite3.Connection) -> int:
    """The schema version of the database (0: none, e.g. a new or a foreign database)."""
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
        with transaction(conn):
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = version(conn)
        if current > known:
            raise HeardError(
                f"database {name} was written by a newer heard (schema {current}); "
                f"this heard knows up to {known}", hint="upgrade heard")
        for step in range(current, known):
            with transaction(conn):
                migrations[step](conn)
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (step + 1,))
    except sqlite3.DatabaseError as exc:
        raise HeardError(f"cannot use database {name}: {exc}",
                         hint="is it a heard database? pass another one with --db") from exc
    return known
