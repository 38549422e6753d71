"""Run by tests/test_device.py on the unix port: the app's per-block path allocates nothing.

    micropython app_heap.py FLASH_DIR WAV

Boots the app in fast mode, runs 1 s of audio, then runs 3 s more with the heap locked
(inside the first conversation, which cannot end before its 8 s idle time) and prints
``frames N`` on success. Any allocation raises MemoryError and fails the run.
"""

import sys

import micropython
from heardapp.app import App
from heardapp.hw_unix import UnixHardware

hw = UnixHardware([sys.argv[2]], sys.argv[1], fast=True)
hw.button_every = 0  # the emulated button looks for a file, which allocates
app = App(hw)
app.boot()
for _ in range(13):  # 8 frames per step: ~1 s
    app.step()
start = app.detector.frames
micropython.heap_lock()
try:
    for _ in range(38):  # ~3 s
        app.step()
finally:
    micropython.heap_unlock()
print("frames", app.detector.frames - start, "speech", app.detector.speech_frames)
