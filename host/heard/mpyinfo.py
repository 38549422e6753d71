"""What a compiled ``.mpy`` file (MPY format version 6) holds: bytes of code by kind.

On an ESP32, MicroPython copies the machine code of ``@micropython.viper`` and
``@micropython.native`` functions into executable RAM (IRAM), outside the Python heap, so a
heap measurement does not see it. ``functions(path)`` walks the file's raw-code tree:
``(kind, bytes)`` per function; ``code_bytes(path)`` sums each kind: ``{"bytecode": n,
"native": n, "viper": n, "asm": n}``. A file that does not parse to its last byte raises
``ValueError``.
"""

from __future__ import annotations

from pathlib import Path

_KINDS = {0: "bytecode", 1: "native", 2: "viper", 3: "asm"}
_OBJ_FIXED = {0, 1, 2, 3, 4}  # function table, None, False, True, Ellipsis: no payload
_OBJ_TUPLE = 10
_OBJ_NUL_ENDED = {5, 6}  # str and bytes end with a NUL byte
_VIPER_RELOC, _VIPER_RODATA, _VIPER_BSS = 0x10, 0x20, 0x40
_ARCH_FLAGS = 0x40  # in the header's feature byte (MPY 6.3): a vuint of arch flags follows


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("truncated .mpy file")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def skip(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise ValueError("truncated .mpy file")
        self.pos += n

    def uint(self) -> int:
        # Big-endian groups of 7 bits; the top bit of a byte says another follows.
        value = 0
        while True:
            b = self.byte()
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                return value


def _skip_obj(r: _Reader) -> None:
    kind = r.byte()
    if kind in _OBJ_FIXED:
        return
    if kind == _OBJ_TUPLE:
        for _ in range(r.uint()):
            _skip_obj(r)
        return
    r.skip(r.uint() + (1 if kind in _OBJ_NUL_ENDED else 0))


def _raw_code(r: _Reader, found: list[tuple[str, int]]) -> None:
    kind_len = r.uint()
    kind = _KINDS[kind_len & 3]
    length = kind_len >> 3
    r.skip(length)
    found.append((kind, length))
    if kind == "native":
        r.uint()  # prelude offset
    elif kind in ("viper", "asm"):
        flags = r.uint()
        if kind == "asm":
            r.uint()  # positional arguments
            r.uint()  # type signature
        else:
            rodata = r.uint() if flags & _VIPER_RODATA else 0
            if flags & _VIPER_BSS:
                r.uint()
            r.skip(rodata)
            if flags & _VIPER_RELOC:
                while (op := r.byte()) != 0xFF:
                    if op & 1:
                        r.uint()  # address
                    op >>= 1
                    if op <= 5 and op & 1:
                        r.uint()  # count
    if (kind_len >> 2) & 1:
        for _ in range(r.uint()):
            _raw_code(r, found)


def functions(path: Path) -> list[tuple[str, int]]:
    """(kind, bytes of code) of every function of one ``.mpy`` file, the module's own code
    first, then in the order of the source."""
    r = _Reader(path.read_bytes())
    if r.byte() != ord("M") or r.byte() != 6:
        raise ValueError(f"{path}: not an MPY version 6 file")
    features = r.byte()  # sub-version, architecture, and whether arch flags follow
    r.byte()  # small-int bits
    if features & _ARCH_FLAGS:
        r.uint()
    n_qstr, n_obj = r.uint(), r.uint()
    for _ in range(n_qstr):
        n = r.uint()
        if not n & 1:  # odd: a qstr built into the firmware, by index
            r.skip((n >> 1) + 1)
    for _ in range(n_obj):
        _skip_obj(r)
    found: list[tuple[str, int]] = []
    _raw_code(r, found)
    if r.pos != len(r.data):
        raise ValueError(f"{path}: {len(r.data) - r.pos} bytes left over")
    return found


def code_bytes(path: Path) -> dict[str, int]:
    """Bytes of code by kind in one ``.mpy`` file."""
    sizes = dict.fromkeys(_KINDS.values(), 0)
    for kind, length in functions(path):
        sizes[kind] += length
    return sizes
