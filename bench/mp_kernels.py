"""Times firmware kernels on the MicroPython unix port (run by bench/run.py).

Prints one line per kernel: ``name us_per_call samples_per_call``.
"""

import array
import time

from heardcore.fixedmath import log2_q8
from heardcore.pcm import i2s32_to_int16

FRAME = 320  # 10 ms of stereo at 16 kHz: 160 frames x 2 channels
ROUNDS = 2000


def timed(name, func, samples):
    start = time.ticks_us()
    for _ in range(ROUNDS):
        func()
    elapsed = time.ticks_diff(time.ticks_us(), start)
    print(name, elapsed / ROUNDS, samples)


src = array.array("i", [(i * 7919) << 12 for i in range(FRAME)])
dst = array.array("h", [0] * FRAME)
timed("i2s32_to_int16", lambda: i2s32_to_int16(src, dst, FRAME, 2), FRAME)
timed("log2_q8", lambda: log2_q8(123456789), 1)
