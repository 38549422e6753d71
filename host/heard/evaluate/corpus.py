"""Finding and reading the files of a corpus directory and of a prediction directory.

A corpus holds ``NAME.wav`` (16 kHz int16, channel 0 employee-facing, channel 1
customer-facing; ``NAME.WAV`` too), ``NAME.rttm`` and ``NAME.truth.json``; a prediction
directory holds ``NAME.rttm`` and ``NAME.json``. Problems the user can fix become
``HeardError``s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from heard.annotations import Annotation, read_annotation
from heard.errors import HeardError
from heard.simulate.inputs import EMPTY_HINT, pcm16
from heard.wav_files import wav_files

TRUTH_SUFFIX = ".truth.json"


@dataclass(frozen=True)
class Audio:
    """Samples as int16, shape (frames, channels), and the sample rate."""

    samples: np.ndarray
    rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_ms(self) -> int:
        return int(round(self.samples.shape[0] * 1000 / self.rate))


def _require_dir(directory: Path, what: str) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise HeardError(
            f"{what} directory {directory} does not exist",
            hint="check the path; a corpus is written by `heard synth --out DIR`",
        )
    return directory


def corpus_names(corpus_dir: Path) -> list[str]:
    """Names of the files of a corpus: every ``NAME.truth.json``, sorted."""
    corpus_dir = _require_dir(corpus_dir, "corpus")
    names = sorted(p.name[: -len(TRUTH_SUFFIX)] for p in corpus_dir.glob("*" + TRUTH_SUFFIX))
    if not names:
        raise HeardError(
            f"corpus directory {corpus_dir} has no *{TRUTH_SUFFIX} files",
            hint="is this a corpus written by `heard synth`? (or a prediction directory?)",
        )
    return names


def wav_paths(directory: Path) -> dict[str, Path]:
    """The WAV files of a directory by name, sorted, as ``heard simulate DIR`` takes them
    (``NAME.WAV`` too); at least one."""
    directory = _require_dir(directory, "corpus")
    files = wav_files(directory)
    if not files:
        raise HeardError(f"{directory} has no *.wav files", hint="pass a corpus directory")
    return files


def read_truth(corpus_dir: Path, name: str) -> Annotation:
    corpus_dir = Path(corpus_dir)
    return read_annotation(corpus_dir / f"{name}.rttm", corpus_dir / f"{name}{TRUTH_SUFFIX}")


def has_prediction(pred_dir: Path, name: str) -> bool:
    return all((Path(pred_dir) / f"{name}{ext}").is_file() for ext in (".rttm", ".json"))


def read_prediction(pred_dir: Path, name: str) -> Annotation:
    pred_dir = Path(pred_dir)
    return read_annotation(pred_dir / f"{name}.rttm", pred_dir / f"{name}.json")


def read_wav(path: Path) -> Audio:
    """Read a WAV file as int16 samples, always two-dimensional.

    Read as float first: asked for int16, soundfile would not scale a float WAV's samples
    (full scale 1.0) but truncate them to 0 and +-1, which scores as silence."""
    try:  # an open file, not a name: soundfile cannot encode a name that is not UTF-8
        with Path(path).open("rb") as f:
            samples, rate = soundfile.read(f, dtype="float64", always_2d=True)
    except OSError as exc:
        raise HeardError(f"{path}: cannot read ({exc.strerror})",
                         hint="check the path, and that you may read the file") from None
    except RuntimeError as exc:  # LibsndfileError; its str() names the file object
        if Path(path).stat().st_size == 0:
            raise HeardError(f"{path}: empty file", hint=EMPTY_HINT) from None
        why = getattr(exc, "error_string", str(exc)).rstrip(".")
        raise HeardError(f"{path}: cannot read audio ({why})", hint="is it a WAV file?") from None
    if samples.shape[1] not in (1, 2):
        raise HeardError(
            f"{path}: {samples.shape[1]} channels",
            hint="heard expects mono or stereo (ch0 employee side, ch1 customer side)",
        )
    return Audio(np.ascontiguousarray(pcm16(samples)), int(rate))
