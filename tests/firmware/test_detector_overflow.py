"""No 32-bit overflow in the detector on worst-case input (runs on CPython in strict 32-bit
mode, where any overflow raises, and on MicroPython)."""

import array
import gc

from detector_signals import N, constant_frames, run

from heardcore.detector import Detector
from heardcore.events import Sink
from heardcore.params import Params


def test_worst_case_inputs_do_not_overflow():
    # Full-scale square waves (Nyquist and 50 Hz), clipping, DC offsets, extremes alternating
    # between channels: in strict mode on CPython any 32-bit overflow raises.
    cases = (
        lambda f, i: 32767 if (i // 2) % 2 else -32768,
        lambda f, i: 32767 if (f * N + i // 2) % 320 < 160 else -32768,
        lambda f, i: 32767,
        lambda f, i: -32768 if i % 2 else 32767,
        lambda f, i: 32767 if f % 7 == 0 else 0,
    )
    for value_of in cases:
        for channels in (1, 2):
            sink = det = None
            gc.collect()  # the last detector's buffers go before the next one's are placed
            sink, det = run(constant_frames(60, channels, value_of), channels)
            state = det.frame_state()
            assert 0 <= state[0] < 100 * 256  # levels stay in a sane dB range
            assert det.frames == 60


def test_largest_level_difference_does_not_overflow():
    # Full-scale bursts on one channel and silence on the other, at the default level unit,
    # the 1 dB unit heard calibrate stores, and the strongest level cue the parameters allow:
    # the level cue's evidence grows with its weight and stays within 32 bits. The square
    # wave's period changes every frame (8, 10, 12 samples): a steady one is a tone, not talk.
    def loud_on(channel):
        return lambda f, i: 0 if i % 2 != channel or (f // 30) % 2 == 0 else \
            (32767 if (i // (8 + 2 * (f % 3))) % 2 else -32768)

    most = []
    for level in ({}, {"level_unit_db10": 10},
                  {"level_unit_db10": 5, "level_weight_permille": 4000,
                   "level_mid_db10": -200}):
        for channel in (0, 1):
            det = None  # the last detector goes before the next one is placed
            gc.collect()
            det = Detector(Params(level), 2, Sink())
            strongest = talk = 0
            parties = [0, 0]
            for frame in constant_frames(120, 2, loud_on(channel)):
                det.process(frame)
                state = det.frame_state()
                strongest = max(strongest, abs(state[8]))  # evidence
                parties[0] += state[9]  # employee
                parties[1] += state[10]  # customer
                talk += state[4] or state[5]
            assert talk > 40 and parties[channel] > 40 and parties[1 - channel] == 0
            most.append(strongest)
    assert most[0] < most[2] < most[4] and most[1] < most[3] < most[5]


def test_frame_level_sum_stays_a_small_int():
    # highpass_frame returns the frame's sum of |e|; at or above 2**30 it would no longer be a
    # small int, and returning it would allocate. Worst cases at every allowed highpass_shift.
    from heardcore.frontend import STATE_WORDS, config, highpass_frame

    patterns = (
        lambda t: 32767 if t % 2 else -32768,  # Nyquist
        lambda t: 32767 if (t // 8) % 2 else -32768,  # 1 kHz square
        lambda t: 32767 if (t // 80) % 2 else -32768,  # a full-scale step every 80 samples
    )
    most = 0
    for shift in range(2, 7):
        for pattern in patterns:
            state = array.array("i", [0] * STATE_WORDS)
            signs = bytearray(N)
            for f in range(20):
                frame = array.array("h", [pattern(f * N + i) for i in range(N)])
                total = highpass_frame(frame, 0, state, signs, config(1, N, shift))
                assert 0 <= total < 1 << 30, (shift, total)
                most = max(most, total)
    assert most > 1 << 27  # the Nyquist square drives it within a factor of 8 of the limit
