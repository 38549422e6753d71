"""``heard report``: what the counters' conversations looked like, for a store manager."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, cast

import click
from rich.console import Console

from heard.db import Database, default_path
from heard.errors import HeardError
from heard.report.build import build_report
from heard.report.localtime import parse_day
from heard.report.model import GROUP_BY, Filters, GroupBy, Report
from heard.report.terminal import render


class DayParam(click.ParamType):
    """A local day: 2026-11-02, today, yesterday, 7d, 4w; converted to an ISO date."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        try:
            return parse_day(str(value)).isoformat()
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def write_html(report: Report, path: Path) -> None:
    """The HTML report (``heard.report.html``, imported only when asked for: matplotlib
    is slow to load)."""
    importlib.import_module("heard.report.html").write_html(report, path)


def open_existing(db_path: Path | None, *, write: bool = False) -> Database:
    """The database, refusing to create an empty one where none is. Unless ``write``, it
    is only read: a 0-byte file reads as an empty database and stays as it is."""
    path = db_path or default_path()
    if not path.exists():
        raise HeardError(f"there is no heard database at {path}",
                         hint="sync a device first (`heard sync`), or name the database "
                              "with --db")
    return Database.open(path) if write else Database.open_to_read(path)


@click.command("report")
@click.option("--since", type=DayParam(), help="First day (YYYY-MM-DD, today, 7d, 4w).")
@click.option("--until", type=DayParam(), help="Last day, included.")
@click.option("--store", help="Only this store.")
@click.option("--lane", help="Only this lane or counter.")
@click.option("--employee", help="Only this employee (needs a roster).")
@click.option("--by", type=click.Choice(GROUP_BY),
              help="One table row per day, week, hour of the day, lane or employee "
                   "[default: day, or week for more than a month of data].")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report as an HTML page.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="HEARD_DB", help=f"Database file [default: {default_path()}].")
@click.option("--stale-days", type=click.IntRange(min=1), default=7, show_default=True,
              help="Warn about devices not synced for this many days.")
def report(since: str | None, until: str | None, store: str | None, lane: str | None,
           employee: str | None, by: str | None, as_json: bool, html_path: Path | None,
           db_path: Path | None, stale_days: int) -> None:
    """Conversations at the counters: talk share, interruptions, patience, changes."""
    if since and until and until < since:
        raise click.BadParameter(f"{until} is before --since {since}", param_hint="--until")
    filters = Filters(since=since, until=until, store=store, lane=lane, employee=employee,
                      by=cast("GroupBy | None", by), stale_days=stale_days)
    with open_existing(db_path) as db:
        result = build_report(db, filters)
    if html_path is not None:
        write_html(result, html_path)
        click.echo(f"wrote {html_path}", err=True)
    if as_json:
        click.echo(result.to_json())
    elif html_path is None:
        render(result, Console(soft_wrap=False))
