"""Mono attribution: one party per talk spurt, decided when the spurt ends.

With one microphone the only geometric cue is how near each party is. Loudness does not
tell them apart (voices differ in level as much as the distances do), but reverberation
does: the nearer employee's sound reaches the mic mostly direct, so the level falls
steeply when a word ends, while the customer's words trail off into the room. Per frame
that cue is noise; over a spurt it is steady.

A spurt is a run of near speech frames whose pauses are at most ``mono_spurt_gap_ms``. Its
fall score is the mean over its frames (up to two frames past its last speech frame) of
``max(L[t-2] - L[t] - mono_fall_floor, 0)``, the level drop over 20 ms beyond a floor, in
dB Q8. The spurt is the employee's when its score is at least the median of the scores of
the last ``mono_history`` spurts (itself included; spurts shorter than
``mono_spurt_min_ms`` are judged but not remembered): in a conversation both parties take
turns, so the steeper half is the nearer party. A spurt reaching ``mono_spurt_max_ms`` is
judged then and keeps its party until it ends.

Frames wait in a preallocated buffer until their spurt is judged, then go to the turn layer
in order with their times, so everything downstream sees one party per spurt. Only activity
bits are kept, never audio.
"""

import array

import micropython
from micropython import const

from heardcore.events import CUSTOMER, EMPLOYEE

_NONE = const(-1)
_TAIL = const(2)  # frames past the last speech frame whose fall still counts (L[t-2])

# Per-frame state (int32 words, all >= 0 so a ptr32 load reads the same on every port).
_PREV1 = const(0)  # level of the last frame + 1, dB Q8 (0: none yet)
_PREV2 = const(1)  # level of the frame before + 1
_PENDING = const(2)  # frames waiting
_LAST_TALK = const(3)  # offset of the last speech frame among them
_TALK_FRAMES = const(4)
_FALL_SUM = const(5)  # sum of the pending frames' drops
_FALL_END = const(6)  # that sum up to _TAIL frames past the last speech frame
_FRAMES_END = const(7)  # and its frame count
# Settings, in the same array so that ``_step`` takes few arguments.
_FLOOR = const(8)  # mono_fall_floor_db10, dB Q8
_GAP = const(9)  # mono_spurt_gap_ms in frames
_MOST = const(10)  # mono_spurt_max_ms in frames
_WORDS = const(11)
# What ``_step`` found.
_QUIET = const(0)  # no spurt: pass the frame on as silence
_WAIT = const(1)  # the frame waits with its spurt
_START = const(2)  # a spurt starts with this frame (which waits)
_ENDED = const(3)  # the pause grew longer than the gap: judge the spurt
_FULL = const(4)  # the spurt reached its maximum length: judge it


@micropython.viper
def _step(state, bits, level: int, talk: int) -> int:
    st = ptr32(state)
    b = ptr8(bits)
    floor = st[8]  # _FLOOR
    gap = st[9]  # _GAP
    most = st[10]  # _MOST
    prev2 = st[1]
    st[1] = st[0]
    st[0] = level + 1
    k = st[2]
    if k == 0:
        if talk == 0:
            return 0  # _QUIET
        st[3] = 0
        st[4] = 0
        st[5] = 0
    drop = 0
    if prev2 > 0:
        drop = prev2 - 1 - level - floor
        if drop < 0:
            drop = 0
    b[k] = talk
    total = st[5] + drop
    st[5] = total
    if talk:
        st[3] = k
        st[4] = st[4] + 1
    quiet = k - st[3]  # frames since the last speech frame
    k += 1
    st[2] = k
    if quiet <= 2:  # _TAIL
        st[6] = total
        st[7] = k
    if k >= most:
        return 4  # _FULL
    if quiet > gap:
        return 3  # _ENDED
    return 2 if k == 1 else 1  # _START, _WAIT


def _sort(buf, n):
    """Insertion sort of ``buf[:n]`` in place (at most mono_history + 1 values)."""
    for i in range(1, n):
        v = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > v:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v


class MonoSpurts:
    """Per-spurt attribution of mono talk frames, passed on to ``turns`` when judged."""

    def __init__(self, params, turns, sink):
        self.turns = turns
        self.sink = sink
        self.frame_ms = params.frame_ms
        self.gap = params.mono_spurt_gap_ms // params.frame_ms
        self.max_frames = params.mono_spurt_max_ms // params.frame_ms
        self.min_frames = params.mono_spurt_min_ms // params.frame_ms
        self.bits = bytearray(self.max_frames)  # a spurt is judged when it fills this
        size = params.mono_history
        self.history = array.array("i", [0] * size)
        self.scratch = array.array("i", [0] * (size + 1))
        self.history_count = 0
        self.history_next = 0
        self.state = array.array("i", [0] * _WORDS)
        self.state[_FLOOR] = params.mono_fall_floor_db10 * 256 // 10
        self.state[_GAP] = self.gap
        self.state[_MOST] = self.max_frames
        self.first = 0  # frame index of the first pending frame
        self.sticky = _NONE  # party of a spurt judged at its maximum length, still going
        self.sticky_from = 0  # its first frame after the judgement
        self.sticky_last = 0  # its last speech frame

    # The per-frame methods keep their locals and value stack within 11 words: MicroPython
    # takes a bigger bytecode call frame from the heap, on every call.
    def frame(self, index, level, talk):
        """Frame ``index`` (0-based) with level ``level`` (dB Q8); ``talk``: near speech."""
        if self.sticky != _NONE:
            self._sticky_frame(index, level, talk)
            return
        found = _step(self.state, self.bits, level, talk)
        if found == _QUIET:
            self.turns.update((index + 1) * self.frame_ms, 0, 0)
        elif found == _START:
            self.first = index
        elif found == _ENDED:
            self._release(self._judge())
        elif found == _FULL:
            self.sticky = self._judge()
            self._release(self.sticky)
            self.sticky_from = index + 1
            self.sticky_last = self.first + self.state[_LAST_TALK]

    def _sticky_frame(self, index, level, talk):
        """A frame after a spurt judged at its maximum length: the same party's while it
        goes on."""
        st = self.state
        st[_PREV2] = st[_PREV1]
        st[_PREV1] = level + 1
        now = (index + 1) * self.frame_ms
        if talk:
            self.sticky_last = index
            self.turns.update(now, 1 - self.sticky, self.sticky)  # EMPLOYEE 0, CUSTOMER 1
            return
        if index - self.sticky_last > self.gap:
            self._end_sticky(index)  # that spurt is over; this quiet frame is no spurt's
        self.turns.update(now, 0, 0)

    def _judge(self):
        """The party of the pending spurt; remembers its score if it is long enough."""
        st = self.state
        score = st[_FALL_END] // st[_FRAMES_END]
        median = self._median(score)
        if st[_TALK_FRAMES] >= self.min_frames:
            hist = self.history
            hist[self.history_next] = score
            self.history_next = (self.history_next + 1) % len(hist)
            if self.history_count < len(hist):
                self.history_count += 1
        return EMPLOYEE if score >= median else CUSTOMER

    def _median(self, value):
        """Median of the remembered scores and ``value``."""
        n = self.history_count
        work = self.scratch
        for i in range(n):
            work[i] = self.history[i]
        work[n] = value
        _sort(work, n + 1)
        return work[(n + 1) // 2]

    def _release(self, party):
        """Hand the pending frames to the turn layer with their times, in order."""
        self._pass_on(1 if party == CUSTOMER else 0)
        self.sink.attributed(party, self.first, self.state[_PENDING])
        self.state[_PENDING] = 0

    def _pass_on(self, customer):
        now = self.first * self.frame_ms
        for k in range(self.state[_PENDING]):
            now += self.frame_ms
            if self.bits[k]:
                self.turns.update(now, 1 - customer, customer)  # EMPLOYEE 0, CUSTOMER 1
            else:
                self.turns.update(now, 0, 0)

    def _end_sticky(self, index):
        """The long spurt ended before frame ``index``: tell the sink its later frames."""
        self.sink.attributed(self.sticky, self.sticky_from, index - self.sticky_from)
        self.sticky = _NONE

    def finish(self, frames):
        """End of input after ``frames`` frames: judge and pass on what still waits."""
        if self.state[_PENDING]:
            self._release(self._judge())
        elif self.sticky != _NONE:
            self._end_sticky(frames)

    def pending_from(self):
        """Index of the first frame not yet passed on, or -1."""
        return self.first if self.state[_PENDING] else _NONE
