"""The serial port to a device: finding ESP32 boards and opening a port without a reset.

pyserial raises DTR and RTS when it opens a port, and on most ESP32 boards those lines
drive EN and GPIO0 through the USB bridge's auto-reset circuit: opening the port would
reset the device. ``open_port`` sets both false before ``open()``, as mpremote does, and
asks for exclusive access so a second program cannot interleave bytes.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any

import serial
import serial.tools.list_ports

from heard.errors import HeardError

# USB VID:PID of the USB-serial bridges found on ESP32 boards, and of Espressif's own USB.
KNOWN_BRIDGES: dict[tuple[int, int], str] = {
    (0x10C4, 0xEA60): "CP210x",
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x55D4): "CH9102",
    (0x0403, 0x6001): "FT232R",
    (0x0403, 0x6010): "FT2232",
    (0x0403, 0x6015): "FT231X",
    (0x303A, 0x1001): "ESP32 USB-Serial/JTAG",
    (0x303A, 0x0002): "ESP32-S2 USB",
    (0x303A, 0x4001): "ESP32 TinyUSB CDC (MicroPython)",
}

DEFAULT_BAUDRATE = 115200
READ_TIMEOUT = 0.02  # seconds a read waits for the first byte: the client polls

_DIALOUT_HINT = ("add your user to the group that owns serial ports: "
                 "`sudo usermod -aG dialout $USER`, then log out and in again")


@dataclass(frozen=True)
class PortInfo:
    """A serial port that looks like an ESP32 board."""

    device: str
    bridge: str
    description: str
    serial_number: str | None

    def describe(self) -> str:
        serial_no = f", serial {self.serial_number}" if self.serial_number else ""
        return f"{self.device} ({self.bridge}{serial_no})"


def bridge_name(vid: int | None, pid: int | None) -> str | None:
    """The bridge's name for a known ESP32 VID:PID, else None."""
    if vid is None or pid is None:
        return None
    return KNOWN_BRIDGES.get((vid, pid))


def find_ports() -> list[PortInfo]:
    """Serial ports whose USB VID:PID is a known ESP32 USB-serial bridge, by device name."""
    found = []
    for info in serial.tools.list_ports.comports():
        name = bridge_name(info.vid, info.pid)
        if name is not None:
            found.append(PortInfo(info.device, name, info.description or "",
                                  info.serial_number))
    return sorted(found, key=lambda p: p.device)


def open_port(
    name_or_url: str, baudrate: int = DEFAULT_BAUDRATE, timeout: float = READ_TIMEOUT
) -> Any:
    """Open a port (a device path such as /dev/ttyUSB0, COM3 or a pty, or a pyserial URL
    such as ``socket://host:port``, ``rfc2217://host:port``, ``loop://``) with DTR and RTS
    low from the start, so the ESP32 is not reset. Returns the pyserial object."""
    if not name_or_url.strip():
        raise HeardError("no serial port given (--port is empty)", hint=_ports_hint())
    try:
        port = serial.serial_for_url(name_or_url, baudrate=baudrate, timeout=timeout,
                                     write_timeout=2.0, do_not_open=True)
    except (ValueError, serial.SerialException) as exc:
        raise HeardError(f"cannot use serial port {name_or_url!r}: {exc}",
                         hint="pass a device path (/dev/ttyUSB0, COM3) or a pyserial URL "
                         "(socket://HOST:PORT, rfc2217://HOST:PORT)") from exc
    port.dtr = False
    port.rts = False
    if isinstance(port, serial.Serial):  # the platform's own class: exclusive is supported
        port.exclusive = True
    try:
        port.open()
    except (OSError, serial.SerialException) as exc:
        raise open_error(name_or_url, exc) from exc
    return port


def open_error(name: str, exc: BaseException) -> HeardError:
    """A HeardError with a hint for a failed ``open()``."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return HeardError(f"no serial port {name}", hint=_ports_hint())
    if code in (errno.EACCES, errno.EPERM):
        return HeardError(f"permission denied opening {name}", hint=_DIALOUT_HINT)
    windows_busy = code is None and "Access is denied" in str(exc)  # Windows: open elsewhere
    if windows_busy or code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK):
        return HeardError(f"serial port {name} is busy: another program has it open",
                          hint="close the other program (a serial monitor, mpremote, "
                          "another heard) and try again")
    return HeardError(f"cannot open serial port {name}: {exc}")


def _ports_hint() -> str:
    ports = find_ports()
    if not ports:
        return "is the device plugged in? `heard sync` without --port looks for ESP32 boards"
    return "ESP32 boards connected: " + ", ".join(p.describe() for p in ports)
