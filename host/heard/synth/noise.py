"""Dry store-noise sources for `heard synth`: HVAC rumble, checkout beeps and background music.

Each generator returns float32 samples at 16 kHz, drawn only from the given random generator,
at roughly unit RMS while active (the mixer sets the final levels). Distant talkers are
speech (``heard.synth.tts``) and are scheduled by ``heard.synth.compose``.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt

from heard.synth.tts import SAMPLE_RATE


def _normalize(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return (x / rms).astype(np.float32) if rms > 0 else x.astype(np.float32)


def hvac(rng: np.random.Generator, n: int) -> np.ndarray:
    """Air-handling noise: brown-ish rumble below a few hundred Hz, a little hiss, mains hum."""
    white = rng.standard_normal(n)
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    corner = rng.uniform(150, 500)
    shape = 1 / np.sqrt(1 + (freqs / corner) ** 2)  # -6 dB/octave above the corner
    shape *= 1 / np.sqrt(1 + (20 / np.maximum(freqs, 1.0)) ** 4)  # nothing below ~20 Hz
    shape += 0.03 / np.sqrt(1 + freqs / 1000)  # faint broadband hiss of the vents
    x = np.fft.irfft(np.fft.rfft(white) * shape, n)
    t = np.arange(n) / SAMPLE_RATE
    mains = 50.0 if rng.random() < 0.5 else 60.0
    hum = sum(a * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi))
              for k, a in ((2, 0.3), (4, 0.1), (6, 0.05)))
    flutter = 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t)  # the fan's slow beat
    x = _normalize(x) * flutter + rng.uniform(0, 1) * hum
    return _normalize(x)


def beeps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Checkout scanner beeps: bursts of 1-5 short 1-3 kHz tones, a burst every 5-20 s."""
    freq = rng.uniform(1000, 3000)
    square = rng.random() < 0.4  # some scanners beep with odd harmonics
    out = np.zeros(n)
    t = float(rng.uniform(1, 8))
    while t < n / SAMPLE_RATE - 1:
        for _ in range(int(rng.integers(1, 6))):
            length = int(rng.uniform(0.06, 0.2) * SAMPLE_RATE)
            start = int(t * SAMPLE_RATE)
            if start + length >= n:
                break
            tt = np.arange(length) / SAMPLE_RATE
            tone = np.sin(2 * np.pi * freq * tt)
            if square:
                tone += sum(np.sin(2 * np.pi * k * freq * tt) / k for k in (3, 5))
            ramp = np.minimum(1, np.minimum(np.arange(length), np.arange(length)[::-1]) / 40)
            out[start : start + length] += tone * ramp
            t += length / SAMPLE_RATE + rng.uniform(0.4, 2.5)
        t += rng.uniform(5, 20)
    active = out != 0
    if not active.any():
        return out.astype(np.float32)
    return (out / np.sqrt(np.mean(out[active] ** 2))).astype(np.float32)


_PROGRESSIONS = ((0, 7, 9, 5), (0, 5, 7, 5), (9, 5, 0, 7), (0, 9, 5, 7), (2, 7, 0, 0))


def music(rng: np.random.Generator, n: int) -> np.ndarray:
    """Background music: a looping chord progression with bass and a soft pad, band-limited
    like a ceiling speaker."""
    bpm = rng.uniform(70, 120)
    bar = int(4 * 60 / bpm * SAMPLE_RATE)
    key = 48 + int(rng.integers(0, 12))  # MIDI note of the tonic (C3..B3)
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    decay = rng.uniform(1.0, 3.0)
    partials = rng.uniform(0.2, 0.6)  # brightness
    out = np.zeros(n + bar)
    t_bar = np.arange(bar) / SAMPLE_RATE
    env = (1 - np.exp(-t_bar / 0.01)) * np.exp(-t_bar / decay)
    for b, start in enumerate(range(0, n, bar)):
        root = key + progression[b % len(progression)]
        minor = progression[b % len(progression)] in (2, 9)
        notes = [root, root + (3 if minor else 4), root + 7, root - 12]
        chord = np.zeros(bar)
        for note in notes:
            f = 440.0 * 2 ** ((note - 69) / 12)
            for k in range(1, 5):
                if k * f < SAMPLE_RATE / 2:
                    chord += partials ** (k - 1) * np.sin(2 * np.pi * k * f * t_bar)
        out[start : start + bar] += chord * env
    sos = butter(2, [150, 6000], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    return _normalize(sosfilt(sos, out[:n]))
