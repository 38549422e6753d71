"""The detector: per 10 ms frame of int16 audio, who is talking; per conversation, numbers.

``Detector(params, channels, sink)`` takes frames of ``frame_samples`` samples per channel
(interleaved, channel 0 employee-facing) through ``process(pcm)``, and reports to the sink
(``heardcore.events``). Per frame: front end (``frontend``), voice activity per channel
(``vad``), attribution (``attribution``; mono: per spurt, ``monospurt``), turn-taking
(``turns``, reached through ``holdback``: a steady tone's length late) and conversations
(``conversation``). All buffers are allocated here, once;
``process`` allocates nothing (the sink may, when it reports).

Times are integer ms since the detector was created. On a 32-bit port an int above 2**30 is
a heap object, so after ~12.4 days of frames ``process`` would start allocating: a device
that runs for weeks must start a new detector (a new time base) between conversations.
"""

import array

from heardcore import attribution, frontend, rise, vad
from heardcore.conversation import Tracker
from heardcore.events import CUSTOMER, EMPLOYEE
from heardcore.holdback import HoldBack
from heardcore.turns import TurnTaker

SAMPLE_RATE = 16000


class Detector:
    FRAME_FIELDS = (
        "level0", "level1", "floor0", "floor1", "vad0", "vad1", "near", "tdoa", "evidence",
        "employee", "customer",
    )

    def __init__(self, params, channels, sink):
        if channels not in (1, 2):
            raise ValueError("1 or 2 channels, not {}".format(channels))
        self.channels = channels
        self.sink = sink
        self.frame_ms = params.frame_ms
        n = SAMPLE_RATE * params.frame_ms // 1000
        self.frame_samples = n
        self.fe_cfg = frontend.config(channels, n, params.highpass_shift)
        self.norm = frontend.level_norm(n)
        self.sum = 0  # the last frame's sum of |e| (a step's result: see process)
        self.fe_state = array.array("i", [0] * (frontend.STATE_WORDS * channels))
        # Per-sample sign bits of the last frame: derived from audio (one-bit speech is still
        # intelligible), so they stay in RAM, are overwritten every frame, and no sink,
        # debug output or record may ever carry them (frame_state() does not).
        self.signs0 = bytearray(n)
        self.signs1 = bytearray(n)
        self.vad_state = array.array("i", [0] * (vad.WORDS * channels))
        self.vad_cfg = array.array("i", vad.config(params))
        lags = params.tdoa_max_lag if channels == 2 else 0
        self.tdoa_on = lags > 0
        self.attr_state = array.array("i", [0] * (attribution.STATE_WORDS + 2 * lags + 1))
        self.attr_cfg = array.array("i", attribution.config(params, n))
        self.sign_bits = attribution.sign_bits(self.attr_cfg) if self.tdoa_on else None
        # Both level centres start level_unit either side of the configured midpoint.
        mid, spread = self.attr_cfg[attribution.C_LEVEL_MID], self.attr_cfg[attribution.C_SPREAD]
        self.attr_state[attribution.S_CENTRE_E] = mid + spread
        self.attr_state[attribution.S_CENTRE_C] = mid - spread
        self.tracker = Tracker(params, sink)
        # Two mics: the last rise_*_ms of frame levels, for the turn layer's overlap cue.
        self.rises = rise.new(params) if channels == 2 and params.interrupt_rise_db10 else None
        self.turns = TurnTaker(params, self.tracker, self.rises)
        self.mono = None
        if channels == 1:
            # Imported only for one microphone: a stereo device keeps the heap it would take.
            from heardcore.monospurt import MonoSpurts

            self.mono = MonoSpurts(params, self.turns, sink)
        # Frames reach the turn layer a steady tone's length late, so that a beep found for
        # a tone takes back the talk of its first frames (heardcore.holdback).
        self.tone_frames = params.tone_ms // params.frame_ms
        self.hold = HoldBack(self.tone_frames + 1) if self.tone_frames else None
        self.frames = 0
        self.speech_frames = 0
        # Last frame, for debugging sinks and the reference comparison.
        self.level0 = self.level1 = 0
        self.vad0 = self.vad1 = 0
        self.near = 0
        self.employee = self.customer = 0
        self.was_talk = 0
        self.was_speech = 0
        self.switch_frames = params.switch_ms // params.frame_ms

    # process() is split into steps that each keep their locals and value stack within 11
    # words: MicroPython takes a bigger bytecode call frame from the heap, here on every frame
    # (under heap_lock the VM falls back to the C stack, so only
    # tests/firmware/test_detector_limits.py's heap watch sees it).
    def process(self, pcm):
        """Analyse one frame: ``frame_samples * channels`` int16 samples, interleaved."""
        self.vad0 = speech = self._voice(pcm, 0)
        top = self.level0
        if self.channels == 2:
            self.vad1 = self._voice(pcm, 1)
            if self.vad1:
                speech = 1
            if self.level1 > top:
                top = self.level1
        self.near = attribution.near_talk(self.attr_state, top, speech, self.attr_cfg)
        if self.channels == 2:
            if speech:
                talking = self._attribute()
            else:
                talking = self.employee = self.customer = 0
        else:
            # The party is decided when the spurt ends; the frames reach the turn layer then
            # (and the sink hears of it through ``attributed``).
            talking = 1 if speech and self.near else 0
            if self.mono is not None:
                self._to_mono(self.mono, top, talking)
        self.frames += 1
        self._account(talking, top)
        self.was_talk = talking
        self.was_speech = speech
        if self.sink.wants_frames:
            self.sink.frame(self.frames - 1, self)

    def _voice(self, pcm, ch):
        """Front end and voice activity of channel ``ch``; 1 while it hears speech."""
        self.sum = frontend.highpass_frame(
            pcm, ch, self.fe_state, self.signs1 if ch else self.signs0, self.fe_cfg
        )
        level = frontend.level_db_q8(self.sum, self.norm)
        if ch:
            self.level1 = level
        else:
            self.level0 = level
        if self.frames == 0:
            vad.init(self.vad_state, vad.WORDS * ch, level)
        self.vad_state[vad.WORDS * ch + vad.CROSSINGS] = \
            self.fe_state[frontend.STATE_WORDS * ch + frontend.CROSSINGS]
        return vad.update(self.vad_state, vad.WORDS * ch, level, self.frames, self.vad_cfg)

    def _attribute(self):
        """Two mics, a speech frame: who is talking (``employee``, ``customer``); 1 if
        anyone near is."""
        if self.tdoa_on:
            attribution.correlate(
                self.signs0, self.signs1, self.sign_bits, self.attr_state, self.attr_cfg,
                0 if self.was_speech else 1,
            )
        if self.near:
            self._decide()
            return 1
        self.employee = self.customer = 0
        return 0

    def _decide(self):
        st = self.attr_state
        tdoa = st[attribution.S_TDOA]  # this frame's correlation (0 without one)
        diff = self.level0 - self.level1
        if not self.was_talk:
            # After a pause the speaker is decided afresh: hysteresis only guards against
            # flicker within continuous talk.
            st[attribution.S_COUNT] = self.switch_frames
            st[attribution.S_DIFF] = diff
        who = attribution.decide(st, tdoa, diff, self.attr_cfg)
        if st[attribution.S_BOTH]:
            self.employee = self.customer = 1
        else:
            self.employee = 1 if who == EMPLOYEE else 0
            self.customer = 1 if who == CUSTOMER else 0

    def _account(self, talk, level):
        """Quality numbers for the conversation, and (two mics) the frame to the turn layer."""
        now = self.frames * self.frame_ms
        clipped = self.fe_state[3]
        if self.channels == 2:
            clipped += self.fe_state[frontend.STATE_WORDS + 3]
        if clipped:
            self.tracker.clipped(clipped, now)
        if talk:
            self.speech_frames += 1
            # Against the floor of the channel that gave ``level``: mics are not gain-matched.
            floor = self.vad_state[vad.WORDS + 1 if self.level1 > self.level0 else 1] >> 4
            self.tracker.speech_snr((level - floor) >> 8, now)
        if self.channels == 2:
            self._to_turns(now)

    def _tone(self):
        """1 when a channel hears a steady tone (or its echo) in this frame."""
        st = self.vad_state
        if st[vad.STEADY] >= self.tone_frames:
            return 1
        return 1 if self.channels == 2 and st[vad.WORDS + vad.STEADY] >= self.tone_frames else 0

    def _to_turns(self, now):
        """Two mics: this frame's parties (and levels, for the rise) towards the turn layer."""
        hold = self.hold
        if hold is None:
            self._turn_frame(now, self.employee, self.customer, self.level0, self.level1)
            return
        if self._tone():
            hold.silence()
        if hold.push(self.employee | (self.customer << 1), self.level0, self.level1):
            self._turn_frame(now - hold.size * self.frame_ms, hold.flags & 1, hold.flags >> 1,
                             hold.a, hold.b)

    def _turn_frame(self, now, employee, customer, level0, level1):
        if self.rises is not None:
            rise.track(self.rises, level0, level1)
        self.turns.update(now, employee, customer)

    def _to_mono(self, mono, top, talking):
        """One mic: this frame (not counted yet) towards the spurt judge."""
        hold = self.hold
        if hold is None:
            mono.frame(self.frames, top, talking)
            return
        if self._tone():
            hold.silence()
        if hold.push(talking, top, 0):
            mono.frame(self.frames - hold.size, hold.a, hold.flags)

    def note_lost_audio(self, ms):
        """The device layer lost ``ms`` of audio (samples read vs elapsed time): the
        conversation in progress gets the audio-gap flag."""
        self.tracker.lost_audio(ms, self.frames * self.frame_ms)

    def finish(self):
        """End of input: close what is open and report it."""
        hold = self.hold
        if hold is not None:
            left = hold.count
            while hold.pop():  # the frames still held, oldest first
                left -= 1
                if self.mono is not None:
                    self.mono.frame(self.frames - 1 - left, hold.a, hold.flags)
                else:
                    self._turn_frame((self.frames - left) * self.frame_ms, hold.flags & 1,
                                     hold.flags >> 1, hold.a, hold.b)
        if self.mono is not None:
            self.mono.finish(self.frames)
        self.turns.finish(self.frames * self.frame_ms)

    def frame_state(self):
        """The last frame's values, in the order of ``FRAME_FIELDS`` (debugging, tests)."""
        st = self.vad_state
        floor1 = st[vad.WORDS + 1] >> 4 if self.channels == 2 else 0
        return (
            self.level0, self.level1, st[1] >> 4, floor1, self.vad0, self.vad1, self.near,
            self.attr_state[attribution.S_TDOA], self.attr_state[attribution.S_EVIDENCE],
            self.employee, self.customer,
        )
