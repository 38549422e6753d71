"""Holding frames back for a steady tone (heardcore.holdback) changes nothing else in the
detector: the turn layer's times, the rise levels and the frames flushed at the end are as
without the hold. On CPython in strict 32-bit mode only: under MicroPython's 64 KiB heap the
four detectors and the test's records do not fit with the test runner; the code is the same
on both."""

from __future__ import annotations

import gc
from collections.abc import Iterator

from firmware.detector_signals import EVENTFUL, Recorder, bursts, run

from heard.mpshim import viper_mode
from heardcore.events import CUSTOMER
from heardcore.params import Params


class _Events(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.events = []

    def interruption(self, by: int, time_ms: int) -> None:
        self.events.append(("interruption", by, time_ms))

    def backchannel(self, by: int, time_ms: int) -> None:
        self.events.append(("backchannel", by, time_ms))


def _first(frames: Iterator[object], count: int) -> Iterator[object]:
    for i, frame in enumerate(frames):
        if i == count:
            return
        yield frame


def test_holding_frames_back_changes_nothing_without_a_tone() -> None:
    # The turn layer gets each frame 40 ms late (heardcore.holdback): its times, the rise
    # levels (EVENTFUL's interruption needs the customer's rise) and the frames still held
    # at the end (cut inside the customer's last talk) must be as without the hold.
    for channels, count in ((2, 1620), (2, 650), (1, 650)):
        got: list[tuple[object, ...]] = []
        for params in (None, Params({"tone_ms": 0})):
            gc.collect()  # the last detector goes before the next one is placed
            with viper_mode("strict"):
                sink = run(_first(bursts(channels, EVENTFUL), count), channels, params,
                           _Events())[0]
            got.append((sink.segments, sink.events, sink.conversations, sink.solo))
        assert got[0] == got[1], (channels, count)
        assert len(got[0][0]) >= 3, (channels, count)
        if count == 1620:
            assert ("interruption", CUSTOMER, 5590) in got[0][1], got[0][1]
