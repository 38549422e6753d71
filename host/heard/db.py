"""The host's SQLite database: devices and their secrets, synced records, decoded rows.

``Database`` is the one door to it. Raw records are kept exactly as the device sent them
(``records``) next to their decoded form (``conversations``, ``events``), so a later heard
can decode them again (``db_store``). The schema is versioned (``db_schema``: ``MIGRATIONS``
are applied when a database is opened, and a database written by a newer heard is
refused). What was lost is kept too (``db_losses``): the records a sync found missing
(``gaps``) and each device log's records-dropped counter as last seen (``device_logs``);
events say the rest.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from heard import db_losses, db_store
from heard.db_schema import MIGRATIONS, Migration, migrate, transaction, version
from heard.db_store import StoreResult
from heard.errors import HeardError
from heardcore.auth import SECRET_SIZE

__all__ = ["MIGRATIONS", "Counts", "Database", "Migration", "StoreResult", "default_path",
           "migrate"]


def default_path() -> Path:
    """``heard.db`` in the user data directory (``~/.local/share/heard`` on Linux)."""
    return platformdirs.user_data_path("heard") / "heard.db"


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
            found = version(conn)
            others = conn.execute("SELECT count(*) FROM sqlite_master "
                                  "WHERE name != 'schema_version'").fetchone()[0]
        except sqlite3.OperationalError:  # e.g. a journal to roll back: needs write access
            conn.close()
            return cls.open(where)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise HeardError(f"cannot use database {where}: {exc}",
                             hint="is it a heard database? pass another one with --db") from exc
        if found == len(MIGRATIONS):
            return cls(conn, where)
        conn.close()
        if found == 0 and not others:
            return cls._empty_in_memory(where)
        if found == 0:
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
        with transaction(self.conn):
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
            db_store.set_boot_offset(self.conn, device_id, boot_id, offset)

    def boot_offset(self, device_id: str, boot_id: int) -> float | None:
        return db_store.boot_offset(self.conn, device_id, boot_id)

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
                db_store.set_boot_offset(self.conn, device_id, boot_id, offset)
            for raw in raws:
                self._store_one(device_id, log_id, bytes(raw), now, result)
            for first, last in gaps:
                db_losses.add_gap(self.conn, device_id, log_id, first, last, now)
            if next_seq is not None:
                self._set_cursor(device_id, log_id, next_seq)
        return result

    def _store_one(
        self, device_id: str, log_id: str, raw: bytes, now: float, result: StoreResult
    ) -> None:
        # A method, not a direct call, so that tests can fail a sync in mid-batch.
        db_store.store_one(self.conn, device_id, log_id, raw, now, result)

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

    def note_dropped(self, device_id: str, log_id: str, dropped: int) -> int:
        """Remember a log's records-dropped counter from hello; the value seen before (0
        for a log not seen yet)."""
        return db_losses.note_dropped(self.conn, device_id, log_id, dropped)

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
        return version(self.conn)
