"""The chips heard runs on, and checks of the MicroPython image the user supplies.

Only the classic ESP32 is supported: the firmware's native code is compiled for
``xtensawin``, which rules out the RISC-V chips (C2, C3, C5, C6, H2, P4) and the ESP8266,
and the pin map (hardware/pinmap.json) uses GPIOs that ESP32-S2 and ESP32-S3 modules wire
to their flash.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from heard.errors import HeardError

IMAGE_MAGIC = 0xE9  # first byte of every ESP32 / ESP8266 flash image
FLASH_OFFSET = 0x1000  # where ESP32_GENERIC's .bin goes (micropython.org/download/ESP32_GENERIC)
MIN_FLASH_MB = 4  # ESP32_GENERIC's partition table needs a 4 MB flash
MIN_IMAGE = 256 * 1024  # a MicroPython ESP32 build is ~1.5-2 MB
MAX_IMAGE = MIN_FLASH_MB * 1024 * 1024 - FLASH_OFFSET
DOWNLOAD_URL = "https://micropython.org/download/ESP32_GENERIC/"

SUPPORTED = "ESP32"
ESPTOOL_CHIP = "esp32"  # esptool's --chip name of the supported chip

_RISCV = ("it has a RISC-V core; heard's native code is compiled for the ESP32's Xtensa "
          "core (xtensawin)")
_PINS = ("its modules wire GPIO 26-32 to their flash, and heard's pin map "
         "(hardware/pinmap.json) uses GPIO 26 and 32")
REFUSED: dict[str, str] = {
    "ESP8266": "it is not an ESP32: an older Xtensa core (not xtensawin), about 50 KB of "
               "RAM and no I2S microphone input in MicroPython",
    "ESP32-S2": _PINS + "; it is also single-core",
    "ESP32-S3": _PINS,
}
# The second byte of esptool's image header extension: the chip an image is built for.
IMAGE_CHIPS: dict[int, str] = {
    0: "ESP32", 2: "ESP32-S2", 5: "ESP32-C3", 9: "ESP32-S3", 12: "ESP32-C2", 13: "ESP32-C6",
    16: "ESP32-H2", 18: "ESP32-P4", 20: "ESP32-C61", 23: "ESP32-C5",
}


@dataclass(frozen=True)
class Chip:
    """What esptool reported about the board."""

    family: str  # "ESP32", "ESP32-S3", "ESP8266"...
    description: str  # "ESP32-D0WD-V3 (revision v3.1)"
    flash_mb: int | None

    def describe(self) -> str:
        desc = self.description if self.description != self.family else ""
        flash = f", {self.flash_mb} MB flash" if self.flash_mb else ""
        return f"{self.family}{f' ({desc})' if desc else ''}{flash}"


_FAMILY_PATTERNS = (
    re.compile(r"Connected to (ESP[\w-]+) on"),  # esptool 5
    re.compile(r"Detecting chip type\.*\s*(ESP[\w-]+)"),  # esptool 2-4
    re.compile(r"Chip is (ESP8266|ESP32(?:-[A-Z]\d+)?)\b"),
)
_DESCRIPTION = re.compile(r"(?:Chip type:|Chip is)\s+(.+)")
_FLASH = re.compile(r"Detected flash size:\s*(\d+)\s*MB")


def parse_chip(output: str) -> Chip | None:
    """The chip in esptool's output of ``flash-id``, or None if it names none."""
    family = None
    for pattern in _FAMILY_PATTERNS:
        m = pattern.search(output)
        if m:
            family = m.group(1).upper()
            break
    if family is None:
        return None
    if family.startswith("ESP8266"):
        family = "ESP8266"
    desc = _DESCRIPTION.search(output)
    flash = _FLASH.search(output)
    return Chip(family, desc.group(1).strip() if desc else family,
                int(flash.group(1)) if flash else None)


def check_chip(chip: Chip) -> None:
    """Refuse, with the reason, a chip heard does not run on."""
    if chip.family != SUPPORTED:
        reason = REFUSED.get(chip.family, _RISCV if chip.family.startswith("ESP32-")
                             else "heard is built for the ESP32 only")
        raise HeardError(
            f"the board is an {chip.family}, not an ESP32: {reason}",
            hint="heard runs on the classic ESP32 (ESP32-WROOM-32 / -WROVER modules, "
            "ESP32-DevKitC boards); see hardware/README.md")
    if chip.flash_mb is not None and chip.flash_mb < MIN_FLASH_MB:
        raise HeardError(
            f"the board's flash is {chip.flash_mb} MB; MicroPython's ESP32_GENERIC build "
            f"needs {MIN_FLASH_MB} MB", hint="use an ESP32 module with 4 MB of flash or more")


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    size: int
    chip: str  # from the header extension: "ESP32", or what it is built for


def check_image(path: Path | None) -> ImageInfo:
    """Check that ``path`` looks like an ESP32 MicroPython firmware image (``.bin``)."""
    hint = f"download the ESP32_GENERIC .bin from {DOWNLOAD_URL} (see docs/FLASHING.md)"
    if path is None:
        raise HeardError("no firmware image: name it with --firmware MICROPYTHON.bin",
                         hint=hint)
    if not path.exists():
        raise HeardError(f"firmware image {path} not found", hint=hint)
    if not path.is_file():
        raise HeardError(f"firmware image {path} is not a file", hint=hint)
    try:
        with path.open("rb") as f:
            head = f.read(16)
        size = path.stat().st_size
    except OSError as exc:
        raise HeardError(f"cannot read firmware image {path}: {exc.strerror}") from exc
    if len(head) < 16 or head[0] != IMAGE_MAGIC:
        first = f"0x{head[0]:02X}" if head else "nothing"
        raise HeardError(
            f"{path} is not an ESP32 firmware image (it starts with {first}, an image "
            f"with 0x{IMAGE_MAGIC:02X})",
            hint="take the .bin file, not .uf2, .elf, .hex or a zip; " + hint)
    chip_id = struct.unpack_from("<H", head, 12)[0]
    chip = IMAGE_CHIPS.get(chip_id, f"unknown chip {chip_id}")
    if chip != SUPPORTED:
        raise HeardError(f"{path} is built for the {chip}, not the ESP32", hint=hint)
    if not MIN_IMAGE <= size <= MAX_IMAGE:
        raise HeardError(
            f"{path} is {size:,} bytes; a MicroPython ESP32 image is between "
            f"{MIN_IMAGE // 1024} KiB and 4 MB", hint=hint)
    return ImageInfo(path, size, chip)
