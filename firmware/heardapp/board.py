"""The board's pin map: read from ``pinmap.json`` (the repository's hardware/pinmap.json,
uploaded beside the firmware), so the wiring documentation and the code cannot disagree."""

import json

PINS = ("i2s_id", "i2s_sck", "i2s_ws", "i2s_sd", "led", "button")
# GPIOs an ESP32-WROOM module can use freely: not strapping pins, not wired to the flash,
# not input-only (34-39 have no pull-ups and cannot drive an LED).
SAFE_GPIOS = (4, 13, 14, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27, 32, 33)


class PinmapError(ValueError):
    """The pin map is missing a pin or uses an unsafe GPIO."""


def load(path="pinmap.json"):
    with open(path) as f:
        data = json.load(f)
    return check(data)


def check(data):
    used = []
    for name in PINS:
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise PinmapError("pinmap: '{}' must be a whole number".format(name))
        if name == "i2s_id":
            if value not in (0, 1):
                raise PinmapError("pinmap: i2s_id must be 0 or 1")
            continue
        if value not in SAFE_GPIOS:
            raise PinmapError("pinmap: {} on GPIO {} is not a safe pin".format(name, value))
        if value in used:
            raise PinmapError("pinmap: GPIO {} is used twice".format(value))
        used.append(value)
    return data
