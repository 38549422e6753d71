"""A serial link between the host and a device that can be slow and unreliable on purpose.

``LinkProxy(device_port, ...)`` opens a new pseudo-terminal for the host and copies bytes
both ways between it and the device's port. It can pace the bytes to a baud rate (a real
UART at 115200 baud moves 11,520 bytes a second) and, with a seeded random generator, drop,
corrupt and duplicate bytes at a given rate and in one burst, so tests and benchmarks see
what a flaky USB cable does to the protocol.
"""

from __future__ import annotations

import os
import random
import select
import threading
import time
import tty
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Per-byte fault probabilities and one burst of garbage."""

    drop: float = 0.0
    corrupt: float = 0.0
    duplicate: float = 0.0
    burst_at: int | None = None  # byte count (both directions) where the burst starts
    burst_len: int = 64
    seed: int = 0


@dataclass
class LinkStats:
    bytes_to_device: int = 0
    bytes_to_host: int = 0
    dropped: int = 0
    corrupted: int = 0
    duplicated: int = 0
    burst: int = 0
    started: float = field(default_factory=time.monotonic)


class LinkProxy:
    def __init__(self, device_port: str, *, baud: int | None = None,
                 faults: Faults | None = None):
        self.device_port = device_port
        self.baud = baud
        self.faults = faults or Faults()
        self.rng = random.Random(self.faults.seed)
        self.stats = LinkStats()
        self.port = ""
        self._dev = -1
        self._master = -1
        self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = 0

    def start(self) -> str:
        """Start copying; the port path the host should open instead of the device's."""
        self._dev = os.open(self.device_port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._dev)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        for fd in (self._dev, self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._dev = self._master = self._slave = -1

    def __enter__(self) -> LinkProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._dev, self._master], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if not data:
                    continue
                if fd == self._master:
                    self.stats.bytes_to_device += len(data)
                    self._send(self._dev, data)
                else:
                    self.stats.bytes_to_host += len(data)
                    self._send(self._master, data)

    def _send(self, fd: int, data: bytes) -> None:
        out = self._garble(data)
        if self.baud:
            # One start bit, eight data bits, one stop bit: baud / 10 bytes a second.
            step = 64
            for i in range(0, len(out), step):
                piece = out[i:i + step]
                os.write(fd, piece)
                time.sleep(len(piece) * 10 / self.baud)
        elif out:
            os.write(fd, out)

    def _garble(self, data: bytes) -> bytes:
        f = self.faults
        if not (f.drop or f.corrupt or f.duplicate or f.burst_at is not None):
            return data
        out = bytearray()
        for b in data:
            self._seen += 1
            if f.burst_at is not None and f.burst_at <= self._seen < f.burst_at + f.burst_len:
                self.stats.burst += 1
                if self.rng.random() < 0.5:
                    out.append(self.rng.randrange(256))
                continue
            r = self.rng.random()
            if r < f.drop:
                self.stats.dropped += 1
                continue
            r -= f.drop
            if r < f.corrupt:
                self.stats.corrupted += 1
                out.append(b ^ (1 << self.rng.randrange(8)))
                continue
            r -= f.corrupt
            out.append(b)
            if r < f.duplicate:
                self.stats.duplicated += 1
                out.append(b)
        return bytes(out)
