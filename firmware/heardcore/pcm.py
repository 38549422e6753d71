"""PCM conversion from the I2S DMA format to the detector's int16 samples.

An INMP441 sends 24-bit samples left-justified in 32-bit slots, little-endian, left
channel first when two mics share the bus. The detector works on int16: each slot is
shifted right by ``16 - gain_bits`` (so ``gain_bits`` adds 6 dB each, for quiet rooms)
and saturated to the int16 range. The count of saturated samples feeds the clipping
quality flag. No allocation: callers pass preallocated buffers.
"""

import micropython


@micropython.viper
def i2s32_to_int16(src, dst, count: int, gain_bits: int) -> int:
    """Convert ``count`` 32-bit slots of ``src`` into int16 ``dst``; returns how many clipped."""
    # Each slot is read as two 16-bit halves: a ptr32 load is a signed word on the ESP32
    # but zero-extended on a 64-bit port, so the high half is sign-extended explicitly.
    s = ptr16(src)
    d = ptr16(dst)
    low_shift = 16 - gain_bits
    clipped = 0
    i = 0
    while i < count:
        hi = ((s[2 * i + 1] & 0xFFFF) ^ 0x8000) - 0x8000
        v = (hi << gain_bits) | (s[2 * i] >> low_shift)
        if v > 32767:
            v = 32767
            clipped += 1
        elif v < -32768:
            v = -32768
            clipped += 1
        d[i] = v
        i += 1
    return clipped
