"""Conversations and their numbers, from classified segments in onset order.

A conversation is a stretch of talk that includes the customer. It opens at the customer's
first segment, and starts at the first speech of that stretch: employee talk that ended
less than ``conversation_idle_ms`` before the customer's first word (a greeting) belongs to
it. It ends at its last speech, and is closed once ``conversation_idle_ms`` pass without
customer speech. Employee talk outside conversations is reported as employee-only
stretches. Per conversation: talk and overlap per party, turns (a party's consecutive
non-backchannel segments are one turn), switches, interruptions and backchannels by each
party, the longest employee monologue and customer story (a turn, the other's
backchannels included), and the median response latency of the employee after the
customer stops (patience), from a fixed histogram. All integers; nothing is allocated
once running.
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

_LATENCY_BIN_MS = const(50)
_LATENCY_BINS = const(64)  # 0 .. 3.2 s; longer waits go to the last bin
_NOBODY = const(-1)


class Tracker:
    """Receives segments (onset order) and per-frame ticks; reports to a sink."""

    def __init__(self, params, sink):
        self.idle = params.conversation_idle_ms
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
        # Speech-frame SNR of the current conversation (sum and count of whole dB).
        self.snr_sum = 0
        self.snr_frames = 0
        # Quality events seen while no conversation was open, with the time of the last.
        self.pending_clipped = self.pending_clipped_at = 0
        self.pending_lost = self.pending_lost_at = 0

    def segment(self, who, start, end, kind):
        sink = self.sink
        sink.segment(who, start, end)
        if kind == KIND_INTERRUPTION:
            sink.interruption(who, start)
        elif kind == KIND_BACKCHANNEL:
            sink.backchannel(who, start)
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

    def overlap(self, ms):
        """Both parties were heard for ``ms`` (called per frame by the detector)."""
        if self.active:
            self.conv.overlap_ms += ms

    def clipped(self, samples, now):
        """Clipped samples in the frame ending at ``now``."""
        if self.active:
            self.conv.clipped_samples += samples
            self.conv.flags |= FLAG_CLIPPING
        else:  # a conversation opens only once its first customer segment has closed
            self.pending_clipped += samples
            self.pending_clipped_at = now

    def lost_audio(self, ms, now):
        """``ms`` of audio lost just before ``now``."""
        if self.active:
            self.conv.lost_ms += ms
            self.conv.flags |= FLAG_AUDIO_GAP
        else:
            self.pending_lost += ms
            self.pending_lost_at = now

    def speech_snr(self, snr_db):
        if self.active:
            self.snr_sum += snr_db
            self.snr_frames += 1

    def tick(self, now, customer_onset):
        """Close the conversation after the idle time; ``customer_onset`` is the start of the
        customer's segment still open (not yet reported), or -1."""
        if self.active and now - self.last_customer_end > self.idle:
            if 0 <= customer_onset <= self.last_customer_end + self.idle:
                return  # the customer is talking again in time; the segment arrives later
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
        self.snr_sum = 0
        self.snr_frames = 0
        conv.start_ms = start
        conv.end_ms = start
        if self.solo_start >= 0 and self.solo_end >= start - self.idle:
            # The employee's greeting (and whatever talk ran into it) opens the conversation.
            conv.start_ms = self.solo_start
            conv.end_ms = self.solo_end
            conv.talk_ms[EMPLOYEE] = self.solo_talk
            self.turn_party = EMPLOYEE
            self.turn_start = self.solo_start
            self.turn_end = self.solo_end
            conv.turns = 1
            self.solo_start = -1
        else:
            self._flush_solo()
        if self.pending_clipped and self.pending_clipped_at > conv.start_ms:
            conv.clipped_samples = self.pending_clipped
            conv.flags |= FLAG_CLIPPING
        if self.pending_lost and self.pending_lost_at > conv.start_ms:
            conv.lost_ms = self.pending_lost
            conv.flags |= FLAG_AUDIO_GAP
        self.pending_clipped = self.pending_lost = 0

    def _add(self, who, start, end, kind):
        conv = self.conv
        conv.talk_ms[who] += end - start
        if end > conv.end_ms:
            conv.end_ms = end
        if kind == KIND_BACKCHANNEL:
            conv.backchannels[who] += 1
            return
        if kind == KIND_INTERRUPTION:
            conv.interruptions[who] += 1
        if who == self.turn_party:
            if end > self.turn_end:
                self.turn_end = end
            return
        if self.turn_party != _NOBODY:
            conv.switches += 1
            self._end_turn()
            if who == EMPLOYEE and start >= self.turn_end:
                gap = (start - self.turn_end) // _LATENCY_BIN_MS
                self.latency[gap if gap < _LATENCY_BINS else _LATENCY_BINS - 1] += 1
                conv.latency_count += 1
        conv.turns += 1
        self.turn_party = who
        self.turn_start = start
        self.turn_end = end

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
        if self.snr_frames:
            conv.snr_db = self.snr_sum // self.snr_frames
            if conv.snr_db < self.low_snr_db:
                conv.flags |= FLAG_LOW_SNR
        self.active = False
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
