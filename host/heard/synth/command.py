"""``heard synth``: a thin click wrapper over ``heard.synth.corpus.generate_corpus``."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from heard.synth.corpus import generate_corpus, remove_other_files


@click.command("synth")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True,
    help="Directory to write NAME.wav, NAME.rttm, NAME.truth.json and corpus.json to; "
    "the synth_* files of an earlier corpus in it are removed (nothing else is).",
)
@click.option("--n", "n", type=int, default=10, show_default=True, help="Number of files.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option(
    "--channels", type=int, default=2, show_default=True,
    help="2: employee-facing mic (channel 0) and customer-facing mic (channel 1); 1: one mic.",
)
def synth(out_dir: Path, n: int, seed: int, channels: int) -> None:
    """Write N synthetic counter conversations with ground truth (WAV, RTTM, truth JSON).

    The folder then holds this corpus only: synth_* files of an earlier one are removed.
    """
    console = Console(stderr=True)
    started = time.monotonic()
    with Progress(
        TextColumn("[bold]synth[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=console, transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("", total=n if isinstance(n, int) and n > 0 else None)

        def advance(wav: Path) -> None:
            bar.update(task, advance=1, description=wav.name)

        wavs = generate_corpus(out_dir, n, seed, channels, progress=advance)
    removed = remove_other_files(out_dir, wavs)
    click.echo(
        f"wrote {len(wavs)} files to {out_dir} "
        f"(seed {seed}, {channels} channel(s)) in {time.monotonic() - started:.1f} s"
    )
    if removed:
        stems = sorted({path.name.split(".")[0] for path in removed})
        shown = ", ".join(f"{stem}.*" for stem in stems[:3]) + (", ..." if len(stems) > 3 else "")
        click.echo(f"removed {len(removed)} files of an earlier corpus from {out_dir}: {shown}")
