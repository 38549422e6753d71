"""Run by tests/test_device.py on the unix port: the app's per-block path allocates nothing.

    micropython app_heap.py FLASH_DIR WAV

Boots the app in fast mode, runs 1 s of audio, then runs 3 s more with the heap locked
(inside the first conversation, which cannot end before its 8 s idle time): any allocation
raises MemoryError and fails the run. A call frame MicroPython would take from the heap and
free again falls back to the C stack under the lock instead, so 3 s more run unlocked,
each step watched by ``takes_heap`` (tests/firmware/detector_signals.py). Prints
``frames N speech N heap_blocks N``: frames run locked, speech frames, steps that took a
block.
"""

import sys

import micropython
from detector_signals import takes_heap
from heardapp.app import App
from heardapp.hw_unix import UnixHardware


def step(_):
    app.step()


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
locked = app.detector.frames - start
taking = 0
for _ in range(38):
    if takes_heap(step, None):
        taking += 1
print("frames", locked, "speech", app.detector.speech_frames,
      "heap_blocks", taking)
