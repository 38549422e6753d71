"""`heard simulate` on awkward inputs: sample rates no recording has, file names that look
like options or are not UTF-8, upper-case extensions, names with spaces, empty files."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

import heard.simulate.engines as engines
from heard.annotations import EMPLOYEE, Segment, read_annotation, read_rttm, write_rttm
from heard.cli import cli, main
from heard.errors import HeardError
from heard.simulate import simulate_dir, simulate_file
from heard.simulate.inputs import inspect_wav
from heard.synth.corpus import generate_corpus
from heardcore import simrun

FRAMES = 8000  # 0.5 s at 16 kHz


def _wav(path: Path, rate: int = 16000, frames: int = FRAMES, channels: int = 2) -> Path:
    """A 16-bit PCM WAV of silence whose header declares ``rate``."""
    data = bytes(frames * channels * 2)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data)
    return path


def _latin1(tmp_path: Path, name: bytes) -> Path:
    """``tmp_path / name`` for a name that is not UTF-8 (skipped where the file system
    refuses such names)."""
    path = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), name)))
    try:
        path.touch()
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes only UTF-8 file names")
    return path


# --- sample rates -------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1, 7, 100, 3999, 384001, 400_000_000])
def test_a_sample_rate_no_recording_has_is_refused(tmp_path: Path, rate: int) -> None:
    # 20 frames keep it cheap without the check too: at 1 Hz they resample to 320,000.
    path = _wav(tmp_path / "odd.wav", rate, frames=20)
    with pytest.raises(HeardError) as info:
        simulate_file(path)
    assert info.value.args[0] == f"{path}: the header says {rate} Hz; heard takes 4000 to 384000 Hz"
    assert info.value.hint is not None and "damaged" in info.value.hint


@pytest.mark.parametrize("rate", [4000, 384000])
def test_the_ends_of_the_sample_rate_range_are_taken(tmp_path: Path, rate: int) -> None:
    info = inspect_wav(_wav(tmp_path / "edge.wav", rate))
    assert info.rate == rate and info.needs_conversion


@pytest.mark.micropython
def test_directory_mode_lists_a_file_with_a_damaged_rate_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    _wav(folder / "fine.wav")
    _wav(folder / "damaged.wav", 1, frames=20)
    assert main(["simulate", str(folder), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert ("1 of 2 file(s) failed:\n  damaged.wav: the header says 1 Hz; heard takes 4000 "
            "to 384000 Hz\n      hint: ") in err
    assert sorted(p.name for p in out.iterdir()) == ["fine.json", "fine.rttm"]


def test_an_empty_file_is_not_called_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "nothing.wav"
    path.write_bytes(b"")
    with pytest.raises(HeardError) as info:
        simulate_file(path)
    assert info.value.args[0] == f"{path}: empty file (0 bytes)"
    assert info.value.hint is not None
    assert "cut off" not in info.value.hint and "nothing was ever written" in info.value.hint


# --- file names ---------------------------------------------------------------------------


def test_simrun_takes_any_file_name_after_a_double_dash() -> None:
    parse = simrun._parse_args
    assert parse(["--frames", "--", "-dash.wav"]) == ("-dash.wav", None, True)
    assert parse(["--config", "-c.json", "--", "--frames"]) == ("--frames", "-c.json", False)
    assert parse(["in.wav", "--frames"]) == ("in.wav", None, True)
    with pytest.raises(simrun.UsageError, match="unknown option -dash.wav"):
        parse(["-dash.wav"])
    with pytest.raises(simrun.UsageError, match="one WAV file only"):
        parse(["--", "a.wav", "b.wav"])


@pytest.mark.micropython
@pytest.mark.parametrize("engine", engines.ENGINES)
def test_a_file_name_that_starts_with_a_dash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    monkeypatch.chdir(tmp_path)
    _wav(tmp_path / "-dash.wav")
    (tmp_path / "-tune.json").write_text('{"vad_on_db10": 60}')
    result = simulate_file(Path("-dash.wav"), engine, Path("-tune.json"))
    assert result.samples == FRAMES and result.params["vad_on_db10"] == 60
    folder = tmp_path / "in"
    folder.mkdir()
    _wav(folder / "-a.wav")
    run = simulate_dir(folder, tmp_path / "out", engine)
    assert list(run.results) == ["-a"] and not run.failures


@pytest.mark.micropython
def test_a_file_name_that_starts_with_a_dash_through_the_cli(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _wav(tmp_path / "-dash.wav")
    result = CliRunner().invoke(cli, ["simulate", "./-dash.wav"])
    assert result.exit_code == 0, result.output
    assert "0 conversation(s) in 0.5 s of audio" in result.output


@pytest.mark.micropython
@pytest.mark.parametrize("engine", engines.ENGINES)
def test_a_file_name_that_is_not_utf8(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    wav = _wav(_latin1(tmp_path, b"caf\xe9.wav"))
    config = _latin1(tmp_path, b"r\xe9glage.json")
    config.write_text('{"vad_on_db10": 60}')
    result = simulate_file(wav, engine, config)
    assert result.samples == FRAMES and result.params["vad_on_db10"] == 60
    # Converted first (soundfile takes no such name either), then linked for the engine.
    hifi = _latin1(tmp_path, b"hifi\xe9.wav")
    with hifi.open("wb") as f:
        soundfile.write(f, np.zeros((44100, 2)), 44100, subtype="PCM_16", format="WAV")
    result = simulate_file(hifi, engine)
    assert result.notices == [f"{hifi.name}: resampled 44100 Hz to 16000 Hz"]
    assert result.samples == 16000
    assert list(temp.iterdir()) == []  # links and converted copies are removed


def test_an_rttm_file_id_is_one_field_of_utf8(tmp_path: Path) -> None:
    rttm = tmp_path / "x.rttm"
    write_rttm(rttm, os.fsdecode(b"my call \xe9"), [Segment(1000, 2500, EMPLOYEE)])
    assert rttm.read_text() == "SPEAKER my_call_? 1 1.000 1.500 <NA> <NA> employee <NA> <NA>\n"
    assert read_rttm(rttm) == [Segment(1000, 2500, EMPLOYEE)]


# --- directory mode -----------------------------------------------------------------------


@pytest.mark.micropython
def test_directory_mode_takes_upper_case_wav_and_names_with_spaces_then_eval(
        tmp_path: Path) -> None:
    synth, corpus, pred = tmp_path / "synth", tmp_path / "corpus", tmp_path / "pred"
    generate_corpus(synth, n=1, seed=7, channels=2)
    corpus.mkdir()
    original = next(synth.glob("*.wav")).with_suffix("")
    for name, ext in (("LOUD", ".WAV"), ("my call", ".wav")):
        shutil.copy(f"{original}.wav", corpus / f"{name}{ext}")
        shutil.copy(f"{original}.rttm", corpus / f"{name}.rttm")
        shutil.copy(f"{original}.truth.json", corpus / f"{name}.truth.json")
    runner = CliRunner()
    result = runner.invoke(cli, ["simulate", str(corpus), "--out", str(pred)])
    assert result.exit_code == 0, result.output
    assert "wrote predictions for 2 file(s)" in result.output
    for name in ("LOUD", "my call"):
        ann = read_annotation(pred / f"{name}.rttm", pred / f"{name}.json")
        assert ann.segments  # every segment survived the RTTM (a space would split its id)
    scored = runner.invoke(cli, ["eval", str(corpus), str(pred), "--no-vad", "--json"])
    assert scored.exit_code == 0, scored.output
    files = {f["name"]: f for f in json.loads(scored.output)["files"]}
    assert sorted(files) == ["LOUD", "my call"]
    assert not any(f["missing_prediction"] for f in files.values())
    assert files["LOUD"]["der"] == files["my call"]["der"]


def test_two_files_that_would_write_the_same_predictions(tmp_path: Path) -> None:
    _wav(tmp_path / "a.wav")
    _wav(tmp_path / "a.WAV")
    with pytest.raises(HeardError, match=r"a.WAV and a.wav would both write a.rttm"):
        simulate_dir(tmp_path, tmp_path / "out")


def test_the_folder_summary_shows_names_as_written(tmp_path: Path) -> None:
    # "[red]" is text, not rich markup; a name that is not UTF-8 shows with U+FFFD, and
    # printing it cannot fail on a UTF-8 terminal.
    source = tmp_path / "in"
    source.mkdir()
    _wav(source / "a[red]b.wav")
    odd = _latin1(source, b"caf\xe9.wav")
    _wav(odd)
    result = CliRunner().invoke(cli, ["simulate", str(source), "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert "a[red]b" in result.output and "caf\ufffd" in result.output
    result.output.encode("utf-8")  # no lone surrogates left to fail a strict stdout
