"""The CPython viper stand-in reproduces the ESP32's 32-bit integers and flags overflow.

The same kernels also run on the real unix port, whose 64-bit words hide the overflow:
that is the gap the emulation exists to close.
"""

from __future__ import annotations

import array
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_micropython
from heard.mpshim import Overflow32Error, ViperRuleError, viper_mode
from heard.mpytools import find_mpy_cross, micropython_env

SAMPLES = ROOT / "tests" / "firmware_samples"
sys.path.insert(0, str(SAMPLES))
kernels = importlib.import_module("overflow_kernels")

FULL_SCALE = array.array("h", [-32768] * 4)  # 4 * 2**30 = 2**32 overflows a 32-bit sum


def test_product_wraps_like_the_esp32() -> None:
    with viper_mode("esp32"):
        assert kernels.mul(70000, 70000) == 605032704


def test_product_fails_in_strict_mode() -> None:
    with viper_mode("strict"), pytest.raises(Overflow32Error, match="605032704"):
        kernels.mul(70000, 70000)


def test_x64_mode_matches_the_unix_port() -> None:
    with viper_mode("x64"):
        assert kernels.mul(70000, 70000) == 4900000000


@pytest.mark.micropython
def test_unix_port_hides_the_overflow() -> None:
    result = run_micropython(
        ["-c", "import overflow_kernels as k; print(k.mul(70000, 70000))"], cwd=SAMPLES
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4900000000"]


def test_accumulator_overflow_in_a_loop() -> None:
    with viper_mode("esp32"):
        assert kernels.sum_of_squares(FULL_SCALE, 4) == 0  # 2**32 wraps to 0
    with viper_mode("x64"):
        assert kernels.sum_of_squares(FULL_SCALE, 4) == 1 << 32
    with viper_mode("strict"), pytest.raises(Overflow32Error):
        kernels.sum_of_squares(FULL_SCALE, 4)
    with viper_mode("strict"):
        assert kernels.sum_of_squares(FULL_SCALE, 1) == 1 << 30


def test_loads_are_zero_extended_like_viper() -> None:
    buf = array.array("h", [-1, 2])
    assert kernels.raw_load16(buf, 0) == 0xFFFF
    words = array.array("i", [-5])
    with viper_mode("esp32"):
        assert kernels.raw_load32(words, 0) == -5
    with viper_mode("x64"):
        assert kernels.raw_load32(words, 0) == (1 << 32) - 5


@pytest.mark.micropython
def test_unix_port_loads_agree_with_x64_mode() -> None:
    code = (
        "import array, overflow_kernels as k\n"
        "print(k.raw_load16(array.array('h', [-1]), 0), k.raw_load32(array.array('i', [-5]), 0))"
    )
    result = run_micropython(["-c", code], cwd=SAMPLES)
    assert result.returncode == 0, result.stderr
    with viper_mode("x64"):
        expected = [
            kernels.raw_load16(array.array("h", [-1]), 0),
            kernels.raw_load32(array.array("i", [-5]), 0),
        ]
    assert [int(v) for v in result.stdout.split()] == expected


def test_stores_keep_the_low_bits_and_augassign_wraps() -> None:
    buf = array.array("h", [30000])
    kernels.add_in_place(buf, 0, 10000)
    assert buf[0] == 40000 - 65536


def test_negating_the_most_negative_word() -> None:
    with viper_mode("esp32"):
        assert kernels.negate(-(1 << 31)) == -(1 << 31)
    with viper_mode("strict"), pytest.raises(Overflow32Error):
        kernels.negate(-(1 << 31))


def test_integer_arguments_are_truncated_on_entry() -> None:
    with viper_mode("esp32"):
        assert kernels.mul((1 << 32) + 3, 2) == 6


def _define(tmp_path: Path, source: str) -> None:
    module = tmp_path / "bad_kernel.py"
    module.write_text("import micropython\n\n" + source)
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.import_module("bad_kernel")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("bad_kernel", None)


def _mpy_cross_accepts(tmp_path: Path, source: str) -> bool:
    module = tmp_path / "k.py"
    module.write_text("import micropython\n\n" + source)
    result = subprocess.run(
        [find_mpy_cross(), "-march=xtensawin", "-o", str(tmp_path / "k.mpy"), str(module)],
        capture_output=True,
        env=micropython_env([]),
        check=False,
    )
    return result.returncode == 0


BIG_LITERAL = "@micropython.viper\ndef f(x: int) -> int:\n    return x & 0x7FFFFFFF\n"
SMALL_LITERAL = "@micropython.viper\ndef f(x: int) -> int:\n    return x & 0x3FFFFFFF\n"
DEFAULT_ARG = "@micropython.viper\ndef f(x: int, y: int = 3) -> int:\n    return x + y\n"


def test_big_literal_is_rejected_as_mpy_cross_rejects_it(tmp_path: Path) -> None:
    with pytest.raises(ViperRuleError, match="small-int"):
        _define(tmp_path, BIG_LITERAL)
    assert not _mpy_cross_accepts(tmp_path, BIG_LITERAL)
    _define(tmp_path, SMALL_LITERAL)
    assert _mpy_cross_accepts(tmp_path, SMALL_LITERAL)


def test_default_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ViperRuleError, match="default"):
        _define(tmp_path, DEFAULT_ARG)


def test_tracebacks_point_at_the_original_line() -> None:
    with viper_mode("strict"), pytest.raises(Overflow32Error) as info:
        kernels.mul(70000, 70000)
    frames = [(f.filename, f.lineno) for f in __import__("traceback").extract_tb(info.tb)]
    assert (str(SAMPLES / "overflow_kernels.py"), 8) in frames
