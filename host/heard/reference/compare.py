"""The firmware against the reference model: level errors and decision agreement.

``compare_wav(path)`` runs the firmware's file runner with ``--frames`` (``heard.simulate``,
MicroPython unix port by default) and ``heard.reference.model.reference_frames`` on the
very file the engine reads, and returns an ``Agreement``:

- per channel, the level error ``firmware - reference`` in dB over the frames whose
  reference level is above ``min_level_db`` (0 dB: every frame above the floor of the
  scale): largest absolute error, 99th and 99.5th percentile of the absolute error, mean
  absolute error and mean (bias);
- the share of frames on which the two agree on ``speech`` (either channel's voice
  activity), ``employee`` and ``customer`` (and, for diagnosis, ``vad0``, ``vad1``, ``near``);
- for diagnosis, the same error statistics for ``floor0``, ``floor1``, ``tdoa`` and
  ``evidence`` over every frame.

``run_firmware(samples)`` runs the firmware detector in this process instead (CPython, the
``micropython`` stand-in in ``esp32`` mode), for short synthetic signals in tests;
``pool(agreements)`` combines files into one ``Agreement`` over all their frames.
"""

from __future__ import annotations

import array
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from heard.config import load_config
from heard.mpshim import viper_mode
from heard.reference.model import FIELDS, as_params, frame_length, reference_frames
from heard.simulate.engines import run_engine
from heard.simulate.inputs import prepared_input
from heardcore.detector import Detector
from heardcore.events import PARTY_NAMES, Sink
from heardcore.params import Params

DECISIONS = ("speech", "employee", "customer")
DIAGNOSTICS = ("vad0", "vad1", "near")
VALUES = ("floor0", "floor1", "tdoa", "evidence")
_Q8 = ("level0", "level1", "floor0", "floor1", "evidence")  # dB Q8 and evidence Q8


@dataclass(frozen=True)
class ErrorStats:
    """Statistics of an error ``firmware - reference`` over ``frames`` frames."""

    frames: int
    max_abs: float
    p99_abs: float
    p995_abs: float
    mean_abs: float
    bias: float  # mean of firmware - reference

    @classmethod
    def of(cls, errors: np.ndarray) -> ErrorStats:
        if errors.size == 0:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        size = np.abs(errors)
        return cls(
            int(errors.size), float(size.max()), float(np.percentile(size, 99)),
            float(np.percentile(size, 99.5)), float(size.mean()), float(errors.mean()),
        )


@dataclass(frozen=True)
class Agreement:
    """How closely the firmware follows the reference on one file (or a pooled corpus)."""

    name: str
    channels: int
    frames: int
    min_level_db: float
    levels: tuple[ErrorStats, ...]  # dB, one per channel, frames above min_level_db
    agree: dict[str, float]  # DECISIONS and DIAGNOSTICS -> share of frames that agree
    values: dict[str, ErrorStats]  # VALUES -> error over every frame (for diagnosis)
    level_errors: tuple[np.ndarray, ...] = field(repr=False, compare=False)
    disagree: dict[str, np.ndarray] = field(repr=False, compare=False)  # frame indices

    @property
    def worst_decision(self) -> float:
        """The lowest agreement of ``speech``, ``employee`` and ``customer``."""
        return min(self.agree[name] for name in DECISIONS)


Attribution = tuple[str, int, int]  # mono: speaker, first frame, frames (``Sink.attributed``)


def frames_from_rows(
    rows: Sequence[Sequence[int]], attributions: Sequence[Attribution] = ()
) -> dict[str, np.ndarray]:
    """Frame values in ``Detector.FRAME_FIELDS`` order, in the reference's units (dB, units
    of evidence, booleans) and keyed like ``heard.reference.model.FIELDS``.

    Mono frames carry no party when they are written (the party of a spurt is decided when
    it ends): ``attributions`` give it to the talk frames (speech and near) of each spurt."""
    names = Detector.FRAME_FIELDS
    table = np.array(rows, dtype=np.int64).reshape(len(rows), len(names))
    out: dict[str, np.ndarray] = {}
    for k, name in enumerate(names):
        column = table[:, k]
        if name in _Q8:
            out[name] = column / 256.0
        elif name == "tdoa":
            out[name] = column.astype(float)
        else:
            out[name] = column != 0
    out["speech"] = out["vad0"] | out["vad1"]
    talk = out["speech"] & out["near"]
    for speaker, first, frames in attributions:
        span = slice(first, first + frames)
        out[speaker][span] |= talk[span]
    return {name: out[name] for name in FIELDS}


def firmware_frames(ndjson: str) -> dict[str, np.ndarray]:
    """The ``frame`` lines of an engine's output (``simrun --frames``), as ``frames_from_rows``."""
    lines = [json.loads(line) for line in ndjson.splitlines()
             if line.startswith(('{"type":"frame"', '{"type":"attributed"'))]
    rows = [row for row in lines if row["type"] == "frame"]
    if [row["i"] for row in rows] != list(range(len(rows))):
        raise ValueError("the engine's frame lines are not numbered 0, 1, 2, ...")
    attributions = [(row["speaker"], row["first"], row["frames"])
                    for row in lines if row["type"] == "attributed"]
    return frames_from_rows(
        [[row[name] for name in Detector.FRAME_FIELDS] for row in rows], attributions
    )


class _FrameRecorder(Sink):
    wants_frames = True

    def __init__(self) -> None:
        self.rows: list[tuple[int, ...]] = []
        self.attributions: list[Attribution] = []

    def frame(self, index: int, detector: Detector) -> None:
        self.rows.append(tuple(detector.frame_state()))

    def attributed(self, party: int, first_frame: int, frames: int) -> None:
        self.attributions.append((PARTY_NAMES[party], first_frame, frames))


def run_firmware(
    samples: np.ndarray, params: Params | Mapping[str, int] | None = None
) -> dict[str, np.ndarray]:
    """The firmware detector in this process (viper code in ``esp32`` mode) on int16 samples
    (n,) or (n, channels); a final partial frame is padded with zeros as by the runner."""
    p = as_params(params)
    x = np.asarray(samples, dtype=np.int16)
    if x.ndim == 1:
        x = x[:, None]
    n = frame_length(p)
    frames = -(-x.shape[0] // n)
    padded = np.zeros((frames * n, x.shape[1]), dtype="<i2")
    padded[: x.shape[0]] = x
    sink = _FrameRecorder()
    detector = Detector(p, x.shape[1], sink)
    with viper_mode("esp32"):
        for f in range(frames):
            detector.process(array.array("h", padded[f * n: (f + 1) * n].tobytes()))
        detector.finish()
    return frames_from_rows(sink.rows, sink.attributions)


def compare_frames(
    fw: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray], channels: int,
    min_level_db: float = 0.0, name: str = "",
) -> Agreement:
    """Compare two frame dicts (``firmware_frames``, ``reference_frames``) of one file."""
    frames = len(ref["level0"])
    if len(fw["level0"]) != frames:
        raise ValueError(f"{name}: the firmware has {len(fw['level0'])} frames, "
                         f"the reference {frames}")
    errors = []
    for c in range(channels):
        key = f"level{c}"
        above = ref[key] > min_level_db
        errors.append(np.asarray(fw[key][above] - ref[key][above]))
    disagree = {k: np.flatnonzero(fw[k] != ref[k]) for k in DECISIONS + DIAGNOSTICS}
    agree = {k: 1.0 - v.size / frames if frames else 1.0 for k, v in disagree.items()}
    values = {k: ErrorStats.of(np.asarray(fw[k] - ref[k])) for k in VALUES}
    return Agreement(name, channels, frames, min_level_db,
                     tuple(ErrorStats.of(e) for e in errors), agree, values, tuple(errors),
                     disagree)


def compare_wav(
    path: Path, config: Path | None = None, engine: str = "micropython",
    min_level_db: float = 0.0,
) -> Agreement:
    """Run the firmware (``engine``) and the reference on one WAV file and compare them.

    ``config`` is a JSON file of parameter overrides, used by both. The file is converted
    first as ``heard simulate`` would (other rates, other sample formats), and both models
    read the converted samples. Raises ``heard.errors.HeardError`` as ``heard simulate``.
    """
    path = Path(path)
    params = load_config(config) if config is not None else Params()
    with prepared_input(path) as prepared:
        result = run_engine(engine, prepared.path, config, frames=True)
        samples, _ = soundfile.read(str(prepared.path), dtype="int16", always_2d=True)
    fw = firmware_frames(result.ndjson)
    ref = reference_frames(samples, params)
    return compare_frames(fw, ref, samples.shape[1], min_level_db, path.name)


def pool(agreements: Sequence[Agreement], name: str = "pooled") -> Agreement:
    """One ``Agreement`` over every frame of several files: levels per channel index,
    decisions over all frames. (``values`` and ``disagree`` are left empty.)"""
    if not agreements:
        raise ValueError("nothing to pool")
    channels = max(a.channels for a in agreements)
    errors = tuple(
        np.concatenate([a.level_errors[c] for a in agreements if a.channels > c])
        for c in range(channels)
    )
    frames = sum(a.frames for a in agreements)
    agree = {
        k: 1.0 - sum(a.disagree[k].size for a in agreements) / frames if frames else 1.0
        for k in DECISIONS + DIAGNOSTICS
    }
    thresholds = {a.min_level_db for a in agreements}
    threshold = thresholds.pop() if len(thresholds) == 1 else float("nan")
    return Agreement(name, channels, frames, threshold,
                     tuple(ErrorStats.of(e) for e in errors), agree, {}, errors, {})
