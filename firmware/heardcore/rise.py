"""How much each microphone's level rose just now: a newcomer's voice joining the talk.

When one party starts to talk while the other still holds the floor, the detector usually
keeps the floor-holder until the newcomer dominates, so the switch looks seamless. What
gives the overlap away is the newcomer's own microphone: over the last ``rise_recent_ms``
it is louder than it was over ``rise_before_ms`` that ended ``rise_gap_ms`` before them, by
several dB, because a second voice was added. At a normal turn the newcomer's microphone
heard only the other party's leak and its fading end. ``heardcore.turns`` asks for the rise
only at an onset (``rise``); per frame there is one ring update (``track``).

Only frame levels in whole dB are kept, the last few seconds' frames per channel, never
audio: one preallocated bytearray (``new``) holds them, the window sums and the windows'
lengths.
"""

import micropython
from micropython import const

# Layout: int32 words [ring position, frames seen (up to the span), then per channel the sum
# of its recent levels and of its earlier ones, then the recent, gap, earlier and span
# lengths in frames], then the ring, span bytes a channel.
_RING = const(40)  # byte offset of the ring


def new(params):
    """The buffer for ``track`` and ``rise``, with the windows of ``params``."""
    recent = params.rise_recent_ms // params.frame_ms
    gap = params.rise_gap_ms // params.frame_ms
    before = params.rise_before_ms // params.frame_ms
    span = recent + gap + before
    buf = bytearray(_RING + 2 * span)
    for word, value in ((6, recent), (7, gap), (8, before), (9, span)):
        for i in range(4):
            buf[4 * word + i] = (value >> (8 * i)) & 0xFF
    return buf


@micropython.viper
def track(buf, level0: int, level1: int):
    """Add one frame's levels (dB Q8, 0 <= level < 2**15) to the ring and window sums."""
    st = ptr32(buf)
    r = ptr8(buf)
    pos = st[0]
    recent = st[6]
    span = st[9]
    recent_out = pos + span - recent  # the level leaving the recent window
    if recent_out >= span:
        recent_out -= span
    before_in = recent_out - st[7]  # the level entering the earlier window
    if before_in < 0:
        before_in += span
    ch = 0
    while ch < 2:
        base = _RING + ch * span
        level = (level0 if ch == 0 else level1) >> 8
        st[2 + 2 * ch] = st[2 + 2 * ch] + level - r[base + recent_out]
        st[3 + 2 * ch] = st[3 + 2 * ch] + r[base + before_in] - r[base + pos]
        r[base + pos] = level
        ch += 1
    pos += 1
    if pos >= span:
        pos = 0
    st[0] = pos
    if st[1] < span:
        st[1] = st[1] + 1


@micropython.viper
def rise(buf, channel: int) -> int:
    """dB Q8 by which ``channel``'s mean level over the recent window exceeds its mean over
    the earlier one (0 until the whole span has been seen)."""
    st = ptr32(buf)
    if st[1] < st[9]:
        return 0
    return (st[2 + 2 * channel] << 8) // st[6] - (st[3 + 2 * channel] << 8) // st[8]
