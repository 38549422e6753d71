"""``heard calibrate`` simulated on a synthetic file whose truth is known.

On a device the installer has the employee talk, then the customer, and the check reads
the live frames of each phase. Here the firmware runs over the file with ``--frames``;
each frame becomes the live frame the device would send (``heardcore.wire.live_values``),
and the truth picks each party's phase: the frames where that party alone talks, their
first ``PHASE_S`` seconds, one every ``LIVE_INTERVAL_MS`` as the device sends them. The
same ``heard.device.calibration`` then judges the placement and chooses the calibration a
device would store, so ``heard simulate DIR --calibrate``, ``heard sweep --calibrate``,
`make bench` and `make placement` can report what a calibrated device would measure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from heard.annotations import Annotation, AnnotationError, prediction_dir
from heard.config import base_overrides
from heard.device import calibration as cal
from heard.errors import HeardError
from heard.evaluate.corpus import read_truth, wav_paths
from heard.simulate.engines import run_each, simulate_file, write_prediction, writing
from heard.simulate.protocol import SimulationResult
from heardcore import wire
from heardcore.detector import Detector

PHASE_S = 10  # as long as `heard calibrate --seconds` by default
LIVE_INTERVAL_MS = 50  # as often as the device sends live frames to `heard calibrate`


def live_frames(result: SimulationResult) -> list[dict[str, int]]:
    """The live frame a device would send after each frame of a ``--frames`` run (its
    uptime is the frame's time in the file)."""
    frames = []
    for line in result.ndjson.splitlines():
        row = json.loads(line)
        if row.get("type") != "frame":
            continue
        state = [row[name] for name in Detector.FRAME_FIELDS]
        values = wire.live_values(row["i"] * result.frame_ms, state)
        frames.append(dict(zip(wire.LIVE_FIELDS, values, strict=True)))
    return frames


def phase(frames: Sequence[dict[str, int]], truth: Annotation, side: str, frame_ms: int,
          seconds: float = PHASE_S, interval_ms: int = LIVE_INTERVAL_MS) -> list[dict[str, int]]:
    """The live frames of ``side``'s phase: frames where the truth has ``side`` talking and
    nobody else, the first ``seconds`` of them, one every ``interval_ms``."""
    talking: list[set[str]] = [set() for _ in frames]
    for seg in truth.segments:
        for i in range(seg.start_ms // frame_ms, min(len(frames), -(-seg.end_ms // frame_ms))):
            talking[i].add(seg.speaker)
    alone = [f for f, who in zip(frames, talking, strict=True) if who == {side}]
    step = max(1, interval_ms // frame_ms)
    return alone[:int(seconds * 1000) // frame_ms:step]


def calibrate(wav: Path, truth: Annotation, engine: str = "micropython",
              config: Path | None = None) -> cal.Result:
    """The verdict and calibration ``heard calibrate`` would give on ``wav``'s device (with
    ``config`` on it before)."""
    result = simulate_file(wav, engine, config, frames=True)
    if result.channels != 2:
        raise HeardError(f"{wav}: heard calibrate needs two microphones; this file has one")
    frames = live_frames(result)
    unit = cal.tdoa_unit(result.params)
    employee, customer = (
        cal.measure(side, phase(frames, truth, side, result.frame_ms), unit, trim_ms=0)
        for side in (cal.EMPLOYEE, cal.CUSTOMER))
    return cal.judge(employee, customer, result.params)


@dataclass(frozen=True)
class CalibratedRun:
    """What ``simulate_calibrated_dir`` did: each file's calibration and detector run, and
    the files that failed (as ``simulate_dir``)."""

    calibrations: dict[str, cal.Result]
    results: dict[str, SimulationResult]
    failures: dict[str, HeardError]


def simulate_calibrated_dir(
    corpus: Path, out_dir: Path, engine: str = "micropython", config: Path | None = None,
    jobs: int | None = None,
    progress: Callable[[str, SimulationResult | None], None] | None = None,
) -> CalibratedRun:
    """Each WAV of a synthetic corpus as its own installation, ``config`` on its device:
    calibrate it as above, then simulate it with what the calibration stored on top of
    ``config`` (nothing, for a placement it would have the installer move) into
    ``out_dir/NAME.rttm`` and ``.json``, and the settings it ran with into
    ``NAME.config.json``. A file without its truth, or with one microphone, fails alone."""
    corpus, out_dir = Path(corpus), Path(out_dir)
    wavs = wav_paths(corpus)  # NAME.WAV too, as `heard simulate DIR`
    base = base_overrides(config)  # one clear error up front rather than one per file
    prediction_dir(corpus, out_dir)

    def one(name: str) -> tuple[cal.Result, SimulationResult]:
        wav = wavs[name]
        try:
            truth = read_truth(corpus, name)
        except AnnotationError as exc:
            raise HeardError(f"{wav}: no truth to calibrate with ({exc})",
                             hint="--calibrate needs a corpus written by `heard synth`") from None
        result = calibrate(wav, truth, engine, config)
        settings = out_dir / f"{name}.config.json"
        with writing(settings):
            settings.write_text(json.dumps({**base, **result.calibration()}))
        run = simulate_file(wav, engine, settings)
        write_prediction(run, out_dir / f"{name}.rttm", out_dir / f"{name}.json", name)
        return result, run

    def done(name: str, pair: tuple[cal.Result, SimulationResult] | None) -> None:
        if progress is not None:
            progress(name, pair[1] if pair else None)

    pairs, failures = run_each(list(wavs), one, jobs, done)
    return CalibratedRun({n: p[0] for n, p in pairs.items()}, {n: p[1] for n, p in pairs.items()},
                         failures)


def verdict_counts(calibrations: Iterable[cal.Result]) -> str:
    """"22 good, 7 usable, 1 move the device; 1 dB unit on 13"."""
    results = list(calibrations)
    wide = sum(r.level_unit_db10 == cal.WIDE_LEVEL_UNIT_DB10 for r in results)
    return cal.verdict_summary([r.verdict for r in results], wide)
