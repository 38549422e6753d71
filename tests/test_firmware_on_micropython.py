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


# Run once per detector, at the end of input, or for debugging: not per frame.
NOT_PER_FRAME = {"attribution.config", "vad.config", "detector.__init__",
                 "detector.frame_state", "turns.finish", "rise.new"}
DETECTOR_MODULES = ("attribution", "conversation", "detector", "events", "fixedmath",
                    "frontend", "holdback", "monospurt", "rise", "turns", "vad")


def test_detector_functions_keep_their_call_frame_off_the_heap() -> None:
    # A bytecode call whose locals and value stack (N_STATE) and exception handlers (3 words
    # each) need more than 11 words takes its frame from the heap, and heap_lock hides it
    # (docs/RUNTIME.md). Every function of the detector's modules that runs per frame or per
    # segment fits; `micropython -v -v -v` prints each code block's sizes as it compiles.
    imports = ", ".join(f"heardcore.{m}" for m in DETECTOR_MODULES)
    result = run_micropython(["-v", "-v", "-v", "-c", f"import {imports}"])
    assert result.returncode == 0, result.stderr
    sizes: dict[str, int] = {}
    name = ""
    state = 0
    for line in result.stdout.splitlines():
        if line.startswith("File ") and "code block" in line:
            module = Path(line.split(",")[0][5:]).stem
            name = f"{module}.{line.split(chr(39))[1]}"
        elif line.startswith("(N_STATE "):
            state = int(line.split()[1].rstrip(")"))
        elif line.startswith("(N_EXC_STACK ") and name.split(".")[0] in DETECTOR_MODULES:
            sizes[name] = max(sizes.get(name, 0), state + 3 * int(line.split()[1].rstrip(")")))
    assert "detector.process" in sizes and "turns._close" in sizes and len(sizes) > 60
    too_big = {n: s for n, s in sizes.items() if s > 11 and n not in NOT_PER_FRAME}
    assert not too_big, too_big
    assert all(sizes[n] > 11 for n in NOT_PER_FRAME)  # the list names real exceptions only
