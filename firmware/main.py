"""ESP32 entry point: run the heard app on the board's hardware."""

import gc

gc.threshold(4096)

from heardapp.hw_esp32 import Esp32Hardware  # noqa: E402

# Buffers first, while the heap is in one piece; then the app's modules.
hw = Esp32Hardware()

from heardapp.app import App  # noqa: E402

App(hw).run()
