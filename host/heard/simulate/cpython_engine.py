"""The ``cpython`` engine: ``python -m heard.simulate.cpython_engine WAV [--config F] [--frames]``.

Runs the firmware's file runner (``heardcore.simrun``) on CPython, with the ``micropython``
stand-in installed by ``import heard`` and viper code wrapping integers to 32 bits as the
ESP32 does. Prints the same NDJSON as the unix port.
"""

from __future__ import annotations

import sys

from heard.mpshim import set_mode


def main(argv: list[str]) -> int:
    set_mode("esp32")
    from heardcore import simrun

    code = simrun.main(argv, sys.stdout.write)
    sys.stdout.flush()
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
