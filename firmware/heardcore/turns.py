"""Turn-taking: segments, interruptions and backchannels from per-frame activity.

Input per frame: whether the employee and the customer are heard (``update``). A party's
segment opens at its first active frame and closes when it has been silent for more than
``turn_bridge_ms`` (shorter pauses are bridged); segments shorter than ``min_speech_ms``
are dropped. An onset while the other party's segment is open is an overlap candidate:
- backchannel: the newcomer stops within ``backchannel_max_ms`` while the other party
  talks on (talks through it);
- interruption: the other party had been talking at least ``interrupt_prior_ms`` (it was
  mid-utterance, not a stray fragment), carried on at least ``interrupt_overlap_ms`` past
  the onset, and the newcomer keeps talking ``interrupt_hold_ms`` or outlasts the other.
  With two microphones the newcomer's own microphone must also have risen by
  ``interrupt_rise_db10`` or more just before the onset (``heardcore.rise``): a second
  voice joined. That rise also shows an overlap the frames do not: the detector gives each
  frame to one party, so a newcomer who talks over the other usually appears only when it
  dominates, in a seamless switch (the other was heard in the frame before). Such an
  onset with the rise counts as having overlapped if the newcomer then keeps talking
  ``interrupt_hold_ms``, and its segment is dated back by ``interrupt_overlap_ms``, to where
  that overlap began at the latest.
Closed segments reach the conversation tracker in onset order: a segment that closes while
the other party's earlier segment is still open waits in a small preallocated buffer.
Times are integer ms.
"""

import array

from micropython import const

from heardcore.events import CUSTOMER, EMPLOYEE
from heardcore.rise import rise

_KIND_TURN = const(0)
KIND_INTERRUPTION = const(1)
KIND_BACKCHANNEL = const(2)
_PENDING = const(3)
_HELD_MAX = const(8)
_LIFTED = const(1)
_ROSE = const(2)


class _Party:
    def __init__(self):
        self.open = False
        self.start = 0  # onset of the open segment, ms
        self.last = 0  # end of its last active frame, ms
        self.kind = _KIND_TURN
        self.other_talked = 0  # how long the other party had been talking at this onset, ms
        # _LIFTED: the newcomer's mic rose into this onset (always set without two mics);
        # _ROSE: ... and the other was heard until just before it: the overlap is the rise's.
        self.rise = _LIFTED
        self.other_start = -1  # onset of the other's segment open at this onset
        self.closed_start = -1  # the last closed segment (whatever its length)
        self.closed_last = 0
        self.heard = 0  # active in the last frame


class TurnTaker:
    """Turns per-frame activity into classified segments, passed on in onset order."""

    def __init__(self, params, tracker, rises=None):
        """``rises``: the ``heardcore.rise`` buffer of two microphones, or None (one
        microphone, or ``interrupt_rise_db10`` 0: no rise is asked for)."""
        self.frame_ms = params.frame_ms
        self.bridge = params.turn_bridge_ms
        self.min_speech = params.min_speech_ms
        self.overlap = params.interrupt_overlap_ms
        self.hold = params.interrupt_hold_ms
        self.bc_max = params.backchannel_max_ms
        self.prior = params.interrupt_prior_ms
        self.rises = rises
        self.rise_min = params.interrupt_rise_db10 * 256 // 10
        self.tracker = tracker
        self.parties = (_Party(), _Party())
        self.held = array.array("i", [0] * (4 * _HELD_MAX))  # who, start, end, kind
        self.held_count = 0

    # Hot functions keep few locals: MicroPython puts a call's frame on the heap when its
    # locals and value stack need more than 11 words (on the C stack only when the heap is
    # locked or full). update: 6 locals and at most 5 stack words (the _step calls).
    def update(self, now_ms, employee, customer):
        """Advance to the frame ending at ``now_ms`` with who was heard in it."""
        emp, cus = self.parties
        if not (employee or customer or emp.open or cus.open):
            # A quiet frame with nothing open, as most of a shop's day: only the clock moves.
            emp.heard = cus.heard = 0
            self.tracker.tick(now_ms, -1)
            return
        self._step(EMPLOYEE, employee, now_ms)
        self._step(CUSTOMER, customer, now_ms)
        emp.heard = employee  # read as the other's last frame by the next _step
        cus.heard = customer
        # The earliest segment still open: if it began in time, its conversation waits for it.
        if emp.open and (not cus.open or emp.start < cus.start):
            self.tracker.tick(now_ms, emp.start)
        else:
            self.tracker.tick(now_ms, cus.start if cus.open else -1)

    def _step(self, who, active, now):
        me = self.parties[who]
        other = self.parties[1 - who]
        if active:
            if not me.open:
                me.open = True
                me.start = now - self.frame_ms
                me.kind = _KIND_TURN
                me.rise = _LIFTED
                if other.open:  # during the other's segment, its short pauses included
                    me.kind = _PENDING
                    me.other_talked = me.start - other.start
                    me.other_start = other.start
                    if self.rises is not None:
                        me.rise = 0
                        if rise(self.rises, who) >= self.rise_min:  # channel = party
                            me.rise = _ROSE if other.heard else _LIFTED  # the frame before
            me.last = now
            if (
                me.kind == _PENDING
                and me.other_talked >= self.prior and me.rise
                and (me.rise == _ROSE or other.last - me.start >= self.overlap)
                and now - me.start >= self.hold
            ):
                me.kind = KIND_INTERRUPTION
        elif me.open and now - me.last > self.bridge:
            self._close(who, me, other)

    # The per-segment methods keep within 11 words too; after the close, the party's
    # ``start`` and ``kind`` hold the segment as classified (they are read only while open).
    def _close(self, who, me, other):
        me.open = False
        earlier_end = me.closed_last  # this party's previous segment
        me.closed_start = me.start
        me.closed_last = me.last
        if me.last - me.start < self.min_speech:
            return
        if me.kind == _PENDING or me.kind == KIND_INTERRUPTION:
            self._classify(me, other, earlier_end)
        if other.open and other.start < me.start:
            self._hold(who, me.start, me.last, me.kind)
            return
        self.tracker.segment(who, me.start, me.last, me.kind)
        self._release()

    def _classify(self, me, other, earlier_end):
        """A segment that began during the other's: backchannel, interruption or turn."""
        # The end of the other's segment that was open at this onset (not of a later one:
        # the other may have stopped and started again meanwhile).
        other_end = -1
        if other.open and other.start == me.other_start:
            other_end = other.last
        elif other.closed_start == me.other_start:
            other_end = other.closed_last
        if me.kind == _PENDING:
            if me.last - me.start < self.bc_max and other_end > me.last:
                me.kind = KIND_BACKCHANNEL  # the other talked through it
            elif (
                me.other_talked >= self.prior and me.rise
                and other_end < me.last
                and (other_end - me.start >= self.overlap
                     # An overlap seen only by the rise: the other always "yields" at a
                     # seamless switch, so the newcomer must also hold the floor (a quick
                     # "okay" over the other's last words is not an interruption).
                     or me.rise == _ROSE and me.last - me.start >= self.hold)
            ):
                me.kind = KIND_INTERRUPTION  # the other yielded
            else:
                me.kind = _KIND_TURN
        if (
            me.kind == KIND_INTERRUPTION and me.rise == _ROSE
            and other_end - me.start < self.overlap
        ):
            # The frames missed the overlap; the newcomer was heard over the other before
            # the switch: not before the other began nor before this party's previous
            # segment ended (onset order).
            me.start = max(me.start - self.overlap, me.other_start, earlier_end)

    def _hold(self, who, start, end, kind):
        if self.held_count == _HELD_MAX:  # not in real speech; go on, slightly out of order
            self.tracker.segment(who, start, end, kind)
            return
        self.held_count += 1
        self.held[4 * self.held_count - 4] = who
        self.held[4 * self.held_count - 3] = start
        self.held[4 * self.held_count - 2] = end
        self.held[4 * self.held_count - 1] = kind

    def _release(self):
        held = self.held
        i = 0
        while i < 4 * self.held_count:
            self.tracker.segment(held[i], held[i + 1], held[i + 2], held[i + 3])
            i += 4
        self.held_count = 0

    def finish(self, now):
        """End of input: close open segments (earlier onset first), then the tracker."""
        e, c = self.parties[EMPLOYEE], self.parties[CUSTOMER]
        first = CUSTOMER if c.open and (not e.open or c.start < e.start) else EMPLOYEE
        if self.parties[first].open:
            self._close(first, self.parties[first], self.parties[1 - first])
        second = 1 - first
        if self.parties[second].open:
            self._close(second, self.parties[second], self.parties[first])
        self._release()
        self.tracker.finish(now)
