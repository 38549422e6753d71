"""``heard emulate`` on a flash folder it cannot use: one ``error:`` line (and a hint),
exit status 1, no traceback, nothing started and nothing written to the host database."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from heard.cli import main
from heard.device.emulator import Emulator, check_flash, provision
from heard.errors import HeardError

SECRET = "ab" * 32


def _quiet_wav(path: Path) -> Path:
    """0.1 s of stereo silence at 16 kHz, 16-bit: a WAV the device microphone can give."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(1600 * 4))
    return path


def _emulate(tmp_path: Path, flash: str) -> int:
    wav = _quiet_wav(tmp_path / "quiet.wav")
    return main(["emulate", "--fast", "--exit-when-done", "--flash", flash,
                 "--db", str(tmp_path / "db"), str(wav)])


def _refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], flash: str) -> list[str]:
    """The lines ``heard emulate`` printed on refusing ``flash`` (after checking how)."""
    assert _emulate(tmp_path, flash) == 1
    out, err = capsys.readouterr()
    assert out == ""  # it never said "emulated device ... is on"
    assert "Traceback" not in err and "status" not in err
    lines = err.splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 2
    assert len(lines) == 1 or lines[1].startswith("  hint: ")
    assert not (tmp_path / "db").exists()
    return lines


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "it is not JSON"),
        ('{"device_id": "lane-1"', "it is not JSON"),
        ("[1, 2]", "it is not a JSON object"),
        (json.dumps({"secret": SECRET}), 'it has no "device_id"'),
        ('{"device_id": "lane-1"}', 'it has no "secret"'),
        ('{"device_id": "lane-1", "secret": "zz"}', "the secret is not hex digits"),
        ('{"device_id": "lane-1", "secret": 5}', "the secret is not hex digits"),
        ('{"device_id": "lane-1", "secret": "00ff"}', "the secret is not 32 bytes but 2"),
        (json.dumps({"device_id": "bad id!", "secret": SECRET}),
         "its device id 'bad id!' is not usable"),
        (json.dumps({"device_id": 7, "secret": SECRET}), "its device id 7 is not usable"),
    ],
)
def test_a_damaged_identity_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, why: str
) -> None:
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "identity.json").write_text(text)
    lines = _refused(tmp_path, capsys, str(flash))
    assert lines[0] == (f"error: the flash folder's identity file {flash / 'identity.json'} "
                        f"is damaged: {why}")
    assert "new --flash folder" in lines[1]
    assert (flash / "identity.json").read_text() == text  # left as it was
    assert not (flash / "data").exists()


def test_an_identity_file_that_is_not_text_or_not_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "identity.json").write_bytes(b"\xff\xfe\x00")
    assert _refused(tmp_path, capsys, str(flash))[0].endswith("is damaged: it is not text")
    (flash / "identity.json").unlink()
    (flash / "identity.json").mkdir()
    assert _refused(tmp_path, capsys, str(flash))[0].endswith(
        "is damaged: it is a folder, not a file")


def test_a_sound_identity_file_is_kept(tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "identity.json").write_text(json.dumps({"device_id": "lane-1", "secret": SECRET}))
    assert provision(flash) == ("lane-1", bytes.fromhex(SECRET))
    assert provision(flash, "lane-1") == ("lane-1", bytes.fromhex(SECRET))


def test_a_flash_folder_that_cannot_be_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("")
    flash = tmp_path / "afile" / "flash"
    lines = _refused(tmp_path, capsys, str(flash))
    assert lines == [f"error: cannot use flash folder {flash}: Not a directory"]


@pytest.mark.parametrize("flash", ["/proc/x", "/sys/nope"])
def test_a_flash_folder_in_a_system_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flash: str
) -> None:
    if not Path(flash).parent.is_dir() or Path(flash).exists():
        pytest.skip(f"no {Path(flash).parent} here")
    lines = _refused(tmp_path, capsys, flash)
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot use flash folder {flash}: ")
    assert "Errno" not in lines[0] and "'" not in lines[0]


def test_an_empty_flash_name_is_not_the_current_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = _refused(tmp_path, capsys, "")
    assert lines[0] == "error: --flash needs a folder name"
    assert not (tmp_path / "identity.json").exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize("make_data", ["file", "dangling link", "subfolder"])
def test_a_data_area_that_is_not_a_folder_of_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_data: str
) -> None:
    flash = tmp_path / "flash"
    flash.mkdir()
    data = flash / "data"
    if make_data == "file":
        data.write_text("records")
    elif make_data == "dangling link":
        data.symlink_to(tmp_path / "gone")
    else:
        (data / "old").mkdir(parents=True)
    lines = _refused(tmp_path, capsys, str(flash))
    if make_data == "subfolder":
        assert lines[0] == (f"error: the flash folder's data area {data} holds a folder "
                            "(old); the device keeps only files there")
    else:
        assert lines[0] == f"error: the flash folder's data area {data} is not a folder"
    assert f"move {data} out of the way" in lines[1] and "new --flash folder" in lines[1]
    assert not (flash / "identity.json").exists()


def test_the_library_refuses_the_same_flash_folders(tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "data").write_text("")
    with pytest.raises(HeardError, match="data area .* is not a folder"):
        check_flash(flash)
    with pytest.raises(HeardError, match="data area .* is not a folder"):
        provision(flash)
    emulator = Emulator([_quiet_wav(tmp_path / "q.wav")], flash, fast=True,
                        exit_when_done=True)
    with pytest.raises(HeardError, match="data area .* is not a folder"):
        emulator.start()
    assert emulator.proc is None
    (tmp_path / "file").write_text("")
    with pytest.raises(HeardError, match="it is a file, not a folder"):
        check_flash(tmp_path / "file")


@pytest.mark.micropython
def test_a_data_area_the_device_wrote_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flash = tmp_path / "flash"
    assert _emulate(tmp_path, str(flash)) == 0
    assert sorted(p.name for p in (flash / "data").iterdir())  # the device wrote its log
    ident = json.loads((flash / "identity.json").read_text())["device_id"]
    assert _emulate(tmp_path, str(flash)) == 0
    out, err = capsys.readouterr()
    assert out.count(f"emulated device {ident} is on ") == 2 and "error" not in err


@pytest.mark.parametrize(
    ("content", "why", "hint"),
    [
        (b"", "empty file (0 bytes)", "nothing was ever written to it; record it"),
        (b"RIFF\x24\x00", "truncated header", "the file was cut off"),
    ],
    ids=["empty", "cut off"],
)
def test_an_empty_wav_is_not_called_cut_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, why: str, hint: str
) -> None:
    wav = tmp_path / "call.wav"
    wav.write_bytes(content)
    assert main(["emulate", "--fast", "--exit-when-done", "--flash", str(tmp_path / "flash"),
                 "--db", str(tmp_path / "db"), str(wav)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.splitlines()[0] == f"error: {wav}: {why}"
    assert err.splitlines()[1].startswith(f"  hint: {hint}") and len(err.splitlines()) == 2
    assert not (tmp_path / "db").exists() and not (tmp_path / "flash").exists()
