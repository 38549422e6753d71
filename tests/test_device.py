"""The device application on the emulated device (MicroPython unix port on a pty).

End to end: the firmware's records match the detector on the same audio, a sync moves
them into the host database and acknowledges them, lost audio is flagged, an exception in
the loop is logged and the loop goes on, a corrupt data area is reformatted, reboot and the
mute button work, and the per-block path allocates nothing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from device_helpers import conversations, events, flash_records

from heard.cli import cli, main
from heard.db import Database
from heard.device.client import DeviceClient
from heard.device.emulator import Emulator, provision, wait_for
from heard.device.link import open_port
from heard.device.sync_command import sync_device
from heard.errors import HeardError
from heard.flash.identity import check_device_id
from heard.mpytools import find_micropython, micropython_env
from heard.simulate.engines import simulate_file
from heardcore import record

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.micropython


def run_to_end(wavs: list[Path], flash: Path, **kwargs: object) -> Emulator:
    """Play ``wavs`` through the emulated device as fast as possible until it stops."""
    emu = Emulator(wavs, flash, fast=True, exit_when_done=True, **kwargs)  # type: ignore[arg-type]
    emu.start()
    try:
        assert emu.wait(120) == 0, emu.debug_lines[-10:]
    finally:
        emu.stop()
    return emu


def test_records_hold_what_the_detector_found(device_wavs: list[Path], tmp_path: Path) -> None:
    _records_match_the_simulation(device_wavs[1], tmp_path / "flash", channels=2)


def test_a_one_microphone_device_records_what_the_detector_found(tmp_path: Path) -> None:
    # The mono path (attribution per talk spurt, frames waiting for their spurt) on the app.
    from heard.synth import generate_corpus

    generate_corpus(tmp_path / "mono", n=1, seed=12, channels=1)
    wav = next((tmp_path / "mono").glob("*.wav"))
    _records_match_the_simulation(wav, tmp_path / "flash", channels=1)


def _records_match_the_simulation(wav: Path, flash: Path, channels: int) -> None:
    run_to_end([wav], flash)
    recs = flash_records(flash)
    boot = events(recs)[0]
    assert boot["name"] == "boot" and boot["seq"] == 1 and boot["text"] == "0.2.0"
    assert record.RESET_NAMES[boot["a"]] == "emulator"
    got = conversations(recs)
    expected = simulate_file(wav).conversations
    assert got and len(got) == len(expected)
    for rec, conv in zip(got, expected, strict=True):
        assert rec["uptime_ms"] == conv.start_ms  # the detector started at boot
        assert rec["duration_ms"] == conv.end_ms - conv.start_ms
        for name in ("employee_ms", "customer_ms", "overlap_ms", "turns", "switches",
                     "interruptions_by_employee", "interruptions_by_customer",
                     "backchannels_by_employee", "backchannels_by_customer",
                     "longest_employee_monologue_ms", "longest_customer_story_ms",
                     "median_latency_ms", "flags"):
            assert rec[name] == conv.values[name], name
        assert rec["channels"] == channels and rec["clock_s"] == 0
    assert len({r["boot_id"] for r in recs}) == 1
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))


def test_sync_moves_every_record_once_and_acknowledges(device_wavs: list[Path],
                                                        tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    device_id, secret = provision(flash)
    run_to_end(device_wavs, flash)
    before = flash_records(flash)
    db = Database.open(tmp_path / "heard.db")
    db.set_secret(device_id, secret)
    with Emulator([], flash) as emu:  # rebooted, listening to silence in real time
        assert wait_for(lambda: emu.written(), 10)  # its boot event
        port = open_port(emu.port)
        try:
            first = sync_device(port, db)
            second = sync_device(port, db)
            info = DeviceClient(port).hello()
        finally:
            port.close()
    assert first.device_id == device_id
    assert first.new == len(before) + 1 and first.duplicates == 0 and not first.gaps
    assert first.acked == len(before) + 1
    assert first.clock_before == 0 and first.clock_set_to
    assert second.new == 1  # the clock_set event the first sync caused
    assert info["acked"] == second.acked == first.acked + 1
    stored = db.conn.execute(
        "SELECT raw FROM records WHERE device_id = ? ORDER BY seq", (device_id,)
    ).fetchall()
    assert [row[0] for row in stored][: len(before)] == [r["raw"] for r in before]
    assert db.counts(device_id).conversations == len(conversations(before))
    # Acknowledged records leave the device: its log holds none of the old ones.
    assert all(r["seq"] > len(before) for r in flash_records(flash))
    db.close()


def test_a_failed_sync_leaves_no_database_behind(tmp_path: Path) -> None:
    fresh, blank = tmp_path / "fresh.sqlite", tmp_path / "blank.db"
    blank.write_bytes(b"")
    for db in (fresh, blank):  # no such port
        result = CliRunner().invoke(cli, ["sync", "--port", str(tmp_path / "ttyNONE"),
                                          "--db", str(db)])
        assert isinstance(result.exception, HeardError), result.output
    assert not fresh.exists() and blank.read_bytes() == b""
    flash = tmp_path / "flash"
    device_id, secret = provision(flash)
    with Emulator([], flash) as emu:
        assert wait_for(lambda: emu.written(), 10)  # its boot event
        result = CliRunner().invoke(cli, ["sync", "--port", emu.port, "--db", str(fresh)])
        assert isinstance(result.exception, HeardError)
        assert "not provisioned" in str(result.exception)
        assert not fresh.exists()  # no secret stored: nothing synced, nothing left
        result = CliRunner().invoke(cli, ["sync", "--port", emu.port, "--db", str(fresh),
                                          "--secret-hex", secret.hex()])
        assert result.exit_code == 0, result.output
    with Database.open(fresh) as db:
        assert db.secret(device_id) == secret and db.counts(device_id).records >= 1


def test_lost_audio_is_flagged_in_the_conversation_or_logged(device_wavs: list[Path],
                                                             tmp_path: Path) -> None:
    wav = device_wavs[1]
    talk = _conversation_start_ms(wav) + 5000
    end = int(soundfile.info(str(wav)).duration * 1000)
    run_to_end([wav], tmp_path / "flash", drop_audio=[(talk, 400), (end + 8500, 300)])
    recs = flash_records(tmp_path / "flash")
    flagged = [c for c in conversations(recs) if c["flags"] & 4]
    assert len(flagged) == 1 and 400 <= flagged[0]["lost_ms"] <= 500
    # The gap after the last conversation is an event; the one in the conversation may be
    # one too (it fell into the employee's greeting, before the conversation opened).
    gaps = events(recs, "audio_gap")
    tail = [g for g in gaps if g["uptime_ms"] > end]
    assert len(tail) == 1 and 300 <= tail[0]["a"] <= 400
    assert all(400 <= g["a"] <= 500 for g in gaps if g not in tail)


def test_an_exception_in_the_loop_is_logged_and_the_loop_goes_on(device_wavs: list[Path],
                                                                  tmp_path: Path) -> None:
    run_to_end([device_wavs[1]], tmp_path / "flash", fail_at=5040)  # a block boundary
    recs = flash_records(tmp_path / "flash")
    errors = events(recs, "error")
    assert [e["text"] for e in errors] == ["RuntimeError: injected fault at 5040 ms"]
    assert any(c["seq"] > errors[0]["seq"] for c in conversations(recs))


def test_a_damaged_log_state_is_rebuilt_and_no_record_lost(device_wavs: list[Path],
                                                           tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    run_to_end([device_wavs[0]], flash)
    old = flash_records(flash)
    (flash / "data" / "state.json").write_bytes(b"\x00garbage{")
    run_to_end([device_wavs[0]], flash)
    recs = flash_records(flash)
    assert recs[:len(old)] == old  # every record kept, with its number
    rebuilt = events(recs, "log_rebuilt")
    assert len(rebuilt) == 1 and rebuilt[0]["text"].startswith("state: ")
    assert (rebuilt[0]["a"], rebuilt[0]["b"]) == (old[0]["seq"], old[-1]["seq"] + 1)
    assert conversations(recs[len(old):]) and not events(recs, "data_reset")
    # With no record to rebuild it from, an unreadable area is formatted, and says so.
    for segment in (flash / "data").glob("seg-*.log"):
        segment.unlink()
    (flash / "data" / "state.json").write_bytes(b"[]")
    run_to_end([device_wavs[0]], flash)
    recs = flash_records(flash)
    assert recs[0]["name"] == "data_reset" and "LogCorrupt" in recs[0]["text"]
    assert recs[0]["seq"] == 1 and events(recs, "boot") and conversations(recs)


def test_a_config_from_older_firmware_keeps_what_this_firmware_knows(
        device_wavs: list[Path], tmp_path: Path) -> None:
    # A parameter removed by a firmware update must not throw away the calibration.
    flash = tmp_path / "flash"
    provision(flash)
    (flash / "config.json").write_text(json.dumps(
        {"level_mid_db10": 30, "mono_split_db10": 120, "mono_adapt_shift": 6}))
    run_to_end([device_wavs[1]], flash)
    assert json.loads((flash / "config.json").read_text()) == {"level_mid_db10": 30}
    errors = [e["text"] for e in events(flash_records(flash), "error")]
    assert errors == ["config.json: unknown mono_adapt_shift,mono_split_db10 dropped"]
    run_to_end([device_wavs[1]], flash)  # said once: the file no longer holds them
    assert len(events(flash_records(flash), "error")) == 1


def test_a_bad_config_value_runs_on_defaults_and_says_why(device_wavs: list[Path],
                                                          tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    provision(flash)
    (flash / "config.json").write_text(json.dumps({"vad_on_db10": 5000}))
    run_to_end([device_wavs[1]], flash)
    errors = [e["text"] for e in events(flash_records(flash), "error")]
    assert len(errors) == 1 and errors[0].startswith("config.json ignored: ")
    assert "vad_on_db10" in errors[0]
    assert conversations(flash_records(flash))  # and it went on listening


def test_a_config_that_is_not_an_object_runs_on_defaults(device_wavs: list[Path],
                                                         tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    provision(flash)
    (flash / "config.json").write_text("null")
    run_to_end([device_wavs[1]], flash)
    errors = [e["text"] for e in events(flash_records(flash), "error")]
    assert errors == ["config.json ignored: not an object of name: value"]
    assert conversations(flash_records(flash))


def test_reboot_command_restarts_the_device(tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    _device_id, secret = provision(flash)
    with Emulator([], flash) as emu:
        port = open_port(emu.port)
        try:
            client = DeviceClient(port)
            boot = client.hello()["boot"]
            client.auth(secret)
            client.reboot()
            assert wait_for(lambda: emu.boots == 2, 10)
            assert wait_for(lambda: len(emu.written()) == 2, 10)
            assert client.hello()["boot"] != boot
        finally:
            port.close()
    boots = events(flash_records(flash), "boot")
    assert [record.RESET_NAMES[b["a"]] for b in boots] == ["emulator", "soft"]


def test_the_mute_button_stops_listening_and_is_logged(device_wavs: list[Path],
                                                       tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    _device_id, secret = provision(flash)
    with Emulator([device_wavs[1]], flash) as emu:  # real time: the WAV lasts 68 s
        port = open_port(emu.port)
        try:
            client = DeviceClient(port)
            assert client.hello()["listening"] is True
            (flash / "button").touch()
            assert wait_for(lambda: client.hello()["muted"], 5)
            info = client.hello()
            assert info["listening"] is False
            (flash / "button").touch()
            assert wait_for(lambda: not client.hello()["muted"], 5)
        finally:
            port.close()
    # Muting ends what the detector had open, so talk before it (an employee_only event,
    # a conversation) may be written in between.
    names = [e["name"] for e in events(flash_records(flash))
             if e["name"] in ("boot", "mute_on", "mute_off")]
    assert names == ["boot", "mute_on", "mute_off"]


def test_the_per_block_path_allocates_nothing(device_wavs: list[Path], tmp_path: Path) -> None:
    result = subprocess.run(
        [find_micropython(), str(ROOT / "tests/device_scripts/app_heap.py"),
         str(tmp_path / "flash"), str(device_wavs[1])],
        env=micropython_env([ROOT / "firmware", ROOT / "tests" / "firmware"]),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    frames = int(result.stdout.split("frames")[1].split()[0])
    speech = int(result.stdout.split("speech")[1].split()[0])
    assert frames == 304 and speech > 0
    assert int(result.stdout.split("heap_blocks")[1].split()[0]) == 0, result.stdout


def test_emulate_refuses_a_wav_the_microphone_cannot_give(tmp_path: Path) -> None:
    wav = tmp_path / "cd.wav"
    soundfile.write(str(wav), np.zeros((4410, 2), dtype=np.int16), 44100, subtype="PCM_16")
    result = CliRunner().invoke(cli, ["emulate", "--wav", str(wav), "--flash",
                                      str(tmp_path / "f"), "--db", str(tmp_path / "db")])
    assert result.exit_code != 0
    assert "44100" in str(result.exception) or "44100" in result.output
    assert "16 kHz" in str(result.exception) + result.output


def _emulate_as(tmp_path: Path, flash: Path, device_id: str) -> int:
    """``heard emulate --device-id`` on a short silent WAV (ends by itself if it starts)."""
    wav = tmp_path / "quiet.wav"
    soundfile.write(str(wav), np.zeros(1600, dtype=np.int16), 16000, subtype="PCM_16")
    return main(["emulate", "--wav", str(wav), "--fast", "--exit-when-done", "--flash",
                 str(flash), "--db", str(tmp_path / "db"), "--device-id", device_id])


@pytest.mark.parametrize("device_id", ["bad id!", "a" * 80, "café/lane"])
def test_emulate_refuses_the_device_ids_flash_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], device_id: str
) -> None:
    with pytest.raises(HeardError) as refused:
        check_device_id(device_id)  # what `heard flash` says
    flash = tmp_path / "flash"
    assert _emulate_as(tmp_path, flash, device_id) == 1
    err = capsys.readouterr().err
    assert err == f"error: {refused.value}\n" and "Traceback" not in err
    assert "use 1 to 32 letters, digits, '.', '_' or '-'" in err
    assert not flash.exists() and not (tmp_path / "db").exists()
    with pytest.raises(HeardError):
        provision(flash, device_id)
    assert not flash.exists()


def test_emulate_refuses_another_id_for_a_provisioned_flash_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flash = tmp_path / "flx"
    ident = provision(flash, "lane-1")
    assert provision(flash, "lane-1") == ident and provision(flash) == ident
    before = (flash / "identity.json").read_bytes()
    assert _emulate_as(tmp_path, flash, "newname") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: the flash folder {flash} already holds device 'lane-1', "
                          "not 'newname'\n")
    assert "leave out --device-id" in err and "new --flash folder" in err
    assert "Traceback" not in err
    assert (flash / "identity.json").read_bytes() == before
    assert not (tmp_path / "db").exists()


def _conversation_start_ms(wav: Path) -> int:
    truth = json.loads(wav.with_suffix(".truth.json").read_text())
    return int(truth["conversations"][0]["start"] * 1000)


# --- what was lost: sync warns once, the database keeps it, the report says it --------------


def _sync(capsys: pytest.CaptureFixture[str], port: str, db: Path,
          *extra: str) -> tuple[str, str]:
    assert main(["sync", "--port", port, "--db", str(db), *extra]) == 0
    out = capsys.readouterr()
    return out.out, out.err


def test_sync_warns_once_about_what_was_lost_and_the_report_keeps_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_client import BOOT, DEVICE, SECRET, FakeDevice
    from test_client import conversation as conv

    recs = {seq: conv(seq) for seq in range(1, 21)}
    recs[3] = bytes(record.event(3, BOOT, 500, 0, record.EVENT_DATA_RESET, 0, 0,
                                 "LogCorrupt: state: bad value"))
    recs[4] = bytes(record.event(4, BOOT, 600, 0, record.EVENT_BOOT, 6, 40, "0.2.0"))
    del recs[10], recs[11]  # found damaged on flash: the device skips them
    device = FakeDevice(recs, next_seq=21, dropped=2)
    path = tmp_path / "heard.db"
    with Database.open(path) as db:
        db.set_secret(DEVICE, SECRET)
    try:
        out, err = _sync(capsys, device.path, path)
        assert "gaps (records lost): seq 10-11" in out
        warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
        assert warnings == [
            (f"warning: {DEVICE} lost 2 records before this computer got them (seq 10-11): "
             "they were no longer on the device or were damaged there"),
            (f"warning: {DEVICE} wiped its record log (LogCorrupt: state: bad value): records "
             "it had not yet synced are lost"),
            (f"warning: {DEVICE} cut 40 bytes of a damaged record log when it started (most "
             "likely power was lost while it was writing): at least the record being written "
             "then is lost"),
            (f"warning: {DEVICE} dropped 2 records (conversations or events) since the last "
             "sync because its data area was full (2 in all): sync it more often")]
        # Right after: nothing new was lost, so nothing is said again.
        out, err = _sync(capsys, device.path, path)
        assert "gaps (records lost): none" in out and "warning" not in err
        device.dropped = 5  # the counter in hello is cumulative: only the growth is news
        _, err = _sync(capsys, device.path, path)
        assert err.count("warning") == 1
        assert "dropped 3 records (conversations or events) since the last sync" in err
        assert "(5 in all)" in err
        device.log, device.records = "log-2", {1: conv(1, boot=77)}  # a formatted log
        device.first, device.next_seq, device.acked, device.dropped = 1, 2, 0, 1
        _, err = _sync(capsys, device.path, path)
        assert f"warning: {DEVICE} dropped 1 record (conversations or events)" in err
    finally:
        device.close()
    with Database.open(path) as db:
        assert db.conn.execute("SELECT device_id, log_id, first_seq, last_seq FROM gaps"
                               ).fetchall() == [(DEVICE, "log-1", 10, 11)]
    assert main(["report", "--db", str(path), "--json"]) == 0
    quality = json.loads(capsys.readouterr().out)["quality"]
    assert (quality["records_missing"], quality["data_resets"], quality["bytes_cut"]) == (
        2, 1, 40)
    assert [x["kind"] for x in quality["losses"]] == ["data_reset", "bytes_cut", "gap"]
    assert main(["report", "--db", str(path)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "nothing was lost" not in text
    assert "2 records never reached this computer" in text
    assert ": 2, seq 10-11, lost between" in text
    assert "A device's record log was wiped once" in text and "LogCorrupt" in text
    assert "40 bytes of a damaged record log were cut" in text


def test_a_gap_with_nothing_after_it_is_kept_once(tmp_path: Path) -> None:
    from test_client import DEVICE, SECRET, FakeDevice

    device = FakeDevice({}, first=9, next_seq=9)  # 3..8 left the device unsynced
    try:
        with Database.open(tmp_path / "heard.db") as db, \
                open_port(device.path) as port:
            db.set_secret(DEVICE, SECRET)
            db.set_cursor(DEVICE, "log-1", 3)
            first = sync_device(port, db, timeout=0.3)
            second = sync_device(port, db, timeout=0.3)
            kept = db.conn.execute("SELECT first_seq, last_seq FROM gaps").fetchall()
            cursor = db.cursor(DEVICE, "log-1")
    finally:
        device.close()
    assert first.gaps == [(3, 8)] and second.gaps == [] and kept == [(3, 8)] and cursor == 9


def test_bytes_cut_from_a_torn_log_are_a_warning(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    flash = tmp_path / "flash"
    device_id, secret = provision(flash)
    booted = Emulator([], flash, fast=True, exit_when_done=True, tail_ms=0)
    with booted:
        assert booted.wait(30) == 0, booted.debug_lines[-5:]
    newest = max((flash / "data").glob("seg-*.log"))
    torn = bytes(record.event(len(flash_records(flash)) + 1, 7, 1, 0, record.EVENT_ERROR,
                              text="cut short"))[:30]
    with newest.open("ab") as f:  # power lost in the middle of writing a record
        f.write(torn)
    with Emulator([], flash) as emu:
        assert wait_for(lambda: emu.written(), 10), emu.debug_lines[-5:]
        _, err = _sync(capsys, emu.port, tmp_path / "heard.db", "--secret-hex", secret.hex())
    assert f"warning: {device_id} cut 30 bytes of a damaged record log when it started" in err
    assert main(["report", "--db", str(tmp_path / "heard.db"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["quality"]["bytes_cut"] == 30


def test_a_rebuilt_log_state_syncs_every_record_once(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # The device's state.json is damaged after a first sync and more records: the state is
    # rebuilt under a new log id, the host fetches that log from its start and keeps each
    # record once, and says what happened without calling it a loss.
    flash, db = tmp_path / "flash", tmp_path / "heard.db"
    device_id, secret = provision(flash)
    booted = Emulator([], flash, fast=True, exit_when_done=True, tail_ms=0)
    with booted:
        assert booted.wait(30) == 0, booted.debug_lines[-5:]
    with Emulator([], flash) as emu:
        assert wait_for(lambda: emu.written(), 10), emu.debug_lines[-5:]
        _sync(capsys, emu.port, db, "--secret-hex", secret.hex())
    (flash / "data" / "state.json").write_bytes(b"{damaged")
    with Emulator([], flash) as emu:
        assert wait_for(lambda: emu.written(), 10), emu.debug_lines[-5:]
        _, err = _sync(capsys, emu.port, db)
        on_flash = flash_records(flash)  # what the device held when it was synced
    assert f"note: {device_id} found its record log's bookkeeping damaged" in err
    assert "warning" not in err
    with Database.open(db) as d:
        stored = d.conn.execute("SELECT boot_id, seq FROM records").fetchall()
    assert len(stored) == len(set(stored))  # nothing twice
    # Nothing missing (a clock_set the sync itself caused is written after it).
    fetched = max(seq for _, seq in stored)
    assert {(r["boot_id"], r["seq"]) for r in on_flash if r["seq"] <= fetched} <= set(stored)
