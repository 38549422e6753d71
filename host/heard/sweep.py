"""Parameter sweeps: the firmware detector run over one or more corpora once per
combination of parameter values, each run scored against the truth.

``parse_setting("vad_on_db10=40,50,60")`` reads one ``--set``; ``combinations`` makes the
grid, each combination checked against the parameter table before anything runs;
``run_sweep`` simulates and scores them in turn. What an engineer did by hand with
``heard simulate --config`` and ``heard eval``, once per value.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile

from heard.config import base_overrides
from heard.device.calibration import STORED
from heard.errors import HeardError
from heard.evaluate.corpus import corpus_names, wav_paths
from heard.evaluate.scores import CorpusScore
from heard.evaluate.scoring import evaluate_corpus
from heard.simulate.calibrated import simulate_calibrated_dir
from heard.simulate.engines import failure_reason, simulate_dir
from heardcore.params import ConfigError, Params, entries

MAX_COMBINATIONS = 100
_HINT = "write --set NAME=VALUE[,VALUE...] with whole numbers; `heard params` lists the names"
_WHOLE = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class Setting:
    """One swept parameter and its values, in the order given."""

    name: str
    values: tuple[int, ...]


@dataclass
class SweepRow:
    """One combination: its parameter values, the score of its run and the files that
    failed to simulate, with why."""

    values: dict[str, int]
    score: CorpusScore
    failures: dict[str, str] = field(default_factory=dict)


def parse_setting(text: str) -> Setting:
    """``NAME=V1,V2,...`` as a ``Setting``; a clear error for anything else."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise HeardError(f"--set {text!r}: expected NAME=VALUE[,VALUE...]", hint=_HINT)
    if not any(entry[0] == name for entry in entries()):
        raise HeardError(f"--set {text!r}: {name} is not a detector parameter", hint=_HINT)
    values = []
    for item in rest.split(","):
        if not _WHOLE.fullmatch(item.strip()):
            raise HeardError(f"--set {text!r}: {item.strip()!r} is not a whole number",
                             hint=_HINT)
        values.append(int(item.strip()))
    if len(set(values)) != len(values):
        raise HeardError(f"--set {text!r}: a value is given twice", hint=_HINT)
    return Setting(name, tuple(values))


def combinations(settings: Sequence[Setting], base: dict[str, int] | None = None
                 ) -> list[dict[str, int]]:
    """Every combination of the settings' values (the first setting varies slowest), each
    checked with ``base`` under it as the firmware would check a config file."""
    if not settings:
        raise HeardError("nothing to sweep: give at least one --set NAME=V1,V2", hint=_HINT)
    names = [s.name for s in settings]
    if len(set(names)) != len(names):
        raise HeardError("a parameter is set twice: give all its values in one --set",
                         hint=_HINT)
    count = math.prod(len(s.values) for s in settings)
    if count > MAX_COMBINATIONS:
        raise HeardError(f"{count} combinations is more than {MAX_COMBINATIONS}",
                         hint="sweep fewer values at once")
    grid = [dict(zip(names, values, strict=True))
            for values in itertools.product(*(s.values for s in settings))]
    for combo in grid:
        try:
            Params({**(base or {}), **combo})
        except ConfigError as exc:
            shown = ", ".join(f"{k}={v}" for k, v in combo.items())
            raise HeardError(f"{shown}: {exc}", hint="every combination must be a valid "
                             "configuration: `heard params` lists each parameter's range; "
                             "sweep related parameters together") from None
    return grid


def _keep_folder(keep: Path) -> Path:
    """``keep``, made if need be; refused when it holds anything (old predictions would be
    scored for files that fail, and a corpus is never empty)."""
    keep = Path(keep)
    if keep.exists() and not keep.is_dir():
        raise HeardError(f"--keep {keep}: not a folder")
    if keep.is_dir() and any(keep.iterdir()):
        raise HeardError(f"--keep {keep}: the folder is not empty",
                         hint="name a new or empty folder for this sweep's runs")
    try:
        keep.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HeardError(f"--keep {keep}: cannot make the folder ({exc.strerror})") from None
    return keep


def _check_corpora(corpora: Sequence[Path], calibrate: bool = False) -> None:
    """Each a corpus whose truth files all have their WAV, none given twice; with
    ``calibrate`` every WAV has two channels."""
    if not corpora:
        raise HeardError("no corpus to sweep over")
    if len({c.resolve() for c in corpora}) != len(corpora):
        raise HeardError("a corpus is given twice")
    for corpus in corpora:
        names = corpus_names(corpus)  # a corpus with truth, or a clear error
        wavs = wav_paths(corpus)
        without = sorted(set(names) - set(wavs))
        if without:
            raise HeardError(f"{corpus}: {len(without)} truth file(s) without a WAV, e.g. "
                             f"{without[0]}.truth.json",
                             hint="copy the corpus again, WAVs included")
        for name in names:  # scoring reads each WAV: one it cannot open would stop a run
            try:  # an open file: soundfile cannot encode a name that is not UTF-8
                with wavs[name].open("rb") as f:
                    channels = soundfile.info(f).channels
            except (OSError, RuntimeError):
                raise HeardError(f"{wavs[name]}: cannot read it as audio",
                                 hint="copy the corpus again; a file cut short still opens "
                                 "and is listed as failed") from None
            if calibrate and channels != 2:
                raise HeardError(f"{wavs[name]}: {channels} channel(s); --calibrate "
                                 "needs two microphones", hint="sweep it without --calibrate")


def defaults_in(combo: dict[str, int], base: dict[str, int]) -> bool:
    """Whether ``combo`` (over ``base``) leaves every parameter at its default."""
    defaults = {entry[0]: entry[1] for entry in entries()}
    return all(defaults[name] == value for name, value in {**base, **combo}.items())


def run_sweep(
    corpora: Path | Sequence[Path],
    settings: Sequence[Setting],
    *,
    config: Path | None = None,
    engine: str = "micropython",
    jobs: int | None = None,
    keep: Path | None = None,
    progress: Callable[[int, int, dict[str, int]], None] | None = None,
    calibrate: bool = False,
) -> list[SweepRow]:
    """Simulate and score the corpora once per combination, in order; each run's score
    covers the files of every corpus.

    ``keep``: write each run's ``config.json`` and predictions to ``keep/run-NN/pred`` (one
    corpus) or ``keep/run-NN/pred-K`` (the K-th of several) instead of a temporary folder.
    ``progress(i, n, combo)`` is called before each run. A failed file is named ``NAME``,
    or ``K/NAME`` with several corpora. With ``calibrate`` each file runs after a simulated
    ``heard calibrate`` (``heard.simulate.calibrated``), which sets the calibrated
    parameters, so they cannot be swept then."""
    corpora = [Path(corpora)] if isinstance(corpora, (str, Path)) else [Path(c) for c in corpora]
    if calibrate:
        chosen = sorted({s.name for s in settings} & set(STORED))
        if chosen:
            raise HeardError(f"--calibrate chooses {' and '.join(STORED)} for each file: "
                             f"{', '.join(chosen)} cannot be swept with it")
    _check_corpora(corpora, calibrate)
    base = base_overrides(config)
    grid = combinations(settings, base)
    several = len(corpora) > 1
    rows: list[SweepRow] = []
    with tempfile.TemporaryDirectory(prefix="heard-sweep-") as tmp:
        root = _keep_folder(keep) if keep is not None else Path(tmp)
        for i, combo in enumerate(grid):
            if progress is not None:
                progress(i, len(grid), combo)
            run_dir = root / f"run-{i + 1:02d}"
            run_dir.mkdir(parents=True, exist_ok=True)
            config_file = run_dir / "config.json"
            config_file.write_text(json.dumps({**base, **combo}, indent=1) + "\n")
            scores: list[CorpusScore] = []
            failures: dict[str, str] = {}
            for k, corpus in enumerate(corpora, 1):
                pred = run_dir / (f"pred-{k}" if several else "pred")
                run = (simulate_calibrated_dir(corpus, pred, engine, config_file, jobs)
                       if calibrate else simulate_dir(corpus, pred, engine, config_file, jobs))
                scores.append(evaluate_corpus(corpus, pred, allow_missing=True, vad=False))
                for name, exc in sorted(run.failures.items()):
                    failures[f"{k}/{name}" if several else name] = failure_reason(name, exc)
            score = CorpusScore([f for sc in scores for f in sc.files], scores[0].collar_s,
                                scores[0].tolerance_ms)
            rows.append(SweepRow(combo, score, failures))
    return rows


def row_metrics(row: SweepRow) -> dict[str, Any]:
    """The figures a sweep compares, as plain numbers (None where nothing was scored)."""
    s = row.score
    return {
        "der": s.der.rate,
        "talk_ratio_error_pp": s.talk_ratio_error_pp,
        "interruption_f1": s.interruptions.f1,
        "interruption_precision": s.interruptions.precision,
        "interruption_recall": s.interruptions.recall,
        "backchannels_as_interruptions": s.backchannel_error_fraction,
        "conversation_error": s.conversation_error,
        "speech_f1": s.speech.f1,
    }
