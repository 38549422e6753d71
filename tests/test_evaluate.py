"""heard eval / heard baseline: metrics on hand-made cases with answers worked out by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from heard.annotations import (
    CUSTOMER,
    EMPLOYEE,
    Annotation,
    Event,
    Segment,
    annotation_to_json,
    read_annotation,
    write_json,
    write_rttm,
)
from heard.cli import main
from heard.errors import HeardError
from heard.evaluate.command import eval_command
from heard.evaluate.corpus import Audio, read_wav
from heard.evaluate.energy import energy_predict
from heard.evaluate.metrics import match_events
from heard.evaluate.predictors import run_baseline
from heard.evaluate.scoring import evaluate_corpus, score_file
from heard.evaluate.vad_baseline import vad_frames

RATE = 16000
EMP, CUS = EMPLOYEE, CUSTOMER


def ann(segments=(), interruptions=(), backchannels=(), conversations=(), **extra) -> Annotation:
    return Annotation(
        segments=[Segment(a, b, who) for a, b, who in segments],
        interruptions=[Event(t, by) for t, by in interruptions],
        backchannels=[Event(t, by) for t, by in backchannels],
        conversations=list(conversations),
        extra=extra,
    )


def write(directory: Path, name: str, annotation: Annotation, truth: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_rttm(directory / f"{name}.rttm", name, annotation.segments)
    suffix = ".truth.json" if truth else ".json"
    write_json(directory / f"{name}{suffix}", annotation_to_json(annotation))


def score(truth: Annotation, pred: Annotation, channels: int = 2, duration_ms: int = 20000):
    """Score one file without audio: channels and duration come from the truth's extras."""
    truth.extra.update(channels=channels, duration=duration_ms / 1000)
    return score_file("f", truth, pred, None)


def bursts_wav(path: Path, seconds: float, bursts, gains=(1.0, 1.0), seed=0) -> None:
    """Stereo white noise at -60 dBFS plus loud bursts (start_s, end_s, channel); the other
    channel hears each burst 20 dB lower (crosstalk). ``gains`` scale each whole channel."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(seconds * RATE), 2)) * 30
    for start, end, ch in bursts:
        a, b = int(start * RATE), int(end * RATE)
        burst = rng.standard_normal(b - a) * 3000
        x[a:b, ch] += burst
        x[a:b, 1 - ch] += 0.1 * burst
    x = np.clip(x * np.array(gains), -32768, 32767)
    soundfile.write(path, x.astype(np.int16), RATE, subtype="PCM_16")


# --- diarization error -------------------------------------------------------------------

TWO_TURNS = [(0, 10000, EMP), (12000, 20000, CUS)]


def test_perfect_prediction_scores_zero_error_and_full_f1():
    truth = ann(TWO_TURNS, [(12000, CUS)], [(5000, CUS)], [(0, 20000)])
    f = score(truth, ann(TWO_TURNS, [(12000, CUS)], [], [(0, 20000)]))
    assert f.der.rate == 0.0 and f.ier.rate == 0.0 and f.der_mapped is None
    assert f.speech.f1 == 1.0 and f.interruptions.f1 == 1.0
    assert f.talk_ratio_error_pp == 0.0 and f.conversation_error == 0
    assert f.backchannels_as_interruptions == 0


def test_swapped_labels_are_confusion_in_stereo_but_free_in_mono_with_mapping():
    swapped = [(0, 10000, CUS), (12000, 20000, EMP)]
    stereo = score(ann(TWO_TURNS), ann(swapped), channels=2)
    assert stereo.ier.rate == pytest.approx(1.0)  # every scored second is confused
    assert stereo.der is stereo.ier
    mono = score(ann(TWO_TURNS), ann(swapped), channels=1)
    assert mono.ier.rate == pytest.approx(1.0)
    assert mono.der_mapped is not None and mono.der_mapped.rate == pytest.approx(0.0)
    assert mono.der is mono.der_mapped


def test_known_miss_and_false_alarm_give_der_computed_by_hand():
    # Truth boundaries 0, 10, 12, 20 s; collars of 0.25 s each side remove 1.0 s of the
    # 18 s of truth speech: total 17 s. Employee predicted only to 8 s: miss 8 -> 9.75 s
    # (1.75 s). Customer predicted from 11 s: false alarm 11 -> 11.75 s (0.75 s).
    pred = ann([(0, 8000, EMP), (11000, 20000, CUS)])
    f = score(ann(TWO_TURNS), pred)
    assert f.ier.total == pytest.approx(17.0)
    assert f.ier.miss == pytest.approx(1.75)
    assert f.ier.false_alarm == pytest.approx(0.75)
    assert f.ier.rate == pytest.approx(2.5 / 17)


def test_corpus_der_sums_components_over_files(tmp_path):
    write(tmp_path / "c", "a", ann(TWO_TURNS, channels=2, duration=20.0), truth=True)
    write(tmp_path / "c", "b", ann([(0, 4000, EMP)], channels=2, duration=5.0), truth=True)
    write(tmp_path / "p", "a", ann([(0, 8000, EMP), (11000, 20000, CUS)]), truth=False)
    write(tmp_path / "p", "b", ann([]), truth=False)  # misses all of b: 0.25 -> 3.75 s
    result = evaluate_corpus(tmp_path / "c", tmp_path / "p")
    assert result.der.total == pytest.approx(17.0 + 3.5)
    assert result.der.rate == pytest.approx((2.5 + 3.5) / (17.0 + 3.5))
    assert result.vad_files == 0 and result.best_vad_mode is None and result.vad == {}


# --- events, talk ratio, conversations, frames ----------------------------------------------


def test_interruption_matches_within_half_a_second_and_same_party():
    truth = ann(TWO_TURNS, interruptions=[(10000, CUS)])
    assert score(truth, ann(TWO_TURNS, [(10400, CUS)])).interruptions.tp == 1
    late = score(truth, ann(TWO_TURNS, [(10600, CUS)])).interruptions
    assert (late.tp, late.fp, late.fn) == (0, 1, 1)
    wrong_by = score(truth, ann(TWO_TURNS, [(10000, EMP)])).interruptions
    assert (wrong_by.tp, wrong_by.fp, wrong_by.fn) == (0, 1, 1)
    twice = score(truth, ann(TWO_TURNS, [(9800, CUS), (10100, CUS)])).interruptions
    assert (twice.tp, twice.fp, twice.fn) == (1, 1, 0)  # one-to-one
    assert twice.precision == 0.5 and twice.recall == 1.0 and twice.f1 == pytest.approx(2 / 3)


def test_matching_maximises_matches_then_minimises_distance():
    truth = [Event(1000, CUS), Event(1600, CUS)]
    pred = [Event(1300, CUS), Event(2000, CUS)]
    # Greedy would pair 1300 with 1600 (0.3 s) and leave 2000 unmatched; optimal pairs both.
    assert sorted(match_events(truth, pred)) == [(0, 0), (1, 1)]


def test_predicted_interruptions_on_backchannels_are_counted():
    truth = ann(TWO_TURNS, [(12000, CUS)], backchannels=[(3000, CUS), (6000, CUS), (12200, CUS)])
    pred = ann(TWO_TURNS, [(3300, CUS), (6700, CUS), (12100, CUS)])
    f = score(truth, pred)
    # 3.3 s sits on the 3 s backchannel; 6.7 s is too far from 6 s; 12.1 s is a true
    # interruption, so it does not count against the 12.2 s backchannel.
    assert f.backchannels_as_interruptions == 1 and f.backchannels_truth == 3
    assert (f.interruptions.tp, f.interruptions.fp) == (1, 2)


def test_interruption_events_name_each_miss_and_false_alarm():
    truth = ann(TWO_TURNS, [(12000, CUS), (15000, EMP)], backchannels=[(3000, CUS)])
    pred = ann(TWO_TURNS, [(12100, CUS), (3300, CUS), (8000, EMP)])
    events = score(truth, pred).interruption_events
    assert events.matched == ((Event(12000, CUS), Event(12100, CUS)),)
    assert events.missed == (Event(15000, EMP),)
    # In time order; the one at 3.3 s sits on the truth backchannel at 3 s.
    assert events.false == ((Event(3300, CUS), True), (Event(8000, EMP), False))
    assert events.on_backchannels == 1


def test_eval_events_lists_misses_and_false_alarms(tmp_path):
    truth = ann(TWO_TURNS, [(12000, CUS), (15000, EMP)], backchannels=[(3000, CUS)],
                duration=20.0)
    write(tmp_path / "c", "a", truth, truth=True)
    write(tmp_path / "p", "a", ann(TWO_TURNS, [(12100, CUS), (3300, CUS)]), truth=False)
    args = [str(tmp_path / "c"), str(tmp_path / "p"), "--no-vad"]
    out = CliRunner().invoke(eval_command, [*args, "--events"])
    assert out.exit_code == 0, out.output
    listed = out.output.split("Interruptions missed and false")[1]
    assert "3.30 s" in listed and "false, on a backchannel" in listed
    assert "15.00 s" in listed and "missed" in listed and "12.10 s" not in listed
    assert "Interruptions missed and false" not in CliRunner().invoke(eval_command, args).output
    data = json.loads(CliRunner().invoke(eval_command, [*args, "--json"]).output)
    events = data["files"][0]["interruption_events"]
    assert events["missed"] == [{"by": EMP, "time_s": 15.0}]
    assert events["false"] == [{"by": CUS, "time_s": 3.3, "on_backchannel": True}]
    assert events["matched"] == [{"by": CUS, "truth_s": 12.0, "pred_s": 12.1}]


def test_eval_events_names_an_interruption_given_to_the_wrong_party(tmp_path):
    write(tmp_path / "c", "a", ann(TWO_TURNS, [(15000, EMP)], duration=20.0), truth=True)
    write(tmp_path / "p", "a", ann(TWO_TURNS, [(15100, CUS), (5000, CUS)]), truth=False)
    args = [str(tmp_path / "c"), str(tmp_path / "p"), "--no-vad"]
    listed = CliRunner().invoke(eval_command, [*args, "--events"]).output
    assert "missed: predicted as the customer's at 15.10 s" in listed
    assert "false: the employee's at 15.00 s, wrong party" in listed
    assert "│ false " in listed  # 5 s: false, and nothing else
    data = json.loads(CliRunner().invoke(eval_command, [*args, "--json"]).output)
    assert data["files"][0]["interruption_events"]["wrong_party"] == [
        {"truth_by": EMP, "truth_s": 15.0, "pred_by": CUS, "pred_s": 15.1}]


def test_eval_events_marks_files_without_a_prediction(tmp_path):
    write(tmp_path / "c", "a", ann(TWO_TURNS, [(12000, CUS)], duration=20.0), truth=True)
    (tmp_path / "p").mkdir()
    out = CliRunner().invoke(eval_command, [str(tmp_path / "c"), str(tmp_path / "p"),
                                            "--no-vad", "--events", "--allow-missing"])
    assert "a (no prediction)" in out.output.split("Interruptions missed and false")[1]


def test_eval_events_says_when_there_is_nothing_to_list(tmp_path):
    write(tmp_path / "c", "a", ann(TWO_TURNS, [(12000, CUS)], duration=20.0), truth=True)
    write(tmp_path / "p", "a", ann(TWO_TURNS, [(12000, CUS)]), truth=False)
    out = CliRunner().invoke(
        eval_command, [str(tmp_path / "c"), str(tmp_path / "p"), "--no-vad", "--events"])
    assert "Interruptions missed and false: none (every interruption was found" in out.output


def test_talk_ratio_error_in_percentage_points():
    truth = ann([(0, 6000, EMP), (6000, 10000, CUS)])
    assert score(truth, ann([(0, 5000, EMP), (5000, 10000, CUS)])).talk_ratio_error_pp == (
        pytest.approx(10.0)
    )
    assert score(truth, ann([])).talk_ratio_error_pp == pytest.approx(60.0)  # heard nobody
    assert score(ann([]), ann([(0, 1000, EMP)])).talk_ratio_error_pp is None  # no truth talk


def test_conversation_count_error_per_file_and_mean(tmp_path):
    write(tmp_path / "c", "a", ann(conversations=[(0, 1000), (5000, 6000)]), truth=True)
    write(tmp_path / "c", "b", ann(conversations=[(0, 1000)]), truth=True)
    write(tmp_path / "p", "a", ann(conversations=[(0, 1000), (2000, 3000), (5000, 6000)]), False)
    write(tmp_path / "p", "b", ann(conversations=[(0, 1000)]), truth=False)
    result = evaluate_corpus(tmp_path / "c", tmp_path / "p")
    assert [f.conversation_error for f in result.files] == [1, 0]
    assert result.conversation_error == 0.5


def test_frame_speech_f1_on_ten_ms_frames():
    f = score(ann([(0, 1000, EMP)]), ann([(500, 1500, CUS)]), duration_ms=2000)
    assert (f.speech.tp, f.speech.fp, f.speech.fn) == (50, 50, 50)  # speaker does not matter
    assert f.speech.f1 == 0.5


# --- corpus errors and the command line --------------------------------------------------------


def test_missing_corpus_and_empty_corpus_are_clear_errors(tmp_path):
    with pytest.raises(HeardError, match="does not exist"):
        evaluate_corpus(tmp_path / "nope", tmp_path)
    with pytest.raises(HeardError, match="no \\*.truth.json") as err:
        evaluate_corpus(tmp_path, tmp_path)
    assert err.value.hint


def test_missing_prediction_is_an_error_unless_allowed(tmp_path, capsys):
    corpus, preds = tmp_path / "c", tmp_path / "p"
    write(corpus, "a", ann(TWO_TURNS, duration=20.0), truth=True)
    write(corpus, "b", ann(TWO_TURNS, duration=20.0), truth=True)
    write(preds, "a", ann(TWO_TURNS), truth=False)
    assert main(["eval", str(corpus), str(preds)]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 files have no prediction" in err and ": b" in err and "--allow-missing" in err
    result = evaluate_corpus(corpus, preds, allow_missing=True)
    assert result.missing_predictions == ["b"]
    assert result.files[1].speech.f1 == 0.0 and result.files[1].ier.rate == 1.0
    assert main(["eval", str(corpus), str(preds), "--allow-missing"]) == 0
    assert "scored as empty: b" in capsys.readouterr().out


def test_malformed_prediction_is_one_readable_line(tmp_path, capsys):
    write(tmp_path / "c", "a", ann(TWO_TURNS), truth=True)
    write(tmp_path / "p", "a", ann(TWO_TURNS), truth=False)
    (tmp_path / "p" / "a.json").write_text("{not json")
    assert main(["eval", str(tmp_path / "c"), str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "a.json: not valid JSON" in err
    assert "Traceback" not in err


def test_file_names_are_shown_as_they_are_not_as_markup(tmp_path, capsys):
    for name in ("x[red]y", "z[b]"):
        write(tmp_path / "c", name, ann(TWO_TURNS), truth=True)
    (tmp_path / "p").mkdir()
    assert main(["eval", str(tmp_path / "c"), str(tmp_path / "p"), "--allow-missing"]) == 0
    out = capsys.readouterr().out
    assert "│ x[red]y (missing) │" in out and "│ z[b] (missing)    │" in out
    assert "scored as empty: x[red]y, z[b]" in out


def test_json_output_parses(tmp_path):
    write(tmp_path / "c", "a", ann(TWO_TURNS, [(12000, CUS)], duration=20.0), truth=True)
    write(tmp_path / "p", "a", ann(TWO_TURNS, [(12300, CUS)]), truth=False)
    out = CliRunner().invoke(eval_command, [str(tmp_path / "c"), str(tmp_path / "p"), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["settings"]["collar_s"] == 0.5
    assert data["summary"]["der"]["rate"] == 0.0
    assert data["summary"]["interruptions"]["f1"] == 1.0
    assert data["files"][0]["name"] == "a" and data["files"][0]["der_mapped"] is None


# --- audio: WebRTC VAD baseline and reference predictors -----------------------------------


def test_webrtc_vad_runs_on_both_channels_on_the_ten_ms_grid(tmp_path):
    bursts_wav(tmp_path / "x.wav", 3.0, [(1.5, 2.4, 1)])
    samples, _ = soundfile.read(tmp_path / "x.wav", dtype="int16", always_2d=True)
    samples[:, 0] = 0  # the burst is only on the customer channel
    mask = vad_frames(Audio(samples, RATE), 0, 300)
    # WebRTC VAD calls its first ~150 ms speech while it learns the noise: skip them.
    assert mask.shape == (300,) and not mask[20:140].any() and mask[155:235].all()
    assert not mask[280:].any()  # after its own hangover of ~0.25 s
    silent = vad_frames(Audio(np.zeros((RATE, 1), np.int16), RATE), 3, 100)
    assert not silent.any()


def test_energy_baseline_labels_alternating_bursts_and_evaluates(tmp_path):
    corpus, preds = tmp_path / "c", tmp_path / "p"
    corpus.mkdir()
    turns = [(0.5, 2.0, 0), (3.0, 4.5, 1), (5.5, 7.0, 0), (8.0, 9.0, 1)]
    # customer mic 10 dB hotter: the per-file gain normalisation must not give it every frame
    bursts_wav(corpus / "a.wav", 10.0, turns, gains=(1.0, 3.0))
    truth = ann([(int(a * 1000), int(b * 1000), (EMP, CUS)[c]) for a, b, c in turns])
    truth.conversations = [(3000, 9000)]
    write(corpus, "a", truth, truth=True)
    assert run_baseline(corpus, preds, "energy") == ["a"]
    pred = read_annotation(preds / "a.rttm", preds / "a.json")
    assert [s.speaker for s in pred.segments] == [EMP, CUS, EMP, CUS]
    for seg, (start, end, _) in zip(pred.segments, turns, strict=True):
        assert abs(seg.start_ms - start * 1000) <= 20 and 0 <= seg.end_ms - end * 1000 <= 220
    assert pred.conversations == [(3000, 9200)] and pred.interruptions == []
    result = evaluate_corpus(corpus, preds)
    assert result.der.rate < 0.01 and result.speech.f1 > 0.9
    assert result.vad_files == 1 and result.best_vad_mode in (0, 1, 2, 3)


def test_energy_predictor_finds_an_interruption_in_overlapping_speech(tmp_path):
    bursts_wav(tmp_path / "x.wav", 6.0, [(0.5, 3.5, 0), (2.0, 4.5, 1)])
    samples, _ = soundfile.read(tmp_path / "x.wav", dtype="int16", always_2d=True)
    pred = energy_predict(Audio(samples, RATE))
    assert [(e.by, e.time_ms) for e in pred.interruptions] == [(CUS, 2000)]
    assert pred.talk_ratio() == pytest.approx(3.2 / (3.2 + 2.7), abs=0.01)


def test_trivial_baseline_and_output_guard(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    soundfile.write(corpus / "m.wav", np.zeros(2 * RATE, np.int16), RATE, subtype="PCM_16")
    run_baseline(corpus, tmp_path / "p", "trivial")
    pred = read_annotation(tmp_path / "p" / "m.rttm", tmp_path / "p" / "m.json")
    assert pred.segments == [Segment(0, 2000, EMP)] and pred.conversations == [(0, 2000)]
    assert pred.extra["predictor"] == "trivial" and pred.extra["channels"] == 1
    write(corpus, "m", ann([(0, 2000, CUS)]), truth=True)  # channels come from the WAV
    (f,) = evaluate_corpus(corpus, tmp_path / "p").files
    assert f.channels == 1 and f.der_mapped is not None and f.der_mapped.rate == 0.0
    assert f.ier.rate == 1.0 and f.speech.f1 == 1.0 and f.vad is not None
    with pytest.raises(HeardError, match="overwrite"):
        run_baseline(corpus, corpus, "energy")


def test_float_and_24_bit_wavs_read_as_the_same_int16_samples(tmp_path):
    # Asked for int16, soundfile truncates float samples (full scale 1.0) to 0 and +-1: the
    # baselines then scored a float WAV as silence.
    bursts_wav(tmp_path / "x.wav", 1.0, [(0.2, 0.6, 0)])
    pcm, _ = soundfile.read(tmp_path / "x.wav", dtype="int16", always_2d=True)
    for subtype in ("FLOAT", "DOUBLE", "PCM_24"):
        other = tmp_path / f"x_{subtype}.wav"
        soundfile.write(other, pcm / 32768.0, RATE, subtype=subtype)
        assert np.array_equal(read_wav(other).samples, pcm), subtype


def test_corpus_wavs_named_as_heard_simulate_takes_them_are_read(tmp_path, capsys):
    # `heard simulate DIR` writes X.rttm for X.WAV, and takes names that are not UTF-8:
    # eval and baseline must read those WAVs, not score them from the truth alone.
    corpus, preds = tmp_path / "c", tmp_path / "p"
    corpus.mkdir()
    latin1 = Path(os.fsdecode(os.path.join(os.fsencode(corpus), b"caf\xe9.wav")))
    try:
        latin1.touch()
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes only UTF-8 file names")
    for wav in (corpus / "LOUD.WAV", latin1):
        bursts_wav(corpus / "tmp.wav", 3.0, [(0.5, 2.0, 0)])
        (corpus / "tmp.wav").replace(wav)
        # The truth says otherwise: only the WAV gives 2 channels and 3 s.
        write(corpus, wav.stem, ann([(500, 2000, EMP)], channels=1, duration=9.0), truth=True)
        write(preds, wav.stem, ann([(500, 2000, EMP)]), truth=False)
    result = evaluate_corpus(corpus, preds)
    assert [(f.name, f.channels, f.duration_ms, f.vad is not None) for f in result.files] == [
        ("LOUD", 2, 3000, True), (latin1.stem, 2, 3000, True)]
    assert main(["eval", str(corpus), str(preds), "--events"]) == 0  # on a strict UTF-8 stdout
    assert "\n│ caf\ufffd " in capsys.readouterr().out
    assert run_baseline(corpus, tmp_path / "b", "trivial") == ["LOUD", latin1.stem]
    assert read_annotation(tmp_path / "b" / "LOUD.rttm", tmp_path / "b" / "LOUD.json").extra[
        "duration"] == 3.0


def test_a_corpus_wav_that_is_not_audio_is_named_once(tmp_path):
    (tmp_path / "x.wav").write_text("not audio")
    with pytest.raises(HeardError) as err:
        read_wav(tmp_path / "x.wav")
    assert err.value.args[0] == f"{tmp_path / 'x.wav'}: cannot read audio (Format not recognised)"


def test_no_vad_says_the_baseline_was_skipped_on_request(tmp_path):
    corpus, preds = tmp_path / "c", tmp_path / "p"
    corpus.mkdir()
    bursts_wav(corpus / "a.wav", 3.0, [(0.5, 2.0, 0)])
    truth = ann([(500, 2000, EMP)])
    write(corpus, "a", truth, truth=True)
    write(preds, "a", truth, truth=False)
    out = CliRunner().invoke(eval_command, [str(corpus), str(preds), "--no-vad"])
    assert out.exit_code == 0, out.output
    assert "WebRTC VAD baseline: skipped (--no-vad), not run" in out.output
    out = CliRunner().invoke(eval_command, [str(corpus), str(preds)])
    assert "WebRTC VAD mode" in out.output and "skipped" not in out.output
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(HeardError) as err:
        read_wav(tmp_path / "empty.wav")
    assert err.value.args[0] == f"{tmp_path / 'empty.wav'}: empty file"
    assert "nothing was ever written" in err.value.hint
