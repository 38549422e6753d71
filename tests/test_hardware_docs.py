"""hardware/: the pin map, the README's wiring and safe-pin tables and wiring.svg agree with
the firmware (heardapp.board) and with what heard.hardware_docs generates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from heardapp import board

from heard import hardware_docs

HW = Path(__file__).resolve().parent.parent / "hardware"
FIX = "run `.venv/bin/python -m heard.hardware_docs` and commit the result"


@pytest.fixture(scope="module")
def pins() -> dict:
    return board.check(json.loads((HW / "pinmap.json").read_text()))


def test_pinmap_passes_the_firmware_check_and_uses_safe_pins(pins: dict) -> None:
    assert set(board.PINS) <= set(pins)
    gpios = [pins[k] for k in board.PINS if k != "i2s_id"]
    assert all(g in board.SAFE_GPIOS for g in gpios)
    assert len(set(gpios)) == len(gpios)
    assert all(k in board.PINS or k.startswith("_") for k in pins)  # only doc keys added


def test_readme_wiring_table_is_generated(pins: dict) -> None:
    text = (HW / "README.md").read_text()
    assert hardware_docs.read_block(text, "wiring") == hardware_docs.wiring_table(pins), FIX
    for key in ("i2s_sck", "i2s_ws", "i2s_sd", "led", "button"):
        assert f"GPIO {pins[key]} (" in text


def test_safe_pin_classes_match_the_firmware() -> None:
    assert hardware_docs.safe_gpios() == board.SAFE_GPIOS
    text = (HW / "README.md").read_text()
    assert hardware_docs.read_block(text, "safe-pins") == hardware_docs.safe_pin_table(), FIX
    listed = re.search(r"\*\*Safe for heard:\*\* GPIO ([\d, ]+)\.", text)
    assert listed is not None
    assert tuple(int(g) for g in listed.group(1).split(", ")) == board.SAFE_GPIOS


def test_wiring_svg_is_generated(pins: dict) -> None:
    assert (HW / "wiring.svg").read_text() == hardware_docs.wiring_svg(pins), FIX


def test_svg_labels_follow_the_pinmap(pins: dict) -> None:
    moved = dict(pins, led=4, button=13)
    svg = hardware_docs.wiring_svg(moved)
    assert ">GPIO 4<" in svg and ">GPIO 13<" in svg
    assert f">GPIO {pins['led']}<" not in svg


def test_header_positions_of_the_devkitc() -> None:
    assert hardware_docs.header_pin(32) == "J1-7"
    assert hardware_docs.header_pin("3V3") == "J1-1"
    assert hardware_docs.header_pin(21) == "J3-6"
    every = [p for p in hardware_docs.J1 + hardware_docs.J3 if isinstance(p, int)]
    assert len(every) == len(set(every))
    assert set(board.SAFE_GPIOS) <= set(every)  # every safe pin is reachable on the board


def test_write_all_rewrites_blocks(tmp_path: Path, pins: dict) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- hardware:wiring -->\nold\n<!-- /hardware:wiring -->\nb\n"
                      "<!-- hardware:safe-pins -->\n<!-- /hardware:safe-pins -->\n")
    svg = tmp_path / "wiring.svg"
    hardware_docs.write_all(HW / "pinmap.json", readme, svg)
    text = readme.read_text()
    assert text.startswith("a\n") and "\nb\n" in text and "old" not in text
    assert hardware_docs.read_block(text, "wiring") == hardware_docs.wiring_table(pins)
    assert svg.read_text().startswith("<svg ")


def test_bad_pinmap_is_refused(tmp_path: Path, pins: dict) -> None:
    bad = tmp_path / "pinmap.json"
    bad.write_text(json.dumps(dict(pins, led=12)))  # a strapping pin
    with pytest.raises(board.PinmapError):
        hardware_docs.load_pinmap(bad)
