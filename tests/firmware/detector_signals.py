"""Synthetic test signals and small sinks for the detector tests (not a test module).

Signals are built sample by sample from a small LCG so CPython and MicroPython see the same
input.
"""

import array
import gc

# The detector imports heardcore.monospurt for mono only; it is loaded first, while the
# 64 KiB heap is fresh, as a device loads its modules at boot.
import heardcore.monospurt  # noqa: F401
from heardcore.detector import Detector
from heardcore.events import CUSTOMER, EMPLOYEE, Sink
from heardcore.params import Params

N = 160  # samples per channel per frame


class Recorder(Sink):
    def __init__(self):
        self.segments = []
        self.conversations = []
        self.solo = []

    def segment(self, party, start_ms, end_ms):
        self.segments.append((party, start_ms, end_ms))

    def conversation(self, conv):
        self.conversations.append(
            (conv.start_ms, conv.end_ms, conv.talk_ms[0], conv.talk_ms[1], conv.turns)
        )

    def employee_only(self, start_ms, end_ms, talk_ms):
        self.solo.append((start_ms, end_ms, talk_ms))


class Counter(Sink):
    """Counts events without allocating (for the heap-lock test)."""

    def __init__(self):
        self.events = 0
        # segments, backchannels, interruptions, conversations, mono judgements
        self.kinds = bytearray(5)

    def segment(self, party, start_ms, end_ms):
        self.events += 1
        self.kinds[0] += 1

    def backchannel(self, by, time_ms):
        self.kinds[1] += 1

    def interruption(self, by, time_ms):
        self.kinds[2] += 1

    def conversation(self, conv):
        self.events += 1
        self.kinds[3] += 1

    def attributed(self, party, first_frame, frames):
        self.kinds[4] += 1


class Noise:
    def __init__(self, seed):
        self.state = seed

    def next(self):
        # 16-bit LCG output in -32768..32767, identical on every runtime.
        self.state = (self.state * 1103515245 + 12345) & 0x7FFFFFFF
        return ((self.state >> 8) & 0xFFFF) - 32768


def run(frames_of, channels, params=None, sink=None):
    sink = sink or Recorder()
    det = Detector(params or Params(), channels, sink)
    for frame in frames_of:
        det.process(frame)
    det.finish()
    return sink, det


def constant_frames(count, channels, value_of):
    frame = array.array("h", bytes(2 * N * channels))  # one buffer, refilled per frame
    for f in range(count):
        for i in range(N * channels):
            frame[i] = value_of(f, i)
        yield frame


def bursts(channels, schedule, seed=1):
    """Frames of noise bursts: schedule is a list of (first frame, last frame, party).

    The employee is 12 dB louder on channel 0 and reaches channel 1 eight samples later;
    the customer the other way round.
    """
    noise = Noise(seed)
    history = array.array("h", bytes(32))
    frame = array.array("h", bytes(2 * N * channels))
    total = schedule[-1][1] + 120
    for f in range(total):
        who = -1
        for first, last, party in schedule:
            if first <= f < last:
                who = party
        for i in range(N):
            if who < 0:  # room noise, independent at the two mics
                frame[channels * i] = noise.next() >> 11
                if channels == 2:
                    frame[2 * i + 1] = noise.next() >> 11
                continue
            s = noise.next() >> 3
            history[(f * N + i) % 16] = s
            late = history[(f * N + i - 8) % 16]
            if channels == 1:
                frame[i] = s if who != CUSTOMER else s >> 2
            elif who == CUSTOMER:
                frame[2 * i] = late >> 2
                frame[2 * i + 1] = s
            else:
                frame[2 * i] = s
                frame[2 * i + 1] = late >> 2
        yield frame


SCHEDULE = [(100, 180, EMPLOYEE), (220, 330, CUSTOMER), (370, 450, EMPLOYEE), (490, 560, CUSTOMER)]


# Clean turns, a 250 ms customer "mm-hmm" inside the employee's 2.2 s second turn, the
# customer taking over without a pause (their mic rises: an interruption on two mics), then
# 9 s of room noise: the conversation closes in a frame.
EVENTFUL = [(100, 180, EMPLOYEE), (220, 310, CUSTOMER), (360, 580, EMPLOYEE),
            (440, 465, CUSTOMER), (580, 720, CUSTOMER), (720, 1620, -1)]

ON_MICROPYTHON = hasattr(gc, "mem_alloc")


def _garbage():
    junk = [bytearray(64) for _ in range(8)]
    junk.clear()


def takes_heap(call, arg):
    """Whether ``call(arg)`` takes any block from the MicroPython heap, also one it frees
    before returning.

    A bytecode call whose frame needs more than 11 words gets it from the heap and frees it
    on return; under ``heap_lock`` it quietly falls back to the C stack, so the heap-lock
    tests cannot see it. Here the heap holds known garbage and the collection threshold is
    0, so any allocation first collects, and the garbage going shows it was made."""
    gc.collect()
    _garbage()
    before = gc.mem_alloc()
    gc.threshold(0)
    try:
        call(arg)
    finally:
        gc.threshold(-1)
    return gc.mem_alloc() != before
