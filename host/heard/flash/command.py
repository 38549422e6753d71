"""``heard flash``: MicroPython and the heard firmware onto an ESP32, provisioned and checked.

The run is laid out first (``heard.flash.plan``); ``--dry-run`` prints that plan and
stops, so what it shows is what a real run does. Steps and troubleshooting:
docs/FLASHING.md.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from heard.db import Database, default_path
from heard.device.link import find_ports
from heard.errors import HeardError
from heard.flash.identity import check_device_id
from heard.flash.image import check_image
from heard.flash.plan import DEFAULT_BAUD, Options, build_plan, describe, stage_files
from heard.flash.run import Flasher, FlashResult
from heard.flash.tools import tool_command


def _name_device(db: Database, device_id: str, store: str | None, lane: str | None) -> None:
    """Record the device's store and lane, once the database can hold them."""
    if store is None and lane is None:
        return
    name_device = getattr(db, "name_device", None)
    if name_device is None:
        click.echo(f"    note: store/lane not recorded: this heard's database has no device "
                   f"naming yet (asked: store {store!r}, lane {lane!r})")
        return
    name_device(device_id, store=store, lane=lane)


def check_port(port: str | None, dry_run: bool) -> str:
    """The port to use; HeardError listing the ESP32 boards found if there is none."""
    if not port:
        raise HeardError("no port: name the board's serial port with --port PORT",
                         hint=_boards_found())
    if "://" not in port and not os.path.exists(port):
        if dry_run:
            click.echo(f"note: {port} does not exist now (dry run: not needed)", err=True)
        else:
            raise HeardError(f"no serial port {port}", hint=_boards_found())
    return port


def _boards_found() -> str:
    ports = find_ports()
    if not ports:
        return ("no ESP32 board found on USB: plug it in with a data cable (not a charge-only "
                "one); on Linux its port is /dev/ttyUSB0 or /dev/ttyACM0")
    return "ESP32 boards connected: " + ", ".join(p.describe() for p in ports)


@click.command("flash")
@click.option("--port", "port_name", metavar="PORT",
              help="Serial port of the board (/dev/ttyUSB0, COM3).")
@click.option("--firmware", "image_path", metavar="MICROPYTHON.bin",
              type=click.Path(path_type=Path),
              help="MicroPython for the ESP32 (ESP32_GENERIC .bin from micropython.org).")
@click.option("--device-id", metavar="ID",
              help="Id of a new device (a provisioned board keeps its own).")
@click.option("--store", metavar="NAME", help="Store the device is for.")
@click.option("--lane", metavar="NAME", help="Counter or lane the device is for.")
@click.option("--new-identity", is_flag=True,
              help="Give a provisioned board a new secret (and the --device-id given).")
@click.option("--baud", type=click.IntRange(9600, 2_000_000), default=DEFAULT_BAUD,
              show_default=True, help="Baud rate for writing the image.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="HEARD_DB", help=f"Database for the secret [default: {default_path()}].")
@click.option("--dry-run", is_flag=True,
              help="Print every step, command and file; touch no port.")
def flash(port_name: str | None, image_path: Path | None, device_id: str | None,
          store: str | None, lane: str | None, new_identity: bool, baud: int,
          db_path: Path | None, dry_run: bool) -> None:
    """Put MicroPython and the heard firmware on an ESP32 and provision it.

    Detects the chip, erases and writes the MicroPython image, uploads the compiled
    firmware, the pin map and the device identity (id and a secret kept in the host
    database for sync), resets the board and checks that it answers as that device."""
    port = check_port(port_name, dry_run)
    image = check_image(image_path)
    if device_id is not None:
        check_device_id(device_id)
    options = Options(port, image, device_id, new_identity, store, lane, baud, db_path)
    with tempfile.TemporaryDirectory(prefix="heard-flash-") as tmp:
        staging = Path(tmp)
        plan = build_plan(options, staging, stage_files(staging))
        if dry_run:
            click.echo("dry run: nothing is sent to the port; the files below are deleted "
                       "when it ends")
            tools = {name: tool_command(name) for name in ("esptool", "mpremote")}
            for line in describe(plan, tools):
                click.echo(line)
            return
        with Database.open(db_path) as db:
            result = Flasher(plan, db, click.echo, _name_device).run()
    _summary(result, port)


def _summary(result: FlashResult, port: str) -> None:
    ident = result.identity
    assert ident is not None
    click.echo(f"done: {ident.device_id} on {port} runs heard "
               f"{(result.hello or {}).get('firmware', '?')}")
    click.echo(f"  sync it with: heard sync --port {port}")
