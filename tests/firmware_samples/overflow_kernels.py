"""Viper kernels whose results depend on the machine word size (test material)."""

import micropython


@micropython.viper
def mul(a: int, b: int) -> int:
    return a * b


@micropython.viper
def sum_of_squares(buf, n: int) -> int:
    p = ptr16(buf)
    acc = 0
    for i in range(n):
        v = ((p[i] & 0xFFFF) ^ 0x8000) - 0x8000
        acc += v * v
    return acc


@micropython.viper
def raw_load16(buf, i: int) -> int:
    return ptr16(buf)[i]


@micropython.viper
def raw_load32(buf, i: int) -> int:
    return ptr32(buf)[i]


@micropython.viper
def add_in_place(buf, i: int, v: int):
    p = ptr16(buf)
    p[i] += v


@micropython.viper
def negate(a: int) -> int:
    return -a
