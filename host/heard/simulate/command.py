"""``heard simulate``: a thin click wrapper over ``heard.simulate.engines``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from heard.errors import HeardError
from heard.shown import shown_name
from heard.simulate.calibrated import PHASE_S, simulate_calibrated_dir, verdict_counts
from heard.simulate.engines import (
    ENGINES,
    DirRun,
    SimulationResult,
    failure_reason,
    load_config,
    simulate_dir,
    simulate_file,
    write_prediction,
    writing,
)
from heard.simulate.report import print_dir_summary, print_summary
from heard.wav_files import wav_files

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("simulate")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory mode: write PRED_DIR/NAME.rttm and NAME.json for every WAV.")
@click.option("--rttm", "rttm_path", type=_FILE, help="Write the speech segments as RTTM.")
@click.option("--json", "json_path", type=_FILE,
              help="Write segments, events, conversations and their numbers as JSON.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="JSON object of detector parameters to override.")
@click.option("--engine", type=click.Choice(ENGINES), default="micropython", show_default=True,
              help="micropython: the unix port with the ESP32's heap; cpython: the same code on "
              "CPython (slower, full tracebacks).")
@click.option("--frames", "frames_path", type=_FILE,
              help="Write the engine's whole NDJSON output, one line per frame included.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Directory mode: files run at once (default: CPU count).")
@click.option("--calibrate", is_flag=True,
              help="Directory mode, a `heard synth` corpus: each file as its own "
              "installation, run after what `heard calibrate` would store there (measured on "
              f"the first {PHASE_S} s each party talks alone by the truth) on top of --config; "
              "PRED_DIR/NAME.config.json holds the settings each file ran with.")
def simulate(
    source: Path, out_dir: Path | None, rttm_path: Path | None, json_path: Path | None,
    config_path: Path | None, engine: str, frames_path: Path | None, jobs: int | None,
    calibrate: bool,
) -> None:
    """Run the firmware detector on a WAV file, or on every WAV of a directory.

    SOURCE is a WAV file (prints a per-conversation summary) or a directory (needs --out;
    writes predictions that `heard eval DIR PRED_DIR` scores).
    """
    if config_path is not None:
        load_config(config_path)
    if source.is_dir():
        if out_dir is None:
            raise click.UsageError("a directory needs --out PRED_DIR")
        if rttm_path or json_path or frames_path:
            raise click.UsageError("--rttm, --json and --frames take a single WAV file")
        _simulate_dir(source, out_dir, engine, config_path, jobs, calibrate)
        return
    if calibrate:
        raise click.UsageError("--calibrate takes a directory: a corpus written by heard synth")
    if out_dir is not None:
        raise click.UsageError("--out takes a directory of WAV files; use --rttm / --json")
    result = simulate_file(source, engine, config_path, frames=frames_path is not None)
    for notice in result.notices:
        click.echo(f"note: {notice}", err=True)
    write_prediction(result, rttm_path, json_path, source.stem)
    if frames_path is not None:
        with writing(frames_path):
            frames_path.write_text(result.ndjson)
    print_summary(result, _stdout_console())


def _stdout_console() -> Console:
    # Piped output gets a wide console, as in `heard eval`: 80 columns would wrap the table.
    return Console() if sys.stdout.isatty() else Console(width=160)


def _simulate_dir(
    source: Path, out_dir: Path, engine: str, config: Path | None, jobs: int | None,
    calibrate: bool = False,
) -> None:
    err = Console(stderr=True)
    files = wav_files(source)
    with Progress(
        TextColumn("[bold]simulate[/bold]"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("{task.description}"), console=err, transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("", total=len(files) or None)

        def advance(name: str, result: SimulationResult | None) -> None:
            bar.update(task, advance=1, description=shown_name(name))
            if result is not None:
                for notice in result.notices:
                    bar.console.print(f"note: {notice}", markup=False, highlight=False)

        if calibrate:
            calibrated = simulate_calibrated_dir(source, out_dir, engine, config, jobs,
                                                 progress=advance)
            run = DirRun(calibrated.results, calibrated.failures)
        else:
            run = simulate_dir(source, out_dir, engine, config, jobs, progress=advance)
    if run.results:
        print_dir_summary(run.results, _stdout_console())
        if calibrate:
            click.echo(f"heard calibrate said: {verdict_counts(calibrated.calibrations.values())}"
                       " (settings in NAME.config.json)")
        click.echo(f"wrote predictions for {len(run.results)} file(s) to {out_dir}")
    if run.failures:
        lines = "\n".join(_failure_line(name, files, exc) for name, exc in run.failures.items())
        total = len(run.results) + len(run.failures)
        raise HeardError(f"{len(run.failures)} of {total} file(s) failed:\n{lines}")


def _failure_line(name: str, files: dict[str, Path], exc: HeardError) -> str:
    """``  NAME.wav: reason`` (the message's own copy of the path dropped), its hint
    indented under it."""
    file = files[name].name if name in files else f"{name}.wav"
    line = f"  {file}: {failure_reason(name, exc)}"
    return f"{line}\n      hint: {exc.hint}" if exc.hint else line
