"""The placement study (heard.placement) and the pinned geometry it asks `heard synth` for."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from heard import placement
from heard.device import calibration as cal
from heard.synth.room import Placement, sample_scene

DOC = Path(__file__).resolve().parent.parent / "hardware" / "PLACEMENT.md"


def _flat(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.hypot(*(a - b)[:2]))


@pytest.mark.parametrize("seed", range(20))
def test_pinned_geometry_has_the_requested_distances(seed: int) -> None:
    want = Placement(employee_m=1.0, customer_m=1.5, spacing_m=0.6)
    free = sample_scene(np.random.default_rng(seed), "omni_pair", 1)
    scene = sample_scene(np.random.default_rng(seed), "omni_pair", 1, want)
    assert scene.dims == free.dims and scene.rt60 == free.rt60  # same room, same draws
    mics = scene.mics.T
    assert _flat(mics[0], mics[1]) == pytest.approx(0.6)
    assert _flat(scene.sources["employee"], mics[0]) == pytest.approx(1.0)
    assert _flat(scene.sources["customer"], mics[1]) == pytest.approx(1.5)
    # the employee is behind mic 0 and the customer in front of mic 1
    assert _flat(scene.sources["employee"], mics[1]) > 1.0
    assert _flat(scene.sources["customer"], mics[0]) > 1.5
    assert scene.sources["employee"][2] == free.sources["employee"][2]  # heights as drawn


def _cell(e: float, c: float, s: float, der: float) -> placement.Cell:
    # calibrated: the first file "good" with the 1 dB unit, the second "usable" with the
    # default; DER after calibration half the default's
    after = placement.Calibrated((cal.GOOD, cal.USABLE), (10, 30), (der * 5, der * 5),
                                 (10.0, 10.0), der * 25)
    return placement.Cell(Placement(e, c, s), 2, 0, der, der / 10, der * 50, 2.0, 1.0, after)


def _fake_cells() -> list[placement.Cell]:
    return [_cell(p.employee_m, p.customer_m, p.spacing_m,
                  0.1 + 0.05 * p.employee_m + 0.03 * p.customer_m + 0.1 * abs(p.spacing_m - 0.2))
            for p in placement.grid()]


def test_recommendation_table_and_chart_from_numbers() -> None:
    cells = _fake_cells()
    text = placement.recommendation(cells)
    assert "Mics about 0.20 m apart" in text
    assert "Employee-facing mic within 0.6 m" in text  # 0.3 -> 0.6 costs 1.5 points
    assert "Customer-facing mic within 1.0 m" in text
    table = placement.table(cells).splitlines()
    assert len(table) == 2 + len(cells)
    assert all(row.count("|") == 11 for row in table)
    assert table[2].endswith(f"| {cells[0].der / 2:.1%} | 1 good, 1 usable; 1 dB unit on 1 |")
    svg = placement.chart_svg(cells)
    assert svg.startswith("<svg ") and svg.rstrip().endswith("</svg>")
    assert svg.count("<polyline") == 2 * len(placement.SPACING_M) * len(placement.CUSTOMER_M)


def test_calibration_summary_by_spacing_and_by_verdict() -> None:
    cells = _fake_cells()
    text = placement.calibration_summary(cells)
    at = [c.der for c in cells if c.placement.spacing_m == 0.2]
    mean = sum(at) / len(at)
    assert (f"0.20 m: DER {mean:.1%} → {mean / 2:.1%}, talk-share error {50 * mean:.1f} → "
            f"{25 * mean:.1f} pp, 1 dB unit on 9 of 18") in text
    # each verdict's files hold half of every cell's errors and scored time
    every = sum(c.der for c in cells) / len(cells) / 2
    assert f"good: {every:.1%} (45 files), usable: {every:.1%} (45 files)." in text
    assert "move the device" in text  # what it means, even where it was not said
    bare = [placement.Cell(c.placement, 2, 0, c.der, 0.0, 1.0, 1.0, 1.0) for c in cells]
    assert placement.calibration_summary(bare) == ""
    assert placement.table(bare).splitlines()[2].endswith("| | |")


def test_update_doc_replaces_only_the_block(tmp_path: Path) -> None:
    doc = tmp_path / "P.md"
    doc.write_text(f"intro\n{placement.BEGIN}\nold\n{placement.END}\nend\n")
    block = placement.results_block(_fake_cells(), 2, 1, "cpython", 60.0, "c.svg")
    placement.update_doc(doc, block)
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("\nend\n") and "old" not in text
    assert "![DER and talk-share error by placement](c.svg)" in text
    plain = tmp_path / "plain.md"
    plain.write_text("no block\n")
    with pytest.raises(ValueError):
        placement.update_doc(plain, block)


def test_committed_results_cover_the_grid() -> None:
    text = DOC.read_text()
    block = text[text.index(placement.BEGIN):text.index(placement.END)]
    rows = [r for r in block.splitlines() if re.match(r"\| \d\.\d \| \d\.\d \| \d\.\d\d \|", r)]
    assert len(rows) == len(placement.grid())
    for row in rows:
        der = float(row.split("|")[4].strip().rstrip("%"))
        assert 0 <= der <= 100
    assert (DOC.parent / "placement.svg").is_file()


@pytest.mark.micropython
def test_one_cell_one_file_end_to_end(tmp_path: Path) -> None:
    cell = Placement(0.3, 1.0, 0.2)
    [row] = placement.run_study(tmp_path, [cell], files=1, seed=3, jobs=1)
    assert row.placement == cell and row.files == 1 and row.failures == 0
    assert 0.0 <= row.der <= 1.0 and 0.0 <= row.confusion <= row.der
    assert 0.0 <= row.ratio_pp <= 100.0
    assert math.isfinite(row.employee_db) and math.isfinite(row.customer_db)
    assert row.employee_db > 0  # the employee is louder at the employee-facing mic
    assert "| 0.3 | 1.0 | 0.20 |" in placement.table([row])
    after = row.calibrated
    assert after is not None and len(after.verdicts) == 1 and len(after.units) == 1
    assert after.verdicts[0] in (cal.GOOD, cal.USABLE, cal.MOVE, cal.RETRY)
    assert 0.0 <= after.der <= 1.0 and after.scored_s[0] > 0
    assert (tmp_path / placement.cell_name(cell) / "calibrated" / "synth_s3_000.json").is_file()


def test_what_calibrate_said_is_counted_in_verdict_order() -> None:
    after = placement.Calibrated(("usable", "failed", "good", "try again", "good"),
                                 (10, None, 30, None, 10), (1.0,) * 5, (10.0,) * 5, 2.0)
    assert placement.says(after) == "2 good, 1 usable, 1 try again, 1 failed; 1 dB unit on 2"
    plain = placement.Calibrated(("good",), (30,), (1.0,), (10.0,), 2.0)
    assert placement.says(plain) == "1 good"
