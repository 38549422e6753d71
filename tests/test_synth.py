"""Tests of `heard synth`: determinism, WAV format, and truth that matches the scripts."""

from __future__ import annotations

import json
import wave
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from heard.annotations import CUSTOMER, EMPLOYEE, Segment, read_annotation, read_rttm
from heard.cli import cli, main
from heard.errors import HeardError
from heard.synth import generate_corpus, tts
from heard.synth.activity import detect
from heard.synth.dialogues import DIALOGUES, SOLO
from heard.synth.scripts import BACKCHANNEL, INTERRUPTION, NORMAL, ScriptError, parse_script
from heard.synth.timeline import place_script

SEED = 9  # its first 3 files: two conversations, employee-only stretches, both mic layouts,
N = 3  # interruptions and backchannels by both parties
TOL = 0.011  # s: one 10 ms frame, plus rounding to ms


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(out, N, SEED, 2)
    return out


def _names(d: Path) -> list[str]:
    return sorted(p.name[: -len(".truth.json")] for p in d.glob("*.truth.json"))


def _truth(d: Path, name: str) -> dict:
    return json.loads((d / f"{name}.truth.json").read_text())


def _pcm(path: Path) -> tuple[np.ndarray, int, int, int]:
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
        return x.T.astype(np.float64), w.getframerate(), w.getsampwidth(), w.getnchannels()


def _bridged(intervals: list[tuple[float, float]], bridge: float = 0.3) -> list[list[float]]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a < out[-1][1] + bridge:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def check_against_script(d: Path, name: str) -> None:
    """Every truth item of one file agrees with its scripted timeline."""
    truth = _truth(d, name)
    ann = read_annotation(d / f"{name}.rttm", d / f"{name}.truth.json")
    turns = truth["timeline"]
    segs = {p: [(s.start_ms / 1000, s.end_ms / 1000) for s in ann.segments if s.speaker == p]
            for p in (EMPLOYEE, CUSTOMER)}

    def speaking(party: str, a: float, b: float) -> bool:
        return any(s <= a + TOL and e >= b - TOL for s, e in segs[party])

    for party in (EMPLOYEE, CUSTOMER):  # speech lies within the party's scripted turns
        spans = _bridged([(t["start"], t["end"]) for t in turns if t["speaker"] == party])
        for s, e in segs[party]:
            assert any(a - TOL <= s and e <= b + TOL for a, b in spans), (name, party, s, e)
    for t in turns:  # each turn's speech starts at its scripted onset
        assert any(abs(s - t["start"]) <= TOL or s < t["start"] < e for s, e in segs[t["speaker"]])
        assert t["end"] > t["start"]

    interruptions = [t for t in turns if t["kind"] == INTERRUPTION]
    assert sorted((e["time"], e["by"]) for e in truth["interruptions"]) == sorted(
        (t["start"], t["speaker"]) for t in interruptions)
    for t in interruptions:
        host = turns[t["ref"]]
        assert host["speaker"] != t["speaker"]
        assert 0.3 <= round(host["end"] - t["start"], 3) <= 1.5, (name, t)
        assert speaking(host["speaker"], t["start"], t["start"] + 0.25)  # real overlap
        assert any(abs(s - t["start"]) <= TOL for s, _ in segs[t["speaker"]])  # a new onset

    backchannels = [t for t in turns if t["kind"] == BACKCHANNEL]
    assert sorted((e["time"], e["by"]) for e in truth["backchannels"]) == sorted(
        (t["start"], t["speaker"]) for t in backchannels)
    for t in backchannels:
        host = turns[t["ref"]]
        assert t["end"] - t["start"] < 0.8
        assert host["speaker"] != t["speaker"]
        assert host["start"] < t["start"] and t["end"] < host["end"]
        assert any(s < host["end"] and e > t["end"] for s, e in segs[host["speaker"]])

    convs = [(c["start"], c["end"]) for c in truth["conversations"]]
    for s, e in segs[CUSTOMER]:
        assert any(a <= s and e <= b for a, b in convs), (name, s, e)
    for (_, end), (start, _) in pairwise(convs):
        assert start - end >= 10.0
        assert not any(end < s < start for s, _ in segs[CUSTOMER])
    for ep in truth["episodes"]:
        inside = [s for s, _ in segs[EMPLOYEE] + segs[CUSTOMER] if ep["start"] <= s < ep["end"]]
        assert min(inside) == ep["start"]
        if ep["kind"] == "employee_only":
            assert all(e <= a or s >= b for a, b in convs for s, e in segs[EMPLOYEE]
                       if ep["start"] <= s < ep["end"])
            assert not any(ep["start"] <= s < ep["end"] for s, _ in segs[CUSTOMER])


def test_truth_matches_scripts(corpus: Path) -> None:
    names = _names(corpus)
    assert len(names) == N
    for name in names:
        check_against_script(corpus, name)
    truths = [_truth(corpus, n) for n in names]
    # the fixture covers what the checks are about
    assert any(len(t["conversations"]) >= 2 for t in truths)
    assert any(ep["kind"] == "employee_only" for t in truths for ep in t["episodes"])
    for kind in ("interruptions", "backchannels"):
        assert {e["by"] for t in truths for e in t[kind]} == {EMPLOYEE, CUSTOMER}


def test_talk_seconds_match_rttm(corpus: Path) -> None:
    for name in _names(corpus):
        truth = _truth(corpus, name)
        segments = read_rttm(corpus / f"{name}.rttm")
        talk = {p: sum(s.duration_ms for s in segments if s.speaker == p) / 1000
                for p in (EMPLOYEE, CUSTOMER)}
        assert truth["talk_seconds"] == pytest.approx(talk, abs=0.0015)
        assert truth["talk_ratio"] == pytest.approx(talk[EMPLOYEE] / sum(talk.values()), abs=1e-3)
        assert talk[EMPLOYEE] > 5 and talk[CUSTOMER] > 5


def test_wav_format_and_levels(corpus: Path) -> None:
    for name in _names(corpus):
        x, rate, width, channels = _pcm(corpus / f"{name}.wav")
        truth = _truth(corpus, name)
        assert (rate, width, channels) == (16000, 2, 2)
        assert x.shape[1] / rate == pytest.approx(truth["duration"], abs=0.001)
        assert 30 <= truth["duration"] <= 95
        peak = 20 * np.log10(np.abs(x).max() / 32767)
        assert -20.1 <= peak <= -2.9
        assert peak == pytest.approx(truth["peak_dbfs"], abs=0.1)
        assert 0 <= truth["snr_db"] <= 30 and 0.2 <= truth["rt60"] <= 0.8
        assert abs(truth["gain_mismatch_db"]) <= 2


def test_stereo_channels_face_their_party(corpus: Path) -> None:
    layouts = set()
    for name in _names(corpus):
        x, _, _, _ = _pcm(corpus / f"{name}.wav")
        truth = _truth(corpus, name)
        layouts.add(truth["geometry"]["layout"])
        talking = {p: np.zeros(x.shape[1], bool) for p in (EMPLOYEE, CUSTOMER)}
        for s in read_rttm(corpus / f"{name}.rttm"):
            talking[s.speaker][s.start_ms * 16 : s.end_ms * 16] = True
        gain = 10 ** (truth["gain_mismatch_db"] / 10)  # in power
        ratio_db = {}
        for p, q in ((EMPLOYEE, CUSTOMER), (CUSTOMER, EMPLOYEE)):
            only = talking[p] & ~talking[q]
            e0, e1 = np.mean(x[0, only] ** 2), np.mean(x[1, only] ** 2) / gain
            ratio_db[p] = 10 * np.log10(e0 / e1)
        assert ratio_db[EMPLOYEE] > 0.5 > -0.5 > ratio_db[CUSTOMER], (name, ratio_db)
        assert truth["party_channel_db"][EMPLOYEE] > 0 > truth["party_channel_db"][CUSTOMER]
    assert layouts == {"omni_pair", "cardioid_pair"}


def test_same_seed_same_bytes_different_seed_differs(corpus: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    wavs = generate_corpus(again, 2, SEED, 2, jobs=1)  # in-process, fewer files: same bytes
    assert [w.name for w in wavs] == [f"synth_s{SEED}_000.wav", f"synth_s{SEED}_001.wav"]
    for name in _names(again):
        for ext in (".wav", ".rttm", ".truth.json"):
            assert (again / f"{name}{ext}").read_bytes() == (corpus / f"{name}{ext}").read_bytes()
    listed = json.loads((corpus / "corpus.json").read_text())
    assert listed["seed"] == SEED and listed["n"] == N and listed["channels"] == 2
    assert "heard_version" in listed and [f["name"] for f in listed["files"]] == _names(corpus)
    assert json.loads((again / "corpus.json").read_text())["files"] == listed["files"][:2]

    other = tmp_path / "other"
    generate_corpus(other, 1, SEED + 1, 2, jobs=1)
    assert (other / f"synth_s{SEED + 1}_000.wav").read_bytes() != (
        corpus / f"synth_s{SEED}_000.wav").read_bytes()
    assert _truth(other, f"synth_s{SEED + 1}_000")["timeline"] != _truth(
        corpus, f"synth_s{SEED}_000")["timeline"]


def test_mono(tmp_path: Path) -> None:
    (wav,) = generate_corpus(tmp_path, 1, 4, channels=1, jobs=1)
    x, rate, _, channels = _pcm(wav)
    assert (rate, channels) == (16000, 1)
    truth = _truth(tmp_path, wav.name[:-4])
    assert truth["channels"] == 1 and truth["geometry"]["layout"] == "mono"
    assert len(truth["geometry"]["mics_m"]) == 1
    check_against_script(tmp_path, wav.name[:-4])


@pytest.mark.parametrize(
    ("n", "seed", "channels"), [(0, 1, 2), (-3, 1, 2), (1, 1, 3), (1, -1, 2), (1, 1, 0)]
)
def test_bad_arguments(tmp_path: Path, n: int, seed: int, channels: int) -> None:
    with pytest.raises(HeardError):
        generate_corpus(tmp_path / "x", n, seed, channels)
    assert not (tmp_path / "x").exists()


def test_unwritable_out_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for out in (blocker, blocker / "sub"):
        with pytest.raises(HeardError) as err:
            generate_corpus(out, 1, 1)
        assert err.value.hint


def test_missing_espeak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tts, "ESPEAK", "espeak-ng-not-installed")
    with pytest.raises(HeardError) as err:
        generate_corpus(tmp_path, 1, 1)
    assert "apt-get install espeak-ng" in str(err.value) and "make setup" in str(err.value)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = CliRunner().invoke(cli, ["synth", "--out", str(tmp_path), "--n", "1", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "wrote 1 files" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "corpus.json", "synth_s2_000.rttm", "synth_s2_000.truth.json", "synth_s2_000.wav"]
    assert main(["synth", "--out", str(tmp_path), "--n", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --n must be") and "Traceback" not in err


def test_cli_removes_the_files_of_an_earlier_corpus(tmp_path: Path) -> None:
    def synth(n: int, seed: int) -> str:
        result = CliRunner().invoke(cli, ["synth", "--out", str(tmp_path), "--n", str(n),
                                          "--seed", str(seed)])
        assert result.exit_code == 0, result.output
        return result.output

    synth(2, 4)
    (tmp_path / "synth_s5_000.rttm").write_text("of a run with another seed\n")
    unrelated = ["notes.txt", "synth_notes.wav", "my_synth_s4_001.wav", "synth_s4_001.wav.bak",
                 "synth_s4_001.txt"]
    for name in unrelated:
        (tmp_path / name).write_text("not synth output\n")
    (tmp_path / "synth_s6_000.wav").mkdir()  # a folder, not a file synth wrote
    out = synth(1, 4)
    assert "removed 4 files of an earlier corpus" in out
    assert "synth_s4_001.*, synth_s5_000.*" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
        "corpus.json", "synth_s4_000.rttm", "synth_s4_000.truth.json", "synth_s4_000.wav",
        "synth_s6_000.wav", *unrelated])
    listed = json.loads((tmp_path / "corpus.json").read_text())
    assert listed["n"] == 1 and [f["wav"] for f in listed["files"]] == [
        p.name for p in tmp_path.glob("synth_s*_*.wav") if p.is_file()]
    assert "removed" not in synth(1, 4)  # the same corpus again: nothing to remove


def test_scripts() -> None:
    assert len(DIALOGUES) >= 10 and len(SOLO) >= 2
    for needed in ("greeting_purchase", "price_check", "return_complaint", "card_declined",
                   "loyalty_signup", "directions", "long_customer_story", "sales_pitch"):
        assert needed in DIALOGUES
    kinds = {(line.speaker, line.kind) for s in DIALOGUES.values() for line in s.lines}
    for party in (EMPLOYEE, CUSTOMER):
        assert {(party, INTERRUPTION), (party, BACKCHANNEL)} <= kinds
    long_turn = "E: " + "word " * 12
    for bad in ("C~: mm-hmm\nE: hi", long_turn + "\nE~: yeah", long_turn + "\nC~: sure thing",
                "E: hi\nC!: no", "X: hi", "E hello"):
        with pytest.raises(ScriptError):
            parse_script("bad", bad)


def test_timeline_rules_and_fallbacks() -> None:
    words = "one two three four five six seven eight nine ten eleven"
    script = parse_script("t", f"E: {words}\nC~: mm-hmm\nC: {words}\nE!: {words}\n"
                               f"C: {words}\nE!: {words}\nC~: yeah\nC!: {words}")
    # line 0 is too short to host a backchannel, line 4 too short to be interrupted
    durations = [1000, 600, 4000, 3000, 400, 5000, 600, 2000]
    for seed in range(20):
        turns = place_script(script, durations, 1000, 0, 5, np.random.default_rng(seed))
        assert [(t.line, t.kind) for t in turns] == [
            (0, NORMAL), (2, NORMAL), (3, INTERRUPTION), (4, NORMAL), (5, NORMAL),
            (6, BACKCHANNEL), (7, INTERRUPTION)]
        assert [t.ref for t in turns] == [None, None, 6, None, None, 9, 9]  # file-level indices
        line = {t.line: t for t in turns}
        for cut, host in ((3, 2), (7, 5)):
            assert 300 < line[host].end_ms - line[cut].start_ms <= 1500
        assert line[5].start_ms + 300 <= line[6].start_ms
        assert line[6].end_ms <= line[5].end_ms - 300
        assert line[6].end_ms + 400 <= line[7].start_ms  # its own next onset stays an onset
        assert 100 <= line[2].start_ms - line[0].end_ms <= 1000
        assert all(t.start_ms % 10 == 0 for t in turns)


def test_activity_detector_bridges_short_pauses() -> None:
    rate = 16000
    x = np.zeros(3 * rate, np.float32)
    tone = 0.05 * np.sin(np.arange(8000) / 5).astype(np.float32)  # 0.5 s at -29 dBFS
    x[1600:9600] = tone  # 0.10-0.60 s
    x[12800:20800] = tone  # 0.80-1.30 s: 200 ms pause, bridged
    x[28000:36000] = tone  # 1.75-2.25 s: 450 ms pause, kept
    x[44800:44880] = tone[:80]  # 2.80 s, a 5 ms click: shorter than a segment
    assert detect(x, EMPLOYEE) == [Segment(100, 1300, EMPLOYEE), Segment(1750, 2250, EMPLOYEE)]


@pytest.mark.slow
def test_cli_twenty_files_match_their_scripts(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["synth", "--out", str(tmp_path), "--n", "20", "--seed", "1"])
    assert result.exit_code == 0, result.output
    names = _names(tmp_path)
    assert len(names) == 20 and len(list(tmp_path.glob("*.wav"))) == 20
    for name in names:
        check_against_script(tmp_path, name)
    used = {d for n in names for d in _truth(tmp_path, n)["dialogues"]}
    assert set(DIALOGUES) <= used
