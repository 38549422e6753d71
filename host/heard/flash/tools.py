"""Running esptool and mpremote, and turning their failures into errors a user can act on.

Each tool is the executable beside the interpreter (the virtualenv's ``bin/``), else
``python -m TOOL``. ``HEARD_ESPTOOL`` / ``HEARD_MPREMOTE`` replace it with any command
line (split like a shell would): the tests run stand-ins that way.
"""

from __future__ import annotations

import errno
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from heard.device.link import open_error
from heard.errors import HeardError

ENV = {"esptool": "HEARD_ESPTOOL", "mpremote": "HEARD_MPREMOTE"}
MARK = "HEARD-REFUSED:"  # heard's check on the board prints this before its reason


def tool_command(name: str) -> list[str]:
    """The command line that runs ``name`` (``esptool`` or ``mpremote``)."""
    override = os.environ.get(ENV[name], "").strip()
    if override:
        return shlex.split(override)
    for candidate in (name, f"{name}.exe"):
        beside = Path(sys.executable).with_name(candidate)
        if beside.exists():
            return [str(beside)]
    return [sys.executable, "-m", name]


@dataclass(frozen=True)
class ToolResult:
    argv: tuple[str, ...]  # as planned: the tool's name first
    returncode: int
    output: str  # stdout and stderr, interleaved

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 6) -> str:
        kept = [line for line in self.output.splitlines() if line.strip()]
        return "\n".join(kept[-lines:])


def run_tool(argv: Sequence[str], *, timeout: float,
             echo: Callable[[str], None] | None = None) -> ToolResult:
    """Run a planned command (``("esptool", ...)``), passing its output lines to ``echo``.
    A run that outlasts ``timeout`` seconds is killed and fails (status -1)."""
    command = tool_command(argv[0]) + list(argv[1:])
    lines: list[str] = []
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace")
    except OSError as exc:
        raise HeardError(f"cannot run {argv[0]} ({shlex.join(command)}): {exc.strerror}",
                         hint=f"reinstall heard (`pip install -e .`), or point {ENV[argv[0]]} "
                         "at the tool") from exc
    assert proc.stdout is not None
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        proc.kill()

    watchdog = threading.Timer(timeout, stop)
    watchdog.start()
    try:
        for line in proc.stdout:
            line = line.rstrip("\r\n")
            lines.append(line)
            if echo is not None and line.strip():
                echo(line)
        code = proc.wait()
    finally:
        watchdog.cancel()
    if timed_out.is_set():
        lines.append(f"{argv[0]} did not finish within {timeout:g} s")
        code = -1
    return ToolResult(tuple(argv), code, "\n".join(lines))


# --- what went wrong ------------------------------------------------------------------------

BOOT_HINT = ("put the board into its bootloader by hand: hold BOOT (IO0), press and release "
             "EN/RESET, release BOOT, then run heard flash again; check that the USB cable "
             "carries data (not a charge-only cable) and that nothing else has the port open")
LINK_HINT = ("run heard flash again with a lower baud rate (--baud 115200), a shorter or "
             "better USB cable, or another USB port; the board has no usable firmware until "
             "a flash completes")
UPLOAD_HINT = ("run heard flash again (each run erases the board and starts afresh); close "
               "other programs that use the port (Thonny, a serial monitor); if it keeps "
               "failing, try another USB cable or port")
EXEC_RAM_HINT = ("flash the plain ESP32_GENERIC image of a MicroPython release, not the SPIRAM "
                 "variant (its PSRAM workarounds take instruction RAM), and run heard flash "
                 "again (docs/FLASHING.md, 'Executable RAM')")


def _port_error(port: str, output: str) -> HeardError | None:
    """The serial port itself could not be opened: missing, not permitted, busy."""
    text = output.lower()
    if "permission denied" in text or "errno 13" in text:
        return open_error(port, OSError(errno.EACCES, "Permission denied"))
    if "no such file or directory" in text or "errno 2]" in text:
        return open_error(port, OSError(errno.ENOENT, "No such file or directory"))
    if "busy" in text or "could not exclusively lock" in text:
        return open_error(port, OSError(errno.EBUSY, "Device or resource busy"))
    return None


def _port_state(port: str) -> HeardError | None:
    """What is wrong with a device path that a tool could not open, if it shows."""
    if "://" in port:
        return None
    if not os.path.exists(port):
        return open_error(port, OSError(errno.ENOENT, "No such file or directory"))
    if not os.access(port, os.R_OK | os.W_OK):
        return open_error(port, OSError(errno.EACCES, "Permission denied"))
    return None


def esptool_error(result: ToolResult, port: str, what: str) -> HeardError:
    """A HeardError for a failed esptool run that was to ``what`` (e.g. "erase the flash")."""
    out = result.output
    if "could not open" in out.lower() or "could not open port" in out.lower():
        found = _port_error(port, out)
        if found is not None:
            return found
    if "Failed to connect" in out or "Wrong boot mode" in out:
        return HeardError(f"esptool could not reach the board's bootloader on {port} "
                          f"(to {what}):\n{result.tail(3)}", hint=BOOT_HINT)
    if what.startswith("write") or any(s in out for s in (
            "Serial data stream stopped", "Timed out", "Invalid head of packet",
            "Packet content transfer stopped", "MD5 of file does not match")):
        return HeardError(f"esptool failed to {what} on {port}:\n{result.tail(4)}",
                          hint=LINK_HINT)
    return HeardError(f"esptool failed to {what} on {port} (exit status "
                      f"{result.returncode}):\n{result.tail(4)}", hint=BOOT_HINT)


def mpremote_error(result: ToolResult, port: str, what: str) -> HeardError:
    """A HeardError for a failed mpremote run that was to ``what`` (e.g. "upload")."""
    out = result.output
    refused = [line for line in out.splitlines() if MARK in line]
    if refused:  # heard's check on the board refused its MicroPython
        message = refused[-1].split(MARK, 1)[1].strip()
        if "executable RAM" in message:
            return HeardError(f"the board's MicroPython cannot run heard: {message}",
                              hint=EXEC_RAM_HINT)
        return HeardError(f"the board's MicroPython cannot run heard: {message}",
                          hint="flash MicroPython 1.23 or newer for the ESP32 (docs/FLASHING.md)")
    if "no module named 'vfs'" in out.lower():
        return HeardError("the board's MicroPython is too old for heard (no `vfs` module)",
                          hint="flash MicroPython 1.23 or newer for the ESP32 (docs/FLASHING.md)")
    if "failed to access" in out:
        found = _port_error(port, out) or _port_state(port)
        return found or HeardError(
            f"mpremote could not open {port} (to {what})",
            hint="close other programs that use the port (Thonny, a serial monitor, "
            "another heard); check that you may use it (`ls -l " + port + "`; the dialout "
            "group on Linux)")
    if "could not enter raw repl" in out:
        return HeardError(f"MicroPython did not answer on {port} (to {what})",
                          hint="press EN/RESET on the board and run heard flash again; if "
                          "it keeps failing, check that the image is MicroPython for the "
                          "ESP32 (docs/FLASHING.md)")
    if "ENOSPC" in out or "No space left" in out:
        return HeardError(f"the board's filesystem is full (to {what})", hint=UPLOAD_HINT)
    return HeardError(f"mpremote failed to {what} on {port} (exit status "
                      f"{result.returncode}):\n{result.tail(4)}", hint=UPLOAD_HINT)
