"""``heard emulate``: the device firmware on the MicroPython unix port, on a pseudo-terminal.

The emulated device is provisioned like a real one (an identity and a secret in its flash
folder, the secret in the host database), so ``heard sync --port PTY`` works against it
exactly as against a board on USB.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from platformdirs import user_data_dir

from heard.db import Database
from heard.device.emulator import Emulator, provision
from heard.errors import HeardError
from heard.flash.identity import check_device_id
from heard.simulate.inputs import CUT_OFF_HINT, EMPTY_HINT, cut_off
from heardcore.wavfile import WavError, WavReader


def default_flash() -> Path:
    return Path(user_data_dir("heard")) / "emulator" / "flash"


def check_wav(path: Path) -> int:
    """The channel count of a WAV the device can take; HeardError saying why not."""
    try:
        with path.open("rb") as f:
            return WavReader(f).channels
    except FileNotFoundError:
        raise HeardError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise HeardError(f"{path}: is a folder, not a WAV file") from None
    except WavError as exc:
        if str(exc).startswith("empty file"):
            raise HeardError(f"{path}: {exc}", hint=EMPTY_HINT) from None
        if cut_off(exc):
            raise HeardError(f"{path}: {exc}", hint=CUT_OFF_HINT) from None
        raise HeardError(
            f"{path}: {exc}",
            hint="the device microphone is 16 kHz 16-bit PCM; `heard simulate` converts "
            "other WAVs, or use e.g. `sox IN.wav -r 16000 -b 16 OUT.wav`",
        ) from None


@click.command("emulate")
@click.option("--wav", "wav_opts", multiple=True, type=click.Path(path_type=Path),
              help="A WAV file as the microphone (repeat for several, played in order).")
@click.argument("wavs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--fast", is_flag=True,
              help="Play the WAVs as fast as possible instead of in real time.")
@click.option("--flash", type=click.Path(file_okay=False), default=None,
              help="Folder that holds the device's flash (identity, config, records).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Host database to register the device's secret in.")
@click.option("--device-id", metavar="ID", default=None,
              help="Id of a new emulated device (as for `heard flash`: 1 to 32 letters, "
              "digits, '.', '_' or '-'). A --flash folder that holds a device keeps its id: "
              "give a new --flash folder for a new id.")
@click.option("--exit-when-done", is_flag=True,
              help="Stop after the WAVs and ~10 s of silence (default: keep listening).")
@click.option("--verbose", is_flag=True, help="Show the firmware's debug lines.")
def emulate(wav_opts: tuple[Path, ...], wavs: tuple[Path, ...], fast: bool,
            flash: str | None, db_path: Path | None, device_id: str | None,
            exit_when_done: bool, verbose: bool) -> None:
    """Run the device firmware with WAV files as its microphone; print its serial port."""
    if device_id is not None:
        check_device_id(device_id)
    files = list(wav_opts) + list(wavs)
    if not files:
        raise click.UsageError("give at least one WAV file (--wav FILE)")
    channels = {path: check_wav(path) for path in files}
    if len(set(channels.values())) > 1:
        raise HeardError("the WAVs mix mono and stereo; one device has one microphone setup")
    if flash == "":
        raise HeardError("--flash needs a folder name", hint="leave out --flash for the "
                         f"default folder {default_flash()}")
    folder = Path(flash) if flash is not None else default_flash()
    ident, secret = provision(folder, device_id)
    with Database.open(db_path) as db:
        db.set_secret(ident, secret)
    emulator = Emulator(files, folder, fast=fast, exit_when_done=exit_when_done,
                        echo_debug=verbose)
    port = emulator.start()
    click.echo(f"emulated device {ident} is on {port}")
    click.echo(f"  sync it with: heard sync --port {port}" +
               (f" --db {db_path}" if db_path else ""))
    if not exit_when_done:
        click.echo("  press Ctrl-C to stop")
    try:
        code = emulator.wait()
        while code is None:  # pragma: no cover - wait() without timeout returns a code
            time.sleep(0.5)
            code = emulator.wait(0)
    except KeyboardInterrupt:
        click.echo("stopping the emulated device")
        code = 0
    finally:
        emulator.stop()
    if code not in (0, None, -15):
        tail = "\n".join(emulator.debug_lines[-10:])
        raise HeardError(f"the emulated device stopped with status {code}:\n{tail}")
