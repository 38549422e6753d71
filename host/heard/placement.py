"""The placement study behind ``hardware/PLACEMENT.md`` (``make placement``).

For every cell of a grid (employee to the employee-facing mic, customer to the
customer-facing mic, mic spacing; metres measured flat) it renders the same few `heard synth`
conversations with that geometry pinned (``heard.synth.room.Placement``), runs the firmware
detector on them (``simulate_dir``) with its defaults and again after a simulated
``heard calibrate`` on each file (``heard.simulate.calibrated``), scores them
(``evaluate_corpus``) and writes a table, a chart (SVG, drawn here without a plotting
library) and a recommendation into the doc between ``<!-- placement:results -->`` and
``<!-- /placement:results -->``.

Every cell uses the same seed and file indices, so cells differ only in geometry (and the
room noise that follows from it): the comparison is paired.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from heard.device import calibration as cal
from heard.evaluate.scoring import evaluate_corpus
from heard.simulate.calibrated import PHASE_S, simulate_calibrated_dir
from heard.simulate.engines import ENGINES, simulate_dir
from heard.synth.compose import synthesize, write_file
from heard.synth.corpus import file_name
from heard.synth.room import Placement
from heardcore.params import Params

EMPLOYEE_M = (0.3, 0.6, 1.0)
CUSTOMER_M = (0.5, 1.0, 1.5)
SPACING_M = (0.05, 0.1, 0.2, 0.4, 0.6)
SEED = 4100
FILES_PER_CELL = 5
TARGET_DER = 0.10  # the detector issue's targets for stereo
TARGET_RATIO_PP = 3.0
TOLERANCE_PP = 2.0  # DER within this of the best counts as "as good"
BEGIN, END = "<!-- placement:results -->", "<!-- /placement:results -->"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Calibrated:
    """One geometry's files after a simulated ``heard calibrate`` each
    (``heard.simulate.calibrated``): per file, in file order, the check's verdict ("failed"
    if it could not run), the level unit it stored (None: nothing stored), and the DER's
    error and scored seconds."""

    verdicts: tuple[str, ...]
    units: tuple[int | None, ...]
    errors_s: tuple[float, ...]
    scored_s: tuple[float, ...]
    ratio_pp: float  # mean talk-share error over the files

    @property
    def der(self) -> float:
        total = sum(self.scored_s)
        return sum(self.errors_s) / total if total else 0.0

    @property
    def wide(self) -> int:
        """Files given the 1 dB level unit."""
        return sum(u == cal.WIDE_LEVEL_UNIT_DB10 for u in self.units)


@dataclass(frozen=True)
class Cell:
    """Scores of one geometry over its files."""

    placement: Placement
    files: int
    failures: int
    der: float  # fixed labels: employee must be channel 0's party
    confusion: float  # share of speech given to the wrong party
    ratio_pp: float  # mean |predicted - true| employee talk share, percentage points
    employee_db: float  # employee's speech: own mic minus the other, mean over files
    customer_db: float  # the same for the customer
    calibrated: Calibrated | None = None


def grid() -> list[Placement]:
    return [Placement(e, c, s) for s, e, c in itertools.product(SPACING_M, EMPLOYEE_M, CUSTOMER_M)]


def cell_name(p: Placement) -> str:
    return f"e{p.employee_m:.2f}_c{p.customer_m:.2f}_s{p.spacing_m:.2f}"


def _stamp(p: Placement, seed: int, files: int) -> dict[str, object]:
    return {"seed": seed, "files": files, "placement": cell_name(p)}


def render_cells(work: Path, cells: Sequence[Placement], files: int, seed: int, jobs: int,
                 progress: Callable[[str], None] | None = None, reuse: bool = False) -> None:
    """Write ``files`` conversations per cell into ``work/CELL/corpus``; with ``reuse``, a
    cell already rendered with the same seed and file count is kept."""
    todo: list[tuple[Path, Placement, int]] = []
    for p in cells:
        corpus = work / cell_name(p) / "corpus"
        done = corpus / "cell.json"
        if reuse and done.is_file() and json.loads(done.read_text()) == _stamp(p, seed, files):
            continue
        shutil.rmtree(corpus, ignore_errors=True)
        corpus.mkdir(parents=True)
        todo += [(corpus, p, i) for i in range(files)]

    def one(job: tuple[Path, Placement, int]) -> None:
        corpus, p, i = job
        pcm, ann = synthesize(seed, i, 2, workers=1, placement=p)
        write_file(corpus, file_name(seed, i, files), pcm, ann)
        if progress is not None:
            progress(f"rendered {corpus.parent.name} file {i}")

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, todo))
    for p in cells:
        stamp = json.dumps(_stamp(p, seed, files))
        (work / cell_name(p) / "corpus" / "cell.json").write_text(stamp)


def _calibrated(work: Path, p: Placement, engine: str, jobs: int) -> Calibrated:
    corpus, pred = work / cell_name(p) / "corpus", work / cell_name(p) / "calibrated"
    shutil.rmtree(pred, ignore_errors=True)
    run = simulate_calibrated_dir(corpus, pred, engine=engine, jobs=jobs)
    score = evaluate_corpus(corpus, pred, allow_missing=True, vad=False)
    results = [run.calibrations.get(f.name) for f in score.files]
    return Calibrated(
        tuple(r.verdict if r else "failed" for r in results),
        tuple(r.level_unit_db10 if r else None for r in results),
        tuple(f.ier.errors for f in score.files),
        tuple(f.ier.total for f in score.files),
        score.talk_ratio_error_pp or 0.0,
    )


def score_cell(work: Path, p: Placement, engine: str, jobs: int) -> Cell:
    """Run the detector on one cell's files and score it, with the defaults and after a
    simulated ``heard calibrate`` on each file."""
    corpus, pred = work / cell_name(p) / "corpus", work / cell_name(p) / "pred"
    shutil.rmtree(pred, ignore_errors=True)
    run = simulate_dir(corpus, pred, engine=engine, jobs=jobs)
    score = evaluate_corpus(corpus, pred, allow_missing=True, vad=False)
    der = score.der
    separation = {"employee": 0.0, "customer": 0.0}
    for f in sorted(corpus.glob("*.truth.json")):
        levels = json.loads(f.read_text())["party_channel_db"]
        separation["employee"] += levels["employee"] / len(score.files)
        separation["customer"] -= levels["customer"] / len(score.files)
    return Cell(p, len(score.files), len(run.failures), der.rate,
                der.confusion / der.total if der.total else 0.0,
                score.talk_ratio_error_pp or 0.0, separation["employee"],
                separation["customer"], _calibrated(work, p, engine, jobs))


def run_study(work: Path, cells: Sequence[Placement], files: int = FILES_PER_CELL,
              seed: int = SEED, engine: str = "micropython", jobs: int | None = None,
              progress: Callable[[str], None] | None = None, reuse: bool = False) -> list[Cell]:
    """Render, simulate and score every cell; results in the order of ``cells``."""
    jobs = jobs or os.cpu_count() or 1
    render_cells(work, cells, files, seed, jobs, progress, reuse)
    out = []
    for p in cells:
        out.append(score_cell(work, p, engine, jobs))
        if progress is not None:
            progress(f"scored {cell_name(p)}: DER {out[-1].der:.1%}")
    return out


# --- the doc -------------------------------------------------------------------------------


def says(c: Calibrated) -> str:
    """What ``heard calibrate`` said on a cell's files: "3 good, 2 usable; 1 dB unit on 2"."""
    return cal.verdict_summary(c.verdicts, c.wide)


def table(cells: Sequence[Cell]) -> str:
    rows = [
        ("| employee to mic (m) | customer to mic (m) | mic spacing (m) | DER | who-is-who "
        "errors | talk-share error | employee louder at own mic | customer louder at own mic "
        "| DER after `heard calibrate` | `heard calibrate` says |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in cells:
        p, k = c.placement, c.calibrated
        after = f"{k.der:.1%} | {says(k)}" if k else "|"
        rows.append(
            f"| {p.employee_m:.1f} | {p.customer_m:.1f} | {p.spacing_m:.2f} | {c.der:.1%} | "
            f"{c.confusion:.1%} | {c.ratio_pp:.1f} pp | {c.employee_db:+.1f} dB | "
            f"{c.customer_db:+.1f} dB | {after} |"
        )
    return "\n".join(rows)


def calibration_summary(cells: Sequence[Cell]) -> str:
    """What a simulated ``heard calibrate`` on each file changes, by spacing, and what its
    verdicts mean for DER ("" without calibrated figures)."""
    done = [c for c in cells if c.calibrated is not None]
    if not done:
        return ""
    spacings = sorted({c.placement.spacing_m for c in done})
    by_spacing = []
    for sp in spacings:
        at = [c for c in done if c.placement.spacing_m == sp]
        ks = [c.calibrated for c in at if c.calibrated is not None]
        files = sum(len(k.verdicts) for k in ks)
        by_spacing.append(
            f"{sp:.2f} m: DER {_mean([c.der for c in at]):.1%} → {_mean([k.der for k in ks]):.1%}, "
            f"talk-share error {_mean([c.ratio_pp for c in at]):.1f} → "
            f"{_mean([k.ratio_pp for k in ks]):.1f} pp, "
            f"{cal.WIDE_LEVEL_UNIT_DB10 / 10:.0f} dB unit on {sum(k.wide for k in ks)} of {files}")
    verdicts = []
    ks = [c.calibrated for c in done if c.calibrated is not None]
    for v in (*cal.VERDICTS, "failed"):
        errors = sum(e for k in ks for e, vv in zip(k.errors_s, k.verdicts, strict=True) if vv == v)
        scored = sum(t for k in ks for t, vv in zip(k.scored_s, k.verdicts, strict=True) if vv == v)
        n = sum(k.verdicts.count(v) for k in ks)
        if n:
            verdicts.append(f"{v}: {errors / scored if scored else 0.0:.1%} "
                            f"({n} file{'s' if n != 1 else ''})")
    return "\n".join([
        (f"- **Run `heard calibrate` after mounting the device.** Simulated on each file as "
         f"its own installation (the check on the first {PHASE_S} s each person talks alone), "
         "mean DER and talk-share error with the defaults → after it, by spacing: "
         f"{'; '.join(by_spacing)}."),
        ("- **What `heard calibrate` says** and the DER after it on the files where it said "
         f"so: {', '.join(verdicts)}. Where it says \"move the device\" or \"try again\" it "
         "stores nothing and the detector runs with its defaults."),
    ])


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _means(pool: Sequence[Cell], key: Callable[[Placement], float]) -> dict[float, float]:
    """Mean DER per value of ``key``, ascending."""
    values = sorted({key(c.placement) for c in pool})
    return {v: _mean([c.der for c in pool if key(c.placement) == v]) for v in values}


def _reach(means: dict[float, float]) -> float:
    """The largest distance whose DER is within TOLERANCE_PP of the best one."""
    best = min(means.values())
    return max(d for d, v in means.items() if v <= best + TOLERANCE_PP / 100)


def _listing(means: dict[float, float], digits: int = 1) -> str:
    return ", ".join(f"{d:.{digits}f} m: {v:.1%}" for d, v in means.items())


def _edge(reach: float, means: dict[float, float]) -> str:
    return " (the farthest tested: farther was not measured)" if reach == max(means) else ""


def recommendation(cells: Sequence[Cell]) -> str:
    """Plain advice read off the table: the best spacing, and how far each party may be."""
    by_spacing = _means(cells, lambda p: p.spacing_m)
    best_s = min(by_spacing, key=lambda s: (by_spacing[s], s))
    at = [c for c in cells if c.placement.spacing_m == best_s]
    by_emp = _means(at, lambda p: p.employee_m)
    emp = _reach(by_emp)
    near = [c for c in at if c.placement.employee_m <= emp]
    by_cus = _means(near, lambda p: p.customer_m)
    cus = _reach(by_cus)
    lag = Params().tdoa_max_lag
    return "\n".join([
        (f"- **Mics about {best_s:.2f} m apart.** Mean DER over all distances, by spacing: "
        f"{_listing(by_spacing, 2)}."),
        (f"- **Employee-facing mic within {emp:.1f} m** (floor plan) of where the employee "
        f"stands and talks{_edge(emp, by_emp)}. Mean DER at {best_s:.2f} m spacing, by "
        f"employee distance: {_listing(by_emp)}."),
        (f"- **Customer-facing mic within {cus:.1f} m** of where customers stand"
        f"{_edge(cus, by_cus)}. Mean DER at {best_s:.2f} m spacing with the employee placed "
        f"as above, by customer distance: {_listing(by_cus)}."),
        (f"- \"Within\" means: no more than {TOLERANCE_PP:.0f} points of DER worse than the "
        "best distance tested. The detector's default arrival-time window (`tdoa_max_lag` = "
        f"{lag} samples) covers path differences up to {lag * 343 / 16000:.2f} m; with the "
        "mics farther apart than that, a far talker's sound can arrive outside it."),
    ])


_COLORS = ("#1b6ca8", "#d1495b", "#2e933c")


def chart_svg(cells: Sequence[Cell]) -> str:
    """DER and talk-share error against employee distance, one panel per mic spacing, one
    line per customer distance."""
    spacings = sorted({c.placement.spacing_m for c in cells})
    emps = sorted({c.placement.employee_m for c in cells})
    custs = sorted({c.placement.customer_m for c in cells})
    pw, ph, left, top, gap = 180, 170, 70, 50, 25
    width = left + len(spacings) * (pw + gap) + 120
    height = top + 2 * (ph + 70) + 10
    metrics = (("DER (%)", lambda c: 100 * c.der, 100 * TARGET_DER),
               ("talk-share error (pp)", lambda c: c.ratio_pp, TARGET_RATIO_PP))
    out = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'),
        f'<rect width="{width}" height="{height}" fill="white"/>',
        (f'<text x="{left}" y="22" font-size="15" font-weight="bold">Detector accuracy by '
        "placement (synthetic rooms; lower is better)</text>"),
    ]
    for row, (label, value, target) in enumerate(metrics):
        y0 = top + row * (ph + 70)
        top_value = max([value(c) for c in cells] + [target])
        step = next(st for st in (1.0, 2.0, 5.0, 10.0, 20.0, 50.0) if top_value / st <= 5)
        ymax = step * (int(top_value / step) + 1)
        for col, s in enumerate(spacings):
            x0 = left + col * (pw + gap)

            def px(e: float, x0: int = x0) -> float:
                return x0 + 20 + (e - emps[0]) / (emps[-1] - emps[0] or 1) * (pw - 40)

            def py(v: float, y0: int = y0, ymax: float = ymax) -> float:
                return y0 + ph - v / ymax * ph

            out.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" '
                       'stroke="#888"/>')
            if row == 0:
                out.append(f'<text x="{x0 + pw / 2}" y="{y0 - 8}" text-anchor="middle" '
                           f'font-weight="bold">mic spacing {s:.2f} m</text>')
            for k in range(int(round(ymax / step)) + 1):
                v = step * k
                out.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{py(v):.1f}" y2="{py(v):.1f}" '
                           'stroke="#eee"/>')
                if col == 0:
                    out.append(f'<text x="{x0 - 6}" y="{py(v) + 4:.1f}" text-anchor="end">'
                               f"{v:g}</text>")
            out.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{py(target):.1f}" '
                       f'y2="{py(target):.1f}" stroke="#555" stroke-dasharray="4 3"/>')
            for e in emps:
                out.append(f'<text x="{px(e):.1f}" y="{y0 + ph + 16}" text-anchor="middle">'
                           f"{e:.1f}</text>")
            out.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 34}" text-anchor="middle">'
                       "employee to mic (m)</text>")
            for k, cu in enumerate(custs):
                pts = sorted((c.placement.employee_m, value(c)) for c in cells
                             if c.placement.spacing_m == s and c.placement.customer_m == cu)
                path = " ".join(f"{px(e):.1f},{py(v):.1f}" for e, v in pts)
                color = _COLORS[k % len(_COLORS)]
                out.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                           'stroke-width="2"/>')
                out += [f'<circle cx="{px(e):.1f}" cy="{py(v):.1f}" r="3" fill="{color}"/>'
                        for e, v in pts]
        out.append(f'<text transform="translate(18 {y0 + ph / 2}) rotate(-90)" '
                   f'text-anchor="middle">{label}</text>')
    lx = left + len(spacings) * (pw + gap) - 10
    out.append(f'<text x="{lx}" y="{top + 10}" font-weight="bold">customer to mic</text>')
    for k, cu in enumerate(custs):
        y = top + 30 + 20 * k
        out.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{y}" y2="{y}" '
                   f'stroke="{_COLORS[k % len(_COLORS)]}" stroke-width="2"/>')
        out.append(f'<text x="{lx + 30}" y="{y + 4}">{cu:.1f} m</text>')
    y = top + 30 + 20 * len(custs)
    out.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{y}" y2="{y}" stroke="#555" '
               'stroke-dasharray="4 3"/>')
    out.append(f'<text x="{lx + 30}" y="{y + 4}">target</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def results_block(cells: Sequence[Cell], files: int, seed: int, engine: str,
                  seconds: float, chart: str) -> str:
    failures = sum(c.failures for c in cells)
    today = datetime.date.today().isoformat()
    return "\n".join([
        BEGIN,
        (f"_Measured {today}: {len(cells)} geometries x {files} synthetic conversations each "
        f"(`heard synth` internals, seed {seed}, the same {files} conversations in every "
        f"geometry), firmware detector on the {engine} engine with default parameters and "
        "again after a simulated `heard calibrate` on each file, "
        f"{seconds / 60:.1f} minutes on this machine. Files that failed to simulate: "
        f"{failures}._"),
        "",
        recommendation(cells),
        calibration_summary(cells),
        "",
        f"![DER and talk-share error by placement]({chart})",
        "",
        table(cells),
        END,
    ])


def update_doc(doc: Path, block: str) -> None:
    """Replace the results block of ``doc`` (which must hold the markers)."""
    text = doc.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{doc} has no {BEGIN} ... {END} block")
    doc.write_text(pattern.sub(lambda _m: block, text, count=1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heard.placement", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=FILES_PER_CELL, help="files per cell")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--engine", choices=ENGINES, default="micropython")
    parser.add_argument("--jobs", type=int, default=None, help="parallel files (CPU count)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "placement")
    parser.add_argument("--doc", type=Path, default=ROOT / "hardware" / "PLACEMENT.md")
    parser.add_argument("--chart", type=Path, default=ROOT / "hardware" / "placement.svg")
    parser.add_argument("--reuse", action="store_true",
                        help="keep audio rendered by an earlier run with the same seed and "
                        "--files (only while the synth code is unchanged)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    cells = run_study(args.work, grid(), args.files, args.seed, args.engine, args.jobs,
                      progress=lambda msg: print(msg, file=sys.stderr, flush=True),
                      reuse=args.reuse)
    seconds = time.monotonic() - started
    args.chart.write_text(chart_svg(cells))
    chart_ref = os.path.relpath(args.chart, args.doc.parent)
    update_doc(args.doc, results_block(cells, args.files, args.seed, args.engine, seconds,
                                       chart_ref))
    print(table(cells))
    print(f"wrote {args.doc} and {args.chart} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
