"""Speech for `heard synth` from the espeak-ng command line tool, at 16 kHz.

espeak-ng is deterministic: the same text, voice, pitch and rate give the same samples. It
is run as a subprocess (``--stdout``) with a timeout; its 22.05 kHz output is resampled to
16 kHz with ``scipy.signal.resample_poly`` and trimmed to the first and last audible sample.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from heard.errors import HeardError

SAMPLE_RATE = 16000
ESPEAK = "espeak-ng"
_TIMEOUT_S = 30.0
_TRIM_DB = -50.0  # trim leading/trailing samples quieter than this, relative to the peak
_INSTALL_HINT = "install it with `sudo apt-get install espeak-ng` (or run `make setup`)"

# Accents (espeak-ng voices) and voice variants, by perceived gender.
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-029", "en-us-nyc")
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: accent, variant, pitch (0-99) and rate (words per minute)."""

    accent: str
    variant: str
    pitch: int
    rate: int

    @property
    def name(self) -> str:
        return f"{self.accent}+{self.variant}"

    def to_json(self) -> dict[str, object]:
        return {"voice": self.name, "pitch": self.pitch, "rate": self.rate}


def random_voice(rng: np.random.Generator, avoid: tuple[Voice, ...] = ()) -> Voice:
    """A voice whose accent+variant differs from every voice in ``avoid``."""
    taken = {v.name for v in avoid}
    for _ in range(100):
        female = bool(rng.random() < 0.5)
        variant = str(rng.choice(FEMALE_VARIANTS if female else MALE_VARIANTS))
        accent = str(rng.choice(ACCENTS))
        if f"{accent}+{variant}" not in taken:
            break
    pitch = int(rng.integers(45, 76) if female else rng.integers(25, 56))
    return Voice(accent, variant, pitch, int(rng.integers(145, 186)))


def espeak_version() -> str:
    """The espeak-ng version line; HeardError with an install hint when it is missing."""
    if shutil.which(ESPEAK) is None:
        raise HeardError(f"{ESPEAK} is not installed; `heard synth` needs it", _INSTALL_HINT)
    try:
        done = subprocess.run(
            [ESPEAK, "--version"], capture_output=True, text=True, timeout=_TIMEOUT_S, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise HeardError(f"{ESPEAK} does not run ({exc})", _INSTALL_HINT) from None
    return done.stdout.strip().split(" Data at:")[0].strip()


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Samples and rate of espeak's stdout WAV (its size fields are placeholders)."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise HeardError(f"{ESPEAK} wrote no WAV data", _INSTALL_HINT)
    pos, rate, bits = 12, 0, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk == b"fmt ":
            _fmt, _channels, rate = struct.unpack("<HHI", data[pos + 8 : pos + 16])
            bits = struct.unpack("<H", data[pos + 22 : pos + 24])[0]
        elif chunk == b"data":
            body = data[pos + 8 :]
            if bits != 16 or rate <= 0:
                raise HeardError(f"{ESPEAK} wrote an unexpected WAV format ({bits} bit)")
            samples = np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2")
            return samples.astype(np.float32) / 32768.0, rate
        pos += 8 + size + (size & 1)
    raise HeardError(f"{ESPEAK} wrote a WAV file without data", _INSTALL_HINT)


def trim(x: np.ndarray) -> np.ndarray:
    """Cut leading and trailing samples more than 50 dB below the peak."""
    if x.size == 0:
        return x
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) > peak * 10 ** (_TRIM_DB / 20))
    return x[loud[0] : loud[-1] + 1]


def speak(text: str, voice: Voice, rate: int | None = None) -> np.ndarray:
    """Synthesize one utterance: trimmed float32 samples at 16 kHz, peak ~0.5-1."""
    cmd = [ESPEAK, "-v", voice.name, "-p", str(voice.pitch), "-s", str(rate or voice.rate)]
    cmd += ["--stdout", "--", text]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise HeardError(f"{ESPEAK} is not installed", _INSTALL_HINT) from None
    except subprocess.TimeoutExpired:
        raise HeardError(f"{ESPEAK} took over {_TIMEOUT_S:.0f} s on {text!r}") from None
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        raise HeardError(f"{ESPEAK} failed on voice {voice.name}: {err}", _INSTALL_HINT)
    x, rate_in = _parse_wav(done.stdout)
    ratio = Fraction(SAMPLE_RATE, rate_in)
    y = resample_poly(x, ratio.numerator, ratio.denominator) if ratio != 1 else x
    return trim(np.asarray(y, dtype=np.float32))


def speak_all(
    items: list[tuple[str, Voice, int | None]], workers: int = 2
) -> list[np.ndarray]:
    """Synthesize (text, voice, rate) items in parallel threads; results in input order."""
    if workers <= 1 or len(items) <= 1:
        return [speak(t, v, r) for t, v, r in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda item: speak(*item), items))
