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
