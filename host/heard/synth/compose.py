"""One synthetic file end to end: plan, speech, room, store noise, mix, WAV and truth.

Everything is drawn from ``numpy.random.default_rng([seed, index])``, so a file depends only
on the corpus seed and its index. The mix: the parties' reverberant speech plus store noise
scaled to the drawn SNR (speech power over the parties' active frames vs noise power over
the file, both summed over the mics), a per-unit gain mismatch on channel 1, then one scale
to a peak between -20 and -3 dBFS, written as 16-bit PCM.

With a ``Placement`` (the placement study) the mics are an omni pair at the requested
distances, and the SNR is taken against a talker 1 m from a mic (the dry speech power, the
direct path's level at 1 m): a party standing further away is quieter against the store
noise, as in a real store.
"""

from __future__ import annotations

import os
import wave
from pathlib import Path
from typing import Any

import numpy as np

from heard import __version__
from heard.annotations import (
    CUSTOMER,
    EMPLOYEE,
    PARTIES,
    Annotation,
    annotation_to_json,
    write_json,
    write_rttm,
)
from heard.synth import noise
from heard.synth.activity import FRAME, SPEECH_DBFS, scale_to
from heard.synth.dialogues import DISTANT_LINES
from heard.synth.plan import layout_file, plan_file, speak_plan
from heard.synth.room import Placement, impulse_responses, render, sample_scene
from heard.synth.truth import build_truth
from heard.synth.tts import SAMPLE_RATE, Voice, random_voice, speak_all

SNR_DB = (0.0, 30.0)
PEAK_DBFS = (-20.0, -3.0)
GAIN_MISMATCH_DB = 2.0
# Probability of each noise kind, and its power relative to the HVAC before SNR scaling (dB).
NOISE_KINDS = {"hvac": 0.85, "music": 0.5, "beeps": 0.5, "distant_talkers": 0.6}
_RELATIVE_DB = {"hvac": (0.0, 0.0), "music": (-8.0, 0.0), "beeps": (-18.0, -10.0),
                "distant_talkers": (-6.0, 0.0)}


def _talkers(
    rng: np.random.Generator, count: int, n: int, avoid: tuple[Voice, ...], workers: int
) -> tuple[list[np.ndarray], list[Voice]]:
    """Dry tracks of distant shoppers: a line every 1.5-8 s, a little louder than the parties."""
    voices: list[Voice] = []
    items: list[tuple[str, Voice, int | None]] = []
    for _ in range(count):
        voices.append(random_voice(rng, avoid=(*avoid, *voices)))
        k = n // (5 * SAMPLE_RATE) + 1
        items += [(str(rng.choice(DISTANT_LINES)), voices[-1], None) for _ in range(k)]
    audio = speak_all(items, workers)
    tracks = []
    per = len(items) // max(count, 1)
    for c in range(count):
        track = np.zeros(n, dtype=np.float32)
        t = int(rng.uniform(0, 4) * SAMPLE_RATE)
        for x in audio[c * per : (c + 1) * per]:
            x = scale_to(x, SPEECH_DBFS + float(rng.uniform(0, 4)))
            if t + len(x) > n:
                break
            track[t : t + len(x)] += x
            t += len(x) + int(rng.uniform(1.5, 8) * SAMPLE_RATE)
        tracks.append(track)
    return tracks, voices


def _power(x: np.ndarray, mask: np.ndarray | None = None) -> float:
    sel = x if mask is None else x[:, mask]
    return float(np.mean(sel.astype(np.float64) ** 2)) if sel.size else 0.0


def _active_mask(ann: Annotation, n: int, speaker: str | None = None) -> np.ndarray:
    """Samples inside the truth segments (of one speaker, or of anyone)."""
    mask = np.zeros(n, dtype=bool)
    for s in ann.segments:
        if speaker is not None and s.speaker != speaker:
            continue
        mask[s.start_ms * SAMPLE_RATE // 1000 : s.end_ms * SAMPLE_RATE // 1000] = True
    return mask


def _db(a: float, b: float) -> float:
    return round(float(10 * np.log10(a / b)), 2) if a > 0 and b > 0 else 0.0


def synthesize(
    seed: int, index: int, channels: int, workers: int = 2, placement: Placement | None = None
) -> tuple[np.ndarray, Annotation]:
    """Render one file: int16 samples (n, channels) and its truth (with ``extra`` filled).
    ``placement`` pins the geometry (see the module docstring)."""
    rng = np.random.default_rng([seed, index])
    plan = plan_file(rng, seed, index)
    audio = speak_plan(plan, rng, workers)
    turns, episodes, total_ms = layout_file(plan, audio, rng)
    n = total_ms * SAMPLE_RATE // 1000
    n -= n % FRAME
    dry = {p: np.zeros(n, dtype=np.float32) for p in PARTIES}
    for t in turns:
        x = audio[t.episode][t.line]
        start = t.start_ms * SAMPLE_RATE // 1000
        dry[t.speaker][start : start + len(x)] += x
    ann = build_truth(turns, episodes, dry)

    kinds = [k for k, p in NOISE_KINDS.items() if rng.random() < p]
    if "hvac" not in kinds and "music" not in kinds:
        kinds.insert(0, "hvac")  # a store is never silent
    talker_tracks: list[np.ndarray] = []
    talker_voices: list[Voice] = []
    if "distant_talkers" in kinds:
        count = int(rng.integers(1, 3))
        talker_tracks, talker_voices = _talkers(
            rng, count, n, (plan.employee, *plan.voices), workers
        )
    # Stereo files alternate between the two mic layouts, so every corpus has both.
    layout = "mono" if channels == 1 else ("omni_pair", "cardioid_pair")[(seed + index) % 2]
    if placement is not None and channels == 2:
        layout = "omni_pair"
    scene = sample_scene(rng, layout, len(talker_tracks), placement)
    rirs = impulse_responses(scene, rng)

    images = {p: render(dry[p], rirs[p]) for p in PARTIES}
    speech = images[EMPLOYEE] + images[CUSTOMER]
    sources: dict[str, list[tuple[str, np.ndarray]]] = {
        "hvac": [("hvac", noise.hvac(rng, n))] if "hvac" in kinds else [],
        "music": [("music", noise.music(rng, n))] if "music" in kinds else [],
        "beeps": [("scanner", noise.beeps(rng, n))] if "beeps" in kinds else [],
        "distant_talkers": [(f"talker{k}", x) for k, x in enumerate(talker_tracks)],
    }
    total_noise = np.zeros_like(speech)
    relative = {}
    for kind in kinds:
        img = sum(render(x, rirs[src]) for src, x in sources[kind])
        assert isinstance(img, np.ndarray)
        lo, hi = _RELATIVE_DB[kind]
        relative[kind] = round(float(rng.uniform(lo, hi)), 2)
        total_noise += img * (10 ** (relative[kind] / 20) / np.sqrt(max(_power(img), 1e-20)))
    snr_db = round(float(rng.uniform(*SNR_DB)), 2)
    p_speech = _power(speech, _active_mask(ann, n))
    if placement is not None:  # a talker at 1 m: RIRs fall as 1/r, so that is the dry power
        p_speech = _power((dry[EMPLOYEE] + dry[CUSTOMER])[None], _active_mask(ann, n))
    total_noise *= np.sqrt(p_speech / max(_power(total_noise), 1e-20) / 10 ** (snr_db / 10))
    mix = speech + total_noise

    mismatch = 0.0
    if channels == 2:
        mismatch = round(float(rng.uniform(-GAIN_MISMATCH_DB, GAIN_MISMATCH_DB)), 2)
        mix[1] *= 10 ** (mismatch / 20)
    peak_dbfs = round(float(rng.uniform(*PEAK_DBFS)), 2)
    mix *= 10 ** (peak_dbfs / 20) / max(float(np.max(np.abs(mix))), 1e-9)
    pcm = np.round(mix.T * 32767).astype(np.int16)

    ann.extra.update({
        "duration": round(n / SAMPLE_RATE, 3),
        "sample_rate": SAMPLE_RATE,
        "channels": channels,
        "seed": seed,
        "index": index,
        "dialogues": [s.id for _, s in plan.episodes],
        "geometry": scene.to_json(),
        "rt60": scene.rt60,
        "snr_db": snr_db,
        "gain_mismatch_db": mismatch,
        "peak_dbfs": peak_dbfs,
        "noise": {"kinds": kinds, "relative_db": relative},
        "voices": {"employee": plan.employee.to_json(),
                   "customers": [v.to_json() for v in plan.voices if v != plan.employee],
                   "distant_talkers": [v.to_json() for v in talker_voices]},
        "heard_version": __version__,
    })
    if placement is not None:
        ann.extra["placement"] = {"employee_m": placement.employee_m,
                                  "customer_m": placement.customer_m,
                                  "spacing_m": placement.spacing_m,
                                  "snr_reference": "talker at 1 m"}
    if channels == 2:
        talking = {p: _active_mask(ann, n, p) for p in PARTIES}
        only = {p: talking[p] & ~talking[q] for p, q in zip(PARTIES, PARTIES[::-1], strict=True)}
        # Channel 0 minus channel 1 level of each party's speech at the mics (before the gain
        # mismatch), over the frames where only that party talks.
        ann.extra["party_channel_db"] = {
            p: _db(_power(images[p][:1], only[p]), _power(images[p][1:], only[p])) for p in PARTIES
        }
    return pcm, ann


def write_file(out_dir: Path, name: str, pcm: np.ndarray, ann: Annotation) -> dict[str, Any]:
    """Write NAME.wav, NAME.rttm and NAME.truth.json (each via a temporary file and rename)."""
    wav, rttm, truth = (out_dir / f"{name}{ext}" for ext in (".wav", ".rttm", ".truth.json"))
    tmp = out_dir / f".{name}.wav.tmp"
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.astype("<i2").tobytes())
    os.replace(tmp, wav)
    write_rttm(out_dir / f".{name}.rttm.tmp", name, ann.segments)
    os.replace(out_dir / f".{name}.rttm.tmp", rttm)
    write_json(out_dir / f".{name}.truth.tmp", annotation_to_json(ann))
    os.replace(out_dir / f".{name}.truth.tmp", truth)
    return {"name": name, "wav": wav.name, "rttm": rttm.name, "truth": truth.name,
            "duration": ann.extra["duration"], "dialogues": ann.extra["dialogues"]}
