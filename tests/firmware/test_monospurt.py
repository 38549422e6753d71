"""Mono attribution per talk spurt (heardcore.monospurt) on scripted frame levels.

Runs on CPython and on the MicroPython unix port. A word is 8 frames at 60 dB and two
frames that fall, steeply for a near talker, slowly for a far one (reverberation).
"""

import array

import micropython

from heardcore.events import CUSTOMER, EMPLOYEE, Sink
from heardcore.monospurt import MonoSpurts
from heardcore.params import Params

DB = 256  # dB Q8
NEAR_FALL = (50 * DB, 40 * DB)
FAR_FALL = (57 * DB, 54 * DB)


class Turns:
    """Stands in for the turn layer: checks the times and records who it is handed, one
    byte per frame (1: employee, 2: customer, 3: both), compact for a 64 KiB heap."""

    def __init__(self):
        self.who = bytearray()
        self.in_order = True

    def update(self, now, employee, customer):
        self.in_order = self.in_order and now == 10 * (len(self.who) + 1)
        self.who.append(employee + 2 * customer)


class Frames:
    """(level, talk) per frame, kept as an int array and a byte array."""

    def __init__(self):
        self.levels = array.array("i")
        self.talk = bytearray()

    def add(self, level, talk, count=1):
        for _ in range(count):
            self.levels.append(level)
            self.talk.append(talk)
        return self

    def __len__(self):
        return len(self.talk)


class Spans(Sink):
    def __init__(self):
        self.spans = []

    def attributed(self, party, first_frame, frames):
        self.spans.append((party, first_frame, frames))


def spurt(frames, words, fall, louder=0):
    """Append ``words`` words, then a 30-frame pause at 30 dB."""
    for _ in range(words):
        frames.add(60 * DB + louder, 1, 8).add(fall[0] + louder, 1).add(fall[1] + louder, 1)
    return frames.add(30 * DB, 0, 30)


def feed(frames, params=None):
    turns, sink = Turns(), Spans()
    mono = MonoSpurts(params or Params(), turns, sink)
    for index in range(len(frames)):
        mono.frame(index, frames.levels[index], frames.talk[index])
    mono.finish(len(frames))
    return turns, sink, mono


def assert_every_frame_once_in_order(turns, frames):
    assert turns.in_order and len(turns.who) == len(frames)
    for i in range(len(frames)):
        assert (turns.who[i] != 0) == (frames.talk[i] != 0) and turns.who[i] != 3, i


def test_the_steeper_falling_spurts_are_the_employee():
    frames = Frames()
    for i in range(6):
        spurt(frames, 3, NEAR_FALL if i % 2 == 0 else FAR_FALL)
    turns, sink, _ = feed(frames)
    assert [span[0] for span in sink.spans] == [EMPLOYEE, CUSTOMER] * 3
    assert_every_frame_once_in_order(turns, frames)
    # A spurt's talk frames all go to its party.
    assert bytes(turns.who[0:30]) == b"\x01" * 30
    assert bytes(turns.who[60:90]) == b"\x02" * 30


def test_the_cue_is_the_fall_not_the_loudness():
    # The far talker 10 dB louder than the near one: still the customer.
    frames = Frames()
    for _ in range(2):
        spurt(frames, 3, NEAR_FALL)
        spurt(frames, 3, FAR_FALL, louder=10 * DB)
    _, sink, _ = feed(frames)
    assert [span[0] for span in sink.spans] == [EMPLOYEE, CUSTOMER, EMPLOYEE, CUSTOMER]


def test_frames_wait_until_their_spurt_is_judged():
    turns, sink = Turns(), Spans()
    mono = MonoSpurts(Params(), turns, sink)
    frames = spurt(Frames(), 2, NEAR_FALL)
    for index in range(len(frames)):
        mono.frame(index, frames.levels[index], frames.talk[index])
        if index == 19:
            assert len(turns.who) == 0 and mono.pending_from() == 0
    # Judged once the pause exceeded mono_spurt_gap_ms (20 frames), then silence flows on.
    assert sink.spans == [(EMPLOYEE, 0, 41)]
    assert len(turns.who) == len(frames) and mono.pending_from() == -1


def test_a_long_spurt_is_judged_at_the_maximum_and_keeps_its_party():
    params = Params({"mono_spurt_max_ms": 500})
    frames = spurt(Frames(), 12, NEAR_FALL)  # 120 talk frames
    turns, sink, _ = feed(frames, params)
    # Judged at 50 frames; the sink also hears of the frames after that, to the spurt's end
    # (the quiet frame that ends it, 21 frames after its last speech, is not included).
    assert sink.spans == [(EMPLOYEE, 0, 50), (EMPLOYEE, 50, 90)]
    assert_every_frame_once_in_order(turns, frames)
    assert bytes(turns.who[:120]) == b"\x01" * 120


def test_short_spurts_are_judged_but_not_remembered():
    frames = spurt(Frames(), 3, NEAR_FALL).add(60 * DB, 1, 5).add(30 * DB, 0, 30)
    turns, sink, mono = feed(frames)
    assert len(sink.spans) == 2 and mono.history_count == 1
    assert_every_frame_once_in_order(turns, frames)


def test_end_of_input_passes_on_the_waiting_spurt():
    frames = Frames().add(60 * DB, 1, 40)
    turns, sink, _ = feed(frames)
    assert sink.spans == [(EMPLOYEE, 0, 40)]
    assert_every_frame_once_in_order(turns, frames)


class Quiet:
    """A turn layer stand-in that does not allocate."""

    def __init__(self):
        self.talk = 0

    def update(self, now, employee, customer):
        self.talk += employee + customer


def test_judging_and_passing_on_do_not_allocate():
    frames = Frames()
    for i in range(20):  # more spurts than the history holds
        spurt(frames, 2, NEAR_FALL if i % 2 == 0 else FAR_FALL)
    turns = Quiet()
    mono = MonoSpurts(Params(), turns, Sink())
    levels, talks = frames.levels, frames.talk
    for index in range(len(frames)):
        level, talk = levels[index], talks[index]
        micropython.heap_lock()
        try:
            mono.frame(index, level, talk)
        finally:
            micropython.heap_unlock()
    assert turns.talk == 20 * 20
