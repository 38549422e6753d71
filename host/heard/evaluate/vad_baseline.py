"""The built-in baseline of every evaluation: WebRTC VAD speech / non-speech on the WAV.

WebRTC VAD (the ``webrtcvad`` binding of Chromium's GMM voice activity detector) decides
30 ms frames. It runs on every channel separately and a frame is speech when any channel
says so (frame-wise OR: a party may be audible mostly on its own mic). Each 30 ms decision
is copied onto the three 10 ms frames it covers, so it is scored on the same grid as the
predictor's speech F1; a trailing partial 30 ms frame counts as non-speech.
"""

from __future__ import annotations

import numpy as np
import webrtcvad

from heard.errors import HeardError
from heard.evaluate.corpus import Audio
from heard.evaluate.metrics import FRAME_MS, frame_counts
from heard.evaluate.scores import Counts

VAD_MODES = (0, 1, 2, 3)  # 0 = least aggressive (most speech), 3 = most aggressive
VAD_FRAME_MS = 30
_RATES = (8000, 16000, 32000, 48000)  # the rates WebRTC VAD accepts


def vad_frames(audio: Audio, mode: int, n_frames: int) -> np.ndarray:
    """Speech decisions of one VAD mode on the 10 ms grid of ``n_frames`` frames."""
    if audio.rate not in _RATES:
        raise HeardError(
            f"WebRTC VAD cannot run at {audio.rate} Hz",
            hint="corpus audio should be 16 kHz; resample it or pass --no-vad",
        )
    vad = webrtcvad.Vad(mode)
    step = audio.rate * VAD_FRAME_MS // 1000
    n_vad = audio.samples.shape[0] // step
    decisions = np.zeros(n_vad, dtype=bool)
    for channel in range(audio.channels):
        pcm = np.ascontiguousarray(audio.samples[: n_vad * step, channel])
        for k in range(n_vad):
            if not decisions[k]:
                decisions[k] = vad.is_speech(pcm[k * step : (k + 1) * step].tobytes(), audio.rate)
    grid = np.repeat(decisions, VAD_FRAME_MS // FRAME_MS)
    mask = np.zeros(n_frames, dtype=bool)
    mask[: min(n_frames, grid.size)] = grid[:n_frames]
    return mask


def vad_counts(audio: Audio, truth: np.ndarray) -> dict[int, Counts]:
    """Frame counts of every VAD mode against a truth speech mask on the 10 ms grid."""
    return {m: frame_counts(truth, vad_frames(audio, m, truth.size)) for m in VAD_MODES}
