"""Every plain-assert firmware test module also runs under the MicroPython unix port, in a
64 KiB heap, with the firmware and the test modules compiled to .mpy, as a device loads its
modules. (Compiling sources on the port takes heap a device never spends, and how much
depends on the checkout's path: source runs passed or failed at 64 KiB by a kilobyte.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FIRMWARE, FIRMWARE_TESTS, run_micropython
from heard.mpytools import compiled_firmware

MODULES = sorted(p.stem for p in FIRMWARE_TESTS.glob("test_*.py"))


@pytest.fixture(scope="module")
def compiled() -> tuple[Path, Path]:
    return compiled_firmware(FIRMWARE), compiled_firmware(FIRMWARE_TESTS)


@pytest.mark.micropython
@pytest.mark.parametrize("module", MODULES)
def test_module_passes_on_the_unix_port(module: str, compiled: tuple[Path, Path]) -> None:
    firmware, tests = compiled
    result = run_micropython(["-m", "mp_runner", module], heapsize="64k", firmware=firmware,
                             tests=tests)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " 0 failed" in output and "FAIL" not in output, output
    assert output.count("PASS ") >= 1, output


def test_runner_reports_failures() -> None:
    # The runner must be able to fail: a module with a failing assert gives exit 1.
    code = "import mp_runner, sys; sys.exit(mp_runner.main(['mp_runner_selftest']))"
    result = run_micropython(["-c", code])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL mp_runner_selftest::test_fails" in result.stdout
    assert "1 passed, 1 failed" in result.stdout
