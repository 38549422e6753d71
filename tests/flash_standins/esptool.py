"""Stand-in for esptool 5: logs its arguments, answers like a board (see README.md)."""

from __future__ import annotations

import os
import shutil
import sys

from _common import board, die, failing, log

CHIPS = {  # --chip name: (CHIP_NAME, description)
    "esp32": ("ESP32", "ESP32-D0WD-V3 (revision v3.1)"),
    "esp32s3": ("ESP32-S3", "ESP32-S3 (QFN56) (revision v0.2)"),
    "esp32c3": ("ESP32-C3", "ESP32-C3 (QFN32) (revision v0.4)"),
    "esp8266": ("ESP8266", "ESP8266EX"),
}


def main() -> None:
    log("esptool")
    args = sys.argv[1:]
    opts: dict[str, str] = {}
    while args and args[0].startswith("-"):
        opts[args[0]] = args[1]
        args = args[2:]
    command, rest = args[0], args[1:]
    port = opts.get("--port", "?")
    print("esptool v5.6.0")
    if failing("noport"):
        die(f"A fatal error occurred: Could not open {port}, the port is busy or doesn't exist."
            f"\n([Errno 2] could not open port {port}: [Errno 2] No such file or directory: "
            f"'{port}')\n\nHint: Check if the port is correct and ESP connected", 2)
    if failing("permission"):
        die(f"A fatal error occurred: Could not open {port}, the port is busy or doesn't exist."
            f"\n([Errno 13] could not open port {port}: [Errno 13] Permission denied: "
            f"'{port}')\n\nHint: Try to add user into dialout or uucp group.", 2)
    if failing("busy"):
        die(f"A fatal error occurred: Could not open {port}, the port is busy or doesn't exist."
            f"\n([Errno 16] could not open port {port}: [Errno 16] Device or resource busy: "
            f"'{port}')", 2)
    print("Connecting......")
    if failing("connect"):
        die("A fatal error occurred: Failed to connect to ESP32: No serial data received.\n"
            "For troubleshooting steps visit: https://docs.espressif.com/projects/esptool/en/"
            "latest/troubleshooting.html", 2)
    name, description = CHIPS[os.environ.get("HEARD_STANDIN_CHIP", "esp32")]
    wanted = opts.get("--chip")
    if wanted and CHIPS[wanted][0] != name:
        die(f"A fatal error occurred: This chip is {name}, not {CHIPS[wanted][0]}. "
            "Wrong --chip argument?", 2)
    print(f"Detecting chip type... {name}")
    print(f"Connected to {name} on {port}:")
    print(f"{'Chip type:':<20}{description}")
    print(f"{'Features:':<20}Wi-Fi, BT, Dual Core + LP Core, 240MHz")
    print(f"{'MAC:':<20}24:0a:c4:09:64:c8")
    print("Stub flasher running.")
    if command == "flash-id":
        print("Manufacturer: c8\nDevice: 4016")
        print(f"Detected flash size: {os.environ.get('HEARD_STANDIN_FLASH_MB', '4')}MB")
    elif command == "erase-flash":
        root = board()
        for entry in root.iterdir():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        print("Flash memory erased successfully in 4.2 seconds.")
    elif command == "write-flash":
        address, image = rest
        if not os.path.isfile(image):
            die(f"A fatal error occurred: No such file: {image}", 2)
        if failing("write"):
            print(f"Writing at {address} [=====>             ]  21.4% 344064/1605632 bytes...")
            die("A fatal error occurred: Serial data stream stopped: Possible serial noise "
                "or corruption.", 2)
        size = os.path.getsize(image)
        print(f"Wrote {size} bytes ({size // 2} compressed) at {int(address, 16):#010x} in 9.1 "
              "seconds (1409.2 kbit/s).\nHash of written data verified.")
        # MicroPython's first boot makes its filesystem with a boot.py.
        (board() / "boot.py").write_text("# This file is executed on every boot\n")
    else:
        die(f"stand-in esptool: unexpected command {command}", 2)
    print("Hard resetting via RTS pin...")


if __name__ == "__main__":
    main()
