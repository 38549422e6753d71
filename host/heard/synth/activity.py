"""The energy-based activity detector that turns a clean (dry) party track into truth segments.

A 10 ms frame (160 samples at 16 kHz) is speech when its RMS is above ``THRESHOLD_DBFS``.
Each turn is scaled to a speech level near ``SPEECH_DBFS`` before mixing, so the threshold
sits about 40 dB below speech: it catches soft consonants and ignores nothing but silence.
Pauses shorter than ``BRIDGE_MS`` are bridged; segments shorter than ``MIN_SEGMENT_MS`` are
dropped. See docs/TRUTH.md.
"""

from __future__ import annotations

import numpy as np

from heard.annotations import Segment, merge_segments
from heard.synth.tts import SAMPLE_RATE

FRAME_MS = 10
FRAME = SAMPLE_RATE * FRAME_MS // 1000
SPEECH_DBFS = -26.0  # nominal dry speech level (RMS of the loud frames of a turn)
THRESHOLD_DBFS = -66.0
BRIDGE_MS = 300  # pauses shorter than this do not split a segment
MIN_SEGMENT_MS = 30


def frame_rms(x: np.ndarray) -> np.ndarray:
    """RMS of consecutive 10 ms frames (the last frame zero-padded)."""
    n = -(-len(x) // FRAME)
    padded = np.zeros(n * FRAME, dtype=np.float64)
    padded[: len(x)] = x
    return np.sqrt(np.mean(padded.reshape(n, FRAME) ** 2, axis=1))


def speech_level(x: np.ndarray) -> float:
    """RMS over the frames within 20 dB of the loudest frame (the speech, not the pauses)."""
    rms = frame_rms(x)
    if rms.size == 0 or rms.max() == 0:
        return 0.0
    loud = rms[rms > rms.max() * 0.1]
    return float(np.sqrt(np.mean(loud**2)))


def scale_to(x: np.ndarray, dbfs: float) -> np.ndarray:
    """Scale an utterance so that its speech level is ``dbfs``."""
    level = speech_level(x)
    if level == 0:
        return x
    return (x * (10 ** (dbfs / 20) / level)).astype(np.float32)


def detect(x: np.ndarray, speaker: str) -> list[Segment]:
    """Speech segments of one clean party track, in ms on the 10 ms frame grid."""
    active = frame_rms(x) > 10 ** (THRESHOLD_DBFS / 20)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], active.astype(np.int8), [0]))))
    runs = [
        Segment(int(a) * FRAME_MS, int(b) * FRAME_MS, speaker)
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]
    # merge_segments bridges gaps <= its argument: on a 10 ms grid "< 300" is "<= 290".
    merged = merge_segments(runs, bridge_ms=BRIDGE_MS - FRAME_MS)
    return [s for s in merged if s.duration_ms >= MIN_SEGMENT_MS]
