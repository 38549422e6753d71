"""Integer math for the detector: fixed-point log2 and the decibel scale built on it.

Levels are kept as ``log2(x)`` in Q8 (1/256 units): exact at powers of two, within 0.008
of the true value elsewhere, so an energy ratio in dB is ``(a - b) * 10 * log10(2)``,
i.e. about 3.01 dB per 256 units.
"""

import micropython
from micropython import const

LOG2_ONE = const(256)  # log2 in Q8: 256 units per octave

# Correction of the linear mantissa approximation, log2(1+m) - m, at 16 points of m in [0, 1),
# in Q8; interpolated linearly between points. The 17th entry closes the last interval.
_LOG2_CORRECTION = bytes((0, 6, 12, 15, 18, 20, 22, 22, 22, 21, 19, 17, 15, 12, 8, 4, 0))


@micropython.viper
def log2_q8(x: int) -> int:
    """log2(x) in Q8 for 1 <= x < 2**31; returns 0 for x <= 1."""
    if x <= 1:
        return 0
    top = 30
    while (x >> top) == 0:
        top -= 1
    # Mantissa: the 16 bits below the top bit, m in [0, 65536).
    if top >= 16:
        m = (x >> (top - 16)) & 0xFFFF
    else:
        m = (x << (16 - top)) & 0xFFFF
    corr = ptr8(_LOG2_CORRECTION)
    idx = m >> 12
    frac = m & 0xFFF
    c0 = int(corr[idx])
    c1 = int(corr[idx + 1])
    # Interpolate the correction in Q16 and round once at the end, which keeps the
    # result monotonic (the correction never falls faster than the mantissa rises).
    c16 = (c0 << 8) + (((c1 - c0) * frac) >> 4)
    return (top << 8) + ((m + c16) >> 8)
