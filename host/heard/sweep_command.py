"""``heard sweep``: a thin click wrapper over ``heard.sweep``, with a table of the runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from heard.errors import HeardError
from heard.shown import shown_name
from heard.sweep import (
    Setting,
    SweepRow,
    base_overrides,
    defaults_in,
    parse_setting,
    row_metrics,
    run_sweep,
)

# (key of row_metrics, column title, better when, format)
_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("der", "DER", "low", "{:.1%}"),
    ("talk_ratio_error_pp", "ratio", "low", "{:.1f}pp"),
    ("interruption_f1", "int F1", "high", "{:.2f}"),
    ("backchannels_as_interruptions", "bc/int", "low", "{:.0%}"),
    ("conversation_error", "conv", "low", "{:.2f}"),
    ("speech_f1", "speech", "high", "{:.3f}"),
)
_LEGEND = (
    "d: the detector's defaults. *: best in its column as printed, among runs where every "
    "file simulated. DER: stereo with fixed labels, mono with the best mapping. ratio: talk-ratio "
    "error. int F1: interruption F1; bc/int: backchannels counted as interruptions (two "
    "microphones: a mono detector reports no interruptions). conv: conversation count error "
    "per file. speech: frame speech F1. fail: files that failed to simulate, scored as if "
    "the detector had heard nothing.")


def _best(values: list[float | None], better: str, fmt: str) -> str | None:
    """The best of the values as printed (runs that print the same tie); None when they
    all print the same."""
    present = [v for v in values if v is not None]
    if len({fmt.format(v) for v in present}) < 2:
        return None
    return fmt.format(min(present) if better == "low" else max(present))


@click.command("sweep")
@click.argument("corpora", metavar="CORPUS...", nargs=-1, required=True,
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--set", "sets", multiple=True, required=True, metavar="NAME=V1,V2,...",
              help="A detector parameter and the values to try; repeat for a grid.")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON object of parameters the sweep starts from.")
@click.option("--engine", type=click.Choice(["micropython", "cpython"]), default="micropython",
              show_default=True, help="As for heard simulate.")
@click.option("--jobs", type=click.IntRange(min=1), help="Files run at once (default: CPU count).")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="A new or empty folder: keep each run's config.json and predictions "
              "in KEEP/run-NN/.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@click.option("--calibrate", is_flag=True,
              help="Run each file after a simulated `heard calibrate`, as `heard simulate DIR "
              "--calibrate` does (it sets level_mid_db10 and level_unit_db10).")
def sweep(corpora: tuple[Path, ...], sets: tuple[str, ...], config: Path | None, engine: str,
          jobs: int | None, keep: Path | None, as_json: bool, calibrate: bool) -> None:
    """Run the firmware detector over the corpora once per combination of parameter values
    and score every run against the truth (all corpora's files together).

    Example: heard sweep C101 C202 --set vad_on_db10=40,50,60 --set switch_ms=100,200

    Tune on corpora you will not report on: check the values you choose on a corpus of
    another seed (docs/EVALUATION.md).
    """
    err = Console(stderr=True)
    settings = [parse_setting(s) for s in sets]

    def progress(i: int, n: int, combo: dict[str, int]) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in combo.items())
        err.print(f"run {i + 1}/{n}: {shown}")

    rows = run_sweep(corpora, settings, config=config, engine=engine, jobs=jobs, keep=keep,
                     progress=None if as_json else progress, calibrate=calibrate)
    base = base_overrides(config)
    metrics = [row_metrics(r) for r in rows]
    if as_json:
        doc: dict[str, Any] = {
            "corpora": [str(c) for c in corpora], "engine": engine, "base": base,
            "calibrated": calibrate,
            "runs": [{"values": r.values, "defaults": defaults_in(r.values, base),
                      "failures": r.failures, **m} for r, m in zip(rows, metrics, strict=True)],
        }
        click.echo(json.dumps(doc, indent=1))
    else:
        _print_table(corpora, engine + (", each file calibrated" if calibrate else ""), settings,
                     rows, metrics, base)
    failed = [(i, name, why) for i, r in enumerate(rows) for name, why in r.failures.items()]
    for i, name, why in failed:
        err.print(f"run {i + 1}: {shown_name(name)}: {escape(why)}", highlight=False)
    if failed:
        raise HeardError(f"{len(failed)} simulation(s) failed in "
                         f"{len({i for i, _, _ in failed})} of {len(rows)} runs (listed above); "
                         "those runs are scored as if the detector heard nothing in them",
                         hint="`heard simulate FILE` on one of them shows the whole error")


def _print_table(corpora: tuple[Path, ...], engine: str, settings: list[Setting],
                 rows: list[SweepRow], metrics: list[dict[str, Any]],
                 base: dict[str, int]) -> None:
    runs = f"{len(rows)} run{'s' if len(rows) != 1 else ''}"
    files = len(rows[0].score.files)
    shown = escape(", ".join(str(c) for c in corpora))
    table = Table(title=f"heard sweep of {shown} ({files} files, {runs}, engine {engine})",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("run", justify="right", no_wrap=True)
    for s in settings:
        width = max(len(str(v)) for v in s.values)
        table.add_column(s.name, justify="right", overflow="fold", min_width=width)
    for _, title, _, _ in _COLUMNS:
        table.add_column(title, justify="right", no_wrap=True)
    table.add_column("fail", justify="right", no_wrap=True)
    clean = [m for r, m in zip(rows, metrics, strict=True) if not r.failures]
    best = {key: _best([m[key] for m in clean], better, fmt)
            for key, _, better, fmt in _COLUMNS}
    for i, (row, m) in enumerate(zip(rows, metrics, strict=True)):
        cells = [f"{i + 1}{'d' if defaults_in(row.values, base) else ''}"]
        cells += [str(row.values[s.name]) for s in settings]
        for key, _, _, fmt in _COLUMNS:
            value = m[key]
            text = "–" if value is None else fmt.format(value)
            marked = value is not None and text == best[key] and not row.failures
            cells.append(f"[bold]{text}*[/bold]" if marked else text)
        cells.append(str(len(row.failures)) if row.failures else "")
        table.add_row(*cells)
    out = Console()
    if not out.is_terminal:  # a file or a pipe: the whole table, never cut to 80 columns
        out = Console(width=max(out.width, Console(width=1000).measure(table).maximum))
    out.print(table)
    click.echo(_LEGEND)
    click.echo("Check the values you choose on a corpus of a seed you did not sweep on.")
