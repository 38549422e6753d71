"""Conversations and their numbers, from classified segments in onset order.

A conversation is a stretch of talk that includes the customer. It opens at the customer's
first segment, and starts at the first speech of that stretch: employee talk that ended
at most ``conversation_idle_ms`` before the customer's first word (a greeting) belongs to
it. It ends at its last speech, and is closed once ``conversation_idle_ms`` pass without
customer speech. One with less than ``conversation_min_customer_ms`` of customer talk was
no conversation (a noise or a passer-by taken for the customer): its employee talk goes on
as an employee-only stretch, as does employee talk outside conversations. Per
conversation: talk per party, overlap (the time both parties' segments cover: a backchannel
the speaker talked through, an interruption's overlap), mean speech SNR, clipping and lost
audio (quality flags), turns (a party's consecutive non-backchannel segments are one turn),
switches, interruptions and backchannels by each party, the longest employee monologue and customer
story (a turn, the other's backchannels included), and the median response latency of the
employee after the customer stops (patience), from a fixed histogram. All integers;
nothing is allocated once running.
"""

import array

from micropython import const

from heardcore.events import (
    CUSTOMER,
    EMPLOYEE,
    FLAG_AUDIO_GAP,
    FLAG_CLIPPING,
    FLAG_LOW_SNR,
    Conversation,
)
from heardcore.turns import KIND_BACKCHANNEL, KIND_INTERRUPTION

_Q_SNR_SUM = const(0)  # whole dB, summed over talk frames
_Q_SNR_FRAMES = const(1)
_Q_CLIPPED = const(2)  # samples
_Q_LOST = const(3)  # ms of lost audio
_Q_WORDS = const(4)
_SNR_FRAMES_MAX = const(1 << 20)
_SMALL_INT_MAX = const(0x3FFFFFFF)  # larger ints are heap objects on a 32-bit port

_LATENCY_BIN_MS = const(50)
_LATENCY_BINS = const(64)  # 0 .. 3.2 s; longer waits go to the last bin
_NOBODY = const(-1)


def _capped(value):
    return value if value < _SMALL_INT_MAX else _SMALL_INT_MAX


class Tracker:
    """Receives segments (onset order) and per-frame ticks; reports to a sink."""

    def __init__(self, params, sink):
        self.idle = params.conversation_idle_ms
        self.min_customer = params.conversation_min_customer_ms
        self.low_snr_db = params.low_snr_db10 // 10
        self.sink = sink
        self.conv = Conversation()
        self.active = False
        self.last_customer_end = 0
        self.latency = array.array("H", [0] * _LATENCY_BINS)
        # Employee talk not (yet) in a conversation.
        self.solo_start = -1
        self.solo_end = 0
        self.solo_talk = 0
        # The current turn.
        self.turn_party = _NOBODY
        self.turn_start = 0
        self.turn_end = 0
        # Where each party's latest segment in the conversation ends (overlap).
        self.party_end = array.array("i", [0, 0])
        # Quality accumulators (_Q_*): the open conversation's, and pending ones.
        self.current = array.array("i", [0] * _Q_WORDS)
        self.pending = array.array("i", [0] * _Q_WORDS)
        self.pending_at = 0

    def segment(self, who, start, end, kind):
        # segment and _add keep their locals and value stack within 11 words: MicroPython
        # takes a bigger bytecode call frame from the heap.
        self.sink.segment(who, start, end)
        if kind == KIND_INTERRUPTION:
            self.sink.interruption(who, start)
        elif kind == KIND_BACKCHANNEL:
            self.sink.backchannel(who, start)
        if who == CUSTOMER:
            if not self.active:
                self._open(start)
                self.last_customer_end = end
            elif end > self.last_customer_end:
                self.last_customer_end = end
        if self.active and start <= self.last_customer_end + self.idle:
            self._add(who, start, end, kind)
        else:
            self._solo(start, end)

    # Per-frame quality numbers arrive before the conversation they belong to is opened (it
    # opens when its first customer segment closes): while none is open they go to a pending
    # block, dropped after the idle time with nothing in it, and folded in on opening.

    def _quality(self, now):
        if self.active:
            return self.current
        pending = self.pending
        if now - self.pending_at > self.idle:
            for i in range(_Q_WORDS):
                pending[i] = 0
        self.pending_at = now
        return pending

    def speech_snr(self, snr_db, now):
        """Speech-to-noise ratio of a talk frame, whole dB."""
        q = self._quality(now)
        if q[_Q_SNR_FRAMES] >= _SNR_FRAMES_MAX:  # keep the mean, bound the sums
            q[_Q_SNR_SUM] >>= 1
            q[_Q_SNR_FRAMES] >>= 1
        q[_Q_SNR_SUM] += snr_db
        q[_Q_SNR_FRAMES] += 1

    def clipped(self, samples, now):
        """Clipped samples in the frame ending at ``now``."""
        q = self._quality(now)
        q[_Q_CLIPPED] = _capped(q[_Q_CLIPPED] + samples)

    def lost_audio(self, ms, now):
        """``ms`` of audio lost just before ``now``."""
        q = self._quality(now)
        q[_Q_LOST] = _capped(q[_Q_LOST] + ms)

    def tick(self, now, onset):
        """Close the conversation after the idle time; ``onset`` is the start of the earliest
        segment still open (not yet reported), or -1: one that began in time belongs here."""
        if self.active and now - self.last_customer_end > self.idle:
            if 0 <= onset <= self.last_customer_end + self.idle:
                return
            self._close()

    def finish(self, now):
        if self.active:
            self._close()
        self._flush_solo()

    # -- conversation bookkeeping -------------------------------------------------------

    def _open(self, start):
        conv = self.conv
        conv.reset()
        self.active = True
        for i in range(_LATENCY_BINS):
            self.latency[i] = 0
        self.turn_party = _NOBODY
        conv.start_ms = start
        conv.end_ms = start
        self.party_end[EMPLOYEE] = self.party_end[CUSTOMER] = start
        if self.solo_start >= 0 and self.solo_end >= start - self.idle:
            # The employee's greeting (and whatever talk ran into it) opens the conversation.
            conv.start_ms = self.solo_start
            conv.end_ms = self.solo_end
            conv.talk_ms[EMPLOYEE] = self.solo_talk
            self.turn_party = EMPLOYEE
            self.turn_start = self.solo_start
            self.turn_end = self.solo_end
            self.party_end[EMPLOYEE] = self.solo_end
            conv.turns = 1
            self.solo_start = -1
        else:
            self._flush_solo()
        fresh = self.pending_at >= conv.start_ms
        for i in range(_Q_WORDS):
            self.current[i] = self.pending[i] if fresh else 0
            self.pending[i] = 0

    def _add(self, who, start, end, kind):
        self._overlap(who, start, end)
        self.conv.talk_ms[who] += end - start
        if end > self.conv.end_ms:
            self.conv.end_ms = end
        if kind == KIND_BACKCHANNEL:
            self.conv.backchannels[who] += 1
            return
        if kind == KIND_INTERRUPTION:
            self.conv.interruptions[who] += 1
        if who == self.turn_party:
            if end > self.turn_end:
                self.turn_end = end
            return
        if self.turn_party != _NOBODY:
            self.conv.switches += 1
            self._end_turn()
            if who == EMPLOYEE and start >= self.turn_end:
                gap = (start - self.turn_end) // _LATENCY_BIN_MS
                self.latency[gap if gap < _LATENCY_BINS else _LATENCY_BINS - 1] += 1
                self.conv.latency_count += 1
        self.conv.turns += 1
        self.turn_party = who
        self.turn_start = start
        self.turn_end = end

    def _overlap(self, who, start, end):
        # Segments arrive in onset order and one party's never overlap each other, so only
        # the other party's latest one can still be open at ``start``.
        ends = self.party_end
        other_end = ends[1 - who]
        if other_end > start:
            self.conv.overlap_ms += (end if end < other_end else other_end) - start
        if end > ends[who]:
            ends[who] = end

    def _end_turn(self):
        conv = self.conv
        length = self.turn_end - self.turn_start
        if self.turn_party == EMPLOYEE and length > conv.longest_employee_monologue_ms:
            conv.longest_employee_monologue_ms = length
        elif self.turn_party == CUSTOMER and length > conv.longest_customer_story_ms:
            conv.longest_customer_story_ms = length

    def _close(self):
        conv = self.conv
        if self.turn_party != _NOBODY:
            self._end_turn()
        if conv.latency_count:
            half = (conv.latency_count + 1) // 2
            seen = 0
            for i in range(_LATENCY_BINS):
                seen += self.latency[i]
                if seen >= half:
                    conv.median_latency_ms = i * _LATENCY_BIN_MS + _LATENCY_BIN_MS // 2
                    break
        q = self.current
        conv.clipped_samples = q[_Q_CLIPPED]
        conv.lost_ms = q[_Q_LOST]
        if q[_Q_CLIPPED]:
            conv.flags |= FLAG_CLIPPING
        if q[_Q_LOST]:
            conv.flags |= FLAG_AUDIO_GAP
        if q[_Q_SNR_FRAMES]:
            conv.snr_db = q[_Q_SNR_SUM] // q[_Q_SNR_FRAMES]
            if conv.snr_db < self.low_snr_db:
                conv.flags |= FLAG_LOW_SNR
        self.active = False
        if conv.talk_ms[CUSTOMER] < self.min_customer:
            # Too little of the customer to be one: the employee's talk stays employee-only,
            # and later employee talk within the idle time joins that stretch.
            self.solo_start = conv.start_ms
            self.solo_end = conv.end_ms
            self.solo_talk = conv.talk_ms[EMPLOYEE]
            return
        self.sink.conversation(conv)

    def _solo(self, start, end):
        if self.solo_start >= 0 and start - self.solo_end > self.idle:
            self._flush_solo()
        if self.solo_start < 0:
            self.solo_start = start
            self.solo_end = end
            self.solo_talk = 0
        if end > self.solo_end:
            self.solo_end = end
        self.solo_talk += end - start

    def _flush_solo(self):
        if self.solo_start >= 0:
            self.sink.employee_only(self.solo_start, self.solo_end, self.solo_talk)
            self.solo_start = -1
