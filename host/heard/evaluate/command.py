"""``heard eval`` and ``heard baseline``: thin click wrappers over the evaluate library."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from heard.evaluate.metrics import COLLAR_S, TOLERANCE_MS
from heard.evaluate.predictors import PREDICTORS, run_baseline
from heard.evaluate.report import print_events, print_report, score_to_dict
from heard.evaluate.scoring import evaluate_corpus

_DIR = click.Path(file_okay=False, path_type=Path)


@click.command("eval")
@click.argument("corpus_dir", type=_DIR)
@click.argument("pred_dir", type=_DIR)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
@click.option(
    "--allow-missing", is_flag=True, help="Score files without a prediction as empty predictions."
)
@click.option(
    "--collar",
    type=click.FloatRange(min=0),
    default=COLLAR_S,
    show_default=True,
    help="Total collar width in seconds around truth boundaries (half each side).",
)
@click.option("--no-vad", is_flag=True, help="Skip the WebRTC VAD baseline.")
@click.option(
    "--events",
    is_flag=True,
    help="Also list every missed and false interruption (file, time, party); the JSON "
    "always has them.",
)
def eval_command(
    corpus_dir: Path,
    pred_dir: Path,
    as_json: bool,
    allow_missing: bool,
    collar: float,
    no_vad: bool,
    events: bool,
) -> None:
    """Score the predictions in PRED_DIR against the truth of CORPUS_DIR."""
    score = evaluate_corpus(
        corpus_dir,
        pred_dir,
        allow_missing=allow_missing,
        collar_s=collar,
        tolerance_ms=TOLERANCE_MS,
        vad=not no_vad,
    )
    if as_json:
        click.echo(json.dumps(score_to_dict(score), indent=1))
    else:
        # Piped output gets a wide console: rich's default of 80 columns would cut file names.
        console = Console() if sys.stdout.isatty() else Console(width=160)
        print_report(score, console, vad=not no_vad)
        if events:
            print_events(score, console)


@click.command("baseline")
@click.argument("corpus_dir", type=_DIR)
@click.option("--out", "out_dir", type=_DIR, required=True, help="Prediction directory to write.")
@click.option(
    "--kind",
    type=click.Choice(sorted(PREDICTORS)),
    default="energy",
    show_default=True,
    help="trivial: all employee; energy: frame-energy detector.",
)
def baseline(corpus_dir: Path, out_dir: Path, kind: str) -> None:
    """Write predictions of a reference predictor for every WAV in CORPUS_DIR."""
    names = run_baseline(corpus_dir, out_dir, kind)
    click.echo(f"wrote {kind} predictions for {len(names)} files to {out_dir}")
