"""The detector on synthetic signals (runs on CPython in strict 32-bit mode and on MicroPython):
attribution, conversations, parameters. Worst-case input, the allocation-free frame path and
clipping are in test_detector_limits.py (two modules, so each fits the unix port's 64 KiB)."""

from detector_signals import SCHEDULE, bursts, constant_frames, run

from heardcore.events import CUSTOMER, EMPLOYEE
from heardcore.params import ConfigError, Params


def test_silence_is_not_speech():
    sink, det = run(constant_frames(300, 2, lambda f, i: 0), 2)
    assert sink.segments == [] and sink.conversations == []
    assert det.speech_frames == 0


def test_config_errors_say_values_as_json_and_check_the_tone_against_min_speech():
    for overrides, said in (
        ({"vad_on_db10": True}, "got true"),
        ({"vad_on_db10": None}, "got null"),
        ({"vad_on_db10": "50"}, 'got "50"'),
        ({"tone_ms": 60}, "below min_speech_ms"),
        ({"tone_ms": 5}, "from frame_ms"),
        ({"min_speech_ms": 30}, "below min_speech_ms"),  # against the default tone_ms
    ):
        try:
            Params(overrides)
        except ConfigError as exc:
            assert said in str(exc), (overrides, str(exc))
        else:
            raise AssertionError(overrides)
    assert Params({"tone_ms": 0, "min_speech_ms": 30}).tone_ms == 0
    assert Params({"tone_ms": 50}).tone_ms == 50


def test_the_front_end_counts_zero_crossings_per_channel():
    import array

    from heardcore.frontend import CROSSINGS, STATE_WORDS, config, highpass_frame

    cfg = config(2, 160, 4)
    state = array.array("i", [0] * (2 * STATE_WORDS))
    signs = bytearray(160)
    # Channel 0: a square wave of 8 samples (2 kHz); channel 1: silence.
    pcm = array.array("h", [0] * 320)
    for frame in range(3):
        for t in range(160):
            pcm[2 * t] = 8000 if ((160 * frame + t) // 4) % 2 else -8000
        for ch in (0, 1):
            highpass_frame(pcm, ch, state, signs, cfg)
        # 40 sign changes in a whole frame (the first frame starts on a falling edge).
        assert state[CROSSINGS] in (39, 40, 41) and state[STATE_WORDS + CROSSINGS] == 0
        if frame:
            assert state[CROSSINGS] == 40


def test_stereo_bursts_are_attributed_to_the_right_party():
    sink, _ = run(bursts(2, SCHEDULE), 2)
    parties = [s[0] for s in sink.segments]
    assert parties == [EMPLOYEE, CUSTOMER, EMPLOYEE, CUSTOMER], sink.segments
    for (_, start, end), (first, last, _) in zip(sink.segments, SCHEDULE):  # noqa: B905
        assert abs(start - first * 10) <= 60 and abs(end - last * 10) <= 150, (start, end)
    assert len(sink.conversations) == 1
    start, end, emp, cus, turns = sink.conversations[0]
    assert turns == 4 and emp > 1200 and cus > 1500
    assert abs(start - 1000) <= 60


def test_employee_alone_is_not_a_conversation():
    sink, _ = run(bursts(2, [(100, 200, EMPLOYEE), (260, 300, EMPLOYEE)]), 2)
    assert sink.conversations == []
    assert len(sink.solo) == 1 and sink.solo[0][2] > 1000


def test_mono_segments_are_one_party_at_a_time_in_time_order():
    # Noise bursts end abruptly whoever they stand for, so the parties are not asserted
    # here (tests/firmware/test_monospurt.py is about the cue): only that the delayed
    # frames reach the turn layer in order, one party per spurt, and cover every burst.
    sink, det = run(bursts(1, SCHEDULE), 1)
    segments = sink.segments
    assert segments and det.mono.pending_from() == -1
    for before, after in zip(segments, segments[1:]):  # noqa: B905
        assert before[2] <= after[1], segments  # no overlap: never both parties
    for first, last, _ in SCHEDULE:
        assert any(s[1] <= first * 10 + 60 and s[2] >= last * 10 - 150 for s in segments)


def test_params_reject_bad_values_by_name():
    for overrides, field in (
        ({"no_such": 1}, "no_such"),
        ({"vad_on_db10": "9"}, "vad_on_db10"),
        ({"vad_on_db10": 9.5}, "vad_on_db10"),
        ({"turn_bridge_ms": -1}, "turn_bridge_ms"),
        ({"vad_on_db10": 40, "vad_off_db10": 50}, "vad_off_db10"),
    ):
        try:
            Params(overrides)
        except ConfigError as exc:
            assert exc.field == field and field in str(exc)
        else:
            raise AssertionError("accepted {}".format(overrides))
    params = Params({"vad_on_db10": 100})
    assert params.vad_on_db10 == 100 and params.vad_off_db10 == 30
