"""What the detector reports, and the sink interface that receives it.

The detector calls a sink as things become final: speech segments, interruptions,
backchannels, conversations and employee-only talk. The device's sink keeps only
per-conversation numbers; the simulation sink (``heardcore.simrun``) prints them as NDJSON.
Times are integer milliseconds from the start of the input. Numbers only: no audio.
"""

from micropython import const

EMPLOYEE = const(0)
CUSTOMER = const(1)
PARTY_NAMES = ("employee", "customer")

# Quality flags of a conversation (bit mask).
FLAG_LOW_SNR = const(1)
FLAG_CLIPPING = const(2)
FLAG_AUDIO_GAP = const(4)


class Conversation:
    """Per-conversation numbers, filled by the detector; all integers."""

    def __init__(self):
        self.talk_ms = [0, 0]  # employee, customer
        self.interruptions = [0, 0]  # by employee, by customer
        self.backchannels = [0, 0]  # by employee, by customer
        self.reset()

    def reset(self):
        """Zero every number in place (no allocation)."""
        self.talk_ms[0] = self.talk_ms[1] = 0
        self.interruptions[0] = self.interruptions[1] = 0
        self.backchannels[0] = self.backchannels[1] = 0
        self.start_ms = 0
        self.end_ms = 0
        self.overlap_ms = 0
        self.turns = 0
        self.switches = 0
        self.longest_employee_monologue_ms = 0
        self.longest_customer_story_ms = 0
        self.median_latency_ms = -1  # employee response after the customer stops; -1: none
        self.latency_count = 0
        self.flags = 0
        self.snr_db = 0  # mean speech-to-noise ratio of talk frames, dB
        self.clipped_samples = 0
        self.lost_ms = 0  # audio gaps (device: samples read vs elapsed time)

    def duration_ms(self):
        return self.end_ms - self.start_ms

    def talk_ratio_permille(self):
        """Employee talk / (employee + customer talk) in 1/1000; -1 when nobody talked."""
        total = self.talk_ms[0] + self.talk_ms[1]
        return -1 if total == 0 else (self.talk_ms[0] * 1000 + total // 2) // total


class Sink:
    """Receives detector output; every method is optional to override."""

    def segment(self, party, start_ms, end_ms):
        pass

    def interruption(self, by, time_ms):
        pass

    def backchannel(self, by, time_ms):
        pass

    def conversation(self, conv):
        pass

    def employee_only(self, start_ms, end_ms, talk_ms):
        pass

    def attributed(self, party, first_frame, frames):
        """Mono: the speech frames among ``frames`` frames from index ``first_frame`` were
        ``party``'s (decided per spurt, after their ``frame`` calls)."""

    def frame(self, index, detector):
        """Called per frame only when the sink sets ``wants_frames`` (debugging, tests)."""

    wants_frames = False
