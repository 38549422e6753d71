"""Hardware docs generated from ``hardware/pinmap.json``, so docs and firmware cannot disagree.

- the wiring tables and the safe-pin table in ``hardware/README.md`` (between
  ``<!-- hardware:NAME -->`` and ``<!-- /hardware:NAME -->``);
- the wiring diagram ``hardware/wiring.svg``.

``python -m heard.hardware_docs`` rewrites them; ``tests/test_hardware_docs.py`` checks that
the committed files equal what this module generates, and that the ESP32 pin classes below
leave exactly the firmware's ``heardapp.board.SAFE_GPIOS``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from heardapp import board

ROOT = Path(__file__).resolve().parents[2]
PINMAP = ROOT / "hardware" / "pinmap.json"
README = ROOT / "hardware" / "README.md"
SVG = ROOT / "hardware" / "wiring.svg"

# Why an ESP32 (WROOM-32E module) GPIO is not free for heard; every other GPIO is.
UNSAFE: tuple[tuple[tuple[int, ...], str], ...] = (
    ((0, 2, 5, 12, 15), ("strapping pins: read at reset to choose the boot mode and the flash "
     "voltage, so a mic or button pulling them the wrong way can stop the board booting")),
    ((1, 3), "UART0 TX/RX: the USB serial port that `heard sync` talks over"),
    ((6, 7, 8, 9, 10, 11), "wired to the module's flash chip"),
    ((34, 35, 36, 37, 38, 39), ("input only, without internal pull-ups: cannot drive the LED "
     "or the I2S clocks, and the button would need its own resistor")),
    ((20, 24, 28, 29, 30, 31), "do not exist on the ESP32"),
)
GPIO_COUNT = 40

# ESP32-DevKitC V4 headers, seen from above, counted from the antenna end (J1 left, J3 right).
J1 = ("3V3", "EN", 36, 39, 34, 35, 32, 33, 25, 26, 27, 14, 12, "GND", 13, 9, 10, 11, "5V")
J3 = ("GND", 23, 22, 1, 3, 21, "GND", 19, 18, 5, 17, 16, 4, 0, 2, 15, 8, 7, 6)


def safe_gpios() -> tuple[int, ...]:
    """GPIOs in no class of ``UNSAFE``."""
    unsafe = {g for pins, _why in UNSAFE for g in pins}
    return tuple(g for g in range(GPIO_COUNT) if g not in unsafe)


def load_pinmap(path: Path = PINMAP) -> dict[str, Any]:
    """The pin map, checked by the firmware's own ``heardapp.board.check``."""
    data: dict[str, Any] = board.check(json.loads(path.read_text()))
    return data


def header_pin(pin: int | str) -> str:
    """Where a GPIO (or 3V3/GND) is on the DevKitC: ``J1-7`` (left side, 7th from the top)."""
    spots = [f"J1-{i + 1}" for i, p in enumerate(J1) if p == pin]
    spots += [f"J3-{i + 1}" for i, p in enumerate(J3) if p == pin]
    return " or ".join(spots[:2]) if spots else "?"


def _gpio(pins: dict[str, Any], name: str) -> str:
    return f"GPIO {pins[name]} ({header_pin(pins[name])})"


def wiring_table(pins: dict[str, Any]) -> str:
    """Two markdown tables: every wire from the ESP32, and each microphone's six pins."""
    sck, ws, sd = (_gpio(pins, k) for k in ("i2s_sck", "i2s_ws", "i2s_sd"))
    led, button = _gpio(pins, "led"), _gpio(pins, "button")
    rows = [
        "| ESP32-DevKitC pin (header) | goes to | what it is |",
        "| --- | --- | --- |",
        (f"| 3V3 ({header_pin('3V3')}) | VDD of both mics; L/R of the customer-facing mic | "
        "3.3 V supply |"),
        (f"| GND ({header_pin('GND')}) | GND of both mics; L/R of the employee-facing mic; "
        "LED cathode (short leg); one leg of the button | ground |"),
        f"| {sck} | SCK of both mics | I2S bit clock (`i2s_sck`) |",
        f"| {ws} | WS of both mics | I2S word select: left/right clock (`i2s_ws`) |",
        (f"| {sd} | SD of both mics; optional 100 kΩ resistor to GND | I2S data, shared: each mic "
        "talks in its own half of the frame (`i2s_sd`) |"),
        (f"| {led} | 330 Ω resistor, then the LED anode (long leg) | status LED: lit while the "
        "mics are live (`led`) |"),
        (f"| {button} | one leg of the push button (the other leg to GND) | mute button, "
        "internal pull-up, pressed = low (`button`) |"),
        "",
        ("| INMP441 pin | employee-facing mic (left, channel 0) | customer-facing mic "
        "(right, channel 1) |"),
        "| --- | --- | --- |",
        "| VDD | 3V3 | 3V3 |",
        "| GND | GND | GND |",
        "| L/R | **GND** | **3V3** |",
        f"| SCK | GPIO {pins['i2s_sck']} | GPIO {pins['i2s_sck']} |",
        f"| WS | GPIO {pins['i2s_ws']} | GPIO {pins['i2s_ws']} |",
        f"| SD | GPIO {pins['i2s_sd']} | GPIO {pins['i2s_sd']} |",
        "",
        (f"The firmware uses the ESP32's I2S peripheral {pins['i2s_id']} (`i2s_id`, a setting, "
        "not a wire)."),
    ]
    return "\n".join(rows)


def _ranges(pins: tuple[int, ...]) -> str:
    if len(pins) > 2 and pins[-1] - pins[0] == len(pins) - 1:
        return f"{pins[0]}–{pins[-1]}"
    return ", ".join(str(p) for p in pins)


def safe_pin_table() -> str:
    rows = ["| GPIOs | why heard does not use them |", "| --- | --- |"]
    rows += [f"| {_ranges(pins)} | {why} |" for pins, why in UNSAFE]
    rows += ["", "**Safe for heard:** GPIO " + ", ".join(str(g) for g in safe_gpios()) + "."]
    return "\n".join(rows)


def blocks(pins: dict[str, Any]) -> dict[str, str]:
    """Generated README sections by marker name."""
    return {"wiring": wiring_table(pins), "safe-pins": safe_pin_table()}


def replace_block(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- hardware:{name} -->", f"<!-- /hardware:{name} -->"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {begin} ... {end} block")
    return pattern.sub(lambda _m: f"{begin}\n{body}\n{end}", text, count=1)


def read_block(text: str, name: str) -> str:
    begin, end = f"<!-- hardware:{name} -->", f"<!-- /hardware:{name} -->"
    found = re.search(re.escape(begin) + "\n(.*?)\n" + re.escape(end), text, re.S)
    if found is None:
        raise ValueError(f"no {begin} ... {end} block")
    return found.group(1)


# --- the diagram -----------------------------------------------------------------------------

_NET_COLORS = {"3V3": "#c0392b", "GND": "#222222", "SCK": "#d68910", "WS": "#1e8449",
               "SD": "#2471a3", "LED": "#7d3c98", "BUTTON": "#873600"}
_MIC_PINS = ("VDD", "GND", "L/R", "SCK", "WS", "SD")


class _Svg:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str,
             width: float = 2) -> None:
        self.parts.append(f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" '
                          f'stroke="{color}" stroke-width="{width:g}"/>')

    def rect(self, x: float, y: float, w: float, h: float, fill: str = "none",
             stroke: str = "#444") -> None:
        self.parts.append(f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="4" '
                          f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>')

    def text(self, x: float, y: float, s: str, anchor: str = "start", extra: str = "") -> None:
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        self.parts.append(f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}"{extra}>{s}</text>')

    def dot(self, x: float, y: float, color: str) -> None:
        self.parts.append(f'<circle cx="{x:g}" cy="{y:g}" r="3.5" fill="{color}"/>')

    def raw(self, s: str) -> None:
        self.parts.append(s)


def wiring_svg(pins: dict[str, Any]) -> str:
    """The wiring diagram: two INMP441s, the ESP32, the LED and the button, one rail per net."""
    width, height = 820, 680
    svg = _Svg()
    svg.raw(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">')
    svg.raw(f'<rect width="{width}" height="{height}" fill="white"/>')
    svg.text(20, 26, "heard wiring: ESP32-DevKitC + two INMP441 on one I2S bus",
             extra=' font-size="16" font-weight="bold"')
    svg.text(20, 44, "Generated from hardware/pinmap.json by heard.hardware_docs; "
             "lines cross without connecting unless a dot joins them.",
             extra=' font-size="11" fill="#555"')
    # Members of each net: (x, y) points that a horizontal stub joins to the net's rail.
    rails = {"GND": 250, "3V3": 290, "SCK": 330, "WS": 370, "SD": 410}
    members: dict[str, list[tuple[float, float]]] = {k: [] for k in rails}

    mic_x, mic_w = 40, 180
    for m, (title, side, lr_net) in enumerate((
            ("employee-facing mic", "L/R to GND: left, channel 0", "GND"),
            ("customer-facing mic", "L/R to 3V3: right, channel 1", "3V3"))):
        top = 70 + m * 250
        svg.rect(mic_x, top, mic_w, 185, fill="#f4f6f7")
        svg.text(mic_x + 10, top + 22, f"INMP441 #{m + 1}", extra=' font-weight="bold"')
        svg.text(mic_x + 10, top + 40, title)
        svg.text(mic_x + 10, top + 175, side, extra=' font-size="11"')
        for i, pin in enumerate(_MIC_PINS):
            y = top + 62 + i * 18
            svg.text(mic_x + mic_w - 8, y + 4, pin, anchor="end")
            net = {"VDD": "3V3", "L/R": lr_net}.get(pin, pin)
            members[net].append((mic_x + mic_w, y))

    esp_x, esp_w, esp_top = 560, 220, 70
    svg.rect(esp_x, esp_top, esp_w, 580, fill="#eaf2f8")
    svg.text(esp_x + 12, esp_top + 24, "ESP32-DevKitC-32E", extra=' font-weight="bold"')
    svg.text(esp_x + 12, esp_top + 42, f"I2S peripheral {pins['i2s_id']}",
             extra=' font-size="11"')
    esp_rows = (("3V3", "3V3", "3.3 V out"), ("GND", "GND", "ground"),
                ("SCK", f"GPIO {pins['i2s_sck']}", "I2S SCK"),
                ("WS", f"GPIO {pins['i2s_ws']}", "I2S WS"),
                ("SD", f"GPIO {pins['i2s_sd']}", "I2S SD"))
    for i, (net, label, what) in enumerate(esp_rows):
        y = 262 + i * 26  # between the two mics' pins: no stub lies on another
        svg.text(esp_x + 10, y + 4, label, extra=' font-weight="bold"')
        svg.text(esp_x + 90, y + 4, what, extra=' font-size="11" fill="#555"')
        members[net].append((esp_x, y))
    y_led, y_button = 560, 620
    for y, label, what in ((y_led, f"GPIO {pins['led']}", "status LED"),
                           (y_button, f"GPIO {pins['button']}", "mute button")):
        svg.text(esp_x + 10, y + 4, label, extra=' font-weight="bold"')
        svg.text(esp_x + 90, y + 4, what, extra=' font-size="11" fill="#555"')

    # LED chain: ESP pin -> 330 ohm -> LED (anode right) -> GND rail.
    c = _NET_COLORS["LED"]
    svg.line(esp_x, y_led, 520, y_led, c)
    svg.rect(460, y_led - 9, 60, 18, fill="white", stroke=c)
    svg.text(490, y_led - 14, "330 Ω", anchor="middle", extra=' font-size="11"')
    svg.line(460, y_led, 430, y_led, c)
    svg.raw(f'<polygon points="430,{y_led - 11} 430,{y_led + 11} 404,{y_led}" fill="{c}"/>')
    svg.line(403, y_led - 11, 403, y_led + 11, c, 3)
    svg.raw(f'<path d="M 420 {y_led - 14} l 8 -10 M 412 {y_led - 14} l 8 -10" stroke="{c}" '
            'stroke-width="1.5" fill="none"/>')
    svg.text(417, y_led + 28, "LED (long leg right)", anchor="middle", extra=' font-size="11"')
    members["GND"].append((403, y_led))

    # Mute button: ESP pin -> push button -> GND rail.
    c = _NET_COLORS["BUTTON"]
    svg.line(esp_x, y_button, 480, y_button, c)
    svg.dot(480, y_button, c)
    svg.dot(430, y_button, c)
    svg.line(425, y_button - 12, 485, y_button - 12, c)
    svg.line(455, y_button - 12, 455, y_button - 22, c)
    svg.text(455, y_button + 20, "push button", anchor="middle", extra=' font-size="11"')
    members["GND"].append((430, y_button))

    for net, x in rails.items():
        color = _NET_COLORS[net]
        ys = [y for _x, y in members[net]]
        svg.line(x, min(ys), x, max(ys), color)
        for px, py in members[net]:
            svg.line(px, py, x, py, color)
            svg.dot(x, py, color)
        svg.text(x, 120, net, anchor="middle",
                 extra=f' font-size="11" font-weight="bold" fill="{color}"')
    svg.raw("</svg>")
    return "\n".join(svg.parts) + "\n"


def write_all(pinmap: Path = PINMAP, readme: Path = README, svg: Path = SVG) -> None:
    """Rewrite the generated parts of the README and the diagram."""
    pins = load_pinmap(pinmap)
    text = readme.read_text()
    for name, body in blocks(pins).items():
        text = replace_block(text, name, body)
    readme.write_text(text)
    svg.write_text(wiring_svg(pins))


if __name__ == "__main__":
    write_all()
    print(f"wrote {README} and {SVG}", file=sys.stderr)
