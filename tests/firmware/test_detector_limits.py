"""The detector's limits (runs on CPython in strict 32-bit mode and on MicroPython): no heap
allocation per frame, clipping counted. No 32-bit overflow on worst-case input:
test_detector_overflow.py (a module of its own, so that each fits the unix port's 64 KiB
heap with the test code loaded)."""

import array

import micropython
from detector_signals import (
    EVENTFUL,
    ON_MICROPYTHON,
    SCHEDULE,
    Counter,
    bursts,
    run,
    takes_heap,
)

from heardcore.detector import Detector
from heardcore.events import Sink
from heardcore.params import Params


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
