"""`heard sweep`: parameter grids checked before anything runs, one scored run each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from heard.cli import cli
from heard.errors import HeardError
from heard.sweep import (
    MAX_COMBINATIONS,
    Setting,
    combinations,
    defaults_in,
    parse_setting,
    row_metrics,
    run_sweep,
)


def test_a_setting_is_a_parameter_and_whole_numbers() -> None:
    assert parse_setting("vad_on_db10=40, 50,60") == Setting("vad_on_db10", (40, 50, 60))
    assert parse_setting(" switch_ms =-5") == Setting("switch_ms", (-5,))
    for text, said in (("vad_on_db10", "expected NAME=VALUE"), ("=5", "expected NAME=VALUE"),
                       ("loudness=5", "not a detector parameter"),
                       ("vad_on_db10=4.5", "'4.5' is not a whole number"),
                       ("vad_on_db10=", "'' is not a whole number"),
                       ("vad_on_db10=40,40", "given twice"),
                       ("vad_on_db10=4_0", "'4_0' is not a whole number"),
                       ("vad_on_db10=\u0664\u0660", "is not a whole number")):
        with pytest.raises(HeardError, match=said):
            parse_setting(text)


def test_the_grid_is_every_combination_each_a_valid_configuration() -> None:
    grid = combinations([Setting("vad_on_db10", (40, 60)), Setting("switch_ms", (50, 100, 200))])
    assert grid == [{"vad_on_db10": v, "switch_ms": s} for v in (40, 60) for s in (50, 100, 200)]
    # Each combination is checked as the firmware checks a config file: the range of each
    # value and the rules between them (vad_off_db10 may not exceed vad_on_db10).
    with pytest.raises(HeardError, match="switch_ms=5000: .*outside 10..1000"):
        combinations([Setting("switch_ms", (100, 5000))])
    with pytest.raises(HeardError, match="vad_on_db10=25: .*must not exceed vad_on_db10"):
        combinations([Setting("vad_on_db10", (50, 25))])
    assert combinations([Setting("vad_on_db10", (25,))], {"vad_off_db10": 20}) == [
        {"vad_on_db10": 25}]
    with pytest.raises(HeardError, match="set twice"):
        combinations([Setting("switch_ms", (50,)), Setting("switch_ms", (100,))])
    with pytest.raises(HeardError, match=f"more than {MAX_COMBINATIONS}"):
        combinations([Setting("switch_ms", tuple(range(10, 120))),
                      Setting("vad_on_db10", (40, 50))])
    with pytest.raises(HeardError, match="nothing to sweep"):
        combinations([])
    # The size is known before the grid is built: 10**8 combinations are refused at once.
    huge = [Setting(name, tuple(range(100))) for name in
            ("switch_ms", "vad_on_db10", "turn_bridge_ms", "min_speech_ms")]
    with pytest.raises(HeardError, match="100000000 combinations"):
        combinations(huge)


def test_defaults_are_recognised_over_a_base_config() -> None:
    assert defaults_in({"vad_on_db10": 50}, {})
    assert not defaults_in({"vad_on_db10": 60}, {})
    assert not defaults_in({"vad_on_db10": 50}, {"switch_ms": 75})


@pytest.mark.micropython
def test_each_run_is_the_firmware_with_its_values(device_wavs: list[Path],
                                                  tmp_path: Path) -> None:
    corpus = device_wavs[0].parent
    seen: list[tuple[int, int, dict[str, int]]] = []
    rows = run_sweep(corpus, [Setting("vad_on_db10", (50, 300))], keep=tmp_path / "keep",
                     progress=lambda i, n, combo: seen.append((i, n, combo)))
    assert seen == [(0, 2, {"vad_on_db10": 50}), (1, 2, {"vad_on_db10": 300})]
    assert [r.values for r in rows] == [{"vad_on_db10": 50}, {"vad_on_db10": 300}]
    assert all(not r.failures for r in rows)
    usual, deaf = (row_metrics(r) for r in rows)
    # 30 dB over the noise floor to start speech: most talk goes unheard.
    assert usual["speech_f1"] > 0.8 > deaf["speech_f1"]
    assert usual["der"] < deaf["der"]
    run = tmp_path / "keep" / "run-02"
    assert json.loads((run / "config.json").read_text()) == {"vad_on_db10": 300}
    assert sorted(p.name for p in (run / "pred").glob("*.rttm")) == sorted(
        f"{w.stem}.rttm" for w in device_wavs)


@pytest.mark.micropython
def test_the_command_prints_a_table_or_json(device_wavs: list[Path], tmp_path: Path) -> None:
    corpus = device_wavs[0].parent
    base = tmp_path / "base.json"
    base.write_text('{"switch_ms": 100}')
    result = CliRunner().invoke(cli, ["sweep", str(corpus), "--set", "vad_on_db10=50,300",
                                      "--config", str(base), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["base"] == {"switch_ms": 100} and doc["corpora"] == [str(corpus)]
    assert [r["values"] for r in doc["runs"]] == [{"vad_on_db10": 50}, {"vad_on_db10": 300}]
    assert [r["defaults"] for r in doc["runs"]] == [False, False]  # switch_ms is not
    assert doc["runs"][0]["speech_f1"] > doc["runs"][1]["speech_f1"]
    result = CliRunner().invoke(cli, ["sweep", str(corpus), "--set", "vad_on_db10=50,300"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "vad_on_db10" in line and "DER" in line)
    assert "speech" in header and "ratio" in header and "fail" in header
    first = next(line for line in lines if line.split()[:2] == ["1d", "50"])
    assert "*" in first  # the defaults hear the speech: best speech F1
    assert "run 2/2: vad_on_db10=300" in result.stderr


@pytest.mark.micropython
def test_a_file_that_fails_to_simulate_is_listed_and_fails_the_command(
        device_wavs: list[Path], tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for wav in device_wavs:
        for part in wav.parent.glob(f"{wav.stem}.*"):
            (corpus / part.name).write_bytes(part.read_bytes())
    cut = corpus / device_wavs[0].name
    cut.write_bytes(cut.read_bytes()[:1000])
    result = CliRunner().invoke(cli, ["sweep", str(corpus), "--set", "vad_on_db10=50,60",
                                      "--json"])
    assert isinstance(result.exception, HeardError)
    assert "2 simulation(s) failed in 2 of 2 runs" in str(result.exception)
    doc = json.loads(result.stdout)
    for run in doc["runs"]:
        assert list(run["failures"]) == [device_wavs[0].stem]
        assert "truncated" in run["failures"][device_wavs[0].stem]
        # The reason without the error's own copy of the path: the name is already the key.
        assert str(cut) not in run["failures"][device_wavs[0].stem]
    assert f"run 1: {device_wavs[0].stem}: " in result.stderr
    assert str(cut) not in result.stderr
    result = CliRunner().invoke(cli, ["sweep", str(corpus), "--set", "vad_on_db10=50,300"])
    assert "*" not in "".join(line for line in result.stdout.splitlines()
                              if line.strip()[:2] in ("1d", "2 "))  # no run is clean


@pytest.mark.micropython
def test_several_corpora_are_scored_together(device_wavs: list[Path], tmp_path: Path) -> None:
    corpora = []
    for k, wav in enumerate(device_wavs):
        corpus = tmp_path / f"c{k}"
        corpus.mkdir()
        for part in wav.parent.glob(f"{wav.stem}.*"):
            (corpus / part.name).write_bytes(part.read_bytes())
        corpora.append(corpus)
    cut = corpora[1] / device_wavs[1].name
    cut.write_bytes(cut.read_bytes()[:1000])
    rows = run_sweep(corpora, [Setting("vad_on_db10", (50,))], keep=tmp_path / "keep")
    (row,) = rows
    assert [f.name for f in row.score.files] == [w.stem for w in device_wavs]
    assert list(row.failures) == [f"2/{device_wavs[1].stem}"]
    assert sorted(p.name for p in (tmp_path / "keep" / "run-01").iterdir()) == [
        "config.json", "pred-1", "pred-2"]
    alone = run_sweep(corpora[0], [Setting("vad_on_db10", (50,))])[0]
    assert row_metrics(alone)["speech_f1"] == pytest.approx(
        row.score.files[0].speech.f1)  # the first corpus's file scored the same either way
    with pytest.raises(HeardError, match="given twice"):
        run_sweep([corpora[0], corpora[0]], [Setting("vad_on_db10", (50,))])
    cut.write_bytes(b"RIFF")  # not even a header: refused before any run
    with pytest.raises(HeardError, match=f"{device_wavs[1].stem}.wav: cannot read it as"):
        run_sweep(corpora, [Setting("vad_on_db10", (50,))], keep=tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_the_command_refuses_a_bad_setting_before_running(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(tmp_path), "--set", "vad_on_db10=lots"])
    assert result.exit_code != 0
    assert "'lots' is not a whole number" in str(result.exception)
    result = CliRunner().invoke(cli, ["sweep", str(tmp_path / "none"), "--set",
                                      "vad_on_db10=40"])
    assert result.exit_code != 0
    assert "does not exist" in str(result.exception)


@pytest.mark.micropython
def test_keep_and_config_are_checked_before_running(device_wavs: list[Path],
                                                    tmp_path: Path) -> None:
    corpus = device_wavs[0].parent
    used = tmp_path / "used"
    (used / "run-01").mkdir(parents=True)
    for keep, said in ((used, "the folder is not empty"), (corpus, "the folder is not empty"),
                       (device_wavs[0], "not a folder")):
        with pytest.raises(HeardError, match=said):
            run_sweep(corpus, [Setting("vad_on_db10", (50,))], keep=keep)
    for text in ("null", "[]", "0"):
        config = tmp_path / "base.json"
        config.write_text(text)
        with pytest.raises(HeardError, match="must be an object"):
            run_sweep(corpus, [Setting("vad_on_db10", (50,))], config=config)
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "a.truth.json").write_text((corpus / f"{device_wavs[0].stem}.truth.json")
                                         .read_text())
    (lonely / "b.truth.json").write_text((corpus / f"{device_wavs[0].stem}.truth.json")
                                         .read_text())
    (lonely / "a.wav").write_bytes(device_wavs[0].read_bytes())
    with pytest.raises(HeardError, match="1 truth file\\(s\\) without a WAV, e.g. b.truth"):
        run_sweep(lonely, [Setting("vad_on_db10", (50,))])


@pytest.mark.micropython
def test_a_calibrated_sweep_runs_each_file_after_its_calibration(
        device_wavs: list[Path], tmp_path: Path) -> None:
    corpus = device_wavs[0].parent
    keep = tmp_path / "keep"
    [row] = run_sweep(corpus, [Setting("vad_on_db10", (50,))], keep=keep, calibrate=True)
    assert not row.failures
    pred = keep / "run-01" / "pred"
    for wav in device_wavs:
        settings = json.loads((pred / f"{wav.stem}.config.json").read_text())
        assert settings["vad_on_db10"] == 50 and "level_mid_db10" in settings
        assert json.loads((pred / f"{wav.stem}.json").read_text())["params"]["level_unit_db10"] \
            == settings["level_unit_db10"]
    with pytest.raises(HeardError, match="level_mid_db10 cannot be swept with it"):
        run_sweep(corpus, [Setting("level_mid_db10", (0, 10))], calibrate=True)
    result = CliRunner().invoke(cli, ["sweep", str(corpus), "--set", "vad_on_db10=50",
                                      "--calibrate", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["calibrated"] is True


def test_a_calibrated_sweep_refuses_a_mono_corpus_before_running(tmp_path: Path) -> None:
    from heard.synth import generate_corpus

    generate_corpus(tmp_path / "mono", n=1, seed=5, channels=1)
    with pytest.raises(HeardError, match="1 channel\\(s\\); --calibrate needs two microphones"):
        run_sweep(tmp_path / "mono", [Setting("vad_on_db10", (50,))], calibrate=True,
                  progress=lambda i, n, combo: pytest.fail("a run started"))


def test_the_corpus_check_reads_upper_case_and_non_utf8_wav_names(tmp_path: Path) -> None:
    # The check opens every WAV before a run: X.WAV is X's, and a name in Latin-1 is read
    # (a mono corpus under --calibrate stops at the channel count, after the WAV was read).
    import os

    from heard.synth import generate_corpus

    corpus = tmp_path / "mono"
    generate_corpus(corpus, n=1, seed=5, channels=1)
    [wav] = corpus.glob("*.wav")
    files = {".wav": wav, ".truth.json": corpus / f"{wav.stem}.truth.json",
             ".rttm": corpus / f"{wav.stem}.rttm"}
    for stem in ("LOUD", os.fsdecode(b"caf\xe9")):
        for suffix, path in files.items():
            files[suffix] = path.rename(corpus / f"{stem}{suffix.replace('.wav', '.WAV')}")
        with pytest.raises(HeardError, match="1 channel\\(s\\); --calibrate needs two"):
            run_sweep(corpus, [Setting("vad_on_db10", (50,))], calibrate=True)
