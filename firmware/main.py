"""ESP32 entry point: run the heard app on the board's hardware."""

import gc

gc.threshold(4096)

from heardapp.app import App  # noqa: E402
from heardapp.hw_esp32 import Esp32Hardware  # noqa: E402

App(Esp32Hardware()).run()
