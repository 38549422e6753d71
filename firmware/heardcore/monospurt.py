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

from micropython import const

from heardcore.events import CUSTOMER, EMPLOYEE

_NONE = const(-1)
_TAIL = const(2)  # frames past the last speech frame whose fall still counts (L[t-2])


class MonoSpurts:
    """Per-spurt attribution of mono talk frames, passed on to ``turns`` when judged."""

    def __init__(self, params, turns, sink):
        self.turns = turns
        self.sink = sink
        self.frame_ms = params.frame_ms
        self.gap = params.mono_spurt_gap_ms // params.frame_ms
        self.max_frames = params.mono_spurt_max_ms // params.frame_ms
        self.min_frames = params.mono_spurt_min_ms // params.frame_ms
        self.floor = params.mono_fall_floor_db10 * 256 // 10
        self.bits = bytearray(self.max_frames + self.gap + 1)
        size = params.mono_history
        self.history = array.array("i", [0] * size)
        self.scratch = array.array("i", [0] * (size + 1))
        self.history_count = 0
        self.history_next = 0
        self.prev1 = self.prev2 = _NONE  # levels of the last two frames, dB Q8
        self.first = 0  # frame index of the first pending frame
        self.pending = 0  # frames waiting
        self.last_talk = 0  # offset of the last speech frame among them
        self.talk_frames = 0
        self.fall_sum = self.fall_frames = 0  # up to the frame being judged
        self.fall_end = self.frames_end = 0  # up to _TAIL frames past the last speech
        self.sticky = _NONE  # party of a spurt judged at its maximum length, still going

    def frame(self, index, level, talk):
        """Frame ``index`` (0-based) with level ``level`` (dB Q8); ``talk``: near speech."""
        drop = 0
        if self.prev2 != _NONE:
            drop = self.prev2 - level - self.floor
            if drop < 0:
                drop = 0
        self.prev2 = self.prev1
        self.prev1 = level
        now = (index + 1) * self.frame_ms
        if self.sticky != _NONE:
            if talk:
                self.last_talk = index
                self._pass(now, self.sticky)
                return
            if index - self.last_talk > self.gap:
                self.sticky = _NONE
            else:
                self.turns.update(now, 0, 0)
                return
        if not self.pending:
            if not talk:
                self.turns.update(now, 0, 0)
                return
            self.first = index
            self.last_talk = 0
            self.talk_frames = 0
            self.fall_sum = self.fall_frames = 0
        k = self.pending
        self.bits[k] = 1 if talk else 0
        self.pending = k + 1
        self.fall_sum += drop
        self.fall_frames += 1
        if talk:
            self.last_talk = k
            self.talk_frames += 1
        if k - self.last_talk <= _TAIL:
            self.fall_end = self.fall_sum
            self.frames_end = self.fall_frames
        if self.pending >= self.max_frames:
            party = self._judge()
            last = self.first + self.last_talk
            self._release(party)
            self.sticky = party
            self.last_talk = last  # from here an absolute frame index
        elif k - self.last_talk > self.gap:
            self._release(self._judge())

    def _pass(self, now, party):
        if party == EMPLOYEE:
            self.turns.update(now, 1, 0)
        else:
            self.turns.update(now, 0, 1)

    def _judge(self):
        """The party of the pending spurt; remembers its score if it is long enough."""
        score = self.fall_end // self.frames_end
        hist = self.history
        size = len(hist)
        n = self.history_count
        work = self.scratch
        for i in range(n):
            work[i] = hist[i]
        work[n] = score
        # Insertion sort of at most mono_history + 1 values, in place: no allocation.
        for i in range(1, n + 1):
            v = work[i]
            j = i - 1
            while j >= 0 and work[j] > v:
                work[j + 1] = work[j]
                j -= 1
            work[j + 1] = v
        median = work[(n + 1) // 2]
        if self.talk_frames >= self.min_frames:
            hist[self.history_next] = score
            self.history_next = (self.history_next + 1) % size
            if n < size:
                self.history_count = n + 1
        return EMPLOYEE if score >= median else CUSTOMER

    def _release(self, party):
        """Hand the pending frames to the turn layer with their times, in order."""
        first = self.first
        bits = self.bits
        for k in range(self.pending):
            now = (first + k + 1) * self.frame_ms
            if bits[k]:
                self._pass(now, party)
            else:
                self.turns.update(now, 0, 0)
        self.sink.attributed(party, first, self.pending)
        self.pending = 0

    def finish(self):
        """End of input: judge and pass on the spurt still waiting."""
        if self.pending:
            self._release(self._judge())

    def pending_from(self):
        """Index of the first frame not yet passed on, or -1."""
        return self.first if self.pending else _NONE
