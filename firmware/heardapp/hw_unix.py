"""The unix-port hardware layer: WAV files as the microphone, stdio as the serial port,
a folder as flash, and a clock that follows the audio in fast mode.

``heard emulate`` connects stdin and stdout to a pseudo-terminal, so the host talks to the
emulated device exactly as to a USB serial port. Layout of the flash folder:
``identity.json`` and ``config.json`` (what provisioning writes) and ``data/`` (the data
area with the record log). Creating a file named ``button`` in the folder is one press of
the mute button. Debug lines (records written, errors) go to stderr, never to the serial
port.
"""

import array
import os
import select
import sys
import time

import micropython

from heardcore.wavfile import WavReader

BLOCK_FRAMES = 8
BLOCK_SIZE = 4096
EXIT_REBOOT = 3
BUTTON_EVERY = 6  # steps: ~0.5 s of audio


class UnixHardware:
    block_frames = BLOCK_FRAMES

    def __init__(self, wavs, flash, fast=False, capacity=2 * 1024 * 1024, write_chunk=0,
                 exit_when_done=False, drop_audio=None, reset_cause=6, tail_ms=10000,
                 fail_at=-1, gap_ms=0):
        self.flash = flash
        self.config_dir = flash
        self.data_dir = flash + "/data"
        self.fast = fast
        self.capacity = capacity
        self.write_chunk = write_chunk
        self.exit_when_done = exit_when_done
        self.drops = list(drop_audio or [])  # (at audio ms, ms lost) in order
        self.cause = reset_cause
        self.tail_ms = tail_ms
        self.gap_ms = gap_ms  # silence between two files (customers come and go)
        self.gap_left = 0
        self.fail_at = fail_at  # audio ms at which mic_read raises once (fault injection)
        self.wavs = list(wavs)
        self.reader = None
        self.file = None
        self.channels = 0
        for path in self.wavs:
            with open(path, "rb") as f:
                ch = WavReader(f).channels
            if self.channels and ch != self.channels:
                raise ValueError("{}: {} channels, the first file has {}".format(
                    path, ch, self.channels))
            self.channels = ch
        if not self.channels:
            self.channels = 2
        self.audio_block = array.array("h", bytearray(2 * BLOCK_FRAMES * 160 * self.channels))
        self.audio_ms = 0  # audio produced so far
        self.silence_ms = 0  # silence produced after the last file
        self.done = False
        self.live = False
        self.lit = False
        self.fed = 0
        self.button_every = BUTTON_EVERY
        self.button_countdown = BUTTON_EVERY
        self.virtual_ms = 0
        self.reported_ms = 0
        self.start = time.ticks_ms()
        self.last_ticks = self.start
        self.poller = select.poll()
        self.poller.register(sys.stdin, select.POLLIN)
        self.stdin = sys.stdin.buffer
        self.stdout = sys.stdout.buffer
        for name in (self.flash, self.data_dir):
            _mkdir(name)

    # --- microphone -------------------------------------------------------------------

    def mic_start(self):
        self.live = True

    def mic_stop(self):
        self.live = False

    def mic_read(self, buf):
        """Fill ``buf`` with the next block; the number of sample frames (0: not yet)."""
        frames = len(buf) // self.channels
        block_ms = frames // 16
        if not self.fast and self._wall_ms() < self.audio_ms + block_ms:
            self._wait_for_block(block_ms)
            return 0
        if 0 <= self.fail_at <= self.audio_ms:
            self.fail_at = -1
            raise RuntimeError("injected fault at {} ms".format(self.audio_ms))
        if self.drops and self.audio_ms >= self.drops[0][0]:
            self._drop(self.drops.pop(0)[1])
        got = 0
        if self.gap_left > 0:
            self.gap_left -= block_ms
        else:
            got = self._read_wav(buf)
        if got < frames:
            self._pad(buf, got, block_ms)
        self.audio_ms += block_ms
        self.virtual_ms += block_ms
        return frames

    # Helpers keep mic_read's frame within 11 words, which MicroPython would otherwise take
    # from the heap on every block (the device's own path is checked for that).
    def _wait_for_block(self, block_ms):
        # Real time: wait for the block's time, but wake at once for serial input.
        wait = self.audio_ms + block_ms - self._wall_ms()
        for _ in self.poller.ipoll(wait if wait > 0 else 0):
            break

    def _pad(self, buf, got, block_ms):
        for i in range(got * self.channels, len(buf)):
            buf[i] = 0
        if not self.wavs and self.reader is None:
            self.silence_ms += block_ms

    def _read_wav(self, buf):
        while True:
            if self.reader is None:
                if not self.wavs:
                    return 0
                self.file = open(self.wavs.pop(0), "rb")
                self.reader = WavReader(self.file)
            got = self.reader.readinto(buf)
            if got:
                return got
            self._close_wav()
            if self.wavs and self.gap_ms:
                self.gap_left = self.gap_ms
                return 0

    def _close_wav(self):
        f = self.file
        if f is not None:
            f.close()
        self.file = None
        self.reader = None

    def _drop(self, ms):
        """Emulate the I2S DMA ring overwriting audio while the CPU was stalled: skip
        ``ms`` of input while the clock moves on."""
        skip = array.array("h", bytearray(32 * self.channels))  # 1 ms
        reader = self.reader
        for _ in range(ms):
            if reader is not None:
                reader.readinto(skip)
        self.virtual_ms += ms
        self.audio_ms += ms

    def finished(self):
        return self.exit_when_done and not self.wavs and self.reader is None \
            and self.silence_ms >= self.tail_ms

    # --- clock ------------------------------------------------------------------------

    def _wall_ms(self):
        return time.ticks_diff(time.ticks_ms(), self.start)

    def elapsed_ms(self):
        """Milliseconds since the previous call: audio time in fast mode, wall time
        otherwise."""
        if self.fast:
            if not self.wavs and self.reader is None and self.silence_ms >= self.tail_ms:
                # After the input and its silent tail, fast mode falls back to real time.
                self.fast = False
                self.start = time.ticks_add(time.ticks_ms(), -self.audio_ms)
                self.last_ticks = time.ticks_ms()
            out = self.virtual_ms - self.reported_ms
            self.reported_ms = self.virtual_ms
            return out
        now = time.ticks_ms()
        out = time.ticks_diff(now, self.last_ticks)
        self.last_ticks = now
        return out

    def wait(self, ms):
        for _ in self.poller.ipoll(ms):
            break
        if self.fast:
            self.virtual_ms += ms

    # --- serial -----------------------------------------------------------------------

    def serial_read(self, one):
        for _obj, _event in self.poller.ipoll(0):
            if self.stdin.readinto(one) == 1:
                return 1
            # End of input: the host side of the pty went away; nothing more to read.
            return 0
        return 0

    def serial_write(self, data):
        self.stdout.write(data)
        if hasattr(self.stdout, "flush"):
            self.stdout.flush()

    def kbd_intr(self, on):
        micropython.kbd_intr(3 if on else -1)

    # --- flash ------------------------------------------------------------------------

    def mount_data(self):
        _mkdir(self.data_dir)
        return self.data_dir

    def format_data(self):
        for name in os.listdir(self.data_dir):
            os.remove(self.data_dir + "/" + name)
        return self.data_dir

    def free_bytes(self):
        used = 8192  # filesystem metadata
        for name in os.listdir(self.data_dir):
            size = os.stat(self.data_dir + "/" + name)[6]
            used += (size + 4095) // 4096 * 4096
        return max(0, self.capacity - used)

    # --- the rest of the board ----------------------------------------------------------

    def feed(self):
        self.fed += 1

    def led(self, on):
        self.lit = on

    def button(self):
        # Looking for the file allocates (an OSError when it is absent), so only every
        # BUTTON_EVERY calls; a real button is a pin read. 0 switches it off.
        if not self.button_every:
            return False
        self.button_countdown -= 1
        if self.button_countdown > 0:
            return False
        self.button_countdown = self.button_every
        try:
            os.remove(self.flash + "/button")
            return True
        except OSError:
            return False

    def to_repl(self):
        pass

    def reset_cause(self):
        return self.cause

    def reset(self):
        sys.exit(EXIT_REBOOT)

    def random(self, n):
        return os.urandom(n)

    def debug(self, text):
        sys.stderr.write(text + "\n")


def _mkdir(path):
    try:
        os.mkdir(path)
    except OSError:
        pass
