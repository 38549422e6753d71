"""Voice activity per channel: a noise floor that follows slowly rising noise and drops
fast, SNR thresholds with hysteresis, and a hangover.

The floor is also never below the lowest level of the last ``floor_window`` (checked every
half window; two half-window minima are kept): speech pauses within a couple of seconds,
noise that does not (music, a fan switched on) lifts the floor within one window instead
of rising at the slow rate for tens of seconds.

Levels are dB Q8 (``heardcore.frontend``); the floor is kept in Q12 so that a rise of a
fraction of a dB per second is representable. During the first ``startup`` frames the
floor rises fast, so a device switched on in a noisy room settles within a second. State
lives in an int32 array (``WORDS`` per channel) and configuration in another (``_CFG_*``),
so a frame allocates nothing.
"""

import micropython
from micropython import const

# Per channel: smoothed level (Q8), floor (Q12), speech on (0/1), hangover left, minimum
# level of this half window and of the previous one (Q8).
WORDS = const(6)
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
_CFG_WORDS = const(9)


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
    )


def init(state, base, level):
    """Start a channel's tracker at the first frame's level."""
    state[base] = level
    state[base + 1] = level << 4
    state[base + 2] = 0
    state[base + 3] = 0
    state[base + 4] = _NO_MIN
    state[base + 5] = _NO_MIN


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
    snr = smooth - (floor >> 4)
    on = h[w + 4]
    if frame < c[4]:
        on = 0  # the floor is still being learnt
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
