"""CPython stand-in for MicroPython's ``micropython`` module (work in progress)."""

import sys
import types


def install() -> None:
    if "micropython" in sys.modules:
        return
    try:
        import micropython  # noqa: F401
    except ImportError:
        sys.modules["micropython"] = types.ModuleType("micropython")
