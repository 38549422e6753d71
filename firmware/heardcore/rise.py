"""How much each microphone's level rose just now: a newcomer's voice joining the talk.

When one party starts to talk while the other still holds the floor, the detector usually
keeps the floor-holder until the newcomer dominates, so the switch looks seamless. What
gives the overlap away is the newcomer's own microphone: over the last ``_RECENT`` frames it
is louder than it was over ``_BEFORE`` frames that ended ``_GAP`` frames before them, by
several dB, because a second voice was added. At a normal turn the newcomer's microphone
heard only the other party's leak and its fading end. ``heardcore.turns`` asks for the rise
only at an onset (``rise``); per frame there is one ring update (``track``).

Only frame levels in whole dB are kept, the last ``_SPAN`` frames per channel, never audio:
one preallocated bytearray (``new``) holds them and the window sums.
"""

import micropython
from micropython import const

_RECENT = const(30)  # frames: the last 300 ms
_BEFORE = const(50)  # frames: the half second ...
_GAP = const(20)  # ... that ended 200 ms before the last 300 ms began
_SPAN = const(100)  # _RECENT + _GAP + _BEFORE frames per channel
# Layout: int32 words [ring position, frames seen (up to _SPAN), then per channel the sum of
# its last _RECENT levels and of its _BEFORE levels], then the ring, _SPAN bytes a channel.
_RING = const(24)  # byte offset of the ring


def new():
    """The buffer for ``track`` and ``rise``."""
    return bytearray(_RING + 2 * _SPAN)


@micropython.viper
def track(buf, level0: int, level1: int):
    """Add one frame's levels (dB Q8, 0 <= level < 2**15) to the ring and window sums."""
    st = ptr32(buf)
    r = ptr8(buf)
    pos = st[0]
    recent_out = pos + _SPAN - _RECENT  # the level leaving the recent window
    if recent_out >= _SPAN:
        recent_out -= _SPAN
    before_in = pos + _SPAN - _RECENT - _GAP  # the level entering the earlier window
    if before_in >= _SPAN:
        before_in -= _SPAN
    ch = 0
    while ch < 2:
        base = _RING + ch * _SPAN
        level = (level0 if ch == 0 else level1) >> 8
        st[2 + 2 * ch] = st[2 + 2 * ch] + level - r[base + recent_out]
        st[3 + 2 * ch] = st[3 + 2 * ch] + r[base + before_in] - r[base + pos]
        r[base + pos] = level
        ch += 1
    pos += 1
    if pos >= _SPAN:
        pos = 0
    st[0] = pos
    if st[1] < _SPAN:
        st[1] = st[1] + 1


@micropython.viper
def rise(buf, channel: int) -> int:
    """dB Q8 by which ``channel``'s last _RECENT frames exceed its _BEFORE frames (0 until
    _SPAN frames have been seen)."""
    st = ptr32(buf)
    if st[1] < _SPAN:
        return 0
    return (st[2 + 2 * channel] << 8) // _RECENT - (st[3 + 2 * channel] << 8) // _BEFORE
