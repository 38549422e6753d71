"""The contents of the CPython ``micropython`` stand-in module.

``viper`` recompiles a function with ESP32 32-bit integer semantics (see ``viper.py``);
``native`` and ``const`` are identities; the heap lock only counts its depth, because
CPython cannot forbid allocation: the real proof runs on the unix port.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from heard.mpshim.viper import viper

__all__ = [
    "alloc_emergency_exception_buf", "const", "heap_lock", "heap_locked", "heap_unlock",
    "kbd_intr", "mem_info", "native", "opt_level", "qstr_info", "schedule", "stack_use", "viper",
]

T = TypeVar("T")
_lock_depth = 0


def const(value: T) -> T:
    return value


def native(func: Callable[..., Any]) -> Callable[..., Any]:
    return func


def heap_lock() -> int:
    global _lock_depth
    _lock_depth += 1
    return _lock_depth - 1


def heap_unlock() -> int:
    global _lock_depth
    _lock_depth = max(0, _lock_depth - 1)
    return _lock_depth


def heap_locked() -> int:
    return _lock_depth


def kbd_intr(chr: int) -> None:  # noqa: A002 - MicroPython's parameter name
    """Ctrl-C handling belongs to the MicroPython REPL; nothing to do on CPython."""


def schedule(func: Callable[[Any], Any], arg: Any) -> None:
    func(arg)


def alloc_emergency_exception_buf(size: int) -> None:
    """No emergency buffer is needed on CPython."""


def mem_info(verbose: Any = None) -> None:
    print("mem: (CPython stand-in, no MicroPython heap)")


def qstr_info(verbose: Any = None) -> None:
    print("qstr: (CPython stand-in)")


def stack_use() -> int:
    return 0


def opt_level(level: int | None = None) -> int | None:
    return 0 if level is None else None
