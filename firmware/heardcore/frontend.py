"""Front end, integer only: high-pass, emphasis, frame level and sign bits, per channel.

Each channel goes through two one-pole high-pass stages ``y = y - y/2**k + (x - x_prev)``
(k = ``highpass_shift``; k=4 puts the corner near 160 Hz, so DC and HVAC rumble drop out)
with state kept in Q4 so the leak does not leave an offset. The frame level is taken after a
first difference ``e = y - y_prev`` (+6 dB per octave: it flattens speech's spectrum and
pushes down what is left of rumble and music bass, so quiet talk stands further above the
room): ``20*log10(mean |e|)`` in dB Q8 (1/256 dB, 0 dB = a mean of one LSB, floored at
0 dB). The sign of each ``y`` sample (not ``e``: the correlation is better on the plain
band) goes to a byte buffer for the cross-correlation; the count of full-scale input
samples (clipping) and of sign changes of ``y`` (zero crossings, for the VAD's steady-tone
test) go to the state.

Worst case (full-scale square wave, steps, DC): |x - x_prev| <= 65535, so the Q4 stages stay
below 2**22, one step of ``y`` changes it by less than 2**22 and the sum of |e| over a
160-sample frame stays below 2**30 (a small int: no allocation).
"""

import array

import micropython
from micropython import const

from heardcore.fixedmath import log2_q8

# Per channel: previous input, previous stage-1 output (Q4), stage-2 output (Q4) (the
# emphasis's previous sample too), and the numbers of full-scale (clipped) input samples
# and of zero crossings in the last frame.
STATE_WORDS = const(5)
CROSSINGS = const(4)


def config(channels, n, shift):
    """The front end's settings as an int32 array for ``highpass_frame``: channels
    interleaved in the input, samples per channel per frame, ``highpass_shift``."""
    return array.array("i", [channels, n, shift])


@micropython.viper
def highpass_frame(pcm, ch: int, state, signs, cfg) -> int:
    """Filter one frame of channel ``ch`` of interleaved int16 ``pcm``; returns sum |e| (Q4).

    ``state`` is an int32 array with STATE_WORDS words per channel; ``signs[i]`` gets 1 where
    ``y`` is >= 0, else 0; ``cfg`` comes from ``config``.
    """
    p = ptr16(pcm)
    st = ptr32(state)
    h = ptr16(state)  # signed 32-bit loads, portable: see load32 in docs/RUNTIME.md
    sg = ptr8(signs)
    c = ptr32(cfg)
    nch = c[0]
    n = c[1]
    shift = c[2]
    base = ch * STATE_WORDS
    w = 2 * base
    x_prev = (((h[w + 1] ^ 0x8000) - 0x8000) << 16) | h[w]
    ya = (((h[w + 3] ^ 0x8000) - 0x8000) << 16) | h[w + 2]
    yb = (((h[w + 5] ^ 0x8000) - 0x8000) << 16) | h[w + 4]
    total = 0
    # The leak is rounded to nearest: a floor (plain shift) would leave a +0.5 LSB offset.
    half = (1 << shift) >> 1
    j = ch
    i = 0
    clipped = 0
    crossings = 0
    positive = 1 if yb >= 0 else 0
    while i < n:
        x = ((p[j] & 0xFFFF) ^ 0x8000) - 0x8000
        if x > 32766 or x < -32767:
            clipped += 1
        ya_prev = ya
        ya = ya - ((ya + half) >> shift) + ((x - x_prev) << 4)
        yb_prev = yb
        yb = yb - ((yb + half) >> shift) + (ya - ya_prev)
        e = yb - yb_prev
        x_prev = x
        if e >= 0:
            total += e
        else:
            total -= e
        if yb >= 0:
            sg[i] = 1
            crossings += 1 - positive
            positive = 1
        else:
            sg[i] = 0
            crossings += positive
            positive = 0
        j += nch
        i += 1
    st[base] = x_prev
    st[base + 1] = ya
    st[base + 2] = yb
    st[base + 3] = clipped
    st[base + 4] = crossings
    return total


def level_norm(n):
    """log2(16 n) in Q8: the Q4 sum of |e| over ``n`` samples whose mean is one LSB."""
    return log2_q8(16 * n)


@micropython.viper
def level_db_q8(abs_sum_q4: int, norm: int) -> int:
    """Frame level in dB Q8 from the Q4 sum of |e|: 20*log10(sum / (16 n)), floored at 0."""
    level = ((int(log2_q8(abs_sum_q4)) - norm) * 1541) >> 8  # 20*log10(2) = 1541/256
    return level if level > 0 else 0

