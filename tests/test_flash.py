"""``heard flash`` against stand-in esptool and mpremote (tests/flash_standins), its
verification against the emulated device, and, with ``--port``, against a real ESP32.

The stand-ins log their arguments and act on a folder that stands for the board's flash,
so the tests see the order of the steps, the offsets, every file at its device path, the
identity surviving the erase, and each failure's message.
"""

from __future__ import annotations

import ast
import json
import os
import select
import shlex
import struct
import subprocess
import sys
import threading
import time
import tty
import wave
from pathlib import Path
from typing import Any

import pytest
from heardapp.app import FIRMWARE_VERSION

from heard.cli import main as heard_main
from heard.db import Database
from heard.device.emulator import Emulator, provision
from heard.device.link import PortInfo
from heard.errors import HeardError
from heard.flash import command, identity, run
from heard.flash import plan as plan_module
from heard.flash.image import check_image, parse_chip
from heard.flash.plan import HOST_ONLY, stage_files
from heard.flash.tools import run_tool
from heard.mpytools import find_micropython

ROOT = Path(__file__).resolve().parent.parent
STANDINS = ROOT / "tests" / "flash_standins"
BANNER = ("MicroPython v1.26.1 on 2025-09-11; Generic ESP32 module with ESP32\r\n"
          "Type \"help()\" for more information.\r\n>>> ")


def fake_image(path: Path, chip_id: int = 0, size: int = 1_600_000, magic: int = 0xE9) -> Path:
    data = bytearray(size)
    data[0], data[1], data[2], data[3] = magic, 3, 2, 0x20
    struct.pack_into("<H", data, 12, chip_id)
    path.write_bytes(bytes(data))
    return path


class Bench:
    """The stand-ins' environment: log, board folder, port, image, database."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch):
        self.log_file = tmp / "tools.jsonl"
        self.board = tmp / "board"
        self.board.mkdir()
        self.port = tmp / "ttyUSB0"
        self.port.touch()
        self.image = fake_image(tmp / "ESP32_GENERIC-v1.26.1.bin")
        self.db = tmp / "heard.db"
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("HEARD_ESPTOOL", shlex.join([sys.executable,
                                                        str(STANDINS / "esptool.py")]))
        monkeypatch.setenv("HEARD_MPREMOTE", shlex.join([sys.executable,
                                                         str(STANDINS / "mpremote.py")]))
        monkeypatch.setenv("HEARD_STANDIN_LOG", str(self.log_file))
        monkeypatch.setenv("HEARD_STANDIN_BOARD", str(self.board))
        monkeypatch.delenv("HEARD_STANDIN_FAIL", raising=False)
        monkeypatch.delenv("HEARD_STANDIN_CHIP", raising=False)
        monkeypatch.setattr(command, "Flasher", QuickFlasher)

    def set(self, **env: str) -> None:
        for key, value in env.items():
            self.monkeypatch.setenv(f"HEARD_STANDIN_{key.upper()}", value)

    def flash(self, *extra: str, device_id: str | None = "store1-lane2") -> int:
        args = ["flash", "--port", str(self.port), "--firmware", str(self.image),
                "--db", str(self.db), *extra]
        if device_id is not None:
            args += ["--device-id", device_id]
        return heard_main(args)

    def provisioned(self, device_id: str = "store1-lane2") -> dict[str, str]:
        """Make the board folder a board that runs heard with an identity."""
        (self.board / "boot.py").write_text("")
        (self.board / "heard").mkdir(exist_ok=True)
        ident = {"device_id": device_id, "secret": os.urandom(32).hex()}
        (self.board / "heard" / "identity.json").write_text(json.dumps(ident))
        return ident

    def calls(self) -> list[tuple[str, list[str]]]:
        if not self.log_file.exists():
            return []
        rows = [json.loads(line) for line in self.log_file.read_text().splitlines()]
        return [(r["tool"], r["argv"]) for r in rows]

    def commands(self) -> list[str]:
        """Each call as tool and command word: "esptool flash-id", "mpremote fs"..."""
        out = []
        for tool, argv in self.calls():
            if tool == "esptool":
                word = next(a for i, a in enumerate(argv)
                            if not a.startswith("-") and (i == 0 or not argv[i - 1]
                                                          .startswith("-")))
            else:
                word = "reset" if argv[-1] == "reset" else "upload" if "exec" in argv \
                    else "read"
            out.append(f"{tool} {word}")
        return out

    def board_identity(self) -> dict[str, str]:
        return json.loads((self.board / "heard" / "identity.json").read_text())

    def stored_secret(self, device_id: str) -> bytes | None:
        with Database.open(self.db) as db:
            return db.secret(device_id)


class QuickFlasher(run.Flasher):
    """No pauses; the board's prompt is taken as seen; verification reads the identity the
    stand-in mpremote wrote into the board folder, as the device would."""

    settle_s = 0.0

    def wait_for_repl(self, timeout: float) -> str:
        return BANNER

    def verify(self, chosen: identity.Identity) -> dict[str, Any]:
        board = Path(os.environ["HEARD_STANDIN_BOARD"])
        written = identity.read_identity(board / "heard" / "identity.json")
        assert written is not None and written.device_id == chosen.device_id
        assert written.secret == chosen.secret
        assert (board / "main.py").exists()
        return {"device": chosen.device_id, "firmware": FIRMWARE_VERSION}


@pytest.fixture
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    return Bench(tmp_path, monkeypatch)


FULL_RUN = ["esptool flash-id", "mpremote read", "esptool erase-flash", "esptool write-flash",
            "mpremote upload", "mpremote reset"]


# --- a whole run ---------------------------------------------------------------------------


def test_new_board_is_flashed_uploaded_and_provisioned(bench: Bench,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    assert bench.flash() == 0, capsys.readouterr().err
    assert bench.commands() == FULL_RUN
    calls = bench.calls()
    port = str(bench.port)
    assert calls[0][1] == ["--port", port, "flash-id"]
    assert calls[2][1] == ["--chip", "esp32", "--port", port, "erase-flash"]
    assert calls[3][1] == ["--chip", "esp32", "--port", port, "--baud", "460800",
                           "write-flash", "0x1000", str(bench.image)]
    assert calls[5][1] == ["connect", port, "resume", "reset"]
    upload = calls[4][1]
    assert upload[:5] == ["connect", port, "resume", "exec", upload[4]]
    assert "os.mkdir" in upload[4]
    assert upload[-2:] == [upload[-2], ":/main.py"]  # main.py goes last

    files = sorted(str(p.relative_to(bench.board)) for p in bench.board.rglob("*")
                   if p.is_file() and p.name not in ("boot.py", ".resets"))
    core = sorted(p.stem for p in (ROOT / "firmware" / "heardcore").glob("*.py")
                  if f"heardcore/{p.name}" not in HOST_ONLY)
    app = sorted(p.stem for p in (ROOT / "firmware" / "heardapp").glob("*.py")
                 if f"heardapp/{p.name}" not in HOST_ONLY)
    assert files == sorted(["main.py", "heard/identity.json", "heard/pinmap.json",
                            *[f"lib/heardcore/{m}.mpy" for m in core],
                            *[f"lib/heardapp/{m}.mpy" for m in app]])
    assert "simrun" not in core and "hw_unix" not in app and "hw_esp32" in app
    mpy = (bench.board / "lib" / "heardcore" / "pcm.mpy").read_bytes()
    assert mpy[:2] == b"M\x06" and mpy[2] >> 2 == 10  # .mpy v6 for xtensawin
    assert (bench.board / "main.py").read_bytes() == (ROOT / "firmware" / "main.py").read_bytes()
    assert json.loads((bench.board / "heard" / "pinmap.json").read_text()) == \
        json.loads((ROOT / "hardware" / "pinmap.json").read_text())
    assert (bench.board / ".resets").read_text() == "1"

    ident = bench.board_identity()
    assert set(ident) == {"device_id", "secret"} and ident["device_id"] == "store1-lane2"
    assert bench.stored_secret("store1-lane2") == bytes.fromhex(ident["secret"])
    out = capsys.readouterr().out
    assert "[10/10]" in out and "done: store1-lane2" in out and "a new secret" in out


def test_rerun_keeps_the_identity_through_the_erase(bench: Bench) -> None:
    assert bench.flash() == 0
    first = bench.board_identity()
    bench.log_file.unlink()
    assert bench.flash(device_id=None) == 0  # the board names itself
    assert bench.commands() == FULL_RUN
    assert bench.board_identity() == first
    assert bench.flash() == 0  # the same id again is fine too
    assert bench.board_identity() == first
    assert bench.stored_secret("store1-lane2") == bytes.fromhex(first["secret"])


def test_rerun_with_another_id_is_refused_before_erasing(
        bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    bench.provisioned()
    assert bench.flash(device_id="store9-lane1") == 1
    err = capsys.readouterr().err
    assert "already provisioned as 'store1-lane2'" in err and "--new-identity" in err
    assert bench.commands() == ["esptool flash-id", "mpremote read"]


def test_new_identity_replaces_id_and_secret(bench: Bench) -> None:
    assert bench.flash() == 0
    first = bench.board_identity()
    assert bench.flash("--new-identity", device_id="store9-lane1") == 0
    second = bench.board_identity()
    assert second["device_id"] == "store9-lane1" and second["secret"] != first["secret"]
    assert bench.stored_secret("store9-lane1") == bytes.fromhex(second["secret"])
    assert bench.flash("--new-identity", device_id=None) == 0  # same id, new secret
    third = bench.board_identity()
    assert third["device_id"] == "store9-lane1" and third["secret"] != second["secret"]


def test_board_without_micropython_gets_the_secret_the_host_holds(
        bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    known = bytes(range(32))
    with Database.open(bench.db) as db:
        db.set_secret("store1-lane2", known)
    assert bench.flash() == 0
    assert bench.board_identity()["secret"] == known.hex()
    assert "no MicroPython answered" in capsys.readouterr().out


def test_new_board_needs_a_device_id(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.flash(device_id=None) == 1
    assert "name it with --device-id" in capsys.readouterr().err
    assert "esptool erase-flash" not in bench.commands()


def test_store_and_lane_go_to_the_database(bench: Bench, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert bench.flash("--store", "Main St", "--lane", "3") == 0
    with Database.open(bench.db) as db:
        row = db.device("store1-lane2")
    assert row is not None and (row["store"], row["lane"]) == ("Main St", "3")
    monkeypatch.delattr(Database, "name_device", raising=False)  # a database without naming
    capsys.readouterr()
    assert bench.flash("--store", "Elm St") == 0
    assert "store/lane not recorded" in capsys.readouterr().out


# --- dry run -------------------------------------------------------------------------------


def _dry_commands(out: str) -> list[str]:
    return [line.strip()[2:] for line in out.splitlines() if line.strip().startswith("$ ")]


def test_dry_run_prints_what_a_real_run_does_and_touches_no_port(
        bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.flash("--dry-run") == 0
    out = capsys.readouterr().out
    assert bench.calls() == []  # no tool ran
    assert not any(bench.board.iterdir())
    for device_path in ("/lib/heardcore/pcm.mpy", "/lib/heardapp/hw_esp32.mpy",
                        "/heard/pinmap.json", "/heard/identity.json", "/main.py"):
        assert device_path in out
    pcm = next(line for line in out.splitlines()
               if line.strip().startswith("/lib/heardcore/pcm.mpy "))
    assert " B " in pcm and "compiled for xtensawin" in pcm
    assert "simrun" not in out and "hw_unix" not in out
    planned = _dry_commands(out)
    assert len(planned) == 6

    assert bench.flash() == 0
    staging = str(Path(bench.calls()[1][1][-1]).parent)  # where the board's identity lands
    real = []
    for tool, argv in bench.calls():
        shown = ["$CHECK" if "\n" in a else a for a in argv]
        real.append(shlex.join([tool, *shown]).replace("'$CHECK'", '"$CHECK"')
                    .replace(staging, "$STAGING"))
    assert real == planned


def test_dry_run_without_the_port_present(bench: Bench,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bench.port.unlink()
    assert bench.flash("--dry-run") == 0
    captured = capsys.readouterr()
    assert "does not exist now" in captured.err and "erase-flash" in captured.out
    assert bench.calls() == []


# --- refusals and failures -----------------------------------------------------------------


@pytest.mark.parametrize("chip, reason", [
    ("esp8266", "not an ESP32: an older Xtensa core"),
    ("esp32c3", "RISC-V core"),
    ("esp32s3", "wire GPIO 26-32 to their flash"),
])
def test_other_chips_are_refused_with_the_reason(bench: Bench, capsys: pytest.CaptureFixture[str],
                                                 chip: str, reason: str) -> None:
    bench.set(chip=chip)
    assert bench.flash() == 1
    err = capsys.readouterr().err
    assert "not an ESP32" in err and reason in err
    assert bench.commands() == ["esptool flash-id"]


def test_small_flash_is_refused(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    bench.set(flash_mb="2")
    assert bench.flash() == 1
    assert "flash is 2 MB" in capsys.readouterr().err


@pytest.mark.parametrize("fail, expected, ran", [
    ("noport", ["no serial port"], 1),
    ("permission", ["permission denied", "dialout"], 1),
    ("busy", ["busy", "close the other program"], 1),
    ("connect", ["could not reach the board's bootloader", "hold BOOT (IO0)", "EN/RESET"], 1),
    ("write", ["failed to write the MicroPython image", "--baud 115200"], 4),
    ("upload", ["mpremote failed to upload the firmware", "run heard flash again"], 5),
    ("old-micropython", ["cannot run heard", "v6.2", "MicroPython 1.23 or newer"], 5),
    ("access", ["mpremote could not open", "close other programs"], 2),
])
def test_failures_say_what_to_try_next(bench: Bench, capsys: pytest.CaptureFixture[str],
                                       fail: str, expected: list[str], ran: int) -> None:
    bench.provisioned()
    bench.set(fail=fail)
    assert bench.flash() == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    for part in expected:
        assert part in err
    assert len(bench.calls()) == ran


def test_a_failed_upload_saves_no_secret(bench: Bench) -> None:
    bench.provisioned()
    bench.set(fail="upload")
    assert bench.flash("--new-identity", device_id="store9-lane1") == 1
    assert bench.stored_secret("store9-lane1") is None


def test_board_that_stops_answering_after_the_write(bench: Bench,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    bench.set(fail="raw-repl")
    assert bench.flash() == 1
    err = capsys.readouterr().err
    assert "MicroPython did not answer" in err and "EN/RESET" in err
    assert bench.commands() == FULL_RUN[:5]


def test_missing_port_lists_the_boards_found(bench: Bench, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command, "find_ports", lambda: [
        PortInfo("/dev/ttyUSB3", "CP210x", "CP2102 USB to UART", "0001")])
    assert heard_main(["flash", "--firmware", str(bench.image), "--device-id", "a"]) == 1
    err = capsys.readouterr().err
    assert "no port" in err and "/dev/ttyUSB3 (CP210x, serial 0001)" in err
    assert heard_main(["flash", "--port", str(bench.port) + "x", "--firmware",
                       str(bench.image), "--device-id", "a"]) == 1
    assert "no serial port" in capsys.readouterr().err
    assert bench.calls() == []


def test_bad_images_are_refused(tmp_path: Path) -> None:
    def refused(path: Path | None) -> str:
        with pytest.raises(HeardError) as info:
            check_image(path)
        return str(info.value)

    assert "--firmware" in refused(None)
    assert "not found" in refused(tmp_path / "missing.bin")
    assert "micropython.org/download/ESP32_GENERIC" in refused(tmp_path / "missing.bin")
    assert "not a file" in refused(tmp_path)
    assert "starts with 0x55" in refused(fake_image(tmp_path / "a.uf2", magic=0x55))
    assert "built for the ESP32-S3" in refused(fake_image(tmp_path / "s3.bin", chip_id=9))
    assert "between 256 KiB and 4 MB" in refused(fake_image(tmp_path / "s.bin", size=1000))
    assert check_image(fake_image(tmp_path / "ok.bin")).chip == "ESP32"


def test_device_ids_are_checked(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.flash(device_id="no spaces/please") == 1
    assert "is not usable" in capsys.readouterr().err
    assert bench.calls() == []


# --- parts ---------------------------------------------------------------------------------


def test_chip_is_read_from_esptool_4_and_5() -> None:
    v5 = ("esptool v5.6.0\nConnected to ESP32 on /dev/ttyUSB0:\n"
          "Chip type:          ESP32-D0WD-V3 (revision v3.1)\nDetected flash size: 4MB\n")
    chip = parse_chip(v5)
    assert chip is not None and chip.family == "ESP32" and chip.flash_mb == 4
    assert chip.description == "ESP32-D0WD-V3 (revision v3.1)"
    v4 = ("esptool.py v4.7.0\nSerial port /dev/ttyUSB0\nConnecting....\n"
          "Detecting chip type... ESP32-S3\nChip is ESP32-S3 (QFN56) (revision v0.2)\n"
          "Detected flash size: 8MB\n")
    chip = parse_chip(v4)
    assert chip is not None and chip.family == "ESP32-S3" and chip.flash_mb == 8
    old = "Detecting chip type... ESP8266\nChip is ESP8266EX\n"
    assert (c := parse_chip(old)) is not None and c.family == "ESP8266"
    assert parse_chip("A fatal error occurred: Failed to connect") is None


def test_a_tool_that_hangs_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARD_MPREMOTE", shlex.join([sys.executable, "-c",
                                                     "import time; time.sleep(30)"]))
    start = time.monotonic()
    result = run_tool(["mpremote", "connect", "x", "resume", "reset"], timeout=0.5)
    assert time.monotonic() - start < 10
    assert result.returncode == -1 and "did not finish within 0.5 s" in result.output


def test_uploaded_modules_are_all_the_device_imports(tmp_path: Path) -> None:
    """Every heardcore/heardapp module that main.py reaches on the device is uploaded."""
    files = stage_files(tmp_path)
    uploaded = {f.device_path for f in files}
    todo, seen = [ROOT / "firmware" / "main.py"], set()
    while todo:
        tree = ast.parse(todo.pop().read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""] \
                if isinstance(node, ast.ImportFrom) else []
            for name in names:
                parts = name.split(".")
                if parts[0] not in ("heardcore", "heardapp") or len(parts) < 2:
                    continue
                source = ROOT / "firmware" / parts[0] / f"{parts[1]}.py"
                if source.exists() and source not in seen:
                    seen.add(source)
                    todo.append(source)
    assert seen
    for source in seen:
        assert f"/lib/{source.parent.name}/{source.stem}.mpy" in uploaded, source


def test_wait_for_repl_reads_the_prompt_and_names_a_bad_image() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    try:
        def speak(text: bytes) -> None:
            time.sleep(0.2)
            os.write(master, text)

        threading.Thread(target=speak, args=(b"ets Jun  8 2016 00:22:57\r\n"
                                             + BANNER.encode(),), daemon=True).start()
        assert "Generic ESP32 module" in run.wait_for_repl(name, 5)
        threading.Thread(target=speak, args=((b"ets Jun  8 2016\r\ninvalid header: "
                                             b"0xffffffff\r\n"),), daemon=True).start()
        with pytest.raises(HeardError, match="invalid header"):
            run.wait_for_repl(name, 1.0)
        with pytest.raises(HeardError, match="did not start"):
            run.wait_for_repl(name, 0.5)
    finally:
        os.close(master)
        os.close(slave)


def _quiet_wav(path: Path, seconds: int = 2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(4 * 16000 * seconds))
    return path


@pytest.mark.micropython
def test_verify_against_the_emulated_device(tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    device_id, secret = provision(flash, "emu-flash-1")
    with Emulator([_quiet_wav(tmp_path / "q.wav")], flash) as emu:
        info = run.verify(emu.port, identity.Identity(device_id, secret, "board"))
        assert info["device"] == device_id and info["firmware"] == FIRMWARE_VERSION
        with pytest.raises(HeardError, match="refused the secret"):
            run.verify(emu.port, identity.Identity(device_id, bytes(32), "board"))
        with pytest.raises(HeardError, match="says it is 'emu-flash-1', not 'other'"):
            run.verify(emu.port, identity.Identity("other", secret, "board"))


def _verify_against(printed: bytes, code_sizes: list[int]) -> HeardError:
    """``run.verify`` on a pty where a board printed ``printed`` and never answers."""
    master, slave = os.openpty()
    tty.setraw(slave)
    timer = threading.Timer(0.3, os.write, (master, printed))
    timer.start()
    try:
        with pytest.raises(HeardError) as err:
            run.verify(os.ttyname(slave), identity.Identity("x", bytes(32), "board"), tries=2,
                       code_sizes=code_sizes)
    finally:
        timer.cancel()
        os.close(master)
        os.close(slave)
    return err.value


def test_verify_names_the_executable_ram_when_viper_code_did_not_load(tmp_path: Path) -> None:
    # What an ESP32 prints when main.py's imports find no executable RAM for a viper
    # function: the size MicroPython asked for is one of heard's functions, rounded to 4.
    code = plan_module.machine_code(stage_files(tmp_path / "staging"), every=True)
    boot = (b"Traceback (most recent call last):\r\n  File \"main.py\", line 12, in <module>\r\n"
            b"MemoryError: memory allocation failed, allocating %d bytes\r\n"
            b"MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module with ESP32\r\n>>> ")
    err = _verify_against(boot % code[0], code)
    assert "viper code does not fit the board's executable RAM" in str(err)
    assert f"allocating {code[0]} bytes" in str(err)  # what the board printed is shown
    assert "SPIRAM" in (err.hint or "")
    # Another size: the Python heap ran out, not the executable RAM.
    other = next(n for n in range(4, 100_000, 4) if all(abs(n - c) > 8 for c in code))
    err = _verify_against(boot % other, code)
    assert "no heard hello" in str(err) and "SPIRAM" not in (err.hint or "")


class EmulatedFlasher(QuickFlasher):
    """Verification by the real check against the emulated device, started on the identity
    the stand-in mpremote uploaded (the board folder's /heard is its flash folder)."""

    wav: Path

    def verify(self, chosen: identity.Identity) -> dict[str, Any]:
        board = Path(os.environ["HEARD_STANDIN_BOARD"])
        with Emulator([self.wav], board / "heard") as emu:
            return run.verify(emu.port, chosen)


@pytest.mark.micropython
def test_a_flashed_board_answers_with_its_identity(bench: Bench, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    EmulatedFlasher.wav = _quiet_wav(tmp_path / "q.wav")
    monkeypatch.setattr(command, "Flasher", EmulatedFlasher)
    assert bench.flash() == 0, capsys.readouterr().err
    assert "device store1-lane2 answers, firmware 0.2.0, secret accepted" in \
        capsys.readouterr().out


# --- the real mpremote against the unix port as a board -------------------------------------


class UnixPortBoard:
    """The MicroPython unix port on a pty with its filesystem root moved into a folder
    (``vfs.VfsPosix(folder)`` mounted at ``/``): a board the real mpremote can talk to."""

    def __init__(self, root: Path, tmp: Path,
                 exec_heaps: list[tuple[int, int]] | None = None):
        """``exec_heaps``: also give the board an ``esp32`` module whose executable heap
        regions have these (free bytes, largest free block)."""
        self.root, self.tmp = root, tmp
        self.exec_heaps = exec_heaps
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        boot = self.tmp / "unix_board.py"
        regions = [(free + 1000, free, largest, 0) for free, largest in self.exec_heaps or []]
        esp32 = "" if self.exec_heaps is None else (
            "import sys\n"
            "class esp32:\n"
            "    HEAP_EXEC = 1\n"
            "    @staticmethod\n"
            "    def idf_heap_info(caps):\n"
            f"        return {regions!r}\n"
            "sys.modules['esp32'] = esp32\n"
        )
        boot.write_text(esp32 + "import vfs\nvfs.umount('/')\n"
                        f"vfs.mount(vfs.VfsPosix({str(self.root)!r}), '/')\n")
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.proc = subprocess.Popen([find_micropython(), "-i", str(boot)], stdin=self.master,
                                     stdout=self.master, stderr=subprocess.DEVNULL)
        seen = b""
        deadline = time.monotonic() + 10
        while b">>> " not in seen and time.monotonic() < deadline:
            if select.select([self.slave], [], [], 0.1)[0]:
                seen += os.read(self.slave, 1000)
        assert b">>> " in seen, seen
        return os.ttyname(self.slave)

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


class UnixPortFlasher(QuickFlasher):
    def wait_for_repl(self, timeout: float) -> str:
        return run.wait_for_repl(self.port, timeout)


@pytest.mark.micropython
def test_real_mpremote_provisions_a_unix_port_board(bench: Bench, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The exact mpremote commands of a run, by the real mpremote, on MicroPython: the
    unix port, with modules compiled for it (x64) so that the board's check passes."""
    monkeypatch.delenv("HEARD_MPREMOTE")
    monkeypatch.setattr(plan_module, "ESP32_ARCH", "x64")
    monkeypatch.setattr(command, "Flasher", UnixPortFlasher)
    with UnixPortBoard(bench.board, tmp_path) as pty:
        bench.port = Path(pty)
        assert bench.flash() == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert "the board has no heard identity yet" in out
        first = bench.board_identity()
        for rel in ("main.py", "heard/pinmap.json", "lib/heardcore/pcm.mpy",
                    "lib/heardapp/app.mpy"):
            assert (bench.board / rel).stat().st_size > 0, rel
        assert (bench.board / "lib" / "heardcore" / "pcm.mpy").read_bytes()[2] >> 2 == 2  # x64
        assert bench.flash(device_id=None) == 0, capsys.readouterr().err
        assert "the board is device store1-lane2" in capsys.readouterr().out
        assert bench.board_identity() == first


@pytest.mark.micropython
def test_the_board_refuses_modules_it_cannot_load(bench: Bench, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """xtensawin modules and the unix port (x64): the check on the board stops the upload."""
    monkeypatch.delenv("HEARD_MPREMOTE")
    monkeypatch.setattr(command, "Flasher", UnixPortFlasher)
    with UnixPortBoard(bench.board, tmp_path) as pty:
        bench.port = Path(pty)
        assert bench.flash() == 1
        err = capsys.readouterr().err
        assert "cannot run heard: it loads .mpy files v6.3 arch 2" in err and "arch 10" in err
        assert not (bench.board / "lib" / "heardcore").exists()


@pytest.mark.micropython
def test_the_board_refuses_too_little_executable_ram(bench: Bench, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The viper code's functions against the board's free executable heap, before any
    upload: too few bytes in all, or no block for the largest function, is refused; a board
    that can hold them goes on."""
    from heard.flash.plan import machine_code

    monkeypatch.delenv("HEARD_MPREMOTE")
    monkeypatch.setattr(plan_module, "ESP32_ARCH", "x64")
    monkeypatch.setattr(command, "Flasher", UnixPortFlasher)
    code = machine_code(stage_files(tmp_path / "staging"))
    need, largest = sum(code), max(code)
    assert need > 5000 and 0 < largest < need and all(n % 4 == 0 for n in code)
    for heaps in ([(need - 4, need)], [(need, largest - 4), (need, largest - 4)]):
        with UnixPortBoard(bench.board, tmp_path, exec_heaps=heaps) as pty:
            bench.port = Path(pty)
            assert bench.flash() == 1
            err = capsys.readouterr().err
            assert "cannot run heard: its executable RAM has" in err
            assert f"the viper code of heard takes at least {need}, {largest} in one" in err
            assert "not the SPIRAM variant" in err
            assert not (bench.board / "lib" / "heardcore").exists()
    with UnixPortBoard(bench.board, tmp_path, exec_heaps=[(need, largest)]) as pty:
        bench.port = Path(pty)
        assert bench.flash() == 0, capsys.readouterr().err
        assert (bench.board / "lib" / "heardcore" / "pcm.mpy").stat().st_size > 0


@pytest.mark.micropython
def test_mono_only_modules_are_not_loaded_by_a_two_microphone_board() -> None:
    # The executable-RAM check leaves out plan.MONO_ONLY: a stereo board never imports them.
    from heard.flash.plan import MONO_ONLY

    code = ("import sys\nfrom heardapp.app import App\nfrom heardcore.detector import Detector\n"
            "from heardcore.params import Params\nfrom heardcore.events import Sink\n"
            "Detector(Params(), 2, Sink())\n"
            "print(sorted(m for m in sys.modules if m.startswith('heard')))\n"
            "Detector(Params(), 1, Sink())\nprint('heardcore.monospurt' in sys.modules)\n")
    result = subprocess.run([find_micropython(), "-c", code], capture_output=True, text=True,
                            env={**os.environ, "MICROPYPATH": str(ROOT / "firmware")},
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    loaded, mono_loads = result.stdout.splitlines()
    for path in MONO_ONLY:
        module = path.removeprefix("/lib/").removesuffix(".mpy").replace("/", ".")
        assert module not in loaded
    assert "heardcore.detector" in loaded and mono_loads == "True"


# --- a real board --------------------------------------------------------------------------


@pytest.mark.device
def test_real_board(request: pytest.FixtureRequest, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    """``pytest -m device --port /dev/ttyUSB0`` with HEARD_FIRMWARE_IMAGE=ESP32_GENERIC.bin:
    flashes the board twice and checks that it keeps its identity. Erases the board."""
    port = request.config.getoption("--port")
    image = os.environ.get("HEARD_FIRMWARE_IMAGE")
    if not port:
        pytest.skip("needs a real ESP32: pass --port PORT")
    if not image:
        pytest.skip("needs HEARD_FIRMWARE_IMAGE=path of the MicroPython ESP32 .bin")
    db = tmp_path / "heard.db"
    args = ["flash", "--port", port, "--firmware", image, "--db", str(db)]
    assert heard_main([*args, "--device-id", "pytest-device", "--new-identity"]) == 0, \
        capsys.readouterr().err
    with Database.open(db) as handle:
        first = handle.secret("pytest-device")
    assert first is not None
    assert heard_main(args) == 0, capsys.readouterr().err
    with Database.open(db) as handle:
        assert handle.secret("pytest-device") == first
    assert "kept the board's id and secret" in capsys.readouterr().out
