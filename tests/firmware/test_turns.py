"""Turn-taking and conversation rules on scripted activity (CPython and MicroPython).

A script is a list of (start_ms, end_ms, party) stretches of activity; frames are 10 ms.
"""

import micropython

from heardcore.conversation import Tracker
from heardcore.events import CUSTOMER, EMPLOYEE, Sink
from heardcore.params import Params
from heardcore.rise import new, rise, track
from heardcore.turns import TurnTaker

E = EMPLOYEE
C = CUSTOMER


class Log(Sink):
    def __init__(self):
        self.segments = []
        self.interruptions = []
        self.backchannels = []
        self.conversations = []
        self.solo = []

    def segment(self, party, start_ms, end_ms):
        self.segments.append((party, start_ms, end_ms))

    def interruption(self, by, time_ms):
        self.interruptions.append((by, time_ms))

    def backchannel(self, by, time_ms):
        self.backchannels.append((by, time_ms))

    def conversation(self, conv):
        self.conversations.append({
            "start": conv.start_ms, "end": conv.end_ms, "talk": list(conv.talk_ms),
            "turns": conv.turns, "switches": conv.switches,
            "interruptions": list(conv.interruptions), "backchannels": list(conv.backchannels),
            "monologue": conv.longest_employee_monologue_ms,
            "story": conv.longest_customer_story_ms, "latency": conv.median_latency_ms,
            "latencies": conv.latency_count, "ratio": conv.talk_ratio_permille(),
            "flags": conv.flags, "clipped": conv.clipped_samples, "lost": conv.lost_ms,
            "overlap": conv.overlap_ms,
        })

    def employee_only(self, start_ms, end_ms, talk_ms):
        self.solo.append((start_ms, end_ms, talk_ms))


def play(script, overrides=None, each_frame=None, levels=None):
    """Run a script through TurnTaker and Tracker; ``each_frame(now, tracker)`` may report
    per-frame quality numbers, as the detector does. ``levels(now)``: the two mics' frame
    levels in whole dB, for the overlap cue of two microphones (``heardcore.rise``)."""
    # The rules below are shown on short talk; the least customer talk a conversation
    # needs has its own test and is off unless a test asks for it.
    merged = {"conversation_min_customer_ms": 0}
    merged.update(overrides or {})
    params = Params(merged)
    log = Log()
    tracker = Tracker(params, log)
    rises = new(params) if levels is not None else None
    turns = TurnTaker(params, tracker, rises)
    end = 0
    for _, stop, _ in script:
        if stop > end:
            end = stop
    end += 12000
    for now in range(10, end + 10, 10):
        employee = customer = False
        for start, stop, party in script:
            if start < now <= stop:
                if party == E:
                    employee = True
                else:
                    customer = True
        if each_frame is not None:
            each_frame(now, tracker)
        if rises is not None:
            level0, level1 = levels(now)
            track(rises, level0 << 8, level1 << 8)
        turns.update(now, employee, customer)
    turns.finish(end + 10)
    return log


def test_short_pauses_are_bridged_and_long_ones_split():
    log = play([(1000, 2000, E), (2200, 3000, E), (3500, 4000, E)])
    assert log.segments == [(E, 1000, 3000), (E, 3500, 4000)]


def test_blips_shorter_than_min_speech_are_dropped():
    log = play([(1000, 1040, C), (2000, 3000, C)])
    assert log.segments == [(C, 2000, 3000)]


def test_backchannel_inside_a_turn():
    log = play([(1000, 5000, E), (2000, 2400, C)])
    assert log.backchannels == [(C, 2000)] and log.interruptions == []
    conv = log.conversations[0]
    assert conv["backchannels"] == [0, 1] and conv["turns"] == 1
    assert conv["monologue"] == 4000  # the backchannel does not break the monologue


def test_interruption_when_the_newcomer_takes_over():
    # The customer starts 600 ms before the employee stops and talks on for 2 s.
    log = play([(1000, 4000, E), (3400, 6000, C)])
    assert log.interruptions == [(C, 3400)] and log.backchannels == []
    assert log.conversations[0]["interruptions"] == [0, 1]


def test_overlap_is_the_time_both_parties_segments_cover():
    # A backchannel the employee talks through, then an interruption 600 ms before the
    # employee stops: 400 + 600 ms.
    conv = play([(1000, 5000, E), (2000, 2400, C), (4400, 7000, C)]).conversations
    assert [c["overlap"] for c in conv] == [1000]
    # One after the other, nobody overlaps.
    conv = play([(1000, 3000, E), (3600, 6000, C), (6500, 8000, E)]).conversations
    assert [c["overlap"] for c in conv] == [0]


def test_a_greeting_overlapped_by_the_customer_counts_as_overlap():
    # The employee's greeting closes before any customer segment: the conversation opens
    # at the customer's segment and takes the greeting in, with its overlap.
    conv = play([(1000, 4000, E), (3500, 6000, C)], {"interrupt_prior_ms": 5000}).conversations
    assert [(c["start"], c["overlap"]) for c in conv] == [(1000, 500)]


def test_short_overlap_is_not_an_interruption():
    log = play([(1000, 4000, E), (3900, 6000, C)], {"interrupt_overlap_ms": 300})
    assert log.interruptions == []


def test_rise_compares_the_last_300_ms_with_the_half_second_before_the_last_second():
    buf = new(Params())
    for _ in range(99):
        track(buf, 40 << 8, 30 << 8)
    assert rise(buf, 0) == 0  # not a full second yet
    # Frames 0-49: 40 dB; 50-69 (the gap between the windows): 70 dB; 70-99: 46 dB.
    buf = new(Params())
    for f in range(100):
        level = 40 if f < 50 else 70 if f < 70 else 46
        track(buf, level << 8, 30 << 8)
    assert rise(buf, 0) == 6 << 8 and rise(buf, 1) == 0
    for _ in range(30):  # 300 ms more at 46 dB: the earlier window moves onto frames 30-79
        track(buf, 46 << 8, 30 << 8)
    assert rise(buf, 0) == (46 << 8) - ((20 * 40 + 20 * 70 + 10 * 46) << 8) // 50  # -7.2 dB


def test_rise_windows_are_parameters():
    # 100 ms against the 200 ms just before it, no gap: 30 frames in all.
    buf = new(Params({"rise_recent_ms": 100, "rise_gap_ms": 0, "rise_before_ms": 200}))
    for _ in range(29):
        track(buf, 40 << 8, 30 << 8)
    assert rise(buf, 0) == 0  # not the whole span yet
    for level in (40, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52):  # 40 dB, then 10 frames at 52
        track(buf, level << 8, 30 << 8)
    assert rise(buf, 0) == (52 - 40) << 8 and rise(buf, 1) == 0
    track(buf, 52 << 8, 30 << 8)  # the first 52 dB frame moves into the earlier window
    assert rise(buf, 0) == (52 << 8) - ((19 * 40 + 52) << 8) // 20


def _customer_joins(now):
    # The employee's mic stays at 50 dB; the customer's hears the employee's leak (35 dB)
    # until the customer starts talking over the employee at 2700 ms (45 dB).
    return 50, 45 if now > 2700 else 35


def test_a_seamless_switch_onto_a_rising_mic_is_an_interruption():
    # Frames give the floor to the customer only at 3000 ms, the frame after the employee's
    # last: the customer's own mic rose 10 dB over the 300 ms before, so the customer had
    # been talking over the employee. The interruption is dated back by the overlap.
    script = [(800, 3000, E), (3000, 5000, C)]
    log = play(script, levels=_customer_joins)
    assert log.interruptions == [(C, 2700)]
    assert log.segments[-1] == (C, 2700, 5000)
    quiet = play(script, levels=lambda now: (50, 35))  # no second voice: a plain turn
    assert quiet.interruptions == [] and quiet.segments[-1] == (C, 3000, 5000)
    assert play(script).interruptions == []  # one microphone: the frames show no overlap


def test_the_employee_interrupts_the_same_way():
    # The employee is stepped first in each frame: the switch must look the same.
    log = play([(800, 3000, C), (3000, 5000, E)], levels=lambda now: (
        45 if now > 2700 else 35, 50))
    assert log.interruptions == [(E, 2700)] and log.segments[-1] == (E, 2700, 5000)


def test_a_rising_mic_needs_the_other_mid_utterance_and_a_newcomer_that_stays():
    # The employee had talked only 1.5 s (under interrupt_prior_ms): a turn.
    short = play([(1500, 3000, E), (3000, 5000, C)], levels=_customer_joins)
    assert short.interruptions == []
    # A short "mm-hmm" that the employee talks through stays a backchannel.
    log = play([(800, 3000, E), (3000, 3400, C), (3400, 6000, E)], levels=_customer_joins)
    assert log.interruptions == [] and log.backchannels == [(C, 3000)]
    # A quick "okay" over the employee's last words, and the employee says no more: the
    # customer did not take the floor (shorter than interrupt_hold_ms), so a plain turn.
    okay = play([(800, 3000, E), (3000, 3400, C)], levels=_customer_joins)
    assert okay.interruptions == [] and okay.backchannels == []
    assert okay.segments[-1] == (C, 3000, 3400)


def test_dating_back_stops_at_the_newcomers_own_earlier_segment():
    # An overlap longer than the bridge: dating the customer's onset back 1.2 s would reach
    # into the customer's own "mm-hmm" (3300-3500); it stops where that ended.
    def levels(now):
        return 50, 45 if 3300 < now <= 3500 or now > 3700 else 35

    log = play([(800, 4000, E), (3300, 3500, C), (4000, 6000, C)],
               {"interrupt_overlap_ms": 1200, "turn_bridge_ms": 300}, levels=levels)
    assert log.interruptions == [(C, 3500)]
    customer = [s for s in log.segments if s[0] == C]
    assert customer == [(C, 3300, 3500), (C, 3500, 6000)]


def test_an_overlap_without_a_rising_mic_is_not_an_interruption():
    # The frames show an overlap, but the customer's mic did not rise: with two mics that
    # is one voice moving between the parties' cues, not a second voice.
    script = [(1000, 4000, E), (3400, 6000, C)]
    assert play(script).interruptions == [(C, 3400)]
    assert play(script, levels=lambda now: (50, 35)).interruptions == []
    assert play(script, levels=lambda now: (50, 45 if now > 3100 else 35)).interruptions == [
        (C, 3400)]


def test_segments_reach_the_tracker_in_onset_order():
    # The backchannel closes before the long turn it sits in; the sink still gets onset order.
    log = play([(1000, 6000, E), (2000, 2300, C), (3000, 3300, C)])
    assert [s[1] for s in log.segments] == [1000, 2000, 3000]


def test_greeting_starts_the_conversation_and_latency_is_measured():
    script = [
        (1000, 2000, E),  # greeting, before the customer says anything
        (2500, 4000, C),
        (4600, 6000, E),  # 600 ms after the customer stopped
        (6200, 7000, C),
        (7400, 9000, E),  # 400 ms
        (9300, 9600, C),
        (10300, 11000, E),  # 700 ms
    ]
    log = play(script)
    conv = log.conversations[0]
    assert conv["start"] == 1000 and conv["end"] == 11000
    assert conv["turns"] == 7 and conv["switches"] == 6
    assert conv["latencies"] == 3
    assert conv["latency"] == 625  # median 600 ms, in its 50 ms histogram bin (600..650)
    assert conv["talk"] == [1000 + 1400 + 1600 + 700, 1500 + 800 + 300]
    assert conv["ratio"] == (4700 * 1000 + 3650) // 7300
    assert log.solo == []


def test_employee_alone_is_reported_apart_from_conversations():
    script = [(1000, 3000, E), (3500, 4000, E), (20000, 21000, E), (21500, 23000, C)]
    log = play(script)
    assert log.solo == [(1000, 4000, 2500)]
    assert len(log.conversations) == 1 and log.conversations[0]["start"] == 20000


def test_too_little_customer_talk_is_no_conversation():
    # One second of "customer" (a noise or a passer-by) amid the employee's talk: the
    # employee's talk is one employee-only stretch, the later talk within the idle time too.
    script = [(1000, 3000, E), (3500, 4500, C), (5000, 6000, E), (9000, 10000, E)]
    least = {"conversation_min_customer_ms": 1500}
    log = play(script, least)
    assert log.conversations == [] and log.solo == [(1000, 10000, 4000)]
    kept = play(script)
    assert len(kept.conversations) == 1 and kept.conversations[0]["talk"] == [4000, 1000]
    # Two seconds of customer talk make a conversation.
    real = play([(1000, 3000, E), (3500, 5500, C), (6000, 7000, E)], least)
    assert len(real.conversations) == 1 and real.solo == []


def test_idle_time_splits_conversations():
    script = [(1000, 2000, C), (2500, 3000, E), (12000, 13000, C)]
    log = play(script, {"conversation_idle_ms": 8000})
    assert [(c["start"], c["end"]) for c in log.conversations] == [(1000, 3000), (12000, 13000)]
    log = play(script, {"conversation_idle_ms": 10000})
    assert len(log.conversations) == 1


def test_longest_story_and_monologue():
    script = [(1000, 2000, E), (2500, 9000, C), (4000, 4300, E), (9500, 10000, E)]
    conv = play(script).conversations[0]
    assert conv["story"] == 6500 and conv["monologue"] == 1000
    assert conv["backchannels"] == [1, 0]


def test_quality_flags_reach_the_conversation_even_before_it_opens():
    from heardcore.events import FLAG_AUDIO_GAP, FLAG_CLIPPING

    def quality(now, tracker):
        if now == 1500:  # inside the customer's first segment, before the conversation opens
            tracker.clipped(7, now)
        if now == 2000:
            tracker.lost_audio(40, now)

    conv = play([(1000, 3000, C)], each_frame=quality).conversations
    assert [(c["flags"], c["clipped"], c["lost"]) for c in conv] == [
        (FLAG_CLIPPING | FLAG_AUDIO_GAP, 7, 40)
    ]


def test_employee_talk_running_past_the_idle_time_stays_in_the_conversation():
    # The employee answers and keeps talking long after the customer's last word.
    log = play([(5000, 10000, C), (10500, 14000, E), (14500, 18500, E)])
    assert log.solo == []
    conv = log.conversations[0]
    assert (conv["start"], conv["end"]) == (5000, 18500)
    assert conv["monologue"] == 8000 and conv["latency"] == 525


def test_backchannel_inside_a_short_pause_is_not_a_turn():
    # "mm-hmm" in a 250 ms pause of the employee, who then talks on.
    log = play([(1000, 3000, E), (3250, 5000, E), (3050, 3350, C), (5500, 7000, E)])
    assert log.backchannels == [(C, 3050)]
    conv = log.conversations[0]
    assert conv["turns"] == 1 and conv["monologue"] == 6000 and conv["latency"] == -1


def test_stale_quality_events_are_not_charged_to_a_later_conversation():
    def quality(now, tracker):
        if now <= 20000:  # clipping long before anybody talks
            tracker.clipped(5, now)
        if now == 30500:
            tracker.clipped(3, now)

    conv = play([(30000, 32000, C)], each_frame=quality).conversations
    assert [(c["clipped"], c["overlap"]) for c in conv] == [(3, 0)]


def test_tdoa_can_be_switched_off():
    assert Params({"tdoa_max_lag": 0}).tdoa_max_lag == 0


def test_a_fragment_of_the_other_party_is_not_interrupted():
    # The employee's "talk" is a 500 ms fragment that began just 100 ms before the customer,
    # who then talks for 2.4 s: overlap 400 ms, but nobody was mid-utterance.
    script = [(2500, 3000, E), (2600, 5000, C)]
    assert play(script).interruptions == []
    assert play(script, {"interrupt_prior_ms": 0}).interruptions == [(C, 2600)]


def test_interruption_by_a_rising_mic_does_not_allocate():
    # The frame path's rarer branch: at the customer's onset the rise is read, and at the
    # close the interruption is dated back (SCHEDULE's bursts never reach it).
    class Interruptions(Sink):
        def __init__(self):
            self.count = 0
            self.at = 0

        def interruption(self, by, time_ms):
            self.count += 1
            self.at = time_ms

    params = Params()
    sink = Interruptions()
    rises = new(Params())
    turns = TurnTaker(params, Tracker(params, sink), rises)
    for now in range(10, 12000, 10):
        employee = 800 < now <= 3000
        customer = 3000 < now <= 5000
        customer_mic = 45 if now > 2700 else 35
        micropython.heap_lock()
        try:
            track(rises, 50 << 8, customer_mic << 8)
            turns.update(now, employee, customer)
        finally:
            micropython.heap_unlock()
    turns.finish(12000)
    assert (sink.count, sink.at) == (1, 2700)
