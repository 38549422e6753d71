"""The device application: one loop from microphone to records, and the serial session.

``App(hw).run()`` runs on the ESP32 (``heardapp.hw_esp32``) and on the unix port
(``heardapp.hw_unix``); only the hardware object differs. Per block of audio: read it,
run the detector frame by frame, look for lost audio (samples read vs elapsed time), serve
the serial session, feed the watchdog. Records are built when a conversation ends and
written only while no conversation is open, because a flash write stalls the CPU and the
I2S DMA ring then overwrites audio. An exception in the loop is logged as an event record
and the loop starts again with a fresh detector.

Times are kept as seconds plus milliseconds so that nothing grows into a heap integer on
a device that runs for months; the detector gets a new time base between conversations
before its ms clock gets near 2**30.
"""

import json

from heardcore import record, wire
from heardcore.detector import Detector
from heardcore.events import Sink
from heardcore.params import ConfigError, Params
from heardcore.params import known as params_known
from heardcore.recordlog import LogCorrupt, RecordLog
from heardcore.session import Session

FIRMWARE_VERSION = "0.2.0"
DETECTOR_MAX_MS = 1 << 29  # ~6.2 days: well below 2**30, where ints become heap objects
GAP_REPORT_MS = 100  # lost audio below this is jitter, not a gap
MAX_PENDING = 32  # records waiting for the end of a conversation
ERROR_STORM = 5  # this many errors within ERROR_WINDOW_S: reset the device
ERROR_WINDOW_S = 60


class _RecordSink(Sink):
    def __init__(self, app):
        self.app = app

    def conversation(self, conv):
        self.app.conversation_ended(conv)

    def employee_only(self, start_ms, end_ms, talk_ms):
        self.app.queue_event(record.EVENT_EMPLOYEE_ONLY, talk_ms, end_ms - start_ms,
                             at_ms=start_ms)


class App:
    def __init__(self, hw):
        self.hw = hw
        self.channels = hw.channels
        self.boot_id = int.from_bytes(hw.random(4), "little")
        self.up_s = 0
        self.up_ms = 0
        self.clock_s = 0  # device clock at clock_up_s, 0 = not set since boot
        self.clock_up_s = 0
        self.pending = []
        self.muted = False
        self.muted_at_s = 0
        self.errors = []
        self.gap_balance = 0
        self.dropped_early = 0  # records lost before the log was open (queue overflow)
        self.config_dirty = False
        self.det_base_ms = 0
        self.device_id, self.secret = self._identity()
        self.overrides = self._load_overrides()
        self.log, self.cut_bytes = self._open_log()
        self.detector = self._make_detector()
        self.session = Session(self, hw.serial_write)
        self.byte = bytearray(1)
        # One block of audio (the hardware layer allocates it first thing, before the
        # app's modules are imported, while the heap is still in one piece) and a view of
        # each 10 ms frame in it, made once: slicing per frame would allocate.
        self.block = hw.audio_block
        mv = memoryview(self.block)
        step = 160 * self.channels
        self.frame_views = [mv[i * step:(i + 1) * step] for i in range(hw.block_frames)]

    # --- boot -------------------------------------------------------------------------

    def boot(self):
        self.queue_event(record.EVENT_BOOT, self.hw.reset_cause(), self.cut_bytes,
                         text=FIRMWARE_VERSION)
        self._write_pending()
        self.hw.serial_write("heard {} boot {:08x} device {}\r\n".format(
            FIRMWARE_VERSION, self.boot_id, self.device_id).encode())
        self.hw.mic_start()
        self.hw.led(True)

    def _open_log(self):
        """The record log and the bytes cut from a torn tail."""
        try:
            log = RecordLog(self.hw.mount_data(), self.hw.free_bytes,
                            write_chunk=self.hw.write_chunk)
            log.open()
            if log.rebuilt:
                self.queue_event(record.EVENT_LOG_REBUILT, log.first_seq, log.next_seq,
                                 text=log.rebuilt[:64])
            return log, log.cut_bytes
        except (LogCorrupt, OSError, ValueError) as exc:
            reason = "{}: {}".format(type(exc).__name__, exc)
        # The data area is unreadable: start it afresh rather than leave the device stuck.
        log = RecordLog(self.hw.format_data(), self.hw.free_bytes,
                        write_chunk=self.hw.write_chunk)
        log.format(reason)
        log.open()
        self.queue_event(record.EVENT_DATA_RESET, text=reason)
        return log, 0

    def _identity(self):
        try:
            with open(self.hw.config_dir + "/identity.json") as f:
                data = json.load(f)
            secret = bytes.fromhex(data["secret"])
            return str(data["device_id"]), secret
        except (OSError, ValueError, KeyError, TypeError):
            return "unprovisioned", None

    def _load_overrides(self):
        path = self.hw.config_dir + "/config.json"
        try:
            with open(path) as f:
                overrides = json.load(f)
            if not isinstance(overrides, dict):  # null, [] or 0 would pass Params
                raise ValueError("not an object of name: value")
            self._drop_unknown(overrides, path)
            Params(overrides)
            return overrides
        except OSError:
            return {}
        except (ValueError, TypeError) as exc:
            # A bad config must not stop the device: run on defaults and say why.
            self.queue_event(record.EVENT_ERROR, text="config.json ignored: {}".format(exc))
            return {}

    def _drop_unknown(self, overrides, path):
        """Names this firmware does not know (a parameter a firmware update removed) are
        dropped, said once and the file rewritten without them: the rest of the
        configuration, such as a calibration, survives the update."""
        unknown = sorted(name for name in overrides if not params_known(name))
        if not unknown:
            return
        for name in unknown:
            del overrides[name]
        with open(path + ".tmp", "w") as f:
            json.dump(overrides, f)
        _replace(path + ".tmp", path)
        self.queue_event(record.EVENT_ERROR,
                         text="config.json: unknown {} dropped".format(",".join(unknown)))

    # --- time -------------------------------------------------------------------------

    def _tick(self, ms):
        ms += self.up_ms
        self.up_s += ms // 1000
        self.up_ms = ms % 1000

    def uptime_ms(self):
        return self.up_s * 1000 + self.up_ms

    def clock_at(self, uptime_ms):
        """Device clock (unix s) at an uptime, 0 when the clock is not set."""
        if not self.clock_s:
            return 0
        return self.clock_s + uptime_ms // 1000 - self.clock_up_s

    def set_clock(self, now_s):
        previous = self.clock_at(self.uptime_ms())
        self.clock_s = now_s
        self.clock_up_s = self.up_s
        if previous == 0 or abs(previous - now_s) > 2:
            self.queue_event(record.EVENT_CLOCK_SET, previous, now_s)
        return previous

    # --- records ----------------------------------------------------------------------

    def conversation_ended(self, conv):
        at = self.det_base_ms + conv.start_ms
        raw = record.conversation(0, 0, at, self.clock_at(at), conv, self.channels)
        self._queue(raw)

    def queue_event(self, code, a=0, b=0, text="", at_ms=None):
        at = self.uptime_ms() if at_ms is None else self.det_base_ms + at_ms
        self._queue(record.event(0, 0, at, self.clock_at(at), code, a, b, text))

    def _queue(self, raw):
        if len(self.pending) >= MAX_PENDING:
            self.pending.pop(0)
            self.dropped_early += 1
        self.pending.append(raw)

    def conversation_open(self):
        return self.detector.tracker.active

    def _write_pending(self):
        log = self.log
        if self.dropped_early:
            log.dropped += self.dropped_early
            self.dropped_early = 0
        while self.pending:
            # Taken off the queue only after append returns: if it raises, the record
            # waits for the next try. A full area returns False (counted as dropped).
            written = log.append(record.with_seq(self.pending[0], log.next_seq, self.boot_id))
            self.pending.pop(0)
            if written:
                self.hw.debug("wrote {}".format(log.next_seq - 1))
        if log.dropped > log.dropped_logged:
            missed = log.dropped - log.dropped_logged
            raw = record.event(log.next_seq, self.boot_id, self.uptime_ms(),
                               self.clock_at(self.uptime_ms()),
                               record.EVENT_RECORDS_DROPPED, missed, log.dropped)
            if log.append(raw, count=False):  # its own loss is no news
                log.note_dropped_logged()
                self.hw.debug("wrote {}".format(log.next_seq - 1))

    # --- detector ---------------------------------------------------------------------

    def _make_detector(self):
        self.det_base_ms = self.uptime_ms()
        self.config_dirty = False
        return Detector(Params(self.overrides), self.channels, _RecordSink(self))

    def _new_detector(self):
        self.detector = self._make_detector()

    def _end_detector(self):
        """Close and report what is open (the detector is replaced before it is used
        again)."""
        self.detector.finish()

    # --- the loop ---------------------------------------------------------------------

    def run(self):
        self.boot()
        try:
            while not self.hw.finished():
                try:
                    self.step()
                except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                    self.failed(exc)
        except KeyboardInterrupt:
            # An engineer pressed Ctrl-C (never inside a session): stop listening, keep
            # what was measured, and leave to the REPL.
            self._end_detector()
            self._write_pending()
            self.hw.mic_stop()
            self.hw.led(False)
            self.hw.to_repl()
            raise
        self._end_detector()
        self._write_pending()

    def step(self):
        hw = self.hw
        hw.feed()
        if hw.button():
            self.toggle_mute()
        frames = 0
        if self.muted:
            hw.wait(50)
        else:
            frames = self._listen()
        elapsed = hw.elapsed_ms()
        self._tick(elapsed)
        if not self.muted:
            self._count_lost_audio(elapsed, frames)
        self._serial(elapsed)
        if not self.conversation_open():
            if self.pending:
                self._write_pending()
            if self.config_dirty or self.detector.frames * 10 > DETECTOR_MAX_MS:
                self._new_detector()

    # step() is split in three: a bytecode call whose frame needs more than 11 words takes it
    # from the heap, on every block.
    def _listen(self):
        """Read one block and analyse its frames; the sample frames read."""
        frames = self.hw.mic_read(self.block)
        if frames > 0:
            det = self.detector
            views = self.frame_views
            for i in range(frames // det.frame_samples):
                det.process(views[i])
        return frames

    def _count_lost_audio(self, elapsed, frames):
        # Lost audio: elapsed time that the samples read do not account for.
        balance = self.gap_balance + elapsed - frames // 16
        if balance < -1000:
            balance = -1000
        elif balance > GAP_REPORT_MS:
            self.lost_audio(balance)
            balance = 0
        self.gap_balance = balance

    def lost_audio(self, ms):
        # The detector flags the conversation it falls in, also one that opens only later
        # (an employee's greeting becomes part of a conversation once the customer speaks).
        if not self.conversation_open():
            self.queue_event(record.EVENT_AUDIO_GAP, ms)
        self.detector.note_lost_audio(ms)

    def _serial(self, elapsed):
        hw = self.hw
        byte = self.byte
        for _ in range(512):
            if not hw.serial_read(byte):
                break
            self.session.receive(byte[0])
        self.session.poll(elapsed)

    def toggle_mute(self):
        hw = self.hw
        if not self.muted:
            self._end_detector()
            hw.mic_stop()
            hw.led(False)
            self.muted = True
            self.muted_at_s = self.up_s
            self.queue_event(record.EVENT_MUTE_ON)
            self._write_pending()
        else:
            self.muted = False
            self.queue_event(record.EVENT_MUTE_OFF, (self.up_s - self.muted_at_s) * 1000)
            self._write_pending()
            self._new_detector()
            hw.mic_start()
            hw.led(True)

    def failed(self, exc):
        self.errors.append(self.up_s)
        self.errors = [t for t in self.errors if self.up_s - t < ERROR_WINDOW_S]
        text = "{}: {}".format(type(exc).__name__, exc)
        self.hw.debug("error " + text)
        try:
            self.queue_event(record.EVENT_ERROR, text=text)
            self._write_pending()
            self._new_detector()
        except Exception as again:  # noqa: BLE001
            self.hw.debug("error while recovering: {}".format(again))
        if len(self.errors) >= ERROR_STORM:
            self.hw.reset()

    # --- what the session asks of the device --------------------------------------------

    def hello_info(self):
        log = self.log
        return {
            "heard": 1, "device": self.device_id, "firmware": FIRMWARE_VERSION,
            "boot": self.boot_id, "uptime_ms": self.uptime_ms(),
            "clock": self.clock_at(self.uptime_ms()), "log": log.log_id,
            "first": log.first_seq, "next": log.next_seq, "acked": log.acked,
            "free": self.hw.free_bytes(), "dropped": log.dropped, "channels": self.channels,
            "listening": not self.muted, "muted": self.muted,
            "provisioned": self.secret is not None, "pending": len(self.pending),
        }

    def config_get(self):
        return Params(self.overrides).as_dict()

    def config_set(self, changes):
        if not isinstance(changes, dict):
            raise ConfigError("*", "send an object of name: value")
        merged = dict(self.overrides)
        merged.update(changes)
        Params(merged)  # raises ConfigError naming the field
        path = self.hw.config_dir + "/config.json"
        with open(path + ".tmp", "w") as f:
            json.dump(merged, f)
        _replace(path + ".tmp", path)
        self.overrides = merged
        self.config_dirty = True
        names = sorted(changes)
        self.queue_event(record.EVENT_CONFIG_CHANGED, len(names), text=",".join(names))

    def live_values(self):
        return wire.live_values(self.uptime_ms(), self.detector.frame_state())

    def reboot(self):
        self._end_detector()
        self._write_pending()
        self.hw.reset()

    def kbd_intr(self, on):
        self.hw.kbd_intr(on)

    def random(self, n):
        return self.hw.random(n)


def _replace(src, dst):
    import os

    try:
        os.rename(src, dst)
    except OSError:
        # Some filesystems refuse to rename onto an existing file.
        os.remove(dst)
        os.rename(src, dst)
