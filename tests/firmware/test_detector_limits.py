"""The detector's limits (runs on CPython in strict 32-bit mode and on MicroPython): no 32-bit
overflow on worst-case input, no heap allocation per frame, clipping counted."""

import array
import gc

import micropython
from detector_signals import (
    EVENTFUL,
    ON_MICROPYTHON,
    SCHEDULE,
    Counter,
    N,
    bursts,
    constant_frames,
    run,
    takes_heap,
)

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


def test_frame_path_does_not_allocate():
    sink = Counter()
    det = Detector(Params(), 2, sink)
    for frame in bursts(2, SCHEDULE):  # generated outside the lock, analysed inside it
        micropython.heap_lock()
        try:
            det.process(frame)
        finally:
            micropython.heap_unlock()
    assert sink.events >= 4


def test_mono_frame_path_does_not_allocate():
    # Frames wait for their spurt to be judged, then pass through the turn layer: no heap.
    sink = Counter()
    det = Detector(Params(), 1, sink)
    for frame in bursts(1, SCHEDULE):
        micropython.heap_lock()
        try:
            det.process(frame)
        finally:
            micropython.heap_unlock()
    det.finish()
    assert sink.events >= 4


def _frames_taking_heap(channels, params=None):
    """Frames of an eventful conversation that take any heap block: turns, a backchannel,
    an interruption without a pause (two mics) and the conversation's end."""
    sink = Counter()
    det = Detector(params or Params(), channels, sink)
    taking = 0
    for frame in bursts(channels, EVENTFUL):
        if takes_heap(det.process, frame):
            taking += 1
    return taking, sink.kinds


def _wide_frame(x):
    # Twelve locals and a value stack: more than 11 words, so a heap frame on every call.
    a = x + 1
    b = a + 1
    c = b + 1
    d = c + 1
    e = d + 1
    f = e + 1
    g = f + 1
    h = g + 1
    i = h + 1
    j = i + 1
    return a + b + c + d + e + f + g + h + i + j


def _narrow_frame(x):
    return x + 1


# heap_lock hides a call frame put on the heap (MicroPython then falls back to the C stack),
# so these watch every frame for any heap block at all. CPython has no such frames; the
# unix-port run of this module checks them.
def test_the_heap_watch_sees_a_call_frame_taken_from_the_heap():
    if not ON_MICROPYTHON:
        return
    assert takes_heap(_wide_frame, 1)
    assert not takes_heap(_narrow_frame, 1)


def test_no_stereo_frame_takes_a_heap_frame():
    if not ON_MICROPYTHON:
        return
    taking, (segments, backchannels, interruptions, conversations, _) = _frames_taking_heap(2)
    assert taking == 0
    assert segments >= 4 and backchannels >= 1 and interruptions >= 1 and conversations == 1


def test_no_mono_frame_takes_a_heap_frame():
    if not ON_MICROPYTHON:
        return
    taking, (segments, _, _, conversations, judged) = _frames_taking_heap(1)
    assert taking == 0
    assert segments >= 2 and conversations == 1
    # Spurts longer than mono_spurt_max_ms are judged when full and go on as that party's.
    taking, (_, _, _, _, judged_full) = _frames_taking_heap(1, Params({"mono_spurt_max_ms": 500}))
    assert taking == 0
    assert judged_full > judged


def test_clipping_is_counted_and_flags_the_conversation():
    from heardcore.events import FLAG_CLIPPING
    from heardcore.frontend import STATE_WORDS, config, highpass_frame

    frame = array.array("h", [32767, -32768, 0, 32766, -32767, -32768])
    state = array.array("i", [0] * STATE_WORDS)
    highpass_frame(frame, 0, state, bytearray(6), config(1, 6, 4))
    assert state[3] == 3
    stereo = array.array("i", [0] * (2 * STATE_WORDS))
    # channel 1: -32768, 32766, -32768
    highpass_frame(frame, 1, stereo, bytearray(3), config(2, 3, 4))
    assert stereo[STATE_WORDS + 3] == 2 and stereo[3] == 0

    def clipping_bursts():
        for f, frame in enumerate(bursts(2, SCHEDULE)):
            if 240 <= f < 245:  # inside the customer's first burst, before it is reported
                frame[1] = 32767
                frame[3] = -32768
            yield frame

    flags = []

    class Flags(Sink):
        def conversation(self, conv):
            flags.append((conv.flags & FLAG_CLIPPING, conv.clipped_samples))

    run(clipping_bursts(), 2, sink=Flags())
    assert flags == [(FLAG_CLIPPING, 10)]
