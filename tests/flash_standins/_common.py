"""What both stand-ins share: the argument log, the board folder, the failures asked for."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def log(tool: str) -> None:
    path = os.environ.get("HEARD_STANDIN_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"tool": tool, "argv": sys.argv[1:]}) + "\n")


def board() -> Path:
    root = Path(os.environ["HEARD_STANDIN_BOARD"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def on_board(device_path: str) -> Path:
    return board() / device_path.lstrip("/")


def failing(name: str) -> bool:
    return name in os.environ.get("HEARD_STANDIN_FAIL", "").split(",")


def die(message: str, code: int) -> None:
    sys.stdout.flush()
    print(message, file=sys.stderr)
    sys.exit(code)
