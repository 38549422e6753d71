"""`heard simulate`: the NDJSON protocol, input checks and conversion, both engines, the CLI.

Protocol tests drive ``heardcore.simrun`` with a tiny fake detector; everything else runs
the real ``heardcore.detector.Detector`` on short synthetic WAVs from ``heard synth``.
"""

from __future__ import annotations

import io
import json
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from rich.console import Console

import heard.simulate.engines as engines
from heard.annotations import CUSTOMER, EMPLOYEE, Event, Segment, read_annotation
from heard.cli import cli, main
from heard.errors import HeardError
from heard.simulate import EngineError, parse_ndjson, simulate_dir, simulate_file
from heard.simulate.engines import run_engine
from heard.simulate.inputs import inspect_wav
from heard.simulate.protocol import ConversationStats, SimulationResult
from heard.simulate.report import conversation_table
from heard.synth.corpus import generate_corpus
from heardcore import simrun
from heardcore.events import Conversation
from heardcore.params import Params
from heardcore.wavfile import WavReader

SHORT_S = 15  # seconds kept of each synthetic file for the engine comparisons


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two stereo files and one mono file of `heard synth`, full length (~40-70 s each)."""
    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(out, n=2, seed=5, channels=2)
    generate_corpus(out, n=1, seed=6, channels=1)  # another seed: other names, same folder
    return out


@pytest.fixture(scope="module")
def short_wavs(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The corpus WAVs cut to SHORT_S seconds (16 kHz int16, as synthesized)."""
    out = tmp_path_factory.mktemp("short")
    paths = []
    for wav in sorted(corpus.glob("*.wav")):
        samples, rate = soundfile.read(str(wav), dtype="int16", always_2d=True)
        path = out / wav.name
        soundfile.write(str(path), samples[: SHORT_S * rate], rate, subtype="PCM_16")
        paths.append(path)
    assert {soundfile.info(str(p)).channels for p in paths} == {1, 2}
    return paths


def _wav_bytes(values: list[int], channels: int = 1, rate: int = 16000, bits: int = 16,
               declared: int | None = None) -> bytes:
    width = bits // 8
    data = b"".join(v.to_bytes(width, "little", signed=True) for v in values)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * width, channels * width,
                      bits)
    size = len(data) if declared is None else declared
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size)
    return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data


# --- protocol: the file runner's JSON and its parsing (fake detector) ----------------------


def test_encoder_is_compact_ordered_json() -> None:
    value = (("type", "x"), ("n", -3), ("ok", True), ("no", None), ("list", [1, "a\"\\"]),
             ("text", "é\n😀"))
    text = simrun.encode(value)
    assert text == ('{"type":"x","n":-3,"ok":true,"no":null,"list":[1,"a\\"\\\\"],'
                    '"text":"\\u00e9\\u000a\\ud83d\\ude00"}')
    assert json.loads(text) == {"type": "x", "n": -3, "ok": True, "no": None,
                                "list": [1, 'a"\\'], "text": "é\n😀"}
    with pytest.raises(TypeError):
        simrun.encode(1.5)


class _FakeDetector:
    """Emits one of each event at fixed frames; reports its frame's peak as frame state."""

    FRAME_FIELDS = ("peak", "odd")

    def __init__(self, params: Params, channels: int, sink: simrun.NdjsonSink) -> None:
        self.frame_samples = 160
        self.sink, self.index, self.peak = sink, 0, 0

    def process(self, pcm: object) -> None:
        self.peak = max(pcm)  # type: ignore[call-overload]
        if self.sink.wants_frames:
            self.sink.frame(self.index, self)
        if self.index == 2:
            self.sink.segment(0, 0, 30)
            self.sink.segment(1, 20, 25)
            self.sink.interruption(1, 20)
            self.sink.backchannel(0, 22)
        self.index += 1

    def frame_state(self) -> tuple[int, int]:
        return (self.peak, self.index & 1)

    def finish(self) -> None:
        conv = Conversation()
        conv.start_ms, conv.end_ms = 0, 30
        conv.talk_ms = [30, 5]
        conv.interruptions = [0, 1]
        conv.flags = 3
        self.sink.conversation(conv)
        self.sink.employee_only(40, 50, 8)


def _fake_run(frames: bool) -> str:
    out: list[str] = []
    values = [i % 1000 for i in range(2 * 160 * 3 + 10)]  # 3 stereo frames and 5 samples
    wav = WavReader(io.BytesIO(_wav_bytes(values, channels=2)))
    simrun.run(wav, Params(), simrun.NdjsonSink(out.append, frames), _FakeDetector)
    return "".join(out)


def test_runner_lines_in_order_with_padding_and_frames() -> None:
    lines = [json.loads(line) for line in _fake_run(frames=True).splitlines()]
    kinds = [line["type"] for line in lines]
    assert kinds == ["start", "frame", "frame", "frame", "segment", "segment", "interruption",
                     "backchannel", "frame", "conversation", "employee_only", "end"]
    assert lines[0]["params"] == Params().as_dict()
    assert list(lines[0]["params"]) == list(Params().as_dict())  # SPEC order
    assert lines[-1] == {"type": "end", "frames": 4, "samples": 485, "truncated": False}
    assert [line["i"] for line in lines if line["type"] == "frame"] == [0, 1, 2, 3]
    assert lines[8]["peak"] == 969  # the partial last frame, padded with zeros
    conv = lines[9]
    assert (conv["employee_ms"], conv["customer_ms"], conv["talk_ratio_permille"]) == (30, 5, 857)
    assert conv["interruptions_by_customer"] == 1 and conv["duration_ms"] == 30


def test_ndjson_becomes_annotation_and_prediction_files(tmp_path: Path) -> None:
    result = parse_ndjson(_fake_run(frames=False))
    assert result.segments == [Segment(0, 30, EMPLOYEE), Segment(20, 25, CUSTOMER)]
    assert result.interruptions == [Event(20, CUSTOMER)]
    assert result.backchannels == [Event(22, EMPLOYEE)]
    assert [(c.start_ms, c.end_ms, c.flags) for c in result.conversations] == [
        (0, 30, ["low_snr", "clipping"])]
    assert result.duration_ms == 30 and result.frames == 4
    data = result.to_json()
    conv = data["conversations"][0]
    assert (conv["start"], conv["end"], conv["talk_ratio"], conv["customer_ms"]) == (
        0.0, 0.03, 0.857, 5)
    assert data["employee_only"] == [{"start": 0.04, "end": 0.05, "talk_seconds": 0.008}]
    assert data["quality"]["conversations_flagged"] == {"low_snr": 1, "clipping": 1,
                                                        "audio_gap": 0}
    engines.write_prediction(result, tmp_path / "x.rttm", tmp_path / "x.json", "x")
    back = read_annotation(tmp_path / "x.rttm", tmp_path / "x.json")
    assert back.segments == result.segments and back.conversations == [(0, 30)]
    assert back.interruptions == result.interruptions
    assert back.extra["quality"]["truncated"] is False


def test_prediction_json_has_the_segments_as_the_rttm(tmp_path: Path) -> None:
    result = parse_ndjson(_fake_run(frames=False))
    data = result.to_json()
    assert data["segments"] == [{"speaker": "employee", "start": 0.0, "end": 0.03},
                                {"speaker": "customer", "start": 0.02, "end": 0.025}]
    engines.write_prediction(result, tmp_path / "x.rttm", tmp_path / "x.json", "x")
    back = read_annotation(tmp_path / "x.rttm", tmp_path / "x.json")
    assert [{"speaker": s.speaker, "start": s.start_ms / 1000, "end": s.end_ms / 1000}
            for s in back.segments] == data["segments"]


def test_switches_per_minute_and_overlap_per_conversation() -> None:
    conv = ConversationStats(60000, 150000, {"switches": 7, "overlap_ms": 2400, "turns": 9})
    assert conv.switches_per_minute == 4.7
    assert conv.to_json()["switches_per_minute"] == 4.7
    assert ConversationStats(5000, 5000, {"switches": 0}).switches_per_minute is None
    result = SimulationResult(rate=16000, channels=2, frame_ms=10, params={},
                              conversations=[conv])
    console = Console(width=200, record=True)
    console.print(conversation_table(result))
    lines = console.export_text().splitlines()  # border, two header lines, rule, the row
    top, bottom = (line.split("┃")[1:-1] for line in lines[1:3])
    names = [f"{a.strip()} {b.strip()}".strip() for a, b in zip(top, bottom, strict=True)]
    cells = dict(zip(names, (c.strip() for c in lines[4].split("│")[1:-1]), strict=True))
    assert (cells["overlap"], cells["switches /min"], cells["turns"]) == ("2.4 s", "4.7", "9")


def test_parse_errors() -> None:
    with pytest.raises(EngineError, match="16-bit PCM needed") as info:
        parse_ndjson('{"type":"error","source":"wav","message":"16-bit PCM needed, got 8-bit"}\n')
    assert info.value.source == "wav"
    start = _fake_run(frames=False).splitlines()[0]
    with pytest.raises(EngineError, match="stopped before the end"):
        parse_ndjson(start + "\n")
    with pytest.raises(EngineError, match="printed nothing"):
        parse_ndjson("")
    with pytest.raises(EngineError, match="protocol version 9"):
        parse_ndjson(start.replace('"version":1', '"version":9'))
    with pytest.raises(EngineError, match="line 2 is not JSON"):
        parse_ndjson(start + "\nTraceback (most recent call last):\n")


# --- input checks (no engine needed) ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello, not audio", "not a WAV file"),
        (b"", "empty file (0 bytes)"),
        (_wav_bytes([]), "empty: the WAV file has no samples"),
        (_wav_bytes([1] * 1600, declared=64000),
         "truncated: the header declares 2.00 s of audio, the file holds 0.10 s"),
        (_wav_bytes([0] * 300, channels=3), "3 channels; the detector takes 1 or 2"),
        (_wav_bytes([1, 2, 3])[:30], "unreadable WAV (truncated header)"),
        (b"RIFF\x24\x00", "unreadable WAV (truncated header)"),
    ],
)
def test_rejections(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "in.wav"
    path.write_bytes(data)
    with pytest.raises(HeardError) as info:
        simulate_file(path)
    assert info.value.args[0] == f"{path}: {message}"
    assert info.value.hint  # every refusal says what to do about it


def test_rejection_is_one_line_through_the_cli(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("shopping list")
    assert main(["simulate", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: not a WAV file\n  hint: ")
    assert err.count("\n") == 2


def test_bad_config_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, wav = tmp_path / "tune.json", tmp_path / "in.wav"
    config.write_text('{"vad_on_db10": 5}')
    wav.write_bytes(_wav_bytes([0] * 1600))
    assert main(["simulate", str(wav), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: {config}: config field 'vad_on_db10': 5 is outside 20..300\n"
        "  hint: `heard params` lists every parameter with its range\n"
    )


@pytest.mark.micropython
def test_engine_reports_a_bad_config_as_an_error_line(tmp_path: Path,
                                                      short_wavs: list[Path]) -> None:
    config = tmp_path / "tune.json"
    config.write_text('{"no_such_knob": 1}')
    for engine in engines.ENGINES:
        with pytest.raises(EngineError) as info:
            run_engine(engine, short_wavs[0], config)
        assert info.value.source == "config"
        assert str(info.value) == "config field 'no_such_knob': unknown parameter"


# --- the real detector on both engines ----------------------------------------------------


@pytest.mark.micropython
def test_engines_print_identical_ndjson(short_wavs: list[Path]) -> None:
    # The cpython engine takes about real time on stereo: run everything at once.
    with ThreadPoolExecutor(max_workers=2 * len(short_wavs)) as pool:
        runs = {(e, wav): pool.submit(run_engine, e, wav, None, True)
                for e in engines.ENGINES for wav in short_wavs}
        outputs = {key: future.result().ndjson for key, future in runs.items()}
    for wav in short_wavs:
        assert outputs["micropython", wav] == outputs["cpython", wav], wav.name
        lines = outputs["cpython", wav].splitlines()
        end = json.loads(lines[-1])
        assert end == {"type": "end", "frames": SHORT_S * 100, "samples": SHORT_S * 16000,
                       "truncated": False}
        assert sum(1 for line in lines if line.startswith('{"type":"frame"')) == SHORT_S * 100
        assert any(line.startswith('{"type":"segment"') for line in lines), wav.name


@pytest.mark.micropython
def test_converted_inputs_run_with_a_notice(short_wavs: list[Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    stereo = next(p for p in short_wavs if soundfile.info(str(p)).channels == 2)
    samples, rate = soundfile.read(str(stereo), dtype="int16", always_2d=True)
    original = simulate_file(stereo)
    assert original.notices == []

    # 24-bit at 16 kHz: int16 * 256 converts back exactly, so the output is the original's.
    deep = tmp_path / "deep.wav"
    soundfile.write(str(deep), samples.astype(np.int32) * 65536, rate, subtype="PCM_24")
    assert inspect_wav(deep).bits == 24
    result = simulate_file(deep)
    assert result.notices == ["deep.wav: converted 24-bit PCM to 16-bit PCM"]
    assert result.ndjson == original.ndjson

    # 44.1 kHz float: resampled to 16 kHz, same length, speech still found.
    from scipy.signal import resample_poly

    wide = resample_poly(samples / 32768.0, 441, 160, axis=0).astype(np.float32)
    hifi = tmp_path / "hifi.wav"
    soundfile.write(str(hifi), wide, 44100, subtype="FLOAT")
    result = simulate_file(hifi)
    assert result.notices == [
        "hifi.wav: resampled 44100 Hz to 16000 Hz, converted 32-bit float to 16-bit PCM"]
    assert result.rate == 16000 and abs(result.samples - len(samples)) <= 1
    assert result.segments
    assert list((tmp_path / "tmp").iterdir()) == []  # converted copies are deleted


@pytest.mark.micropython
def test_firmware_reader_reports_truncated_data(short_wavs: list[Path], tmp_path: Path) -> None:
    cut = tmp_path / "cut.wav"
    data = short_wavs[0].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    result = run_engine("micropython", cut)
    assert result.truncated
    assert 0 < result.samples < SHORT_S * 16000


@pytest.mark.micropython
def test_out_of_memory_becomes_a_heard_error(short_wavs: list[Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "MICROPYTHON_HEAPSIZE", "8k")
    with pytest.raises(EngineError, match=r"crashed \(MemoryError") as info:
        run_engine("micropython", short_wavs[0])
    assert info.value.hint is not None and "heapsize=8k" in info.value.hint


@pytest.mark.micropython
def test_single_file_cli_writes_readable_predictions(short_wavs: list[Path],
                                                     tmp_path: Path) -> None:
    wav = short_wavs[0]
    rttm, js, frames = tmp_path / "p.rttm", tmp_path / "p.json", tmp_path / "f.ndjson"
    result = CliRunner().invoke(cli, ["simulate", str(wav), "--rttm", str(rttm), "--json",
                                      str(js), "--frames", str(frames)])
    assert result.exit_code == 0, result.output
    assert "conversation(s) in 15.0 s of audio" in result.output
    ann = read_annotation(rttm, js)
    assert ann.segments and {s.speaker for s in ann.segments} <= {EMPLOYEE, CUSTOMER}
    data = json.loads(js.read_text())
    assert {"employee_only", "quality", "conversations", "params"} <= set(data)
    assert len(ann.conversations) == len(data["conversations"])
    assert sum(1 for line in frames.read_text().splitlines() if '"type":"frame"' in line) == 1500


@pytest.mark.micropython
def test_mono_cli_says_who_is_who_is_unreliable_and_frames_get_their_party(
        short_wavs: list[Path], tmp_path: Path) -> None:
    from heard.reference.compare import firmware_frames

    wav = next(p for p in short_wavs if soundfile.info(str(p)).channels == 1)
    frames, js = tmp_path / "f.ndjson", tmp_path / "p.json"
    result = CliRunner().invoke(cli, ["simulate", str(wav), "--frames", str(frames),
                                      "--json", str(js)])
    assert result.exit_code == 0, result.output
    assert "one channel:" in result.output and "unreliable" in result.output
    # Mono frame lines are written before their spurt is judged; the "attributed" lines
    # give every near-talk frame exactly one party afterwards.
    got = firmware_frames(frames.read_text())
    talk = got["speech"] & got["near"]
    assert talk.any()
    assert np.array_equal(got["employee"] | got["customer"], talk)
    assert not (got["employee"] & got["customer"]).any()


@pytest.mark.micropython
def test_directory_mode_then_eval(corpus: Path, tmp_path: Path) -> None:
    pred = tmp_path / "pred"
    runner = CliRunner()
    result = runner.invoke(cli, ["simulate", str(corpus), "--out", str(pred), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    names = sorted(p.stem for p in corpus.glob("*.wav"))
    assert sorted(p.stem for p in pred.glob("*.rttm")) == names
    for name in names:
        read_annotation(pred / f"{name}.rttm", pred / f"{name}.json")
    scored = runner.invoke(cli, ["eval", str(corpus), str(pred), "--no-vad", "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["summary"]["files"] == len(names)


def test_directory_mode_lists_each_refused_file_once_with_its_hint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.wav").write_text("shopping list")
    assert main(["simulate", str(folder), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "2 of 2 file(s) failed:\n  empty.wav: empty file (0 bytes)\n      hint: " in err
    assert "\n  notes.wav: not a WAV file\n      hint: convert it first" in err
    assert str(folder) not in err  # the name alone, not the path again


def test_directory_mode_refuses_its_input_as_output(corpus: Path) -> None:
    with pytest.raises(HeardError, match="output directory is the input directory"):
        simulate_dir(corpus, corpus)


def test_unwritable_output_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = tmp_path / "in.wav"
    wav.write_bytes(_wav_bytes([0] * 1600))
    target = tmp_path / "missing" / "out.rttm"
    assert main(["simulate", str(wav), "--rttm", str(target)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {target}: cannot write (No such file or directory)\n"
