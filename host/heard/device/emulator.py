"""The emulated device: the real firmware app on the MicroPython unix port, on a pty.

``Emulator(...).start()`` opens a pseudo-terminal pair, runs ``micropython -m
heardapp.emulate`` with the pty's master side as its stdin and stdout, and returns the
slave side's path: to the host that path is a serial port like /dev/ttyUSB0. The emulator
keeps the slave open itself so the device never sees a hang-up between host sessions. When
the firmware exits for a reboot (status 3) it is started again on the same pty, as a real
board would come back on the same USB port. Debug lines from the firmware's stderr are
kept in ``debug_lines``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import threading
import time
import tty
from collections.abc import Callable, Sequence
from pathlib import Path

from heard.errors import HeardError
from heard.flash.identity import check_device_id
from heard.mpytools import compiled_firmware, find_micropython, micropython_env
from heardcore.auth import SECRET_SIZE

EXIT_REBOOT = 3
RESET_SOFT = 5
RESET_EMULATOR = 6
# The ESP32 without PSRAM has a 111,936-byte heap (FACTS.md). The x64 unix port's objects
# are up to twice as big (8-byte words), so the same program needs more heap here: 192 KiB
# with the modules precompiled, as they are on a device (docs/PERFORMANCE.md, memory).
HEAPSIZE = "192k"


def firmware_dir() -> Path:
    """The folder that holds the ``heardapp`` and ``heardcore`` packages."""
    import heardapp

    return Path(heardapp.__file__).resolve().parent.parent


def check_flash(flash: Path) -> None:
    """Make sure ``flash`` can be the emulated device's flash folder, creating it if need be.

    HeardError if the folder cannot be made or used, or if its data area (``data/``, the
    record log) is not a folder of files: the firmware could not mount or format it."""
    try:
        flash.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        pass  # a file where the folder should be: said just below
    except OSError as exc:
        raise HeardError(f"cannot use flash folder {flash}: {_reason(exc)}") from None
    if not flash.is_dir():
        raise HeardError(f"cannot use flash folder {flash}: it is a file, not a folder")
    data = flash / "data"
    hint = (f"move {data} out of the way (the device then starts an empty data area) "
            "or give a new --flash folder")
    if os.path.lexists(data) and not data.is_dir():
        raise HeardError(f"the flash folder's data area {data} is not a folder", hint=hint)
    try:
        folders = sorted(p.name for p in data.iterdir() if p.is_dir()) if data.exists() else []
    except OSError as exc:
        raise HeardError(f"cannot use flash folder {flash}: {data}: {_reason(exc)}") from None
    if folders:
        raise HeardError(
            f"the flash folder's data area {data} holds a folder ({folders[0]}); "
            "the device keeps only files there", hint=hint)


def provision(flash: Path, device_id: str | None = None) -> tuple[str, bytes]:
    """Give an emulated device an identity (what ``heard flash`` does for a real one).

    Keeps an existing identity; returns ``(device_id, secret)``. ``device_id`` must be one
    ``heard flash`` accepts, and a flash folder that already holds another device's identity
    is refused (HeardError): it keeps its id, as a provisioned board does. So is a flash
    folder that cannot be used (see ``check_flash``) or whose identity file is damaged."""
    if device_id is not None:
        check_device_id(device_id)
    check_flash(flash)
    path = flash / "identity.json"
    if os.path.lexists(path):
        held, secret = read_identity(path)
        if device_id is not None and device_id != held:
            raise HeardError(
                f"the flash folder {flash} already holds device {held!r}, not {device_id!r}",
                hint=f"leave out --device-id to run {held!r}, or give a new --flash folder "
                f"for a new device {device_id!r}")
        return held, secret
    device_id = device_id or f"emu-{secrets.token_hex(3)}"
    secret = secrets.token_bytes(SECRET_SIZE)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps({"device_id": device_id, "secret": secret.hex()}))
        tmp.replace(path)
    except OSError as exc:
        raise HeardError(f"cannot use flash folder {flash}: {_reason(exc)}") from None
    return device_id, secret


def read_identity(path: Path) -> tuple[str, bytes]:
    """``(device_id, secret)`` from an emulated device's ``identity.json``; HeardError
    saying what is wrong with a damaged one."""
    try:
        data = json.loads(path.read_text())
    except IsADirectoryError:
        why = "it is a folder, not a file"
    except UnicodeDecodeError:
        why = "it is not text"
    except ValueError:
        why = "it is not JSON"
    except OSError as exc:
        raise HeardError(f"cannot read the identity file {path}: {_reason(exc)}") from None
    else:
        why = _identity_problem(data)
        if not why:
            return str(data["device_id"]), bytes.fromhex(data["secret"])
    raise HeardError(
        f"the flash folder's identity file {path} is damaged: {why}",
        hint=f"give a new --flash folder, or delete {path} to give this emulated device a "
        "new id and secret")


def _identity_problem(data: object) -> str:
    """What keeps ``data`` (a parsed identity.json) from being an identity; '' if nothing."""
    if not isinstance(data, dict):
        return "it is not a JSON object"
    for key in ("device_id", "secret"):
        if key not in data:
            return f'it has no "{key}"'
    device_id, secret = data["device_id"], data["secret"]
    try:
        check_device_id(device_id)
    except (HeardError, TypeError):
        return f"its device id {device_id!r} is not usable"
    try:
        size = len(bytes.fromhex(secret))
    except (TypeError, ValueError):
        return "the secret is not hex digits"
    if size != SECRET_SIZE:
        return f"the secret is not {SECRET_SIZE} bytes but {size}"
    return ""


def _reason(exc: OSError) -> str:
    """An OSError's reason without its errno and file name ('Permission denied')."""
    return exc.strerror or str(exc)


class Emulator:
    def __init__(
        self,
        wavs: Sequence[Path],
        flash: Path,
        *,
        fast: bool = False,
        exit_when_done: bool = False,
        capacity: int | None = None,
        write_chunk: int = 0,
        drop_audio: Sequence[tuple[int, int]] = (),
        tail_ms: int | None = None,
        fail_at: int | None = None,
        gap_ms: int = 0,
        echo_debug: bool = False,
    ):
        self.wavs = [Path(w) for w in wavs]
        self.flash = Path(flash)
        self.fast = fast
        self.exit_when_done = exit_when_done
        self.capacity = capacity
        self.write_chunk = write_chunk
        self.drop_audio = list(drop_audio)
        self.tail_ms = tail_ms
        self.fail_at = fail_at
        self.gap_ms = gap_ms
        self.echo_debug = echo_debug
        self.debug_lines: list[str] = []
        self.exit_codes: list[int] = []
        self.boots = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.master = -1
        self.slave = -1
        self.port = ""
        self.modules = Path()
        self._stopping = False
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self._exited = threading.Event()

    def command(self, reset_cause: int) -> list[str]:
        cmd = [find_micropython(), "-X", f"heapsize={HEAPSIZE}", "-m", "heardapp.emulate",
               "--flash", str(self.flash), "--reset-cause", str(reset_cause)]
        if self.fast:
            cmd.append("--fast")
        if self.exit_when_done:
            cmd.append("--exit-when-done")
        if self.capacity is not None:
            cmd += ["--capacity", str(self.capacity)]
        if self.write_chunk:
            cmd += ["--write-chunk", str(self.write_chunk)]
        if self.tail_ms is not None:
            cmd += ["--tail-ms", str(self.tail_ms)]
        if self.gap_ms:
            cmd += ["--gap-ms", str(self.gap_ms)]
        if self.fail_at is not None:
            cmd += ["--fail-at", str(self.fail_at)]
        for at, ms in self.drop_audio:
            cmd += ["--drop-audio", f"{at}:{ms}"]
        return cmd + [str(w) for w in self.wavs]

    def start(self) -> str:
        """Start the device; the serial port path the host should open."""
        for wav in self.wavs:
            if not wav.is_file():
                raise HeardError(f"{wav}: no such WAV file")
        check_flash(self.flash)
        self.modules = compiled_firmware(firmware_dir())
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self._spawn(RESET_EMULATOR)
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()
        return self.port

    def _spawn(self, reset_cause: int) -> None:
        env = micropython_env([self.modules])
        self.proc = subprocess.Popen(
            self.command(reset_cause), stdin=self.master, stdout=self.master,
            stderr=subprocess.PIPE, env=env, start_new_session=True,
        )
        self.boots += 1
        threading.Thread(target=self._read_debug, args=(self.proc,), daemon=True).start()

    def _read_debug(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            with self._lock:
                self.debug_lines.append(line)
            if self.echo_debug:
                print(f"[device] {line}", flush=True)

    def _supervise(self) -> None:
        while True:
            proc = self.proc
            assert proc is not None
            code = proc.wait()
            with self._lock:
                self.exit_codes.append(code)
                if self._stopping or code != EXIT_REBOOT:
                    self._exited.set()
                    return
                self._spawn(RESET_SOFT)

    def running(self) -> bool:
        return not self._exited.is_set()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the firmware to exit for good (not a reboot); its exit status."""
        if not self._exited.wait(timeout):
            return None
        return self.exit_codes[-1]

    def written(self) -> list[int]:
        """Sequence numbers the firmware reported as written and flushed."""
        with self._lock:
            lines = list(self.debug_lines)
        return [int(line.split()[1]) for line in lines if line.startswith("wrote ")]

    def kill(self) -> None:
        """Cut the power: SIGKILL, no chance to clean up."""
        with self._lock:
            self._stopping = True
            if self.proc and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
        self._exited.wait(10)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            if self.proc and self.proc.poll() is None:
                self.proc.terminate()
        if not self._exited.wait(5):
            self.kill()
        self.close()

    def close(self) -> None:
        for fd in (self.master, self.slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = -1

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
