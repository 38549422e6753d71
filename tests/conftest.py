"""Shared test set-up: the MicroPython stand-in, strict 32-bit mode for firmware tests,
and helpers to run code under the MicroPython unix port."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import heard  # noqa: F401 - installs the `micropython` stand-in before firmware imports
from heard.mpshim import viper_mode
from heard.mpytools import find_micropython, micropython_env

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
FIRMWARE_TESTS = ROOT / "tests" / "firmware"


@pytest.fixture(autouse=True)
def _strict_viper_for_firmware_tests(request: pytest.FixtureRequest):
    """Firmware tests on CPython fail on any 32-bit overflow instead of wrapping."""
    if FIRMWARE_TESTS in Path(str(request.fspath)).parents:
        with viper_mode("strict"):
            yield
    else:
        yield


def run_micropython(
    args: list[str], *, heapsize: str | None = None, cwd: Path | None = None, timeout: float = 120,
    firmware: Path = FIRMWARE, tests: Path = FIRMWARE_TESTS,
) -> subprocess.CompletedProcess[str]:
    """Run the unix port with ``tests`` and ``firmware`` on its path (the sources, or
    compiled copies), in ``tests`` unless ``cwd`` is given."""
    cmd = [find_micropython()]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    return subprocess.run(
        cmd + args,
        env=micropython_env([tests, firmware]),
        cwd=cwd or tests,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def device_wavs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two stereo `heard synth` conversations (30 s and 68 s) for the emulated device."""
    from heard.synth import generate_corpus

    out = tmp_path_factory.mktemp("device_wavs")
    generate_corpus(out, n=2, seed=11, channels=2)
    return sorted(out.glob("*.wav"))


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--port``: the serial port of a real ESP32 for tests marked ``device``."""
    parser.addoption("--port", default=None, metavar="PORT",
                     help="serial port of a real ESP32 for tests marked `device` "
                     "(with HEARD_FIRMWARE_IMAGE=MicroPython .bin for heard flash)")


@pytest.fixture
def utc_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reports use the host's time zone: tests that depend on it pin it to UTC."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
