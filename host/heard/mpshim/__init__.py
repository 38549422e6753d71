"""A CPython stand-in for MicroPython's ``micropython`` module and viper builtins.

``install()`` registers ``heard.mpshim.module`` as ``micropython`` and puts ``ptr8``,
``ptr16`` and ``ptr32`` into builtins, where viper code finds them on the device, so the
firmware's pure package ``heardcore`` imports and runs unchanged on CPython. Viper
functions then run with the ESP32's 32-bit integer semantics (``heard.mpshim.viper``).
"""

from __future__ import annotations

import builtins
import sys

from heard.mpshim import module, pointers
from heard.mpshim.viper import (
    MODES,
    Overflow32Error,
    ViperRuleError,
    get_mode,
    set_mode,
    viper_mode,
)

__all__ = [
    "MODES", "Overflow32Error", "ViperRuleError", "get_mode", "install", "set_mode", "viper_mode",
]


def install() -> None:
    """Make ``import micropython`` and the viper pointer casts work on CPython (idempotent)."""
    if sys.implementation.name == "micropython":
        return
    sys.modules.setdefault("micropython", module)
    for name in ("ptr8", "ptr16", "ptr32"):
        if not hasattr(builtins, name):
            setattr(builtins, name, getattr(pointers, name))
