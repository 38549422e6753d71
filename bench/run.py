"""`make bench`: measure speed figures, print them, and record them in docs/PERFORMANCE.md.

Each section of docs/PERFORMANCE.md between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->`` is rewritten with the new figures, the date and the machine.
Wall-clock figures live here and in that file, never in tests.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import detector_bench
import device_bench
import report_bench
import soundfile

from heard.mpytools import find_micropython, micropython_env

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "PERFORMANCE.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def bench_synth(n: int, seed: int) -> str:
    from heard.synth import generate_corpus

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = generate_corpus(Path(tmp), n=n, seed=seed, channels=2)
        elapsed = time.perf_counter() - start
        audio = sum(soundfile.info(str(p)).duration for p in paths if p.suffix == ".wav")
    wavs = sum(1 for p in paths if p.suffix == ".wav")
    return (
        f"`heard synth --n {n} --seed {seed}` (stereo): {wavs} files, "
        f"{audio:.0f} s of audio in {elapsed:.1f} s wall time\n"
        f"({elapsed / max(wavs, 1):.2f} s per file, {audio / elapsed:.1f}x real time)."
    )


def bench_kernels() -> str:
    result = subprocess.run(
        [find_micropython(), str(ROOT / "bench" / "mp_kernels.py")],
        env=micropython_env([ROOT / "firmware"]),
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [
        "| kernel | µs per call | samples per call | ns per sample |",
        "| --- | --- | --- | --- |",
    ]
    for line in result.stdout.split("\n"):
        if not line.strip():
            continue
        name, us, samples = line.split()
        per_sample = float(us) * 1000 / int(samples)
        lines.append(f"| `{name}` | {float(us):.2f} | {samples} | {per_sample:.1f} |")
    lines.append("")
    lines.append("Measured on the x64 unix port (viper compiled to x64 code), not on an ESP32.")
    return "\n".join(lines)


def record(doc: Path, section: str, body: str) -> None:
    stamp = f"_Measured {datetime.date.today().isoformat()} on {machine()}._"
    block = f"<!-- bench:{section} -->\n{stamp}\n\n{body}\n<!-- /bench:{section} -->"
    text = doc.read_text() if doc.exists() else f"# {doc.stem.title()}\n"
    name = re.escape(section)  # section names hold parentheses
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + f"\n\n## {section}\n\n{block}\n"
    doc.write_text(text)


ACCURACY_DOC = ROOT / "docs" / "ACCURACY.md"

# name -> (document, what to run); each writes its own section of its document.
BENCHES: dict[str, tuple[Path, Callable[[argparse.Namespace], str]]] = {
    "Corpus synthesis": (DOC, lambda a: bench_synth(a.n, a.seed)),
    "Firmware kernels on the unix port": (DOC, lambda a: bench_kernels()),
    "Detector speed on the unix port": (DOC, lambda a: detector_bench.speed()),
    "Detector load on an ESP32 (estimate)": (DOC, lambda a: detector_bench.esp32_load()),
    "Detector memory": (DOC, lambda a: detector_bench.memory()),
    "Record log and flash": (DOC, lambda a: device_bench.flash_use()),
    "Sync over serial at 115200 baud": (DOC, lambda a: device_bench.sync_throughput()),
    "Records into SQLite": (DOC, lambda a: device_bench.sqlite_rate()),
    "Device app memory": (DOC, lambda a: device_bench.app_memory()),
    "Reports": (DOC, lambda a: report_bench.report_speed()),
    "Detector accuracy on held-out synthetic corpora": (
        ACCURACY_DOC, lambda a: detector_bench.accuracy(a.accuracy_n)),
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--n", type=int, default=20, help="files to synthesize")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accuracy-n", type=int, default=30, help="files per accuracy corpus")
    parser.add_argument("--only", choices=sorted(BENCHES), help="run one benchmark")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    for name, (doc, bench) in BENCHES.items():
        if args.only and name != args.only:
            continue
        print(f"== {name}", flush=True)
        body = bench(args)
        print(body, flush=True)
        if not args.no_record:
            record(doc, name, body)
            print(f"(recorded in {doc.relative_to(ROOT)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
