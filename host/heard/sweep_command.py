"""``heard sweep``: a thin click wrapper over ``heard.sweep``, with a table of the runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from heard.sweep import defaults_in, parse_setting, row_metrics, run_sweep

# (key of row_metrics, column title, better when, format)
_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("der", "DER", "low", "{:.1%}"),
    ("talk_ratio_error_pp", "ratio err", "low", "{:.1f} pp"),
    ("interruption_f1", "int F1", "high", "{:.2f}"),
    ("backchannels_as_interruptions", "bc as int", "low", "{:.0%}"),
    ("conversation_error", "conv err", "low", "{:.2f}"),
    ("speech_f1", "speech F1", "high", "{:.3f}"),
)


def _best(values: list[float | None], better: str) -> float | None:
    """The best of the values; None when there is nothing to choose between."""
    present = [v for v in values if v is not None]
    if len(set(present)) < 2:
        return None
    return min(present) if better == "low" else max(present)


@click.command("sweep")
@click.argument("corpus", type=click.Path(file_okay=False, path_type=Path))
@click.option("--set", "sets", multiple=True, required=True, metavar="NAME=V1,V2,...",
              help="A detector parameter and the values to try; repeat for a grid.")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON object of parameters the sweep starts from.")
@click.option("--engine", type=click.Choice(["micropython", "cpython"]), default="micropython",
              show_default=True, help="As for heard simulate.")
@click.option("--jobs", type=click.IntRange(min=1), help="Files run at once (default: CPU count).")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Keep each run's config and predictions in KEEP/run-NN.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
def sweep(corpus: Path, sets: tuple[str, ...], config: Path | None, engine: str,
          jobs: int | None, keep: Path | None, as_json: bool) -> None:
    """Run the firmware detector over CORPUS once per combination of parameter values and
    score every run against the truth.

    Example: heard sweep CORPUS --set vad_on_db10=40,50,60 --set switch_ms=100,200

    Tune on corpora you will not report on: check the values you choose on a corpus of
    another seed (docs/EVALUATION.md).
    """
    err = Console(stderr=True)
    settings = [parse_setting(s) for s in sets]

    def progress(i: int, n: int, combo: dict[str, int]) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in combo.items())
        err.print(f"run {i + 1}/{n}: {shown}")

    rows = run_sweep(corpus, settings, config=config, engine=engine, jobs=jobs, keep=keep,
                     progress=None if as_json else progress)
    base = json.loads(config.read_text(encoding="utf-8")) if config is not None else {}
    metrics = [row_metrics(r) for r in rows]
    if as_json:
        doc: dict[str, Any] = {
            "corpus": str(corpus), "engine": engine, "base": base,
            "runs": [{"values": r.values, "defaults": defaults_in(r.values, base),
                      "failures": r.failures, **m} for r, m in zip(rows, metrics, strict=True)],
        }
        click.echo(json.dumps(doc, indent=1))
        return
    table = Table(title=f"heard sweep of {corpus} ({len(rows)} runs, engine {engine})",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("run", justify="right", no_wrap=True)
    for s in settings:
        table.add_column(s.name, justify="right", no_wrap=True)
    for _, title, _, _ in _COLUMNS:
        table.add_column(title, justify="right", no_wrap=True)
    table.add_column("failed", justify="right", no_wrap=True)
    best = {key: _best([m[key] for m in metrics], better) for key, _, better, _ in _COLUMNS}
    for i, (row, m) in enumerate(zip(rows, metrics, strict=True)):
        cells = [f"{i + 1}{'d' if defaults_in(row.values, base) else ''}"]
        cells += [str(row.values[s.name]) for s in settings]
        for key, _, _, fmt in _COLUMNS:
            value = m[key]
            text = "–" if value is None else fmt.format(value)
            cells.append(f"[bold]{text}*[/bold]" if value is not None and value == best[key]
                         else text)
        cells.append(str(len(row.failures)) if row.failures else "")
        table.add_row(*cells)
    out = Console()
    if not out.is_terminal:  # a file or a pipe: the whole table, never cut to 80 columns
        out = Console(width=max(out.width, Console(width=1000).measure(table).maximum))
    out.print(table)
    click.echo("d: the detector's defaults. *: best in its column. DER: stereo with fixed "
               "labels, mono with the best mapping; interruption F1 and backchannels as "
               "interruptions count on two microphones only. A file that failed to simulate "
               "is scored as heard nothing.")
    click.echo("Check the values you choose on a corpus of a seed you did not sweep on.")
