"""The detector's floating-point reference model: docs/DETECTOR.md sections 1-5 in numpy.

``reference_frames(samples, params)`` computes, per 10 ms frame and in float64, the
quantities the firmware reports as its frame fields (``heardcore.detector.FRAME_FIELDS``),
in the same units except for the fixed-point scaling: levels and floors in dB (not dB Q8),
``tdoa`` in x16 of sign-correlation counts (smoothed), ``evidence`` in units of evidence
(not Q8), decisions as booleans. It is written from the specification, with exact
arithmetic where the firmware shifts and rounds; parameters are the firmware's own
``heardcore.params.Params``, so the two models never disagree on defaults.

The filters and the per-frame correlation are vectorised (``scipy.signal.lfilter``,
frames by reshape); the recursive trackers (noise floor, voice activity, speech peak,
correlation smoothing over speech frames, speaker hysteresis, mono spurts) are plain loops
over frames.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.signal import lfilter

from heardcore.params import Params  # importable: `heard` installed the micropython stand-in

RATE = 16000
FIELDS = (
    "level0", "level1", "floor0", "floor1", "vad0", "vad1", "speech", "near", "tdoa",
    "evidence", "employee", "customer",
)
_VALUES = ("level0", "level1", "floor0", "floor1", "tdoa", "evidence")  # the rest are flags


def as_params(params: Params | Mapping[str, int] | None) -> Params:
    """``Params`` as given, or the defaults updated with a mapping of overrides."""
    if params is None:
        return Params()
    if isinstance(params, Params):
        return params
    return Params(dict(params))


def frame_length(p: Params) -> int:
    """Samples per channel per frame (160 at 10 ms)."""
    return RATE * p.frame_ms // 1000


def _as_frames(samples: np.ndarray, n: int) -> np.ndarray:
    """int16 samples (n,) or (n, channels) as float64 (channels, frames, n); a final partial
    frame is padded with zeros, as the file runner does."""
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] not in (1, 2):
        raise ValueError(f"samples must be (n,) or (n, 1 or 2 channels), not {x.shape}")
    frames = -(-x.shape[0] // n)
    padded = np.zeros((frames * n, x.shape[1]))
    padded[: x.shape[0]] = x
    return padded.T.reshape(x.shape[1], frames, n)


# --- 1. front end ---------------------------------------------------------------------------


def highpass(x: np.ndarray, shift: int) -> np.ndarray:
    """Two one-pole stages ``y[t] = y[t-1] - y[t-1] / 2**shift + (u[t] - u[t-1])``, state 0."""
    keep = 1.0 - 2.0**-shift
    stage1 = lfilter([1.0, -1.0], [1.0, -keep], x)
    return np.asarray(lfilter([1.0, -1.0], [1.0, -keep], stage1))


def emphasis(y: np.ndarray) -> np.ndarray:
    """First difference ``e[t] = y[t] - y[t-1]`` along the last axis, with ``y[-1] = 0``."""
    return np.diff(y, axis=-1, prepend=0.0)


def frame_levels(e: np.ndarray) -> np.ndarray:
    """``20 log10(mean |e|)`` per frame (rows of ``e``), floored at 0 dB."""
    mean = np.abs(e).mean(axis=-1)
    with np.errstate(divide="ignore"):
        level = 20.0 * np.log10(mean)
    return np.maximum(level, 0.0)  # also turns log10(0) = -inf into 0 dB


# --- 2. voice activity ----------------------------------------------------------------------


def smoothed_levels(levels: np.ndarray, p: Params) -> np.ndarray:
    """``S += (L - S) * level_smooth``, starting from the first frame's level."""
    share = p.level_smooth_permille / 1000.0
    if share == 1.0 or levels.size == 0:
        return levels.copy()
    out, _ = lfilter([share], [1.0, share - 1.0], levels, zi=[(1.0 - share) * levels[0]])
    return np.asarray(out)


def zero_crossings(y: np.ndarray) -> np.ndarray:
    """Sign changes of ``y`` (rows: frames) per frame, the sign being ``y >= 0`` and the one
    before the first sample positive (``y[-1] = 0``)."""
    positive = (y >= 0).reshape(-1)
    changed = positive != np.concatenate(([True], positive[:-1]))
    return np.asarray(changed.reshape(y.shape).sum(axis=-1))


def steady_tone(levels: np.ndarray, crossings: np.ndarray, p: Params) -> np.ndarray:
    """Frames after which a channel's zero crossings (at least ``tone_min_hz``'s) and level
    have held steady for ``tone_ms``, and after such a tone while the level does not rise:
    a tone and its echo, not speech."""
    need = p.tone_ms // p.frame_ms
    tone = np.zeros(levels.size, dtype=bool)
    if need == 0:
        return tone
    fewest = 2 * p.tone_min_hz * p.frame_ms // 1000
    level_step = p.tone_level_db10 / 10.0
    steady = 0
    last_crossings, last_level = 0, float(levels[0]) if levels.size else 0.0
    for f, (z, level) in enumerate(zip(crossings.tolist(), levels.tolist(), strict=True)):
        if z >= fewest and abs(z - last_crossings) <= 1 and abs(level - last_level) <= level_step:
            steady = min(max(steady, 0) + 1, need)
        elif (steady >= need or steady < 0) and level - last_level <= level_step:
            steady = -1  # the tone's end and echo
        else:
            steady = 0
        last_crossings, last_level = z, level
        tone[f] = steady >= need or steady < 0
    return tone


def voice_activity(
    levels: np.ndarray, p: Params, tone: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One channel's noise floor (dB) and speech flag per frame; ``tone`` (``steady_tone``)
    marks frames that are no speech whatever their level."""
    smooth = smoothed_levels(levels, p)
    frames_per_s = 1000.0 / p.frame_ms
    rise = p.floor_rise_db10_per_s / 10.0 / frames_per_s
    startup_rise = p.floor_startup_rise_db10_per_s / 10.0 / frames_per_s
    fall = 2.0**-p.floor_fall_shift
    vad_on, vad_off = p.vad_on_db10 / 10.0, p.vad_off_db10 / 10.0
    floor = np.zeros(levels.size)
    speech = np.zeros(levels.size, dtype=bool)
    noise = float(levels[0]) if levels.size else 0.0
    on = False
    since = 0  # frames since the SNR last held the speech on
    half = p.floor_window_ms // p.frame_ms // 2
    low = prev = math.inf  # lowest level of this half window and of the previous one
    for f, s in enumerate(smooth.tolist()):
        if s < noise:
            noise += (s - noise) * fall
        elif f * p.frame_ms < p.floor_startup_ms:
            noise += startup_rise
        else:
            noise += rise
        if half > 0:
            low = min(low, s)
            if (f + 1) % half == 0:
                if prev < math.inf and min(low, prev) > noise:
                    noise = min(low, prev)  # the whole window stayed above the floor
                prev, low = low, math.inf
        snr = s - noise
        if f * p.frame_ms < p.floor_startup_ms or (tone is not None and tone[f]):
            on = False  # no decisions while the floor is being learnt; a tone is no speech
        elif snr > vad_on or (on and snr > vad_off):
            on = True
            since = 0
        elif on:
            since += 1
            on = since * p.frame_ms <= p.vad_hangover_ms  # the hangover
        floor[f] = noise
        speech[f] = on
    return floor, speech


# --- 3. distant-talker gate -----------------------------------------------------------------


def near_talk(top: np.ndarray, speech: np.ndarray, p: Params) -> np.ndarray:
    """Frames whose louder channel is within ``distant_drop`` of the decaying speech peak."""
    decay = p.peak_decay_db10_per_s / 10.0 * p.frame_ms / 1000.0
    drop = p.distant_drop_db10 / 10.0
    near = np.zeros(top.size, dtype=bool)
    peak = 0.0
    for f, (level, talk) in enumerate(zip(top.tolist(), speech.tolist(), strict=True)):
        peak = max(peak - decay, 0.0)
        if talk and level > peak:
            peak += (level - peak) / 8.0
        near[f] = level > peak - drop
    return near


# --- 4. attribution, stereo -----------------------------------------------------------------


def correlation(
    y0: np.ndarray, y1: np.ndarray, speech: np.ndarray, p: Params
) -> tuple[np.ndarray, np.ndarray, int]:
    """Sign cross-correlation smoothed over speech frames (from zero after each pause) and
    held on the others: (pos, neg, terms) per frame; ``tdoa = pos - neg``.

    ``y0``, ``y1`` are the high-passed channels as (frames, n).
    """
    lags, least = p.tdoa_max_lag, p.tdoa_min_lag
    n = y0.shape[1]
    t = np.arange(lags, n - lags, p.tdoa_stride)
    s0 = (y0 >= 0)[:, t]
    s1 = y1 >= 0
    same = np.stack([(s0 == s1[:, t + k]).sum(axis=1) for k in range(-lags, lags + 1)], axis=1)
    corr = 16.0 * (2.0 * same - t.size)  # (frames, 2K+1), column j is lag j - K
    share = 2.0**-p.cue_smooth_shift
    acc = np.zeros_like(corr)
    held = np.zeros(corr.shape[1])
    for f in range(corr.shape[0]):
        if speech[f]:
            if f == 0 or not speech[f - 1]:
                held = np.zeros(corr.shape[1])  # after a pause: nothing carries over
            held = held + (corr[f] - held) * share
        acc[f] = held
    pos = acc[:, lags + least:].max(axis=1)
    neg = acc[:, : lags - least + 1].max(axis=1)
    return pos, neg, int(t.size)


def attribute_stereo(
    level0: np.ndarray, level1: np.ndarray, talk: np.ndarray, pos: np.ndarray,
    neg: np.ndarray, terms: int, p: Params,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evidence (held between attributed frames), employee, customer per frame.

    ``talk`` marks the frames that are attributed: speech and near talk.
    """
    tdoa_gain = (p.tdoa_weight_permille / 1000.0) / (16.0 * terms * p.tdoa_unit_permille / 1000.0)
    level_gain = (p.level_weight_permille / 1000.0) / (p.level_unit_db10 / 10.0)
    spread = p.level_unit_db10 / 10.0
    centres = [p.level_mid_db10 / 10.0 + spread, p.level_mid_db10 / 10.0 - spread]
    adapt = 2.0**-p.level_adapt_shift if p.level_adapt_shift else 0.0
    smooth = 2.0**-p.cue_smooth_shift
    margin = p.switch_margin_permille / 1000.0
    need = p.switch_ms / p.frame_ms
    both_ratio = p.both_ratio_permille / 1000.0
    both_min = 16.0 * terms * p.both_min_corr_permille / 1000.0
    frames = level0.size
    evidence = np.zeros(frames)
    employee = np.zeros(frames, dtype=bool)
    customer = np.zeros(frames, dtype=bool)
    current = 0  # 0: employee, 1: customer
    count = 0  # consecutive attributed frames of evidence against the current speaker
    diff = 0.0
    last = 0.0
    for f in np.flatnonzero(talk).tolist():
        fresh = f == 0 or not (employee[f - 1] or customer[f - 1])  # nobody talked before
        if fresh:
            diff = float(level0[f] - level1[f])
            count = 0
        else:
            diff += (float(level0[f] - level1[f]) - diff) * smooth
        tdoa = float(pos[f] - neg[f])
        mid = (centres[0] + centres[1]) / 2
        last = tdoa * tdoa_gain + (diff - mid) * level_gain
        against = last if current == 1 else -last
        if against > margin:
            count += 1
            if count >= (1 if fresh else need):
                current = 1 - current
                count = 0
        else:
            count = 0
        if adapt and (last if current == 0 else -last) > margin:  # clearly the current speaker's
            centres[current] += (diff - centres[current]) * adapt
        mine, other = (pos[f], neg[f]) if current == 0 else (neg[f], pos[f])
        both = other >= both_min and mine > 0 and other >= both_ratio * mine
        employee[f] = current == 0 or both
        customer[f] = current == 1 or both
        evidence[f] = last
    # Between attributed frames the frame field holds the last evidence (0 before any).
    held = np.maximum.accumulate(np.where(talk, np.arange(frames), -1))
    evidence = np.where(held >= 0, evidence[np.maximum(held, 0)], 0.0)
    return evidence, employee, customer


# --- 5. attribution, mono -------------------------------------------------------------------


def attribute_mono(level: np.ndarray, talk: np.ndarray, p: Params) -> np.ndarray:
    """Employee flag per talk frame, one party per spurt (DETECTOR.md section 5)."""
    fpm = p.frame_ms
    gap, longest = p.mono_spurt_gap_ms // fpm, p.mono_spurt_max_ms // fpm
    shortest, floor = p.mono_spurt_min_ms // fpm, p.mono_fall_floor_db10 / 10.0
    drop = np.zeros(level.size)
    if level.size > 2:
        drop[2:] = np.maximum(level[:-2] - level[2:] - floor, 0.0)
    employee = np.zeros(level.size, dtype=bool)
    history: list[float] = []

    def judge(scores: np.ndarray, talk_frames: int) -> bool:
        score = float(scores.mean())
        values = sorted([*history, score])
        if talk_frames >= shortest:
            history.append(score)
            del history[: -p.mono_history]
        return score >= values[len(values) // 2]

    f, n = 0, level.size
    while f < n:
        if not talk[f]:
            f += 1
            continue
        start = last = f
        cut = False
        while f < n:  # the spurt: until more than `gap` frames in a row are not talk
            if talk[f]:
                last = f
            f += 1
            if f - start >= longest:
                cut = True
                break
            if f - 1 - last > gap:
                break
        end = min(last + 3, f)  # two frames past the last talk frame
        is_employee = judge(drop[start:end], int(talk[start:f].sum()))
        while cut and f < n:  # judged at its maximum length: keeps its party to its end
            if talk[f]:
                last = f
            elif f - last > gap:
                break
            f += 1
        employee[start : last + 1] = is_employee & talk[start : last + 1]
    return employee


# --- the whole model ------------------------------------------------------------------------


def reference_frames(
    samples: np.ndarray, params: Params | Mapping[str, int] | None = None
) -> dict[str, np.ndarray]:
    """Every frame's reference values: ``FIELDS`` -> array of one value per frame.

    ``samples`` is int16 (or any integer-valued array), shape (n,) or (n, channels) with
    channel 0 employee-facing; a final partial frame is padded with zeros. Levels and floors
    are dB, ``tdoa`` x16 sign-correlation counts, ``evidence`` units of evidence; ``vad0``,
    ``vad1``, ``speech``, ``near``, ``employee``, ``customer`` are booleans. Mono input
    reports 0 for ``level1``, ``floor1``, ``tdoa`` and ``evidence``, as the firmware does.
    """
    p = as_params(params)
    x = _as_frames(samples, frame_length(p))
    channels, frames, n = x.shape
    if frames == 0:
        return {name: np.zeros(0, dtype=float if name in _VALUES else bool) for name in FIELDS}
    flat = highpass(x.reshape(channels, frames * n), p.highpass_shift)
    y = flat.reshape(x.shape)
    e = emphasis(flat).reshape(x.shape)
    levels = [frame_levels(e[c]) for c in range(channels)]
    tones = [steady_tone(levels[c], zero_crossings(y[c]), p) for c in range(channels)]
    vads = [voice_activity(levels[c], p, tones[c]) for c in range(channels)]
    zeros = np.zeros(frames)
    out: dict[str, Any] = {
        "level0": levels[0], "floor0": vads[0][0], "vad0": vads[0][1],
        "level1": zeros.copy(), "floor1": zeros.copy(), "vad1": np.zeros(frames, dtype=bool),
        "tdoa": zeros.copy(), "evidence": zeros.copy(),
    }
    if channels == 2:
        out.update(level1=levels[1], floor1=vads[1][0], vad1=vads[1][1])
    speech = out["vad0"] | out["vad1"]
    top = np.maximum(out["level0"], out["level1"])
    near = near_talk(top, speech, p)
    talk = speech & near
    if channels == 2:
        if p.tdoa_max_lag > 0:
            pos, neg, terms = correlation(y[0], y[1], speech, p)
        else:
            pos, neg, terms = zeros, zeros, (n + p.tdoa_stride - 1) // p.tdoa_stride
        evidence, employee, customer = attribute_stereo(
            out["level0"], out["level1"], talk, pos, neg, terms, p
        )
        out.update(tdoa=pos - neg, evidence=evidence, employee=employee, customer=customer)
    else:
        employee = attribute_mono(out["level0"], talk, p)
        out.update(employee=employee, customer=talk & ~employee)
    out.update(speech=speech, near=near)
    return {name: np.asarray(out[name]) for name in FIELDS}
