"""The floating-point reference model (docs/DETECTOR.md sections 1-5) and the firmware's
agreement with it (docs/REFERENCE.md).

Synthetic signals with known answers test the reference itself; the firmware is compared
with it on those signals (in process, ``run_firmware``) and on short ``heard synth`` files
(MicroPython unix port, ``compare_wav``). The contract: frame levels within 0.5 dB on every
frame whose reference level is above 1 dB, and frame decisions (speech, employee,
customer) agreeing on at least 98% of frames.
"""

from __future__ import annotations

import array
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from heard.reference import compare_wav, pool, reference_frames, run_firmware
from heard.reference.compare import firmware_frames
from heard.simulate.engines import run_engine
from heard.synth.corpus import generate_corpus
from heardcore import vad
from heardcore.params import Params

RATE = 16000
CUT_S = 20  # seconds kept of each corpus file
MAX_LEVEL_ERROR_DB = 0.5
MIN_LEVEL_DB = 1.0  # levels are compared on frames whose reference level is above this
MIN_AGREEMENT = 0.98


def _firmware_hangover_frames() -> int:
    """Frames of speech the firmware's VAD keeps after the SNR drops (heardcore.vad)."""
    params = Params()
    state = array.array("i", [0] * vad.WORDS)
    cfg = array.array("i", vad.config(params))
    vad.init(state, 0, 0)
    quiet = params.floor_startup_ms // params.frame_ms + 5  # after the start-up
    levels = [0] * quiet + [30 * 256] + [0] * 20  # one loud frame (30 dB) in digital silence
    on = [vad.update(state, 0, level, f, cfg) for f, level in enumerate(levels)]
    assert on[quiet] == 1
    return sum(on[quiet + 1 :])


def test_firmware_hangover_matches_the_spec() -> None:
    # DETECTOR.md section 2: speech stays on for vad_hangover_ms after the level drops.
    params = Params()
    assert _firmware_hangover_frames() == params.vad_hangover_ms // params.frame_ms


def _sine(amplitude: float, freq: float, seconds: float) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * RATE)) / RATE)


def _noise(sigma: float, seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, sigma, int(seconds * RATE))


def _int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _write(path: Path, samples: np.ndarray) -> Path:
    soundfile.write(str(path), samples, RATE, subtype="PCM_16")
    return path


# --- the reference on signals with known answers --------------------------------------------


def test_sine_has_the_level_of_the_spec() -> None:
    # A 1 kHz sine of amplitude 1000 through the two high-pass stages (k = 4) and the
    # emphasis comes out as a sine of amplitude 1000 |H|^2 |D| with
    # H(w) = (1 - e^-jw) / (1 - (15/16) e^-jw) and D(w) = 1 - e^-jw: 405.11, 48.26 dB
    # (20 log10 of its mean |e| over a frame, 10 whole periods).
    w = 2 * np.pi * 1000 / RATE
    d = 1 - np.exp(-1j * w)
    h = d / (1 - 15 / 16 * np.exp(-1j * w))
    t = np.arange(160)
    e = 1000 * abs(h) ** 2 * abs(d) * np.sin(w * t + 2 * np.angle(h) + np.angle(d))
    expected = 20 * np.log10(np.abs(e).mean())
    assert expected == pytest.approx(48.263, abs=0.001)
    ref = reference_frames(_sine(1000, 1000, 0.5))
    assert np.allclose(ref["level0"][5:], expected, atol=1e-6)  # after the start transient
    fw = run_firmware(_int16(_sine(1000, 1000, 0.5)))
    assert np.abs(fw["level0"][5:] - expected).max() < 0.06  # the firmware's log2 table


def test_silence_is_the_0_db_floor() -> None:
    silence = np.zeros((RATE, 2), dtype=np.int16)
    for frames in (reference_frames(silence), run_firmware(silence)):
        for key in ("level0", "level1"):
            assert np.all(frames[key] == 0.0)
        for key in ("floor0", "floor1"):
            # At most one frame of the start-up rise, then it falls back to 0 dB.
            one_frame_rise = Params().floor_startup_rise_db10_per_s / 10 / 100
            assert 0.0 <= frames[key].min() and frames[key].max() <= one_frame_rise
            assert frames[key][-1] < 0.01
        for key in ("speech", "employee", "customer"):
            assert not frames[key].any()


def test_loud_and_clipped_levels_agree() -> None:
    # Full-scale square waves (the firmware's worst case) and a clipped sine.
    t = np.arange(RATE)
    square = np.where((t // 8) % 2 == 0, 32767, -32768).astype(np.int16)
    clipped = _int16(_sine(60000, 440, 1.0))
    x = np.stack([square, clipped], axis=1)
    ref, fw = reference_frames(x), run_firmware(x)
    assert ref["level0"][1:].min() > 80.0  # 1 kHz square: the emphasis takes about 8 dB
    for key in ("level0", "level1"):
        assert np.abs(fw[key] - ref[key]).max() < MAX_LEVEL_ERROR_DB


def _burst() -> np.ndarray:
    """1.5 s of noise at 28 dB, 0.5 s of noise 37 dB louder (not a steady tone: a tone is
    no speech), 1 s of noise."""
    noise = _noise(30.0, 3.0, seed=1)
    noise[24000:32000] += _noise(2100.0, 0.5, seed=2)
    return _int16(noise)


def test_speech_hangs_over_vad_hangover_ms() -> None:
    p = Params()
    ref = reference_frames(_burst(), p)
    speech = ref["speech"]
    assert 150 <= np.flatnonzero(speech).min() <= 151 and speech[151:200].all()
    held = (ref["level0"] - ref["floor0"] > p.vad_off_db10 / 10) & speech
    last = np.flatnonzero(held).max()
    hangover = p.vad_hangover_ms // p.frame_ms
    assert speech[last + 1: last + 1 + hangover].all() and not speech[last + 1 + hangover:].any()


def _beeps() -> np.ndarray:
    """A scanner's beeps over quiet noise: 2.7 kHz, 150 ms, every 600 ms, 2 s after a
    second of noise only."""
    x = _noise(30.0, 4.0, seed=3)
    for start in range(16000, 56000, 9600):
        x[start:start + 2400] += _sine(3000, 2700, 0.15)
    return _int16(x)


def test_a_steady_tone_is_no_speech_after_tone_ms() -> None:
    p = Params()
    x = _beeps()
    ref, fw = reference_frames(x, p), run_firmware(x)
    assert np.array_equal(fw["speech"], ref["speech"])
    heard = np.flatnonzero(ref["speech"])
    beeps = [(s // 160, (s + 2400) // 160) for s in range(16000, 56000, 9600)]
    # Only each beep's first tone_ms is taken for speech (min_speech_ms then drops it) ...
    assert len(heard) <= len(beeps) * (p.tone_ms // p.frame_ms + 1)
    assert all(any(a <= f < a + p.tone_ms // p.frame_ms + 1 for a, _ in beeps) for f in heard)
    # ... and without the tone test every beep is speech throughout.
    off = reference_frames(x, Params({"tone_ms": 0}))["speech"]
    assert all(off[a + 1:b - 1].all() for a, b in beeps)


def test_talk_right_after_a_beep_ends_the_echo() -> None:
    # A beep, 50 ms of its echo (silence here), then 0.5 s of louder noise standing for
    # talk: the rise ends the no-speech state, so the talk is speech after its first frame.
    x = _noise(30.0, 2.0, seed=4)
    x[8000:10400] += _sine(3000, 2700, 0.15)
    x[11200:19200] += _noise(4000.0, 0.5, seed=5)
    x = _int16(x)
    ref, fw = reference_frames(x), run_firmware(x)
    assert np.array_equal(fw["speech"], ref["speech"])
    assert not ref["speech"][55:70].any()  # the beep after its first tone_ms, and the gap
    assert ref["speech"][71:120].all()  # the talk


def test_firmware_speech_matches_on_a_burst() -> None:
    x = _burst()
    fw, ref = run_firmware(x), reference_frames(x)
    assert np.array_equal(fw["speech"], ref["speech"])


def test_distant_talker_is_not_attributed() -> None:
    # Loud talk, then the same talk 30 dB quieter: speech, but beyond distant_drop (20 dB).
    x = _noise(10.0, 4.0, seed=2)
    x[8000:24000] += _noise(3000.0, 1.0, seed=3)
    x[40000:56000] += _noise(95.0, 1.0, seed=4)
    ref = reference_frames(_int16(x))
    quiet = slice(260, 340)
    assert ref["speech"][quiet].all() and not ref["near"][quiet].any()
    assert not (ref["employee"][quiet] | ref["customer"][quiet]).any()
    assert ref["employee"][60:140].all()  # mono: the first spurt is the employee's


def test_stereo_tdoa_points_at_the_nearer_microphone() -> None:
    # The same noise burst reaching mic 1 five samples after mic 0 (the employee), then mic 0
    # five samples after mic 1 (the customer).
    talk = _noise(2000.0, 1.0, seed=5)
    x = np.zeros((3 * RATE, 2))
    x[:, 0] = x[:, 1] = _noise(5.0, 3.0, seed=6)
    x[4000:20000, 0] += talk
    x[4005:20005, 1] += talk
    x[28000:44000, 1] += talk
    x[28005:44005, 0] += talk
    ref = reference_frames(_int16(x))
    assert ref["tdoa"][60:120].min() > 0 and ref["tdoa"][210:270].max() < 0
    assert ref["employee"][60:120].all() and not ref["customer"][60:120].any()
    assert ref["customer"][210:270].all() and not ref["employee"][210:270].any()


@pytest.mark.micropython
def test_run_firmware_matches_the_micropython_engine(tmp_path: Path) -> None:
    x = _burst()
    result = run_engine("micropython", _write(tmp_path / "burst.wav", x), frames=True)
    engine, here = firmware_frames(result.ndjson), run_firmware(x)
    for key in engine:
        assert np.array_equal(engine[key], here[key]), key


@pytest.mark.micropython
def test_low_levels_agree(tmp_path: Path) -> None:
    # Quiet white noise, 2 to 12 dB: where a fraction of an LSB matters.
    x = np.concatenate([_noise(s, 1.5, seed=7) for s in (1.5, 2.0, 3.0, 5.0)])
    agreement = compare_wav(_write(tmp_path / "quiet.wav", _int16(x)), min_level_db=MIN_LEVEL_DB)
    assert agreement.levels[0].frames > 500
    assert agreement.levels[0].max_abs <= MAX_LEVEL_ERROR_DB


# --- the firmware against the reference on synthetic conversations --------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two stereo and one mono `heard synth` file, cut to CUT_S seconds."""
    full = tmp_path_factory.mktemp("ref_corpus")
    generate_corpus(full, n=2, seed=21, channels=2)
    generate_corpus(full, n=1, seed=22, channels=1)
    out = tmp_path_factory.mktemp("ref_short")
    paths = []
    for wav in sorted(full.glob("*.wav")):
        samples, rate = soundfile.read(str(wav), dtype="int16", always_2d=True)
        paths.append(_write(out / wav.name, samples[: CUT_S * rate]))
    return paths


@pytest.fixture(scope="module")
def agreements(corpus: list[Path]):
    return [compare_wav(path, min_level_db=MIN_LEVEL_DB) for path in corpus]


@pytest.mark.micropython
def test_corpus_levels_within_half_a_db(agreements) -> None:
    # Every frame above 1 dB, every channel: the largest error, not a percentile (the
    # corpus never comes near the limit: largest error 0.18 dB, 99.5th percentile 0.05).
    assert {a.channels for a in agreements} == {1, 2}
    for a in agreements:
        assert a.frames == CUT_S * 100
        for stats in a.levels:
            assert stats.frames > 0.9 * a.frames
            assert stats.max_abs <= MAX_LEVEL_ERROR_DB, (a.name, stats)
            assert abs(stats.bias) < 0.05, (a.name, stats)


@pytest.mark.micropython
def test_corpus_decisions_agree(agreements) -> None:
    # Speech, employee and customer each on at least 98% of each file's frames. (The
    # firmware's short hangover costs one frame per end of speech: ~0.5% here.)
    for a in agreements:
        assert a.worst_decision >= MIN_AGREEMENT, (a.name, a.agree)


@pytest.mark.micropython
def test_corpus_agrees_with_other_parameters(corpus: list[Path], tmp_path: Path) -> None:
    # Overlap detection on, smoothed levels, a switch margin, a calibrated level midpoint
    # and faster-learning level centres.
    overrides = {"level_smooth_permille": 300, "both_ratio_permille": 700,
                 "both_min_corr_permille": 300, "switch_margin_permille": 200,
                 "level_mid_db10": 15, "level_adapt_shift": 3}
    config = tmp_path / "config.json"
    config.write_text(json.dumps(overrides))
    stereo = next(p for p in corpus if soundfile.info(str(p)).channels == 2)
    a = compare_wav(stereo, config=config, min_level_db=MIN_LEVEL_DB)
    assert a.worst_decision >= MIN_AGREEMENT, a.agree
    samples, _ = soundfile.read(str(stereo), dtype="int16", always_2d=True)
    ref = reference_frames(samples, overrides)
    assert (ref["employee"] & ref["customer"]).sum() > 20  # overlap was exercised


# --- larger corpora (make test-all) ---------------------------------------------------------


@pytest.fixture(scope="module")
def corpus12(tmp_path_factory: pytest.TempPathFactory):
    """Twelve full-length stereo files (seed 11), compared file by file."""
    out = tmp_path_factory.mktemp("ref_corpus12")
    generate_corpus(out, n=12, seed=11, channels=2)
    return [compare_wav(p, min_level_db=MIN_LEVEL_DB) for p in sorted(out.glob("*.wav"))]


@pytest.mark.slow
@pytest.mark.micropython
def test_corpus12_decisions_agree(corpus12) -> None:
    for a in corpus12:
        assert a.worst_decision >= MIN_AGREEMENT, (a.name, a.agree)
    pooled = pool(corpus12)
    assert pooled.worst_decision >= 0.99, pooled.agree


@pytest.mark.slow
@pytest.mark.micropython
def test_corpus12_levels_within_half_a_db(corpus12) -> None:
    pooled = pool(corpus12)
    for stats in pooled.levels:
        assert stats.p995_abs <= 0.1, stats  # holds today: ~0.05 dB
        assert stats.max_abs <= MAX_LEVEL_ERROR_DB, stats  # 0.05 dB today (docs/REFERENCE.md)


@pytest.mark.slow
@pytest.mark.micropython
def test_mono_corpus_agrees(tmp_path: Path) -> None:
    # Four full-length mono files (seed 12). Mono attribution is one decision per spurt (its
    # fall score against the median of recent spurts): a spurt whose score ties a remembered
    # one to a thousandth of a dB goes either way (the firmware's integer log2 is off by up
    # to 0.06 dB per frame), and its whole length flips. So attribution is held to 98% over
    # the corpus and 95% per file; speech to 98% per file.
    generate_corpus(tmp_path, n=4, seed=12, channels=1)
    found = [compare_wav(p, min_level_db=MIN_LEVEL_DB) for p in sorted(tmp_path.glob("*.wav"))]
    for a in found:
        assert a.levels[0].max_abs <= MAX_LEVEL_ERROR_DB, (a.name, a.levels)
        assert a.agree["speech"] >= MIN_AGREEMENT, (a.name, a.agree)
        assert min(a.agree["employee"], a.agree["customer"]) >= 0.95, (a.name, a.agree)
    assert pool(found).worst_decision >= MIN_AGREEMENT, pool(found).agree
