"""``generate_corpus``: N synthetic counter recordings with ground truth, in parallel.

Each file depends only on (seed, index), so files are rendered in worker threads in any
order and the output is byte-identical for the same seed (the heavy parts, FFTs and the
espeak-ng subprocesses, release the GIL: two threads run ~1.8x faster on two cores).
``DIR/corpus.json`` lists the files and the generation parameters (written last, so its
presence marks a complete corpus). ``remove_other_files`` then removes the files of an
earlier corpus in the same folder, so that the folder holds one corpus (``heard synth``).
"""

from __future__ import annotations

import operator
import os
import re
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from heard import __version__
from heard.annotations import write_json
from heard.errors import HeardError
from heard.synth.compose import synthesize, write_file
from heard.synth.tts import SAMPLE_RATE, espeak_version

CHANNELS = (1, 2)
# What generate_corpus writes per file (file_name plus its three suffixes), and nothing else.
_SYNTH_FILE = re.compile(r"(synth_s\d+_\d+)\.(?:wav|rttm|truth\.json)\Z")


def file_name(seed: int, index: int, n: int) -> str:
    """``synth_s{seed}_{index}``, the index zero-padded to at least 3 digits."""
    return f"synth_s{seed}_{index:0{max(3, len(str(n - 1)))}d}"


def _whole(value: Any) -> int | None:
    """value as an int if it is a whole number (not a bool), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _check_args(n: Any, seed: Any, channels: Any) -> tuple[int, int, int]:
    """Validated (n, seed, channels); HeardError naming the bad one."""
    n_, seed_, channels_ = _whole(n), _whole(seed), _whole(channels)
    if n_ is None or n_ < 1:
        raise HeardError(f"--n must be a whole number of files, at least 1 (got {n!r})",
                         "for example `heard synth --out corpus --n 20 --seed 1`")
    if seed_ is None or seed_ < 0:
        raise HeardError(f"--seed must be a non-negative whole number (got {seed!r})")
    if channels_ not in CHANNELS:
        raise HeardError(f"--channels must be 1 or 2 (got {channels!r})",
                         "2 = employee-facing and customer-facing mics, 1 = one mic")
    return n_, seed_, int(channels_)


def _writable_dir(out_dir: Path) -> None:
    """Create out_dir and prove we can write in it; HeardError otherwise."""
    hint = "choose another --out directory, or fix its permissions"
    if out_dir.exists() and not out_dir.is_dir():
        raise HeardError(f"{out_dir} exists and is not a directory", hint)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise HeardError(f"cannot write to {out_dir} ({exc.strerror or exc})", hint) from None


def _one(out_dir: Path, name: str, seed: int, index: int, channels: int,
         workers: int) -> dict[str, Any]:
    """Render and write one file; returns its entry in corpus.json."""
    pcm, ann = synthesize(seed, index, channels, workers)
    return write_file(out_dir, name, pcm, ann)


def generate_corpus(
    out_dir: Path,
    n: int,
    seed: int,
    channels: int = 2,
    progress: Callable[[Path], None] | None = None,
    jobs: int | None = None,
) -> list[Path]:
    """Write n files NAME.wav/.rttm/.truth.json and corpus.json to out_dir; return the WAVs.

    ``progress`` is called with each finished WAV path (in completion order). ``jobs`` is the
    number of files rendered at once (default: the CPU count, at most n).
    """
    out_dir = Path(out_dir)
    n, seed, channels = _check_args(n, seed, channels)
    espeak = espeak_version()
    _writable_dir(out_dir)
    jobs = max(1, min(jobs or os.cpu_count() or 1, n))
    tts_threads = 2 if jobs == 1 else 1
    names = [file_name(seed, i, n) for i in range(n)]
    results: dict[int, dict[str, Any]] = {}

    def finish(index: int, result: dict[str, Any]) -> None:
        results[index] = result
        if progress is not None:
            progress(out_dir / result["wav"])

    if jobs == 1:
        for i, name in enumerate(names):
            finish(i, _one(out_dir, name, seed, i, channels, tts_threads))
    else:
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="heard-synth")
        try:
            futures: dict[Future[dict[str, Any]], int] = {
                pool.submit(_one, out_dir, name, seed, i, channels, tts_threads): i
                for i, name in enumerate(names)
            }
            for future in as_completed(futures):
                finish(futures[future], future.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    write_json(out_dir / "corpus.json", {
        "generator": "heard synth",
        "heard_version": __version__,
        "espeak_ng": espeak,
        "seed": seed,
        "n": n,
        "channels": channels,
        "sample_rate": SAMPLE_RATE,
        "files": [results[i] for i in range(n)],
    })
    return [out_dir / results[i]["wav"] for i in range(n)]


def remove_other_files(out_dir: Path, wavs: list[Path]) -> list[Path]:
    """Remove the synth files in out_dir (``synth_s{S}_{I}.wav/.rttm/.truth.json``) that do
    not belong to ``wavs`` (what ``generate_corpus`` just wrote there); return them sorted.

    Nothing else is touched: files of other names, folders, ``corpus.json`` (rewritten by
    ``generate_corpus``)."""
    out_dir = Path(out_dir)
    keep = {Path(wav).stem for wav in wavs}
    removed = []
    for path in sorted(out_dir.iterdir()):
        match = _SYNTH_FILE.match(path.name)
        if match and match.group(1) not in keep and path.is_file():
            try:
                path.unlink()
            except OSError as exc:
                raise HeardError(f"cannot remove {path} of an earlier corpus "
                                 f"({exc.strerror or exc})",
                                 "remove it yourself, or choose another --out directory"
                                 ) from None
            removed.append(path)
    return removed
