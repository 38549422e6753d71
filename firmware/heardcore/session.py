"""The device's side of the serial protocol: requests in, answers out (docs/protocol.md).

``Session(device, write)`` is fed received bytes one at a time through ``receive`` and is
ticked by the app loop through ``poll(elapsed_ms)`` (ms since the previous poll: no
absolute times, so nothing grows into a heap integer on a device that runs for months).
It answers through ``write(bytes)`` and never sends anything unasked, except live frames
the host switched on. What it needs from
the device is the ``device`` object (the app): ``hello_info()``, ``device_id``, ``secret``
(bytes, or None when not provisioned), ``log`` (a ``RecordLog``), ``set_clock(s)``,
``config_get()``, ``config_set(dict)``, ``live_values()``, ``reboot()``, ``kbd_intr(on)``
and ``random(n)``. Plain logic, no hardware: it runs on CPython in tests.
"""

import json
import struct

from heardcore import auth, wire
from heardcore.params import ConfigError

IDLE_CLOSE_MS = 10000
MAX_GET_BYTES = 4096


class Session:
    def __init__(self, device, write):
        self.device = device
        self.write = write
        # Escaped requests are at most twice their payload.
        self.splitter = wire.Splitter(2 * wire.MAX_REQUEST + 8)
        self.open = False
        self.authed = False
        self.challenge = None
        self.idle_ms = 0
        self.live_ms = 0
        self.live_due = 0
        self.requests = 0
        self.bad_frames = 0

    def receive(self, byte):
        chunk = self.splitter.push(byte)
        if chunk is not None:
            self._chunk(chunk)

    def poll(self, elapsed_ms):
        """Close an idle session; send a live frame when one is due."""
        if not self.open:
            return
        self.idle_ms += elapsed_ms
        if self.idle_ms > IDLE_CLOSE_MS:
            self.close()
            return
        if self.live_ms:
            self.live_due -= elapsed_ms
            if self.live_due > 0:
                return
            # Keep the average interval even when polls come in coarser steps.
            self.live_due += self.live_ms
            if self.live_due <= 0:
                self.live_due = self.live_ms
            body = struct.pack(wire.LIVE_FORMAT, *self.device.live_values())
            self.write(wire.encode(wire.LIVE_FRAME, 0, body))

    def close(self):
        if self.open:
            self.device.kbd_intr(True)
        self.open = False
        self.authed = False
        self.challenge = None
        self.live_ms = 0

    def _chunk(self, chunk):
        try:
            kind, req_id, body = wire.decode(chunk)
        except wire.FrameError:
            self.bad_frames += 1
            self.write(wire.encode(wire.BAD_FRAME_ANSWER, 0, bytes((wire.E_FRAME,))))
            return
        self.requests += 1
        self.idle_ms = 0
        if kind == wire.HELLO and not self.open:
            self.open = True
            self.device.kbd_intr(False)
        try:
            status, answer = self._dispatch(kind, body)
        except ConfigError as exc:
            status, answer = wire.E_CONFIG, str(exc).encode()
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            status, answer = wire.E_REQUEST, str(exc).encode()
        except OSError as exc:
            status, answer = wire.E_STORAGE, "flash: {}".format(exc).encode()
        self.write(wire.encode(kind | wire.ANSWER, req_id, bytes((status,)) + answer))
        if kind == wire.BYE and status == wire.OK:
            self.close()
        elif kind == wire.REBOOT and status == wire.OK:
            self.close()
            self.device.reboot()

    def _dispatch(self, kind, body):
        if kind == wire.HELLO:
            self.challenge = self.device.random(auth.CHALLENGE_SIZE)
            info = self.device.hello_info()
            info["session"] = "auth" if self.authed else "open"
            info["challenge"] = _hex(self.challenge)
            return wire.OK, json.dumps(info).encode()
        if kind == wire.AUTH:
            return self._auth(body)
        if kind == wire.BYE:
            return wire.OK, b""
        if kind not in wire.COMMAND_NAMES:
            return wire.E_COMMAND, "unknown command {}".format(kind).encode()
        if not (self.open and self.authed):
            return wire.E_AUTH_NEEDED, b"authenticate first"
        log = self.device.log
        if kind == wire.GET:
            start, limit = struct.unpack("<IH", body)
            if limit < 1:
                raise ValueError("max bytes must be positive")
            records, resume = log.read(start, min(limit, MAX_GET_BYTES))
            return wire.OK, struct.pack("<IB", resume, len(records)) + b"".join(records)
        if kind == wire.ACK:
            (seq,) = struct.unpack("<I", body)
            if seq >= log.next_seq:
                return wire.E_RANGE, "device has records up to {}".format(
                    log.next_seq - 1).encode()
            log.ack(seq)
            return wire.OK, struct.pack("<I", log.acked)
        if kind == wire.CLOCK:
            (now_s,) = struct.unpack("<I", body)
            return wire.OK, struct.pack("<I", self.device.set_clock(now_s))
        if kind == wire.CONFIG_GET:
            return wire.OK, json.dumps(self.device.config_get()).encode()
        if kind == wire.CONFIG_SET:
            try:
                changes = json.loads(body)
            except ValueError:
                raise ConfigError("*", "not valid JSON") from None
            self.device.config_set(changes)
            return wire.OK, b""
        if kind == wire.LIVE:
            (interval,) = struct.unpack("<H", body)
            self.live_ms = interval if interval == 0 or interval >= 50 else 50
            self.live_due = 0
            return wire.OK, b""
        # REBOOT: answered first, done by the caller.
        return wire.OK, b""

    def _auth(self, body):
        secret = self.device.secret
        challenge = self.challenge
        self.challenge = None  # one attempt per challenge
        if not self.open or challenge is None:
            return wire.E_AUTH_FAILED, b"ask hello for a challenge first"
        if secret is None:
            return wire.E_AUTH_FAILED, b"device is not provisioned"
        if not auth.same(bytes(body), auth.proof(secret, challenge, self.device.device_id)):
            self.authed = False
            return wire.E_AUTH_FAILED, b"wrong proof"
        self.authed = True
        return wire.OK, b""


def _hex(data):
    return "".join("{:02x}".format(b) for b in data)
