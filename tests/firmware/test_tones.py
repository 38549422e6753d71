"""Steady tones (a scanner's beeps) are no talk (CPython and MicroPython; a module of its
own, so that each fits the unix port's 64 KiB heap with its test code)."""

import gc

from detector_signals import constant_frames, run

from heardcore.params import Params


def _beeps(channels, every, offset=0, only=-1):
    """A scanner beeping 2 kHz for 150 ms every ``every`` frames, from 0.6 s on, in
    silence, starting ``offset`` samples into a frame; on channel ``only`` alone if given."""
    def value_of(f, i):
        t = 160 * f + i // channels - offset
        if t < 9600 or (t // 160) % every >= 15 or only not in (-1, i % channels):
            return 0
        return 8000 if (t // 4) % 2 else -8000
    return constant_frames(600, channels, value_of)


def test_scanner_beeps_are_not_talk():
    # Beeps 600 ms apart, and a fast scanner's 300 ms apart (closer than the turn bridge)
    # starting mid-frame.
    for channels in (1, 2):
        for every, offset, only in ((60, 0, -1), (30, 70, -1), (30, 70, channels - 1)):
            gc.collect()  # the last detector goes before the next one is placed
            sink = run(_beeps(channels, every, offset, only), channels)[0]
            assert sink.segments == [] and sink.conversations == [], sink.segments
        # Without the steady-tone test the nine beeps are talk (bridged into one turn).
        sink = run(_beeps(channels, 60), channels, Params({"tone_ms": 0}))[0]
        assert sum(end - start for _, start, end in sink.segments) >= 9 * 150, sink.segments
