"""The ESP32 hardware layer: INMP441 microphones on I2S, the REPL UART as the serial port,
a LittleFS data partition, watchdog, status LED and mute button.

The only module that imports ``machine``. Pins come from ``heardapp.board``. Records live
on a partition labelled ``heard`` that the app mounts at /data and can reformat itself (a
corrupt filesystem then cannot leave the device stuck in the stock boot loop); without that
partition they go to /data on the main filesystem.
"""

import array
import os
import select
import sys
import time

import esp32
import machine
import micropython
import vfs

from heardapp import board
from heardcore.pcm import i2s32_to_int16

BLOCK_FRAMES = 2  # 20 ms per read: the serial port is served between reads
IBUF = 40000  # I2S DMA ring: ~300 ms of 32-bit stereo at 16 kHz (FACTS.md)
WARMUP_MS = 300  # the INMP441's first ~256 ms are not valid data
WDT_MS = 8000
GAIN_BITS = 0
DATA = "/data"
CONFIG = "/heard"


class Esp32Hardware:
    block_frames = BLOCK_FRAMES
    config_dir = CONFIG
    write_chunk = 0

    def __init__(self, channels=2, pinmap="/heard/pinmap.json"):
        self.pins = board.load(pinmap)
        self.channels = channels
        self.i2s = None
        self.raw = bytearray(BLOCK_FRAMES * 160 * channels * 4)
        self.audio_block = array.array("h", bytearray(2 * BLOCK_FRAMES * 160 * channels))
        self.wdt = machine.WDT(timeout=WDT_MS)
        self.led_pin = machine.Pin(self.pins["led"], machine.Pin.OUT, value=0)
        self.button_pin = machine.Pin(self.pins["button"], machine.Pin.IN, machine.Pin.PULL_UP)
        self.button_was = 1
        self.repl_timer = None
        self.last_ticks = time.ticks_ms()
        self.poller = select.poll()
        self.poller.register(sys.stdin, select.POLLIN)
        self.stdin = sys.stdin.buffer
        self.stdout = sys.stdout.buffer
        self.partition = None
        found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="heard")
        if found:
            self.partition = found[0]

    # --- microphone -------------------------------------------------------------------

    def mic_start(self):
        fmt = machine.I2S.STEREO if self.channels == 2 else machine.I2S.MONO
        pins = self.pins
        self.i2s = machine.I2S(
            pins["i2s_id"], sck=machine.Pin(pins["i2s_sck"]), ws=machine.Pin(pins["i2s_ws"]),
            sd=machine.Pin(pins["i2s_sd"]), mode=machine.I2S.RX, bits=32, format=fmt,
            rate=16000, ibuf=IBUF,
        )
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < WARMUP_MS:
            self.i2s.readinto(self.raw)
        self.last_ticks = time.ticks_ms()

    def mic_stop(self):
        if self.i2s is not None:
            self.i2s.deinit()
            self.i2s = None

    def mic_read(self, buf):
        i2s = self.i2s
        if i2s is None:
            return 0
        got = i2s.readinto(self.raw)
        slots = got // 4
        i2s32_to_int16(self.raw, buf, slots, GAIN_BITS)
        return slots // self.channels

    def finished(self):
        return False

    # --- clock ------------------------------------------------------------------------

    def elapsed_ms(self):
        now = time.ticks_ms()
        out = time.ticks_diff(now, self.last_ticks)
        self.last_ticks = now
        return out

    def wait(self, ms):
        for _ in self.poller.ipoll(ms):
            break

    # --- serial -----------------------------------------------------------------------

    def serial_read(self, one):
        for _ in self.poller.ipoll(0):
            return self.stdin.readinto(one) or 0
        return 0

    def serial_write(self, data):
        self.stdout.write(data)

    def kbd_intr(self, on):
        micropython.kbd_intr(3 if on else -1)

    # --- flash ------------------------------------------------------------------------

    def mount_data(self):
        if self.partition is None:
            try:
                os.mkdir(DATA)
            except OSError:
                pass
            return DATA
        try:
            os.stat(DATA)
        except OSError:
            vfs.mount(vfs.VfsLfs2(self.partition), DATA)  # type: ignore[abstract]  # stub bug
        return DATA

    def format_data(self):
        if self.partition is None:
            for name in os.listdir(DATA):
                os.remove(DATA + "/" + name)
            return DATA
        try:
            vfs.umount(DATA)
        except OSError:
            pass
        vfs.VfsLfs2.mkfs(self.partition)
        vfs.mount(vfs.VfsLfs2(self.partition), DATA)  # type: ignore[abstract]  # stub bug
        return DATA

    def free_bytes(self):
        st = os.statvfs(DATA)
        return st[0] * st[3]

    # --- the rest of the board ----------------------------------------------------------

    def feed(self):
        self.wdt.feed()

    def led(self, on):
        self.led_pin.value(1 if on else 0)

    def button(self):
        """True once per press (a falling edge of the pulled-up input)."""
        now = self.button_pin.value()
        pressed = self.button_was == 1 and now == 0
        self.button_was = now
        return pressed

    def to_repl(self):
        """Leaving for the REPL: the watchdog cannot be stopped, so a timer feeds it, or
        the board would reset under the engineer's hands."""
        wdt = self.wdt
        self.repl_timer = machine.Timer(0)
        self.repl_timer.init(period=2000, callback=lambda _t: wdt.feed())

    def reset_cause(self):
        cause = machine.reset_cause()
        return cause if 1 <= cause <= 5 else 0

    def reset(self):
        machine.reset()

    def random(self, n):
        return os.urandom(n)

    def debug(self, text):
        pass  # stdout is the protocol channel: nothing else may be written to it
