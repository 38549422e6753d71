"""The ESP32 checks that need no board: mpy-cross for Xtensa and the stub type check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import FIRMWARE, ROOT
from heard.errors import HeardError
from heard.mpytools import compile_firmware

STUBS = ROOT / ".venv" / "esp32-stubs"
GOOD_HARDWARE = """\
from machine import I2S, WDT, Pin

def start():
    wdt = WDT(timeout=5000)
    wdt.feed()
    return I2S(0, sck=Pin(14), ws=Pin(15), sd=Pin(32), mode=I2S.RX, bits=32,
               format=I2S.STEREO, rate=16000, ibuf=40000)
"""
BAD_HARDWARE = GOOD_HARDWARE.replace("wdt.feed()", "wdt.feedd()").replace(", ibuf=40000", "")


def test_every_firmware_module_compiles_for_xtensawin(tmp_path: Path) -> None:
    built = compile_firmware(FIRMWARE, tmp_path)
    sources = [p for p in FIRMWARE.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(built) == len(sources) > 0
    assert all(p.stat().st_size > 0 for p in built)
    # .mpy header: 'M', version 6, and for a module with viper code the xtensawin
    # architecture in the top six bits of the flags byte.
    header = (tmp_path / "heardcore" / "pcm.mpy").read_bytes()[:4]
    assert header[0] == ord("M") and header[1] == 6
    assert header[2] >> 2 == 10  # MP_NATIVE_ARCH_XTENSAWIN


def test_a_module_that_cannot_compile_fails_the_build(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.py").write_text("X = 1\n")
    (src / "bad.py").write_text(
        "import micropython\n@micropython.viper\ndef f(x: int) -> int:\n    return x & 0x7FFFFFFF\n"
    )
    with pytest.raises(HeardError, match=r"(?s)1 of 2 firmware modules .*bad\.py.*ViperTypeError"):
        compile_firmware(src, tmp_path / "out")


def _typecheck(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "mypy"), "--config-file", "firmware/mypy.ini", str(path)],
        cwd=ROOT,
        env={"MYPYPATH": str(STUBS), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(not STUBS.exists(), reason="ESP32 stubs are installed by make setup")
def test_stub_type_check_catches_wrong_hardware_calls(tmp_path: Path) -> None:
    good, bad = tmp_path / "good_hw.py", tmp_path / "bad_hw.py"
    good.write_text(GOOD_HARDWARE)
    bad.write_text(BAD_HARDWARE)
    assert _typecheck(good).returncode == 0, _typecheck(good).stdout
    result = _typecheck(bad)
    assert result.returncode == 1
    assert '"WDT" has no attribute "feedd"' in result.stdout
    assert 'Missing named argument "ibuf" for "I2S"' in result.stdout


CODE_KINDS = '''\
import micropython

BIG = 123456789012345678901234567890
NAMES = ("a", b"b", 1.5, None, True, ...)


def plain(x):
    def inner(y):
        return y + x
    return inner(1), "text", b"bytes"


@micropython.native
def native(x):
    return x * 2


@micropython.viper
def viper(buf, n: int) -> int:
    p = ptr8(buf)
    total = 0
    for i in range(n):
        total += p[i]
    return total
'''


def test_code_bytes_counts_each_kind_of_code(tmp_path: Path) -> None:
    from heard.mpyinfo import code_bytes

    src = tmp_path / "src"
    src.mkdir()
    (src / "kinds.py").write_text(CODE_KINDS)
    (src / "plain.py").write_text(CODE_KINDS.split("@micropython.native", maxsplit=1)[0])
    for arch in ("xtensawin", "x64"):
        compile_firmware(src, tmp_path / arch, arch=arch)
        kinds = code_bytes(tmp_path / arch / "kinds.mpy")
        assert kinds["bytecode"] > 0 and kinds["native"] > 0 and kinds["viper"] > 0, kinds
        plain = code_bytes(tmp_path / arch / "plain.mpy")
        assert plain["native"] == plain["viper"] == 0 and plain["bytecode"] > 0, plain
        assert plain["bytecode"] <= kinds["bytecode"]


def test_functions_lists_each_function_in_source_order(tmp_path: Path) -> None:
    from heard.mpyinfo import functions

    src = tmp_path / "src"
    src.mkdir()
    (src / "kinds.py").write_text(CODE_KINDS)
    compile_firmware(src, tmp_path / "out")
    found = functions(tmp_path / "out" / "kinds.mpy")
    # The module, plain, plain's inner function, native, viper.
    assert [kind for kind, _ in found] == ["bytecode", "bytecode", "bytecode", "native", "viper"]
    assert all(size > 0 for _, size in found)
    # MPY 6.3 may carry architecture flags: a flag bit in the header, then a number.
    whole = (tmp_path / "out" / "kinds.mpy").read_bytes()
    flagged = tmp_path / "flagged.mpy"
    flagged.write_bytes(whole[:2] + bytes([whole[2] | 0x40]) + whole[3:4] + b"\x81\x05"
                        + whole[4:])
    assert functions(flagged) == found


def test_code_bytes_refuses_a_cut_off_file(tmp_path: Path) -> None:
    from heard.mpyinfo import code_bytes

    src = tmp_path / "src"
    src.mkdir()
    (src / "kinds.py").write_text(CODE_KINDS)
    compile_firmware(src, tmp_path / "out")
    whole = (tmp_path / "out" / "kinds.mpy").read_bytes()
    for cut in (len(whole) - 1, len(whole) // 2, 6):
        cut_off = tmp_path / f"cut{cut}.mpy"
        cut_off.write_bytes(whole[:cut])
        with pytest.raises(ValueError):
            code_bytes(cut_off)
    longer = tmp_path / "longer.mpy"
    longer.write_bytes(whole + b"\x00")
    with pytest.raises(ValueError, match="left over"):
        code_bytes(longer)


def test_every_firmware_module_parses_and_the_detector_has_no_native_methods(
    tmp_path: Path,
) -> None:
    # Machine code goes to the ESP32's small executable RAM (docs/PERFORMANCE.md): the
    # firmware keeps to viper kernels, and its plain code stays bytecode.
    from heard.mpyinfo import code_bytes

    built = compile_firmware(FIRMWARE, tmp_path)
    totals = {"bytecode": 0, "native": 0, "viper": 0, "asm": 0}
    for path in built:
        for kind, size in code_bytes(path).items():
            totals[kind] += size
    assert totals["viper"] > 0 and totals["bytecode"] > totals["viper"]
    assert totals["native"] == totals["asm"] == 0
