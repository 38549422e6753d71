"""Stereo attribution's learnt level centres (runs on CPython in strict 32-bit mode and on
MicroPython; a module of its own, without the other detector tests, so it fits the unix
port's 64 KiB test heap)."""

import array

from detector_signals import N, Noise, run

from heardcore.events import CUSTOMER, EMPLOYEE
from heardcore.params import Params

# (first frame, last frame, party); mic 1 is 18 dB deaf to talk, so the employee is 30 dB
# and the customer 6 dB louder on mic 0: (right shift on mic 0, right shift on mic 1).
SCHEDULE = ((100, 180, EMPLOYEE), (220, 330, CUSTOMER), (370, 450, EMPLOYEE),
            (490, 560, CUSTOMER))
SHIFTS = ((3, 8), (5, 6))


def frames():
    noise = Noise(1)
    frame = array.array("h", bytes(4 * N))
    for f in range(SCHEDULE[-1][1] + 120):
        who = -1
        for first, last, party in SCHEDULE:
            if first <= f < last:
                who = party
        for i in range(N):
            s = noise.next()
            if who < 0:  # quiet room
                frame[2 * i] = s >> 11
                frame[2 * i + 1] = (s >> 11) ^ 1
            else:
                frame[2 * i] = s >> SHIFTS[who][0]
                frame[2 * i + 1] = s >> SHIFTS[who][1]
        yield frame


def parties(adapt):
    params = Params()
    # Level alone decides: arrival time off (the two channels are not delayed copies anyway).
    params.update({"tdoa_weight_permille": 0, "level_adapt_shift": adapt})
    sink, _ = run(frames(), 2, params)
    return [s[0] for s in sink.segments]


def test_a_fixed_midpoint_gives_a_deaf_mic_pair_to_one_party():
    assert parties(0) == [EMPLOYEE]


def test_learnt_level_centres_absorb_the_gain_mismatch():
    assert parties(6) == [EMPLOYEE, CUSTOMER, EMPLOYEE, CUSTOMER]
