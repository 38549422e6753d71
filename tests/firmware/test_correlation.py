"""The packed sign cross-correlation against a plain count, for the lag and stride settings
a config may choose (runs on CPython in strict 32-bit mode and on MicroPython)."""

import array

from heardcore import attribution
from heardcore.params import Params

N = 160  # samples per frame


def random_signs(seed, count):
    state = seed
    out = bytearray(count)
    for i in range(count):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (state >> 16) & 1
    return out


def plain_correlation(s0, s1, lags, stride):
    """16 * (agreements - disagreements) per lag, -lags..lags, counted one term at a time."""
    out = []
    for k in range(-lags, lags + 1):
        terms = differ = 0
        for t in range(lags, N - lags, stride):
            terms += 1
            differ += s0[t] ^ s1[t + k]
        out.append(16 * (terms - 2 * differ))
    return out


def correlate(s0, s1, overrides, state=None, fresh=1):
    params = Params()
    params.update(overrides)
    cfg = array.array("i", attribution.config(params, N))
    lags = params.tdoa_max_lag
    if state is None:
        state = array.array("i", [0] * (attribution.STATE_WORDS + 2 * lags + 1))
    bits = attribution.sign_bits(cfg)
    for i in range(len(bits)):  # the detector reuses it: nothing stale may leak in
        bits[i] = 0xFFFF
    tdoa = attribution.correlate(s0, s1, bits, state, cfg, fresh)
    return tdoa, state


SETTINGS = (
    {},  # the defaults: 24 lags, every 4th sample (28 terms: two words, the last part-filled)
    {"tdoa_stride": 1},  # 112 terms: seven full words
    {"tdoa_stride": 3, "tdoa_max_lag": 32},
    {"tdoa_stride": 8, "tdoa_max_lag": 5, "tdoa_min_lag": 1},
    {"tdoa_stride": 2, "tdoa_max_lag": 16},  # 64 terms: exactly four words
    {"tdoa_stride": 7, "tdoa_max_lag": 1, "tdoa_min_lag": 1},
)


def test_packed_counts_equal_the_plain_count_at_every_lag():
    for n, overrides in enumerate(SETTINGS):
        s0, s1 = random_signs(2 * n + 1, N), random_signs(2 * n + 2, N)
        params = Params()
        params.update(overrides)
        lags = params.tdoa_max_lag
        _, state = correlate(s0, s1, dict(overrides, cue_smooth_shift=0))
        got = list(state[attribution.STATE_WORDS:])
        assert got == plain_correlation(s0, s1, lags, params.tdoa_stride), overrides


def test_every_stride_at_the_widest_and_narrowest_lags():
    s0, s1 = random_signs(21, N), random_signs(22, N)
    for stride in range(1, 9):
        for lags in (1, 8, 32):
            overrides = {"tdoa_stride": stride, "tdoa_max_lag": lags, "tdoa_min_lag": 1,
                         "cue_smooth_shift": 0}
            _, state = correlate(s0, s1, overrides)
            assert list(state[attribution.STATE_WORDS:]) == plain_correlation(
                s0, s1, lags, stride), overrides


def test_a_delayed_copy_peaks_at_its_delay_on_the_right_side():
    # The employee is nearer mic 0: mic 1 hears the same signs 7 samples later.
    s0 = random_signs(7, N)
    s1 = bytearray(7) + s0[: N - 7]
    tdoa, state = correlate(s0, s1, {"cue_smooth_shift": 0})
    values = list(state[attribution.STATE_WORDS:])
    lags = Params().tdoa_max_lag
    assert values.index(max(values)) == lags + 7
    assert tdoa > 0
    tdoa, _ = correlate(s1, s0, {"cue_smooth_shift": 0})  # the customer's side
    assert tdoa < 0


def test_later_frames_are_smoothed_into_the_first():
    s0, s1 = random_signs(11, N), random_signs(12, N)
    t0, t1 = random_signs(13, N), random_signs(14, N)
    _, state = correlate(s0, s1, {})  # fresh: starts from zero
    first = list(state[attribution.STATE_WORDS:])
    _, state = correlate(t0, t1, {}, state, fresh=0)
    params = Params()
    shift, lags, stride = params.cue_smooth_shift, params.tdoa_max_lag, params.tdoa_stride
    assert first == [c >> shift for c in plain_correlation(s0, s1, lags, stride)]
    plain = plain_correlation(t0, t1, lags, stride)
    assert list(state[attribution.STATE_WORDS:]) == [
        first[i] + ((plain[i] - first[i]) >> shift) for i in range(len(plain))
    ]
