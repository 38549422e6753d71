"""Detector config files on the host: read and checked with the firmware's own parser.

A config file is a JSON object of parameter name: integer (``docs/PARAMETERS.md``). It is
validated by ``heardcore.params.load_json``, exactly as the device validates it, and every
problem becomes a ``HeardError`` that names the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.errors import HeardError
from heardcore.params import ConfigError, Params, load_json

_HINT = "`heard params` lists every parameter with its range"


def load_config(path: Path) -> Params:
    """Parameters from a JSON config file, checked on the host before anything runs."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HeardError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise HeardError(f"{path}: config field '*': not valid UTF-8 text") from None
    try:
        return load_json(text)
    except ConfigError as exc:
        raise HeardError(f"{path}: {exc}", hint=_HINT) from None


def base_overrides(config: Path | None) -> dict[str, int]:
    """The overrides of a ``--config`` file (checked), or none."""
    if config is None:
        return {}
    load_config(config)  # checked, an object of known names and valid values
    data: dict[str, int] = json.loads(Path(config).read_text(encoding="utf-8"))
    return data
