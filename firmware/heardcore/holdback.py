"""Frames on their way to the turn layer, held back by a steady tone's length.

The VAD knows a beep for a steady tone only ``tone_ms`` after it began
(``heardcore.vad``); by then the beep's first frames have been taken for talk. Held back
``tone_ms`` and one frame more (a beep rarely starts on a frame boundary, and its partial
first frame is not steady yet), those frames are still here when the tone is found, and
lose their talk. Without this, beeps starting less than about ``turn_bridge_ms +
tone_ms`` apart left first-frame pieces that the turn bridge joined into talk. Talk that
ran a tone's length before the held frames is left alone. Per frame only its talk flags and
two levels are held, never audio; nothing is allocated after ``HoldBack()``.
"""

import array


class HoldBack:
    """A fixed ring of ``size`` frames: (talk flags, level a, level b) each."""

    def __init__(self, size):
        self.size = size
        self.slots = array.array("i", [0] * (3 * size))
        self.pos = 0  # the slot the next frame goes to
        self.count = 0
        self.talked = 0  # frames of talk in a row that have left, up to size
        # The frame that left at the last ``push`` or ``pop``.
        self.flags = self.a = self.b = 0

    def push(self, flags, a, b):
        """Hold this frame; 1 when that let the frame ``size`` frames before it leave (its
        values in ``flags``, ``a``, ``b``), else 0 (still filling)."""
        slots = self.slots
        i = 3 * self.pos
        left = 0
        if self.count == self.size:
            self.flags = slots[i]
            self.a = slots[i + 1]
            self.b = slots[i + 2]
            left = 1
            if not self.flags:
                self.talked = 0
            elif self.talked < self.size:
                self.talked += 1
        else:
            self.count += 1
        slots[i] = flags
        slots[i + 1] = a
        slots[i + 2] = b
        self.pos = self.pos + 1 if self.pos + 1 < self.size else 0
        return left

    def silence(self):
        """The frames held lose their talk flags: they were the start of a tone. Unless talk
        ran for ``size - 1`` frames (a tone's length) just before them: then the tone came
        within talk (a held vowel, a beep over someone talking), and the talk stays. (A
        beep found a frame or two late has let one or two of its first frames leave as
        talk; those do not count as talk from before.)"""
        if self.talked >= self.size - 1:
            return
        i = 0
        while i < 3 * self.size:
            self.slots[i] = 0
            i += 3

    def pop(self):
        """The oldest frame still held leaves (end of input): 1, its values in ``flags``,
        ``a``, ``b``; 0 when none is left."""
        if self.count == 0:
            return 0
        i = 3 * ((self.pos - self.count) % self.size)
        self.flags = self.slots[i]
        self.a = self.slots[i + 1]
        self.b = self.slots[i + 2]
        self.count -= 1
        return 1
