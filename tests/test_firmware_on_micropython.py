"""Every plain-assert firmware test module also runs under the MicroPython unix port."""

from __future__ import annotations

import pytest

from conftest import FIRMWARE_TESTS, run_micropython

MODULES = sorted(p.stem for p in FIRMWARE_TESTS.glob("test_*.py"))


@pytest.mark.micropython
@pytest.mark.parametrize("module", MODULES)
def test_module_passes_on_the_unix_port(module: str) -> None:
    result = run_micropython(["mp_runner.py", module], heapsize="64k")
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
