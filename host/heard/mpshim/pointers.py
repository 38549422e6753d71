"""Viper's raw pointer casts (``ptr8``, ``ptr16``, ``ptr32``) for CPython.

They behave as on the ESP32 (little-endian, 32-bit words): loads are zero-extended for
``ptr8`` and ``ptr16`` (so int16 samples must be sign-extended explicitly, as on the
device), ``ptr32`` loads are signed machine words (zero-extended in ``x64`` mode, as on
the x64 unix port), and stores keep only the low bits.
"""

from __future__ import annotations

from typing import Any

from heard.mpshim import viper


class _Pointer:
    """A typed view on a buffer; indexing is in elements, as in viper."""

    _size = 1
    _signed = False
    __slots__ = ("_mv",)
    _mv: memoryview

    def __init__(self, buf: Any):
        if isinstance(buf, _Pointer):
            self._mv = buf._mv
            return
        if isinstance(buf, int):
            raise TypeError("raw integer addresses are not emulated on CPython: pass a buffer")
        mv = memoryview(buf)
        if mv.readonly:
            mv = memoryview(bytearray(mv.tobytes()))
        self._mv = mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv

    def __getitem__(self, index: int) -> int:
        size = self._size
        start = index * size
        if index < 0 or start + size > len(self._mv):
            # The device would read whatever memory is there; on the host it is a bug.
            raise IndexError(f"{type(self).__name__} index {index} outside the buffer")
        signed = self._signed and viper.get_mode() != "x64"
        return int.from_bytes(self._mv[start : start + size], "little", signed=signed)

    def __setitem__(self, index: int, value: int) -> None:
        size = self._size
        start = index * size
        if index < 0 or start + size > len(self._mv):
            raise IndexError(f"{type(self).__name__} index {index} outside the buffer")
        mask = (1 << (8 * size)) - 1
        self._mv[start : start + size] = (int(value) & mask).to_bytes(size, "little")


class ptr8(_Pointer):  # noqa: N801 - viper's name
    _size = 1


class ptr16(_Pointer):  # noqa: N801 - viper's name
    _size = 2


class ptr32(_Pointer):  # noqa: N801 - viper's name
    _size = 4
    _signed = True
