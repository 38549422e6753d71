"""Voice activity per channel: a noise floor that follows slowly rising noise and drops
fast, SNR thresholds with hysteresis, and a hangover.

The floor is also never below the lowest level of the last ``floor_window`` (checked every
half window; two half-window minima are kept): speech pauses within a couple of seconds,
noise that does not (music, a fan switched on) lifts the floor within one window instead
of rising at the slow rate for tens of seconds.

A steady tone is not speech: when a channel's zero crossings (``heardcore.frontend``) stay
at or above ``tone_min_hz``'s count, within one of the last frame's, and its level within
``tone_level_db10`` of the last frame's, for ``tone_ms``, the channel hears no speech and
its hangover is cancelled; nor does it after the tone while the level does not rise (the
tone's end and echo). A checkout scanner's beep is such a tone, and so is a held note;
speech changes both every few frames. The first ``tone_ms`` of a beep is still speech to
the VAD; the detector takes it back before the turn layer sees it
(``heardcore.holdback``).

Levels are dB Q8 (``heardcore.frontend``); the floor is kept in Q12 so that a rise of a
fraction of a dB per second is representable. During the first ``startup`` frames the
floor rises fast, so a device switched on in a noisy room settles within a second. State
lives in an int32 array (``WORDS`` per channel) and configuration in another (``_CFG_*``),
so a frame allocates nothing.
"""

import micropython
from micropython import const

# Per channel: smoothed level (Q8), floor (Q12), speech on (0/1), hangover left, minimum
# level of this half window and of the previous one (Q8); this frame's zero crossings (the
# caller writes them to CROSSINGS before ``update``: one argument more would make the
# caller's call frame a heap block), the last frame's crossings and level (Q8), and for how
# many frames both have held steady (one more than a tone's: a tone has ended and the level
# has not risen since).
WORDS = const(10)
CROSSINGS = const(6)
STEADY = const(9)  # at the tone's frames or above: no speech (a tone or its echo)
_NO_MIN = const(1 << 20)  # above any level (Q8)
_CFG_SMOOTH = const(0)  # level smoothing, Q8 fraction of the step (256 = none)
_CFG_FALL = const(1)  # floor falls by 1/2**k of the gap per frame
_CFG_RISE = const(2)  # floor rise per frame after start-up, Q12 dB
_CFG_RISE0 = const(3)  # floor rise per frame during start-up, Q12 dB
_CFG_STARTUP = const(4)  # start-up frames
_CFG_ON = const(5)  # dB Q8 above the floor that starts speech
_CFG_OFF = const(6)  # dB Q8 above the floor that keeps speech
_CFG_HANG = const(7)  # hangover frames
_CFG_HALF = const(8)  # frames in half the minimum window (0: no window)
_CFG_TONE_FRAMES = const(9)  # steady frames that make a tone (0: no tone test)
_CFG_TONE_CROSSINGS = const(10)  # fewest zero crossings per frame of a tone
_CFG_TONE_LEVEL = const(11)  # dB Q8 a tone's level may move per frame
_CFG_WORDS = const(12)


def config(params):
    """The int32 words of the VAD configuration, from ``heardcore.params.Params``."""
    frames_per_s = 1000 // params.frame_ms
    return (
        params.level_smooth_permille * 256 // 1000,
        params.floor_fall_shift,
        (params.floor_rise_db10_per_s * 4096 // 10 + frames_per_s // 2) // frames_per_s,
        (params.floor_startup_rise_db10_per_s * 4096 // 10) // frames_per_s,
        params.floor_startup_ms // params.frame_ms,
        params.vad_on_db10 * 256 // 10,
        params.vad_off_db10 * 256 // 10,
        params.vad_hangover_ms // params.frame_ms,
        params.floor_window_ms // params.frame_ms // 2,
        params.tone_ms // params.frame_ms,
        2 * params.tone_min_hz * params.frame_ms // 1000,
        params.tone_level_db10 * 256 // 10,
    )


def init(state, base, level):
    """Start a channel's tracker at the first frame's level."""
    state[base] = level
    state[base + 1] = level << 4
    state[base + 2] = 0
    state[base + 3] = 0
    state[base + 4] = _NO_MIN
    state[base + 5] = _NO_MIN
    state[base + 6] = 0
    state[base + 7] = 0
    state[base + 8] = level
    state[base + 9] = 0


@micropython.viper
def update(state, base: int, level: int, frame: int, cfg) -> int:
    """Advance one channel by one frame; returns 1 while the channel hears speech."""
    st = ptr32(state)
    h = ptr16(state)  # loads as two halves: a ptr32 load is unsigned on 64-bit ports
    c = ptr32(cfg)  # configuration words are all >= 0
    w = 2 * base
    smooth = (((h[w + 1] ^ 0x8000) - 0x8000) << 16) | h[w]
    smooth += ((level - smooth) * c[0]) >> 8
    st[base] = smooth
    floor = (((h[w + 3] ^ 0x8000) - 0x8000) << 16) | h[w + 2]
    target = smooth << 4
    if target < floor:
        floor += (target - floor) >> c[1]
    elif frame < c[4]:
        floor += c[3]
    else:
        floor += c[2]
    half = c[8]
    if half > 0:
        low = (((h[w + 9] ^ 0x8000) - 0x8000) << 16) | h[w + 8]
        if smooth < low:
            low = smooth
        if (frame + 1) % half == 0:
            prev = (((h[w + 11] ^ 0x8000) - 0x8000) << 16) | h[w + 10]
            lowest = low if low < prev else prev
            if prev < _NO_MIN and (lowest << 4) > floor:
                floor = lowest << 4  # the whole window stayed above the floor
            st[base + 5] = low
            low = _NO_MIN
        st[base + 4] = low
    st[base + 1] = floor
    steady = 0
    need = c[9]
    if need > 0:  # plain ptr32 loads: these words are never negative
        crossings = st[base + 6]
        moved = crossings - st[base + 7]
        step = level - st[base + 8]
        steady = st[base + 9]
        if crossings >= c[10] and moved <= 1 and moved >= -1 and step <= c[11] and -step <= c[11]:
            if steady < need:  # counts to the tone's frames and stays there
                steady += 1
            elif steady > need:
                steady = 1  # a new tone during the last one's echo
        elif steady >= need and step <= c[11]:
            steady = need + 1  # a tone's end and its echo: no speech until the level rises
        else:
            steady = 0
        st[base + 7] = crossings
        st[base + 8] = level
        st[base + 9] = steady
    snr = smooth - (floor >> 4)
    on = h[w + 4]
    if frame < c[4] or (need > 0 and steady >= need):
        on = 0  # the floor is still being learnt, or a steady tone
        st[base + 3] = 0
    elif snr > c[5] or (on and snr > c[6]):
        on = 1
        st[base + 3] = c[7]
    elif on:
        left = ((((h[w + 7] ^ 0x8000) - 0x8000) << 16) | h[w + 6]) - 1
        st[base + 3] = left
        if left < 0:  # on for exactly the hangover's frames after the level drops
            on = 0
    st[base + 2] = on
    return on
