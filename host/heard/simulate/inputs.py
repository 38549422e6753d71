"""Input WAV files for ``heard simulate``: checked, and converted when the detector needs it.

The detector takes 16 kHz 16-bit PCM, mono or stereo. ``prepared_input(path)`` checks the
header with the firmware's own reader (``heardcore.wavfile`` in inspection mode) and yields
the path the engine should read: the file itself when it is already in that format,
otherwise a temporary 16 kHz int16 copy (resampled with ``scipy.signal.resample_poly``,
8/24/32-bit integer and 32/64-bit float samples converted), deleted afterwards, with a
one-line notice saying what was done. Files the detector cannot take raise ``HeardError``
with the reason: not a WAV, empty, truncated, more than two channels, a sample rate no
recording has (a damaged header), unreadable.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from heard.errors import HeardError
from heardcore.wavfile import FORMAT_FLOAT, FORMAT_PCM, RATE, WavError, WavReader, format_name

_CONVERT_HINT = "convert it first, e.g. `ffmpeg -i IN -ac 2 -ar 16000 OUT.wav`"
CUT_OFF_HINT = "the file was cut off (an interrupted copy or recording); copy it again"
EMPTY_HINT = "nothing was ever written to it; record it, or copy it from its source, again"
# Sample rates taken. Below 4 kHz no speech band is left (it ends at half the rate) and
# upsampling would blow a damaged header's "1 Hz" file up 16000-fold in memory; 384 kHz is
# the highest rate audio interfaces record.
MIN_RATE, MAX_RATE = 4000, 384000
_PCM_BITS = (8, 16, 24, 32)
_FLOAT_BITS = (32, 64)


def cut_off(exc: WavError) -> bool:
    """Whether the reader's refusal means the file ends too soon: a copy or recording that
    did not finish (0 bytes, or a header cut short)."""
    return str(exc).startswith(("empty file", "truncated header"))


@dataclass(frozen=True)
class WavInfo:
    """What a WAV header says (``frames`` per channel, as far as the file holds them)."""

    rate: int
    channels: int
    bits: int
    format: int
    frames: int
    declared_frames: int
    truncated: bool

    @property
    def needs_conversion(self) -> bool:
        return not (self.format == FORMAT_PCM and self.bits == 16 and self.rate == RATE)

    def describe(self) -> str:
        kind = "float" if self.format == FORMAT_FLOAT else "PCM"
        return f"{self.rate} Hz {self.bits}-bit {kind}"


@dataclass(frozen=True)
class PreparedInput:
    """The file an engine reads, and what was done to make it (None: the original)."""

    path: Path
    notice: str | None


def inspect_wav(path: Path) -> WavInfo:
    """Read and check a WAV header; ``HeardError`` for anything the detector cannot take."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            wav = WavReader(f, False)
    except IsADirectoryError:
        raise HeardError(f"{path}: is a directory, not a WAV file") from None
    except OSError as exc:
        raise HeardError(f"{path}: cannot read ({exc.strerror})",
                         hint="check the path, and that you may read the file") from None
    except WavError as exc:
        if str(exc).startswith("empty file"):
            raise HeardError(f"{path}: {exc}", hint=EMPTY_HINT) from None
        if cut_off(exc):
            raise HeardError(f"{path}: unreadable WAV ({exc})", hint=CUT_OFF_HINT) from None
        if str(exc).startswith("not a WAV file"):
            raise HeardError(f"{path}: {exc}", hint=_CONVERT_HINT) from None
        raise HeardError(f"{path}: unreadable WAV ({exc})", hint=_CONVERT_HINT) from None
    info = WavInfo(wav.rate, wav.channels, wav.bits, wav.format, wav.frames,
                   wav.declared_frames, wav.truncated)
    if info.truncated:
        raise HeardError(
            f"{path}: truncated: the header declares {info.declared_frames / info.rate:.2f} s "
            f"of audio, the file holds {info.frames / info.rate:.2f} s",
            hint=CUT_OFF_HINT,
        )
    if info.frames == 0:
        raise HeardError(f"{path}: empty: the WAV file has no samples",
                         hint="nothing was recorded into it; record it again")
    if info.channels > 2:
        raise HeardError(
            f"{path}: {info.channels} channels; the detector takes 1 or 2",
            hint="keep the employee-facing and customer-facing channels, "
                 "e.g. `sox IN OUT.wav remix 1 2`",
        )
    if not MIN_RATE <= info.rate <= MAX_RATE:
        raise HeardError(
            f"{path}: the header says {info.rate} Hz; heard takes {MIN_RATE} to {MAX_RATE} Hz",
            hint="the header is probably damaged; convert the file again from its source",
        )
    allowed = _FLOAT_BITS if info.format == FORMAT_FLOAT else _PCM_BITS
    if info.bits not in allowed:
        raise HeardError(
            f"{path}: {info.bits}-bit {format_name(info.format)} samples are not supported",
            hint=_CONVERT_HINT,
        )
    return info


def convert_to_detector_format(path: Path, info: WavInfo, out: Path) -> None:
    """Write ``path`` as 16 kHz int16 PCM to ``out`` (resampled and requantized)."""
    import soundfile
    from scipy.signal import resample_poly

    # Open files, not names: soundfile cannot encode a file name that is not UTF-8.
    try:
        with path.open("rb") as f:
            samples, rate = soundfile.read(f, dtype="float64", always_2d=True)
        if rate != RATE:
            g = gcd(int(rate), RATE)
            samples = resample_poly(samples, RATE // g, int(rate) // g, axis=0)
    except (OSError, RuntimeError) as exc:  # LibsndfileError is a RuntimeError
        raise HeardError(f"{path}: cannot read audio ({exc})", hint=_CONVERT_HINT) from None
    except MemoryError:
        raise HeardError(f"{path}: too long to convert in memory",
                         hint="convert it first, or cut it into parts") from None
    with out.open("wb") as f:
        soundfile.write(f, pcm16(samples), RATE, subtype="PCM_16", format="WAV")


def pcm16(samples: np.ndarray) -> np.ndarray:
    """Samples read as float (full scale 1.0, as soundfile reads any format) as int16."""
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


@contextmanager
def prepared_input(path: Path) -> Iterator[PreparedInput]:
    """The WAV an engine should read for ``path``; a converted copy is deleted on exit."""
    path = Path(path)
    info = inspect_wav(path)
    if not info.needs_conversion:
        yield PreparedInput(path, None)
        return
    changes = []
    if info.rate != RATE:
        changes.append(f"resampled {info.rate} Hz to {RATE} Hz")
    if info.format != FORMAT_PCM or info.bits != 16:
        kind = "float" if info.format == FORMAT_FLOAT else "PCM"
        changes.append(f"converted {info.bits}-bit {kind} to 16-bit PCM")
    with tempfile.TemporaryDirectory(prefix="heard-simulate-") as tmp:
        converted = Path(tmp) / (path.stem + ".16k.wav")
        convert_to_detector_format(path, info, converted)
        yield PreparedInput(converted, f"{path.name}: {', '.join(changes)}")
