"""Who is speaking: employee, customer, both or neither, per frame, integer only.

Stereo (channel 0 faces the employee, channel 1 the customer) combines two cues:
- arrival time: a sign (1-bit) cross-correlation of the two high-passed channels over lags
  ``-K..K``, smoothed over frames. The employee is nearer mic 0, so their sound reaches
  mic 1 later: a positive lag. ``tdoa`` is the best positive-lag correlation minus the best
  negative-lag one; lags within ``+-m`` carry no direction (coincident capsules, diffuse
  noise) and are ignored, so back-to-back capsules leave the decision to the level cue.
- level: the smoothed channel level difference ``L0 - L1`` around the midpoint between the
  two parties' own differences. Each party's difference is learnt from the frames it
  clearly holds (``level_adapt_shift``), starting ``level_unit`` either side of
  ``level_mid`` (0 dB, or the calibrated value); the learnt centres absorb what each mic
  hears of the other party and the gain mismatch between the mics.
Their weighted sum is the evidence (Q8 units, > 0 for the employee). The current speaker
changes only after ``switch_frames`` frames of evidence against it (hysteresis). The other
party also counts as talking (overlap) when its correlation peak reaches
``both_ratio`` of the current speaker's.

Mono has no second channel to compare: ``heardcore.monospurt`` decides per talk spurt.

A gate drops speech far below the recent speech peak: distant talkers are not a party.
"""

import array

import micropython
from micropython import const

EMPLOYEE = const(0)
CUSTOMER = const(1)

# State words (int32 array of STATE_WORDS + 2*K+1 correlation accumulators after them).
_S_CUR = const(0)  # current speaker
S_COUNT = const(1)  # frames of evidence against the current speaker
S_EVIDENCE = const(2)  # last evidence, Q8 (> 0: employee)
S_DIFF = const(3)  # smoothed level difference, dB Q8
_S_PEAK = const(4)  # recent speech peak level, dB Q12
S_TDOA = const(5)  # last tdoa value
_S_POS = const(6)  # best positive-lag correlation (x16 of the count)
_S_NEG = const(7)  # best negative-lag correlation
S_BOTH = const(8)  # 1 when the other party overlaps
S_CENTRE_E = const(9)  # the employee's smoothed level difference, dB Q8
S_CENTRE_C = const(10)  # the customer's
STATE_WORDS = const(11)

# Configuration words.
_C_SAMPLES = const(0)  # samples per frame
_C_MAX_LAG = const(1)  # K
_C_MIN_LAG = const(2)  # m
_C_SMOOTH = const(3)  # correlation and level-difference smoothing, 1/2**k per frame
_C_TDOA_GAIN = const(4)  # evidence per tdoa unit, Q8
_C_LEVEL_GAIN = const(5)  # evidence per dB Q8 of level difference, Q8
C_LEVEL_MID = const(6)  # dB Q8
_C_SWITCH_MARGIN = const(7)  # evidence (Q8) that counts against the current speaker
_C_SWITCH_FRAMES = const(8)
_C_BOTH_RATIO = const(9)  # Q8 fraction of the current speaker's correlation peak
_C_BOTH_MIN = const(10)  # least correlation (x16 of the count) for overlap
_C_PEAK_DECAY = const(11)  # dB Q12 per frame
_C_DISTANT = const(12)  # dB Q8 below the peak that is a distant talker
_C_STRIDE = const(13)  # correlation uses every k-th sample
_C_ADAPT = const(14)  # level centres learn 1/2**k per frame; 0: fixed at level_mid
C_SPREAD = const(15)  # dB Q8 each centre starts from level_mid
_C_TERMS = const(16)  # correlation terms per lag
_C_PHASE_WORDS = const(17)  # 16-bit words per phase of the packed signs1 (one spare)
_C_WORDS = const(18)

# Set bits of each byte value: the popcount table for counting sign mismatches.
_ONES = bytes(bin(v).count("1") for v in range(256))


def config(params, samples):
    """The int32 configuration words from ``heardcore.params.Params``."""
    stride = params.tdoa_stride
    count = (samples - 2 * params.tdoa_max_lag + stride - 1) // stride  # terms per lag
    unit = count * 16 * params.tdoa_unit_permille // 1000  # a correlation of one tdoa unit
    return (
        samples,
        params.tdoa_max_lag,
        params.tdoa_min_lag,
        params.cue_smooth_shift,
        (256 * 256 * params.tdoa_weight_permille // 1000) // (unit if unit > 0 else 1),
        256 * 10 * params.level_weight_permille // (1000 * params.level_unit_db10),
        params.level_mid_db10 * 256 // 10,
        params.switch_margin_permille * 256 // 1000,
        params.switch_ms // params.frame_ms,
        params.both_ratio_permille * 256 // 1000,
        count * 16 * params.both_min_corr_permille // 1000,
        params.peak_decay_db10_per_s * 4096 // 10 // (1000 // params.frame_ms),
        params.distant_drop_db10 * 256 // 10,
        stride,
        params.level_adapt_shift,
        params.level_unit_db10 * 256 // 10,
        count,
        ((samples + stride - 1) // stride + 15) // 16 + 1,
    )


def sign_bits(cfg):
    """The scratch buffer ``correlate`` packs sign bits into, for configuration ``cfg``."""
    terms, per, stride = cfg[_C_TERMS], cfg[_C_PHASE_WORDS], cfg[_C_STRIDE]
    return array.array("H", [0] * ((terms + 15) // 16 + stride * per))


# Every signed state word is loaded as two 16-bit halves with the high half sign-extended:
# a ptr32 load is a signed word on the ESP32 but zero-extended on a 64-bit port.


@micropython.viper
def correlate(signs0, signs1, bits, state, cfg, fresh: int) -> int:
    """Update the smoothed sign cross-correlation; returns tdoa (positive: employee side).

    Called on speech frames only; ``fresh`` (the first speech frame after a pause) starts
    the smoothing from zero, so neither the noise of the pause nor the previous speaker
    carries over. ``bits`` (``sign_bits``) is scratch: the sign bytes packed 16 to a word,
    so a lag's sign mismatches are counted 16 terms at a time (XOR, then a table popcount).
    """
    a = ptr8(signs0)
    b = ptr8(signs1)
    w = ptr16(bits)
    ones = ptr8(_ONES)
    st = ptr32(state)
    h = ptr16(state)
    c = ptr32(cfg)
    n = c[0]
    lags = c[1]
    stride = c[13]  # _C_STRIDE
    terms = c[16]  # _C_TERMS
    per = c[17]  # _C_PHASE_WORDS
    chunks = (terms + 15) >> 4
    # signs0 at lags + stride*t (t < terms), bit t -> w[t >> 4] (bit t & 15).
    t = 0
    i = lags
    acc = 0
    while t < terms:
        acc |= a[i] << (t & 15)
        t += 1
        i += stride
        if (t & 15) == 0 or t == terms:
            w[(t - 1) >> 4] = acc
            acc = 0
    # signs1 by phase: phase r's bit u is signs1[r + stride*u], in w[chunks + r*per ...];
    # each phase keeps a spare last word, read (and masked off) by the two-word window below.
    r = 0
    while r < stride:
        base = chunks + r * per
        end = base + per
        i = r
        u = 0
        acc = 0
        while i < n:
            acc |= b[i] << u
            u += 1
            if u == 16:
                w[base] = acc
                base += 1
                acc = 0
                u = 0
            i += stride
        while base < end:
            w[base] = acc
            acc = 0
            base += 1
        r += 1
    # At lag k, term t compares signs1[j0 + stride*t], j0 = lags + k = r + stride*q: bits
    # q.. of phase r.
    last = (1 << (terms - ((chunks - 1) << 4))) - 1  # the valid bits of the last chunk
    shift = c[3]
    q = 0
    r = 0
    k = 0 - lags
    while k <= lags:
        base = chunks + r * per
        pos = q
        differ = 0
        m = 0
        while m < chunks:
            at = base + (pos >> 4)
            # Bits pos & 15 .. +15 of the two words; the top bit of the second word is never
            # among them, and dropping it keeps the pair below 2**31.
            v = (((w[at] | ((w[at + 1] & 0x7FFF) << 16)) >> (pos & 15)) ^ w[m]) & 0xFFFF
            if m == chunks - 1:
                v &= last
            differ += ones[v & 0xFF] + ones[v >> 8]
            pos += 16
            m += 1
        idx = 11 + k + lags  # STATE_WORDS
        old = 0
        if not fresh:
            old = (((h[2 * idx + 1] ^ 0x8000) - 0x8000) << 16) | h[2 * idx]
        corr = (terms - (differ << 1)) << 4
        st[idx] = old + ((corr - old) >> shift)
        r += 1
        if r == stride:
            r = 0
            q += 1
        k += 1
    pos = 0 - (1 << 20)
    neg = 0 - (1 << 20)
    k = c[2]
    while k <= lags:
        idx = 11 + lags + k
        v = (((h[2 * idx + 1] ^ 0x8000) - 0x8000) << 16) | h[2 * idx]
        if v > pos:
            pos = v
        idx = 11 + lags - k
        v = (((h[2 * idx + 1] ^ 0x8000) - 0x8000) << 16) | h[2 * idx]
        if v > neg:
            neg = v
        k += 1
    st[6] = pos  # _S_POS
    st[7] = neg  # _S_NEG
    st[5] = pos - neg  # S_TDOA
    return pos - neg


@micropython.viper
def decide(state, tdoa: int, diff: int, cfg) -> int:
    """Evidence, hysteresis and overlap for one speech frame; returns the current speaker."""
    st = ptr32(state)
    h = ptr16(state)
    c = ptr32(cfg)
    ch = ptr16(cfg)
    adapt = c[14]  # _C_ADAPT
    centre_e = (((h[19] ^ 0x8000) - 0x8000) << 16) | h[18]  # S_CENTRE_E
    centre_c = (((h[21] ^ 0x8000) - 0x8000) << 16) | h[20]  # S_CENTRE_C
    mid = (((ch[13] ^ 0x8000) - 0x8000) << 16) | ch[12]  # C_LEVEL_MID may be negative
    if adapt:
        mid = (centre_e + centre_c) >> 1
    old = (((h[7] ^ 0x8000) - 0x8000) << 16) | h[6]  # S_DIFF
    smoothed = old + ((diff - old) >> c[3])
    st[3] = smoothed
    evidence = ((tdoa * c[4]) >> 8) + (((smoothed - mid) * c[5]) >> 8)
    st[2] = evidence
    cur = h[0]
    against = evidence if cur == 1 else 0 - evidence
    if against > c[7]:
        count = h[2] + 1
        if count >= c[8]:
            cur = 1 - cur
            count = 0
        st[1] = count
    else:
        st[1] = 0
    st[0] = cur
    # A frame the current speaker clearly holds teaches its centre.
    if adapt:
        if cur == 0 and evidence > c[7]:
            st[9] = centre_e + ((smoothed - centre_e) >> adapt)
        elif cur == 1 and 0 - evidence > c[7]:
            st[10] = centre_c + ((smoothed - centre_c) >> adapt)
    # Overlap: the other party's correlation peak is close to the current speaker's.
    pos = (((h[13] ^ 0x8000) - 0x8000) << 16) | h[12]
    neg = (((h[15] ^ 0x8000) - 0x8000) << 16) | h[14]
    mine = pos if cur == 0 else neg
    other = neg if cur == 0 else pos
    both = 0
    if other >= c[10] and mine > 0 and other * 256 >= mine * c[9]:
        both = 1
    st[8] = both
    return cur


@micropython.viper
def near_talk(state, top: int, speech: int, cfg) -> int:
    """Distant-talker gate: 1 when the louder channel is within reach of the speech peak."""
    st = ptr32(state)
    h = ptr16(state)
    c = ptr32(cfg)
    level = top << 4
    peak = ((((h[9] ^ 0x8000) - 0x8000) << 16) | h[8]) - c[11]
    if peak < 0:
        peak = 0
    if speech and level > peak:
        # An eighth of the way up per frame: a door slam or a knock on the counter (a frame
        # or two) barely lifts it, so it cannot shut out the talk that follows.
        peak = peak + ((level - peak) >> 3)
    st[4] = peak
    return 1 if level > peak - (c[12] << 4) else 0
