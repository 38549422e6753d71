"""Reference predictors for ``heard baseline``, written as prediction files.

- ``trivial``: one ``employee`` segment covering the whole file, no events, one
  conversation covering the file: the score of knowing nothing.
- ``energy``: the frame-energy detector of ``heard.evaluate.energy``.

Each prediction is ``NAME.rttm`` + ``NAME.json`` (``heard.annotations`` formats), the JSON
carrying ``predictor``, ``channels`` and ``duration`` as extra keys.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from heard.annotations import (
    EMPLOYEE,
    Annotation,
    Segment,
    annotation_to_json,
    prediction_dir,
    write_json,
    write_rttm,
)
from heard.errors import HeardError
from heard.evaluate.corpus import Audio, read_wav, wav_paths
from heard.evaluate.energy import energy_predict


def trivial_predict(audio: Audio) -> Annotation:
    duration = audio.duration_ms
    if duration == 0:
        return Annotation()
    return Annotation(segments=[Segment(0, duration, EMPLOYEE)], conversations=[(0, duration)])


PREDICTORS: dict[str, Callable[[Audio], Annotation]] = {
    "trivial": trivial_predict,
    "energy": energy_predict,
}


def run_baseline(corpus_dir: Path, out_dir: Path, kind: str) -> list[str]:
    """Predict every ``*.wav`` (any case) of ``corpus_dir`` into ``out_dir``; returns the
    names written."""
    if kind not in PREDICTORS:
        choices = ", ".join(PREDICTORS)
        raise HeardError(f"unknown baseline {kind!r}", hint=f"choose one of {choices}")
    wavs = wav_paths(corpus_dir)
    out_dir = prediction_dir(Path(corpus_dir), out_dir)
    predict = PREDICTORS[kind]
    for name, wav in wavs.items():
        audio = read_wav(wav)
        prediction = predict(audio)
        prediction.extra = {
            "predictor": kind,
            "channels": audio.channels,
            "duration": round(audio.duration_ms / 1000, 3),
        }
        write_rttm(out_dir / f"{name}.rttm", name, prediction.segments)
        write_json(out_dir / f"{name}.json", annotation_to_json(prediction))
    return list(wavs)
