"""The detector on synthetic signals (runs on CPython in strict 32-bit mode and on MicroPython).

Signals are built sample by sample from a small LCG so both runtimes see the same input.
"""

import array

import micropython

# The detector imports heardcore.monospurt for mono only; it is compiled here while the
# 64 KiB heap is fresh, as a device loads its modules at boot.
import heardcore.monospurt  # noqa: F401
from heardcore.detector import Detector
from heardcore.events import CUSTOMER, EMPLOYEE, Sink
from heardcore.params import ConfigError, Params

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

    def segment(self, party, start_ms, end_ms):
        self.events += 1

    def conversation(self, conv):
        self.events += 1


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


def test_silence_is_not_speech():
    sink, det = run(constant_frames(300, 2, lambda f, i: 0), 2)
    assert sink.segments == [] and sink.conversations == []
    assert det.speech_frames == 0


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
            sink, det = run(constant_frames(60, channels, value_of), channels)
            state = det.frame_state()
            assert 0 <= state[0] < 100 * 256  # levels stay in a sane dB range
            assert det.frames == 60


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


def test_stereo_bursts_are_attributed_to_the_right_party():
    sink, _ = run(bursts(2, SCHEDULE), 2)
    parties = [s[0] for s in sink.segments]
    assert parties == [EMPLOYEE, CUSTOMER, EMPLOYEE, CUSTOMER], sink.segments
    for (_, start, end), (first, last, _) in zip(sink.segments, SCHEDULE):  # noqa: B905
        assert abs(start - first * 10) <= 60 and abs(end - last * 10) <= 150, (start, end)
    assert len(sink.conversations) == 1
    start, end, emp, cus, turns = sink.conversations[0]
    assert turns == 4 and emp > 1200 and cus > 1500
    assert abs(start - 1000) <= 60


def test_employee_alone_is_not_a_conversation():
    sink, _ = run(bursts(2, [(100, 200, EMPLOYEE), (260, 300, EMPLOYEE)]), 2)
    assert sink.conversations == []
    assert len(sink.solo) == 1 and sink.solo[0][2] > 1000


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


def test_mono_segments_are_one_party_at_a_time_in_time_order():
    # Noise bursts end abruptly whoever they stand for, so the parties are not asserted
    # here (tests/firmware/test_monospurt.py is about the cue): only that the delayed
    # frames reach the turn layer in order, one party per spurt, and cover every burst.
    sink, det = run(bursts(1, SCHEDULE), 1)
    segments = sink.segments
    assert segments and det.mono.pending_from() == -1
    for before, after in zip(segments, segments[1:]):  # noqa: B905
        assert before[2] <= after[1], segments  # no overlap: never both parties
    for first, last, _ in SCHEDULE:
        assert any(s[1] <= first * 10 + 60 and s[2] >= last * 10 - 150 for s in segments)


def test_params_reject_bad_values_by_name():
    for overrides, field in (
        ({"no_such": 1}, "no_such"),
        ({"vad_on_db10": "9"}, "vad_on_db10"),
        ({"vad_on_db10": 9.5}, "vad_on_db10"),
        ({"turn_bridge_ms": -1}, "turn_bridge_ms"),
        ({"vad_on_db10": 40, "vad_off_db10": 50}, "vad_off_db10"),
    ):
        try:
            Params(overrides)
        except ConfigError as exc:
            assert exc.field == field and field in str(exc)
        else:
            raise AssertionError("accepted {}".format(overrides))
    params = Params({"vad_on_db10": 100})
    assert params.vad_on_db10 == 100 and params.vad_off_db10 == 50


def test_clipping_is_counted_and_flags_the_conversation():
    from heardcore.events import FLAG_CLIPPING
    from heardcore.frontend import STATE_WORDS, highpass_frame

    frame = array.array("h", [32767, -32768, 0, 32766, -32767, -32768])
    state = array.array("i", [0] * STATE_WORDS)
    highpass_frame(frame, 1, 0, 6, state, 4, bytearray(6))
    assert state[3] == 3
    stereo = array.array("i", [0] * (2 * STATE_WORDS))
    highpass_frame(frame, 2, 1, 3, stereo, 4, bytearray(3))  # channel 1: -32768, 32766, -32768
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
