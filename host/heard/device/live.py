"""Live levels from a device, shared by ``heard monitor`` and ``heard calibrate``.

``connect`` opens a device as ``heard sync`` does: ``--port`` or the one ESP32 board on
USB, ``hello``, then authentication with the secret stored in the host database for that
device id. On leaving it stops live frames (``live 0``) and closes the session (``bye``),
also after Ctrl-C, within ``CLOSE_S`` seconds: a device that does not answer by then is
left alone (it closes the session itself after 10 s without a request), and a second
Ctrl-C gives up at once. ``LiveSession.closed`` tells which it was. ``LiveSession.frames``
yields live frames and keeps the session open: the device closes a session after 10 s
without a request, so a ``hello`` (which keeps the authentication) goes out every few
seconds. Live frames hold levels and decisions only; the device never sends audio.

``ctrl_c_interrupts`` makes Ctrl-C raise KeyboardInterrupt even in a process started with
SIGINT ignored (a background job of a non-interactive shell, some launchers): Python then
leaves it ignored, and a command that runs until Ctrl-C could not be stopped.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.db import Database
from heard.device.client import DeviceClient
from heard.device.link import find_ports, open_port
from heard.errors import HeardError

KEEPALIVE_S = 3.0  # a hello this often while streaming (the device gives up after 10 s)
MIN_INTERVAL_MS = 50  # the device sends live frames at most this often
POLL_S = 0.05  # how long one read of the port waits for frames
CLOSE_S = 2.0  # closing (live 0, bye) gives up after this long
CLOSE_TRY_S = 0.5  # each try of a closing request waits this long for its answer

LiveFrame = dict[str, int]


def choose_port(port_name: str | None) -> str:
    """``port_name``, or the one ESP32 board connected (HeardError if none or several)."""
    if port_name is not None:
        return port_name
    found = find_ports()
    if not found:
        raise HeardError("no ESP32 board found on USB",
                         hint="plug the device in (a data cable, not a charging cable), "
                         "or name its port with --port")
    if len(found) > 1:
        listing = "\n".join(f"  {p.describe()}" for p in found)
        raise HeardError(f"{len(found)} ESP32 boards are connected:\n{listing}",
                         hint="pick one with --port PORT")
    return found[0].device


class LiveSession:
    """An authenticated session with one device."""

    def __init__(self, client: DeviceClient, secret: bytes, port_name: str):
        self.client = client
        self.secret = secret
        self.port_name = port_name
        self.info: dict[str, Any] = dict(client.info or {})
        self.device_id = str(self.info.get("device", "?"))
        self.streaming = False
        self.closed = False  # set when leaving ``connect``: the device confirmed bye
        self._last_request = time.monotonic()

    def keep_alive(self) -> bool:
        """Say hello (keeps the session open); authenticate again if it had closed (True:
        it had, and live frames with it)."""
        self.info = self.client.hello()
        reopened = self.info.get("session") != "auth"
        if reopened:
            self.client.auth(self.secret)
        self._last_request = time.monotonic()
        return reopened

    def frames(self, interval_ms: int, seconds: float | None = None) -> Iterator[LiveFrame]:
        """Live frames every ``interval_ms`` for ``seconds`` (None: until the caller stops).

        Stops the frames when the caller stops or the time is up."""
        interval_ms = max(MIN_INTERVAL_MS, interval_ms)
        self.client.live_frames.clear()
        self.client.live(interval_ms)
        self.streaming = True
        start = self._last_request = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                left = None if seconds is None else start + seconds - now
                if left is not None and left <= 0:
                    break
                if now - self._last_request >= KEEPALIVE_S and self.keep_alive():
                    self.client.live(interval_ms)
                wait = POLL_S if left is None else min(POLL_S, left)
                yield from self.client.read_live(wait)
        except KeyboardInterrupt:
            raise  # Ctrl-C: ``connect`` stops the frames as it closes, in bounded time
        except BaseException:
            with suppress(HeardError), self.client.deadline(CLOSE_S, CLOSE_TRY_S):
                self.stop()  # the original error matters more
            raise
        self.stop()

    def stop(self) -> None:
        """Stop live frames (if they are on)."""
        if self.streaming:
            self.streaming = False
            self.client.live(0)
            self._last_request = time.monotonic()


def _secret(db: Database, device_id: str) -> bytes:
    secret = db.secret(device_id)
    if secret is None:
        raise HeardError(
            f"device {device_id} is not provisioned on this computer (no secret for it in "
            f"{db.path or 'the database'})",
            hint="provision it here with `heard flash`; `heard emulate --db` registers an "
            "emulated device's secret in that database")
    return secret


def _show_device_text(text: str) -> None:
    for line in text.splitlines():
        if line.strip():
            print(f"device: {line.rstrip()}", file=sys.stderr)


@contextmanager
def connect(
    port_name: str | None, db_path: Path | None,
    on_text: Callable[[str], None] | None = _show_device_text,
) -> Iterator[LiveSession]:
    """An authenticated session with the device on ``port_name`` (or the one on USB).

    Leaving the block, even through Ctrl-C, sends ``live 0`` and ``bye`` (for at most
    ``CLOSE_S`` seconds; ``session.closed`` says whether the device confirmed)."""
    name = choose_port(port_name)
    with Database.open(db_path) as db:
        port = open_port(name)
        client = DeviceClient(port, on_text, name=name)
        session: LiveSession | None = None
        try:
            info = client.hello()
            secret = _secret(db, str(info["device"]))
            client.auth(secret)
            session = LiveSession(client, secret, name)
            yield session
        finally:
            try:
                closed = _close(client, session)
                if session is not None:
                    session.closed = closed
            finally:
                port.close()


def _close(client: DeviceClient, session: LiveSession | None,
           seconds: float = CLOSE_S) -> bool:
    """Stop live frames and say bye (which ends them too), giving up after ``seconds``;
    True if the device confirmed. A device that went away or does not answer is no error
    here. Ctrl-C (a second one, after the one that ended the session) stops trying at once:
    its KeyboardInterrupt goes on."""
    if client.info is None:  # no session was opened
        return False
    with client.deadline(seconds, CLOSE_TRY_S):
        if session is not None:  # half the time at most: bye is worth a try anyway
            with suppress(HeardError), client.deadline(seconds / 2):
                session.stop()
        try:
            client.bye()
        except HeardError:
            return False
    return True


@contextmanager
def ctrl_c_interrupts() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt inside the block, also if this process was started
    with SIGINT ignored; the previous handling is restored on leaving. Does nothing outside
    the main thread (only it receives signals in Python)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is not None:  # None: installed outside Python, cannot be put back
            signal.signal(signal.SIGINT, previous)
