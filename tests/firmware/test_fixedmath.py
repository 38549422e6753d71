"""Fixed-point log2 and dB against the math module (runs on CPython and MicroPython)."""

import math

from heardcore.fixedmath import LOG2_ONE, log2_q8


def _inputs():
    xs = list(range(1, 3000, 7))
    x = 3
    while x < 2147483647:
        xs.append(x)
        xs.append(x + 1)
        x = x * 3 // 2 + 1
    xs.append(2147483647)  # the largest positive 32-bit value
    return xs


def test_log2_exact_at_powers_of_two():
    for k in range(31):
        assert log2_q8(1 << k) == k * LOG2_ONE


def test_log2_within_a_hundredth_of_an_octave():
    for x in _inputs():
        got = log2_q8(x) / LOG2_ONE
        assert abs(got - math.log(x) / math.log(2)) < 0.01, x


def test_log2_is_monotonic():
    previous = -1
    for x in range(1, 70000, 3):
        value = log2_q8(x)
        assert value >= previous, x
        previous = value


def test_log2_of_zero_and_one_is_zero():
    assert log2_q8(0) == 0
    assert log2_q8(1) == 0


