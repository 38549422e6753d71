"""Commands that manage the data behind reports: ``heard device name|list``, ``heard roster
import|list`` and ``heard export``. The work is done by typed functions in ``heard.db`` and
``heard.report``; these wrappers parse options and print.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from heard.db import default_path
from heard.errors import HeardError
from heard.report import export as exporting
from heard.report import query
from heard.report import roster as rostering
from heard.report.command import DayParam, open_existing
from heard.report.localtime import day_start

DB_OPTION = click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
                         envvar="HEARD_DB", help=f"Database file [default: {default_path()}].")


def _ago(t: float | None) -> str:
    if t is None:
        return "never"
    days = (time.time() - t) / 86400
    return "today" if days < 1 else f"{days:.0f} days ago"


@click.group("device")
def device() -> None:
    """Name devices by store and lane, or list them."""


@device.command("name")
@click.argument("device_id", metavar="DEVICE")
@click.option("--store", help="The store it is in (\"\" clears).")
@click.option("--lane", help="The counter or lane it listens at (\"\" clears).")
@click.option("--name", help="A name for the device itself (\"\" clears).")
@DB_OPTION
def name_command(device_id: str, store: str | None, lane: str | None, name: str | None,
                 db_path: Path | None) -> None:
    """Say which store and lane DEVICE listens at; reports use these names."""
    if store is None and lane is None and name is None:
        raise click.UsageError("give at least one of --store, --lane, --name")
    with open_existing(db_path, write=True) as db:
        db.name_device(device_id, store=store, lane=lane, name=name)
        d = db.device(device_id) or {}
    click.echo(f"{device_id}: store {d.get('store') or '-'}, lane {d.get('lane') or '-'}, "
               f"name {d.get('name') or '-'}")


@device.command("list")
@DB_OPTION
def list_command(db_path: Path | None) -> None:
    """The devices this computer knows, with their names and last sync."""
    with open_existing(db_path) as db:
        devices = query.devices(db.conn)
        counts = dict(db.conn.execute(
            "SELECT device_id, count(*) FROM conversations GROUP BY device_id").fetchall())
        firmware = dict(db.conn.execute("SELECT device_id, firmware FROM devices").fetchall())
    if not devices:
        click.echo("No devices yet: `heard sync` adds the devices it syncs.")
        return
    table = Table("Device", "Store", "Lane", "Name", "Firmware", "Last sync", "Conversations",
                  box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    for d in devices:
        table.add_row(d.device_id, d.store or "-", d.lane or "-", d.name or "-",
                      firmware.get(d.device_id) or "-", _ago(d.last_sync),
                      f"{counts.get(d.device_id, 0):,}")
    Console().print(table)


@click.group("roster")
def roster() -> None:
    """Who worked which lane when, so reports can group by employee."""


@roster.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Delete the roster imported so far first.")
@DB_OPTION
def import_command(file: Path, replace: bool, db_path: Path | None) -> None:
    """Add the shifts in FILE (CSV: lane, employee, shift_start, shift_end[, store]).

    Times are local, like 2026-11-02 09:00. The whole file is checked first: any bad row
    or overlapping shifts on a lane, and nothing is imported."""
    rows = rostering.read_csv(file)
    with open_existing(db_path, write=True) as db:
        lanes = [d.lane_name for d in query.devices(db.conn)]
        result = rostering.import_rows(db.conn, rows, file.name, lanes, replace=replace)
    if result.removed:
        click.echo(f"removed the {result.removed} shifts imported before")
    click.echo(f"imported {result.added} shifts from {file}"
               + (f" ({result.duplicates} already there)" if result.duplicates else ""))
    if result.unknown_lanes:
        click.echo(f"note: no device is named for lane {', '.join(result.unknown_lanes)} "
                   "yet; name one with `heard device name DEVICE --lane ...`", err=True)


@roster.command("list")
@DB_OPTION
def roster_list(db_path: Path | None) -> None:
    """The shifts imported, in time order."""
    with open_existing(db_path) as db:
        shifts = query.shifts(db.conn, None, None)
    if not shifts:
        click.echo("No roster yet: `heard roster import FILE.csv` adds one.")
        return
    table = Table("Store", "Lane", "Employee", "Start", "End", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False)
    for s in shifts:
        table.add_row(s.store or "any", s.lane, s.employee,
                      time.strftime("%Y-%m-%d %H:%M", time.localtime(s.start)),
                      time.strftime("%Y-%m-%d %H:%M", time.localtime(s.end)))
    Console().print(table)


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), required=True,
              help="csv: three files in a folder; json: one document.")
@click.option("--since", type=DayParam(), help="First day (YYYY-MM-DD, today, 7d, 4w).")
@click.option("--until", type=DayParam(), help="Last day, included.")
@click.option("--out", type=click.Path(path_type=Path),
              help="csv: the folder [default: heard-export]; json: the file [default: "
                   "standard output].")
@DB_OPTION
def export(fmt: str, since: str | None, until: str | None, out: Path | None,
           db_path: Path | None) -> None:
    """Write conversations and events (with store and lane names) for other tools."""
    start = day_start(dt.date.fromisoformat(since)) if since else None
    end = (day_start(dt.date.fromisoformat(until) + dt.timedelta(days=1))
           if until else None)
    with open_existing(db_path) as db:
        if fmt == "csv":
            folder = out or Path("heard-export")
            if folder.exists() and not folder.is_dir():
                raise HeardError(f"{folder} is a file; CSV export writes a folder",
                                 hint="pass a folder with --out")
            with _writing(folder):
                result = exporting.export_csv(db.conn, folder, start, end)
            where = f"{folder}/ (devices.csv, conversations.csv, events.csv, gaps.csv)"
        elif out is None:
            result = exporting.export_json(db.conn, sys.stdout, start, end)
            where = "standard output"
        else:
            with _writing(out):
                out.parent.mkdir(parents=True, exist_ok=True)
                with open(out, "w", encoding="utf-8") as f:
                    result = exporting.export_json(db.conn, f, start, end)
            where = str(out)
    click.echo(f"exported {result.conversations} conversations, {result.events} events, "
               f"{result.gaps} gaps (records lost) and {result.devices} devices to {where}",
               err=True)


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn a failed write under ``path`` into a one-line HeardError."""
    try:
        yield
    except OSError as exc:
        where = exc.filename
        why = exc.strerror if where is None or str(where) == str(path) \
            else f"{exc.strerror}: {where}"
        raise HeardError(f"{path}: cannot write ({why})") from None
