"""I2S slot conversion and channel split (runs on CPython and MicroPython)."""

import array

import micropython

from heardcore.pcm import i2s32_to_int16


def _slots(values):
    return array.array("i", values)


def test_top_16_bits_without_gain():
    src = _slots([0x12345600, -0x12345600, 0x7FFFFF00, -0x80000000, 0, 0xFF00])
    dst = array.array("h", [0] * 6)
    clipped = i2s32_to_int16(src, dst, 6, 0)
    assert list(dst) == [0x1234, -0x1235, 0x7FFF, -0x8000, 0, 0]
    assert clipped == 0


def test_gain_shifts_and_saturates():
    src = _slots([0x00100000, -0x00100000, 0x10000000, -0x10000000])
    dst = array.array("h", [0] * 4)
    clipped = i2s32_to_int16(src, dst, 4, 4)  # +24 dB
    assert list(dst) == [0x100, -0x100, 32767, -32768]
    assert clipped == 2


def test_count_limits_the_conversion():
    src = _slots([0x10000, 0x20000, 0x30000])
    dst = array.array("h", [7, 7, 7])
    i2s32_to_int16(src, dst, 2, 0)
    assert list(dst) == [1, 2, 7]


def test_kernels_do_not_allocate():
    src = _slots([0x40000000, -0x7FFF0000] * 80)
    dst = array.array("h", [0] * 160)
    micropython.heap_lock()
    try:
        clipped = i2s32_to_int16(src, dst, 160, 2)
    finally:
        micropython.heap_unlock()
    assert clipped == 160
    assert dst[1] == -32768
