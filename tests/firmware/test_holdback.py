"""The frames held back on their way to the turn layer for a steady tone
(heardcore.holdback), on their own (CPython and MicroPython). That the hold changes nothing
but tones in the detector: tests/test_holdback_timing.py."""

from heardcore.holdback import HoldBack


def _push_all(hold, frames):
    """Push (flags, a) frames; the frames that left, as (flags, a)."""
    out = []
    for flags, a in frames:
        if hold.push(flags, a, -a):
            assert hold.b == -hold.a
            out.append((hold.flags, hold.a))
    return out


def test_frames_leave_in_order_size_frames_late_and_the_rest_at_the_end():
    hold = HoldBack(3)
    assert _push_all(hold, [(1, 10), (0, 11), (2, 12)]) == []  # filling
    assert _push_all(hold, [(3, 13), (0, 14)]) == [(1, 10), (0, 11)]
    rest = []
    while hold.pop():
        rest.append((hold.flags, hold.a))
    assert rest == [(2, 12), (3, 13), (0, 14)] and not hold.pop()


def test_a_tone_takes_back_the_talk_of_its_start_but_not_talk_from_before():
    hold = HoldBack(3)
    _push_all(hold, [(0, 1), (0, 2), (0, 3), (0, 4)])  # quiet; (0, 1) has left
    _push_all(hold, [(1, 5), (1, 6), (1, 7)])  # a beep's start, taken for talk
    hold.silence()  # ... and then found to be a tone
    assert _push_all(hold, [(0, 8), (0, 9), (0, 10)]) == [(0, 5), (0, 6), (0, 7)]
    # Talk that ran a tone's length (size - 1 frames) just before the held frames stays:
    # the tone came within it. A frame of talk before them was the tone's own, found late.
    _push_all(hold, [(2, 11), (2, 12), (2, 13), (2, 14), (2, 15)])  # 2 have left
    hold.silence()
    assert _push_all(hold, [(0, 17)] * 3) == [(2, 13), (2, 14), (2, 15)]
    _push_all(hold, [(0, 0)] * 4 + [(1, 20)] * 4)  # a beep's first frame has left
    hold.silence()
    assert _push_all(hold, [(0, 0)] * 3) == [(0, 20)] * 3
