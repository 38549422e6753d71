"""Running the firmware's file runner on a WAV file, and over a directory of them.

Two engines run the same ``heardcore.simrun`` and must print the same bytes:

- ``micropython`` (default): the unix port with the ESP32's Python heap
  (``MICROPYTHON_HEAPSIZE``), ``MICROPYPATH`` the folder holding ``heardcore``;
- ``cpython``: ``python -m heard.simulate.cpython_engine``, the firmware on CPython with the
  ``micropython`` stand-in, viper code in ``esp32`` (32-bit wrapping) mode.

Each run is a subprocess, so files run in parallel (``simulate_dir(..., jobs=N)``) and a
crash of one run cannot take the host down. ``simulate_file`` returns a typed
``SimulationResult``; failures raise ``HeardError`` subclasses with a hint.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import heardcore
from heard.annotations import prediction_dir, write_json, write_rttm
from heard.config import load_config
from heard.errors import HeardError
from heard.mpytools import find_micropython, micropython_env
from heard.simulate.inputs import prepared_input
from heard.simulate.protocol import EngineError, SimulationResult, parse_ndjson
from heard.wav_files import wav_files

ENGINES = ("micropython", "cpython")
# The unix port compiles every module into its heap, as the ESP32 loads .py and .mpy files
# into its own. The detector with its modules fits 64 KiB compiled
# (tests/firmware/test_detector*.py run there); this WAV runner, which never ships to a
# device, adds ~13 KB of its own code and a 5 KB read block (8 frames per system call). A
# stereo run peaks at 88-100 KiB on the x64 port today, depending on how the heap fragments
# while the modules compile (even the length of the firmware folder's path moves it);
# 108 KiB leaves room and stays inside the ESP32's 111,936-byte heap.
MICROPYTHON_HEAPSIZE = "108k"
T = TypeVar("T")


def _memory_hint() -> str:
    return (
        f"the unix port runs with -X heapsize={MICROPYTHON_HEAPSIZE} (under the ESP32's heap) and "
        "ran out of it; --engine cpython tells a memory problem from a detector bug"
    )


def firmware_dir() -> Path:
    """The folder that holds the ``heardcore`` package (the repository's ``firmware/``)."""
    return Path(heardcore.__file__).resolve().parent.parent


def engine_command(
    engine: str, wav: Path, config: Path | None = None, frames: bool = False
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run ``simrun`` on ``wav`` with ``engine``."""
    args = []
    if config is not None:
        args += ["--config", str(config)]
    if frames:
        args.append("--frames")
    args += ["--", str(wav)]  # "--": a file named "-x.wav" is not an option
    if engine == "micropython":
        cmd = [find_micropython(), "-X", f"heapsize={MICROPYTHON_HEAPSIZE}", "-m",
               "heardcore.simrun"]
        return cmd + args, micropython_env([firmware_dir()])
    if engine == "cpython":
        env = dict(os.environ)
        env["HEARD_VIPER_MODE"] = "esp32"
        return [sys.executable, "-m", "heard.simulate.cpython_engine"] + args, env
    raise HeardError(f"unknown engine {engine!r}", hint=f"choose one of {', '.join(ENGINES)}")


def _crash_message(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"


def run_engine(
    engine: str, wav: Path, config: Path | None = None, frames: bool = False,
    timeout: float | None = None,
) -> SimulationResult:
    """Run one engine on a 16 kHz 16-bit WAV and parse its output."""
    with utf8_names(wav, config) as (wav, config):
        cmd, env = engine_command(engine, wav, config, frames)
        return _run(engine, cmd, env, timeout)


def _utf8(path: Path | None) -> bool:
    if path is None:
        return True
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode keeps undecodable bytes as lone surrogates
        return False
    return True


@contextlib.contextmanager
def utf8_names(wav: Path, config: Path | None) -> Iterator[tuple[Path, Path | None]]:
    """``wav`` and ``config`` under paths that are valid UTF-8: the unix port's Python
    wrapper refuses other command-line arguments (a name written in Latin-1, say), so such
    a file is passed as a symlink in a temporary folder, removed afterwards."""
    if _utf8(wav) and _utf8(config):
        yield wav, config
        return
    with tempfile.TemporaryDirectory(prefix="heard-simulate-") as tmp:
        yield (_linked(wav, Path(tmp) / "input.wav"),
               None if config is None else _linked(config, Path(tmp) / "config.json"))


def _linked(path: Path, link: Path) -> Path:
    """``path`` itself if its name is UTF-8, else ``link``, made a symlink to it."""
    if _utf8(path):
        return path
    try:
        link.symlink_to(Path(path).absolute())
    except OSError as exc:
        raise HeardError(f"{path}: the name is not UTF-8 and a link to the file could not "
                         f"be made ({exc.strerror})", hint="rename the file") from None
    return link


def _run(engine: str, cmd: list[str], env: dict[str, str],
         timeout: float | None) -> SimulationResult:
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise EngineError(f"the {engine} engine took longer than {timeout:.0f} s") from None
    except OSError as exc:
        raise EngineError(f"the {engine} engine could not start ({exc.strerror})") from None
    if proc.returncode not in (0, 2):
        why = _crash_message(proc.stderr)
        memory = "MemoryError" in proc.stderr
        raise EngineError(
            f"the {engine} engine crashed ({why})",
            hint=_memory_hint() if memory else
            "this is a firmware bug: rerun with --engine cpython for a full traceback, "
            "and report it with the WAV file",
        )
    result = parse_ndjson(proc.stdout)  # an error line raises EngineError here
    if proc.returncode != 0:
        raise EngineError(f"the {engine} engine failed without an error line: "
                          f"{_crash_message(proc.stderr)}")
    result.engine = engine
    return result


def simulate_file(
    path: Path, engine: str = "micropython", config: Path | None = None, frames: bool = False
) -> SimulationResult:
    """Run the detector on one WAV file (converted first if needed)."""
    path = Path(path)
    if engine not in ENGINES:
        raise HeardError(f"unknown engine {engine!r}", hint=f"choose one of {', '.join(ENGINES)}")
    if config is not None:
        load_config(config)
    with prepared_input(path) as prepared:
        try:
            result = run_engine(engine, prepared.path, config, frames)
        except EngineError as exc:
            where = config if exc.source == "config" and config is not None else path
            raise EngineError(f"{where}: {exc.args[0]}", exc.hint, exc.source) from None
    result.source = path
    if prepared.notice:
        result.notices.append(prepared.notice)
    return result


def write_prediction(result: SimulationResult, rttm: Path | None, json_path: Path | None,
                     file_id: str) -> None:
    """Write the RTTM and/or JSON prediction files of one result."""
    if rttm is not None:
        with writing(rttm):
            write_rttm(rttm, file_id, result.segments)
    if json_path is not None:
        with writing(json_path):
            write_json(json_path, result.to_json())


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write of ``path`` into a one-line HeardError."""
    try:
        yield
    except OSError as exc:
        raise HeardError(f"{path}: cannot write ({exc.strerror})") from None


@dataclass(frozen=True)
class DirRun:
    """What ``simulate_dir`` did: results by name, and the files that failed."""

    results: dict[str, SimulationResult]
    failures: dict[str, HeardError]


def failure_reason(name: str, exc: HeardError) -> str:
    """Why file ``NAME.wav`` failed: the error's message without its own copy of the path."""
    path, sep, reason = str(exc.args[0]).partition(": ")
    return reason if sep and path.lower().endswith(f"{name}.wav".lower()) else str(exc.args[0])


def simulate_dir(
    directory: Path, out_dir: Path, engine: str = "micropython", config: Path | None = None,
    jobs: int | None = None, progress: Callable[[str, SimulationResult | None], None] | None = None,
) -> DirRun:
    """Simulate every ``*.wav`` of ``directory`` (any case) into ``out_dir/NAME.rttm`` and
    ``.json``.

    Files run ``jobs`` at a time (default: the CPU count). A file that fails is recorded in
    ``failures`` and the others go on; ``progress(name, result or None)`` follows each file.
    """
    directory, out_dir = Path(directory), Path(out_dir)
    if not directory.is_dir():
        raise HeardError(f"{directory} is not a directory")
    files = wav_files(directory)
    if not files:
        raise HeardError(f"{directory} has no *.wav files")
    if config is not None:
        load_config(config)  # one error up front rather than one per file
    prediction_dir(directory, out_dir)

    def one(name: str) -> SimulationResult:
        result = simulate_file(files[name], engine, config)
        write_prediction(result, out_dir / f"{name}.rttm", out_dir / f"{name}.json", name)
        return result

    return DirRun(*run_each(list(files), one, jobs, progress))


def run_each(
    names: Sequence[str], one: Callable[[str], T], jobs: int | None = None,
    done: Callable[[str, T | None], None] | None = None,
) -> tuple[dict[str, T], dict[str, HeardError]]:
    """``one(name)`` for every name, ``jobs`` at a time (default: the CPU count): the results
    and the HeardErrors by name, sorted. ``done(name, result or None)`` follows each; an
    interrupt cancels the names not started."""
    results: dict[str, T] = {}
    failures: dict[str, HeardError] = {}
    workers = max(1, min(jobs or os.cpu_count() or 1, len(names)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="heard-simulate") as pool:
        futures: dict[Future[T], str] = {pool.submit(one, n): n for n in names}
        try:
            for future in as_completed(futures):
                name = futures[future]
                try:
                    results[name] = future.result()
                except HeardError as exc:
                    failures[name] = exc
                if done is not None:
                    done(name, results.get(name))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return dict(sorted(results.items())), dict(sorted(failures.items()))
