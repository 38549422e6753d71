"""Stand-in for mpremote: logs its arguments, acts on the board folder (see README.md)."""

from __future__ import annotations

import os
import shutil
import sys
import traceback
import types
from pathlib import Path

from _common import board, die, failing, log, on_board

MPY_ESP32 = 6 | ((10 << 2) | 3) << 8  # sys.implementation._mpy of MicroPython 1.23+ on ESP32
MPY_OLD = 6 | ((10 << 2) | 2) << 8  # MicroPython 1.22: .mpy v6.2


def fail(message: str) -> None:
    die(f"mpremote: {message}", 1)


def run_exec(script: str) -> None:
    """Run what heard sends to the board, with the board's _mpy and its filesystem."""
    real_mkdir, root = os.mkdir, board()

    def mkdir(path: str, *args: object) -> None:
        if not path.startswith("/"):
            raise OSError(22, "stand-in: relative path")
        real_mkdir(root / path.lstrip("/"))

    sys.implementation._mpy = MPY_OLD if failing("old-micropython") else MPY_ESP32  # type: ignore[attr-defined]
    sys.modules["vfs"] = types.ModuleType("vfs")
    os.mkdir = mkdir  # type: ignore[assignment]
    try:
        exec(compile(script, "<stdin>", "exec"), {"__name__": "__main__"})
    except Exception as exc:  # noqa: BLE001 - shown as the board would show it
        frames = traceback.extract_tb(exc.__traceback__)
        line = frames[-1].lineno if frames else 1
        print(f'Traceback (most recent call last):\n  File "<stdin>", line {line}, in '
              f"<module>\n{type(exc).__name__}: {exc}")
        sys.exit(1)
    finally:
        os.mkdir = real_mkdir


def copy(paths: list[str], copied: list[int]) -> None:
    *sources, dest = paths
    if not sources:
        fail("cp: missing destination path")
    for src in sources:
        print(f"cp {src} {dest}")
        if src.startswith(":"):  # board -> host
            found = on_board(src[1:])
            if not found.is_file():
                fail(f"cp: {src[1:]}: No such file or directory.")
            shutil.copyfile(found, dest)
            continue
        if failing("upload") and copied[0] >= 3:
            fail("Error with transport:\ntimeout waiting for first EOF reception")
        if not dest.startswith(":"):
            fail("stand-in: host to host copy")
        target = on_board(dest[1:])
        if dest.endswith("/"):
            if not target.is_dir():
                fail("cp: destination is not a directory")
            target = target / Path(src).name
        elif len(sources) > 1:
            fail("cp: destination is not a directory")
        shutil.copyfile(src, target)
        copied[0] += 1


def main() -> None:
    log("mpremote")
    args = sys.argv[1:]
    if args[:1] != ["connect"] or len(args) < 2:
        fail("stand-in: expected connect PORT first")
    port, commands = args[1], args[2:]
    if failing("access") or not os.path.exists(port):
        fail(f"failed to access {port} (it may be in use by another program)")
    if failing("raw-repl") or not (board() / "boot.py").exists():
        print("b''")
        print("Traceback (most recent call last):\n  File \"mpremote\", line 8, in <module>\n"
              "mpremote.transport.TransportError: could not enter raw repl", file=sys.stderr)
        sys.exit(1)
    groups: list[list[str]] = [[]]
    for arg in commands:
        if arg == "+":
            groups.append([])
        else:
            groups[-1].append(arg)
    copied = [0]
    for group in groups:
        while group:
            word = group.pop(0)
            if word == "resume":
                continue
            if word == "exec":
                run_exec(group.pop(0))
            elif word == "fs" and group[:1] == ["cp"]:
                copy(group[1:], copied)
                group.clear()
            elif word == "reset":
                resets = board() / ".resets"
                resets.write_text(str(int(resets.read_text() if resets.exists() else 0) + 1))
            else:
                fail(f"stand-in: unexpected command {word} {group}")


if __name__ == "__main__":
    main()
