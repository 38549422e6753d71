"""`heard calibrate` simulated on files whose truth is known (heard.simulate.calibrated)."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from heard.annotations import Annotation, Segment, annotation_to_json, write_json, write_rttm
from heard.cli import cli, main
from heard.device import calibration as cal
from heard.errors import HeardError
from heard.evaluate.corpus import corpus_names, read_truth
from heard.evaluate.scoring import evaluate_corpus
from heard.simulate.calibrated import (
    calibrate,
    live_frames,
    phase,
    simulate_calibrated_dir,
)
from heard.simulate.engines import simulate_file
from heardcore import wire

RATE = 16000


def _frames(n: int, frame_ms: int = 10) -> list[dict[str, int]]:
    return [{"uptime_ms": i * frame_ms} for i in range(n)]


def test_a_phase_is_the_first_seconds_of_one_party_talking_alone() -> None:
    truth = Annotation(segments=[
        Segment(0, 1000, "employee"), Segment(800, 2000, "customer"),
        Segment(3000, 5000, "employee")])
    frames = _frames(600)
    got = [f["uptime_ms"] for f in phase(frames, truth, "employee", 10, seconds=1.5,
                                         interval_ms=50)]
    # alone: 0-800 ms (80 frames), then 3000 ms on; 150 frames in all, one in five
    assert got == list(range(0, 800, 50)) + list(range(3000, 3700, 50))
    got = [f["uptime_ms"] for f in phase(frames, truth, "customer", 10, interval_ms=10)]
    assert got == list(range(1000, 2000, 10))
    # a segment ending inside a frame counts that frame; one past the file is cut off
    truth = Annotation(segments=[Segment(15, 36, "customer"), Segment(5990, 7000, "customer")])
    got = [f["uptime_ms"] for f in phase(frames, truth, "customer", 10, interval_ms=10)]
    assert got == [10, 20, 30, 5990]


def _speech(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Band-limited noise in 150 ms syllables with 60 ms gaps, -20 dBFS while on."""
    n = int(seconds * RATE)
    x = np.convolve(rng.standard_normal(n), np.hanning(9), "same")
    on = (np.arange(n) % int(0.21 * RATE)) < int(0.15 * RATE)
    return x / np.sqrt(np.mean(x**2)) * 0.1 * on


def _talk(rng: np.random.Generator, seconds: float, louder_db: float, delay: int) -> np.ndarray:
    """Speech louder on ch0 by ``louder_db`` (< 0: on ch1), ``delay`` samples later on ch1
    (< 0: on ch0)."""
    s = _speech(rng, seconds)
    late = np.concatenate([np.zeros(abs(delay)), s[:len(s) - abs(delay)]])
    ch0, ch1 = (s, late) if delay >= 0 else (late, s)
    gain = 10 ** (-abs(louder_db) / 20)
    if louder_db > 0:
        ch1 = ch1 * gain
    else:
        ch0 = ch0 * gain
    return np.stack([ch0, ch1], axis=1)


def _counter(tmp_path: Path, employee_db: float, customer_db: float) -> tuple[Path, Annotation]:
    """1 s of quiet, the employee for 5 s, the customer for 5 s, 1 s of quiet."""
    rng = np.random.default_rng(3)
    quiet = np.zeros((RATE, 2))
    x = np.concatenate([quiet, _talk(rng, 5, employee_db, 4), _talk(rng, 5, customer_db, -4),
                        quiet])
    x += rng.standard_normal(x.shape) * 10 ** (-65 / 20)
    wav = tmp_path / "counter.wav"
    soundfile.write(wav, x, RATE, subtype="PCM_16")
    return wav, Annotation(segments=[Segment(1000, 6000, "employee"),
                                     Segment(6000, 11000, "customer")])


@pytest.mark.micropython
def test_live_frames_are_what_the_device_would_send(tmp_path: Path) -> None:
    wav, _ = _counter(tmp_path, 6, -6)
    result = simulate_file(wav, frames=True)
    frames = live_frames(result)
    assert len(frames) == result.frames
    assert [f["uptime_ms"] for f in frames[:3]] == [0, 10, 20]
    for f in frames:
        assert list(f) == list(wire.LIVE_FIELDS)
        struct.pack(wire.LIVE_FORMAT, *f.values())  # every value fits its field
    talk = [f for f in frames if f["vad0"] and 1200 <= f["uptime_ms"] < 5800]
    assert len(talk) > 200
    assert statistics.median(f["level0_db10"] - f["level1_db10"] for f in talk) == \
        pytest.approx(60, abs=10)  # dB x 10, as the device sends levels


@pytest.mark.micropython
def test_calibrate_measures_a_file_as_the_device_check_would(tmp_path: Path) -> None:
    # As omni mics far apart: the sides 4 + 1 dB apart, so the 1 dB level unit
    wav, truth = _counter(tmp_path, 4, -1)
    r = calibrate(wav, truth)
    assert r.employee.diff_db == pytest.approx(4, abs=1)
    assert r.customer.diff_db == pytest.approx(-1, abs=1)
    assert r.employee.arrival_share > 0.8 and r.customer.arrival_share > 0.8
    assert r.verdict == cal.GOOD
    assert r.calibration() == {"level_mid_db10": cal.midpoint_db10(r.employee, r.customer),
                               "level_unit_db10": 10}
    # As directional capsules: 16 dB apart, the default unit
    wav, truth = _counter(tmp_path, 8, -8)
    assert calibrate(wav, truth).level_unit_db10 == 30
    mono = tmp_path / "mono.wav"
    soundfile.write(mono, np.zeros(RATE), RATE, subtype="PCM_16")
    with pytest.raises(HeardError, match="needs two microphones"):
        calibrate(mono, truth)


@pytest.mark.micropython
def test_each_file_runs_with_its_own_calibration(device_wavs: list[Path],
                                                 tmp_path: Path) -> None:
    corpus, out = device_wavs[0].parent, tmp_path / "pred"
    run = simulate_calibrated_dir(corpus, out, jobs=2)
    assert not run.failures and sorted(run.calibrations) == corpus_names(corpus)
    for name, result in run.calibrations.items():
        assert result == calibrate(corpus / f"{name}.wav", read_truth(corpus, name))
        stored = json.loads((out / f"{name}.config.json").read_text())
        assert stored == result.calibration() and stored
        prediction = json.loads((out / f"{name}.json").read_text())
        assert {k: prediction["params"][k] for k in stored} == stored
    assert len(evaluate_corpus(corpus, out, vad=False).files) == len(run.calibrations)


@pytest.mark.micropython
def test_upper_case_wavs_are_calibrated_as_heard_simulate_takes_them(tmp_path: Path) -> None:
    corpus, out = tmp_path / "corpus", tmp_path / "pred"
    corpus.mkdir()
    wav, truth = _counter(tmp_path, 8, -8)
    shutil.copy(wav, corpus / "LOUD.WAV")
    write_rttm(corpus / "LOUD.rttm", "LOUD", truth.segments)
    write_json(corpus / "LOUD.truth.json", annotation_to_json(truth))
    run = simulate_calibrated_dir(corpus, out)
    assert not run.failures and run.calibrations == {"LOUD": calibrate(wav, truth)}
    assert sorted(p.name for p in out.iterdir()) == [
        "LOUD.config.json", "LOUD.json", "LOUD.rttm"]


@pytest.mark.micropython
def test_simulate_calibrate_on_the_command_line(
        device_wavs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    first = device_wavs[0]
    for f in first.parent.glob(f"{first.stem}.*"):  # the WAV and its truth
        shutil.copy(f, corpus / f.name)
    shutil.copy(first, corpus / "no_truth.wav")
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"conversation_idle_ms": 4000}))
    out = tmp_path / "pred"
    assert main(["simulate", str(corpus), "--out", str(out), "--config", str(base),
                 "--calibrate"]) == 1
    printed = capsys.readouterr()
    assert re.search(r"heard calibrate said: 1 (good|usable)(; 1 dB unit on 1)? \(",
                     printed.out)
    assert "1 of 2 file(s) failed:\n  no_truth.wav: no truth to calibrate with (" in printed.err
    assert "hint: --calibrate needs a corpus written by `heard synth`" in printed.err
    settings = json.loads((out / f"{first.stem}.config.json").read_text())
    assert settings["conversation_idle_ms"] == 4000 and "level_unit_db10" in settings
    prediction = json.loads((out / f"{first.stem}.json").read_text())
    assert {k: prediction["params"][k] for k in settings} == settings
    assert not (out / "no_truth.json").exists()
    single = CliRunner().invoke(cli, ["simulate", str(first), "--calibrate"])
    assert single.exit_code == 2 and "--calibrate takes a directory" in single.output
