"""The ``heard`` command line: a thin layer over the library's typed functions.

Subcommands live in their own modules and are imported only when run, so ``heard --help``
stays fast and a missing optional dependency breaks only the command that needs it.
"""

from __future__ import annotations

import importlib
import sys

import click

from heard import __version__
from heard.annotations import AnnotationError
from heard.errors import HeardError

# name -> (module:attribute of a click.Command, one-line purpose for `heard --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "heard.demo:demo",
        "Run the whole path on this machine: emulated device, serial sync, results.",
    ),
    "synth": (
        "heard.synth.command:synth",
        "Write synthetic counter conversations (WAV + RTTM + truth JSON).",
    ),
    "baseline": (
        "heard.evaluate.command:baseline",
        "Write predictions of a reference predictor (trivial, energy) for a corpus.",
    ),
    "params": (
        "heard.params_command:params_command",
        "List the detector's parameters, or check a config file.",
    ),
    "eval": (
        "heard.evaluate.command:eval_command",
        "Score predictions against a corpus's truth, with the WebRTC VAD baseline.",
    ),
    "simulate": (
        "heard.simulate.command:simulate",
        "Run the firmware detector on WAV files (MicroPython unix port or CPython).",
    ),
    "sweep": (
        "heard.sweep_command:sweep",
        "Run the firmware detector over a corpus once per parameter value; score each run.",
    ),
    "emulate": (
        "heard.device.emulate_command:emulate",
        "Run the device firmware on the MicroPython unix port, WAV files as its microphone.",
    ),
    "flash": (
        "heard.flash.command:flash",
        "Put MicroPython and the heard firmware on an ESP32 and provision it.",
    ),
    "sync": (
        "heard.device.sync_command:sync",
        "Pull new records from heard devices over USB serial into the local database.",
    ),
    "monitor": (
        "heard.device.monitor_command:monitor",
        "Watch a device's live levels and who it thinks is talking (never audio).",
    ),
    "calibrate": (
        "heard.device.calibrate_command:calibrate",
        "Check the mic placement with both sides talking and store the calibration.",
    ),
    "report": (
        "heard.report.command:report",
        "Show how the counters' conversations went: talk share, interruptions, changes.",
    ),
    "device": (
        "heard.manage_commands:device",
        "Name devices by store and lane, or list them.",
    ),
    "roster": (
        "heard.manage_commands:roster",
        "Import who worked which lane when, so reports can group by employee.",
    ),
    "export": (
        "heard.manage_commands:export",
        "Write conversations and events as CSV or JSON for other tools.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name][0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="heard")
def cli() -> None:
    """heard: measure how well a counter listens, without keeping any audio."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; typed library errors become one readable line and exit code 1."""
    try:
        rc = cli.main(args=argv, prog_name="heard", standalone_mode=False)
        if isinstance(rc, int):
            return rc
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (HeardError, AnnotationError) as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
