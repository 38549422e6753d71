"""Carrying out a flash plan: the tools' steps, the host's own steps, and their checks.

``Flasher.run`` goes through ``plan.steps`` in order and stops at the first failure with a
``HeardError`` saying what to try next. ``wait_for_repl`` and ``verify`` talk to the port
directly (no reset); tests replace them, and the pauses, on a subclass.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.db import Database
from heard.device.client import DeviceClient
from heard.device.link import open_port
from heard.errors import HeardError
from heard.flash import identity
from heard.flash.image import DOWNLOAD_URL, Chip, check_chip, parse_chip
from heard.flash.plan import Plan, Step, machine_code
from heard.flash.tools import (
    EXEC_RAM_HINT,
    ToolResult,
    esptool_error,
    mpremote_error,
    run_tool,
)

Echo = Callable[[str], None]

BOOT_SETTLE_S = 3.0  # after esptool's reset, before mpremote interrupts what runs
REPL_TIMEOUT_S = 30.0  # first boot formats the filesystem
VERIFY_TRIES = 20  # hello tries, one second each, while heard boots
TIMEOUTS = {"detect": 120.0, "read-identity": 30.0, "erase": 300.0, "write": 600.0,
            "upload": 600.0, "reset": 60.0}


@dataclass
class FlashResult:
    chip: Chip | None = None
    board_identity: identity.Identity | None = None
    identity: identity.Identity | None = None
    repl_banner: str = ""
    hello: dict[str, Any] | None = None


def _no_name(db: Database, device_id: str, store: str | None, lane: str | None) -> None:
    """Placeholder for the command's device naming."""


class Flasher:
    """Runs a plan against the board on ``plan.options.port``."""

    settle_s = BOOT_SETTLE_S

    def __init__(self, plan: Plan, db: Database, echo: Echo = print,
                 name_device: Callable[[Database, str, str | None, str | None], None]
                 = _no_name):
        self.plan = plan
        self.db = db
        self.echo = echo
        self.name_device = name_device
        self.result = FlashResult()

    def run(self) -> FlashResult:
        total = len(self.plan.steps)
        for n, step in enumerate(self.plan.steps, 1):
            self.echo(f"[{n}/{total}] {step.title}")
            getattr(self, "step_" + step.key.replace("-", "_"))(step)
        return self.result

    # --- steps ---------------------------------------------------------------------------

    def step_detect(self, step: Step) -> None:
        result = self.tool(step)
        if not result.ok:
            raise esptool_error(result, self.port, "detect the chip")
        chip = parse_chip(result.output)
        if chip is None:
            raise HeardError(f"esptool did not name the chip on {self.port}:\n"
                             f"{result.tail(4)}", hint="run heard flash again")
        self.result.chip = chip
        self.echo(f"    board: {chip.describe()}")
        check_chip(chip)

    def step_read_identity(self, step: Step) -> None:
        self.pause(self.settle_s)
        copy = self.plan.board_identity_copy
        copy.unlink(missing_ok=True)
        result = self.tool(step)
        if result.ok:
            found = identity.read_identity(copy)
            if found is None:
                self.echo(f"    {identity.DEVICE_PATH} on the board is not a heard identity: "
                          "ignored")
            else:
                self.echo(f"    the board is device {found.device_id}")
            self.result.board_identity = found
            return
        if "No such file" in result.output or "ENOENT" in result.output:
            self.echo("    the board has no heard identity yet")
        elif "failed to access" in result.output:
            raise mpremote_error(result, self.port, "read the board's identity")
        else:
            self.echo("    no MicroPython answered (a new board, or other firmware): "
                      "treated as a board without identity")

    def step_identity(self, step: Step) -> None:
        o = self.plan.options
        chosen = identity.choose_identity(self.result.board_identity, o.device_id,
                                          o.new_identity, self.db.secret)
        self.result.identity = chosen
        target = self.plan.identity_file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(chosen.to_json())
        how = {"board": "kept the board's id and secret",
               "host database": "the secret this computer already holds for that id",
               "new": "a new secret"}[chosen.source]
        self.echo(f"    device {chosen.device_id}: {how}")

    def step_erase(self, step: Step) -> None:
        result = self.tool(step)
        if not result.ok:
            raise esptool_error(result, self.port, "erase the flash")

    def step_write(self, step: Step) -> None:
        result = self.tool(step)
        if not result.ok:
            raise esptool_error(result, self.port, "write the MicroPython image")

    def step_boot(self, step: Step) -> None:
        self.result.repl_banner = self.wait_for_repl(REPL_TIMEOUT_S)
        version = next((line.strip() for line in self.result.repl_banner.splitlines()
                        if line.strip().startswith("MicroPython v")), "")
        if version:
            self.echo(f"    {version}")

    def step_upload(self, step: Step) -> None:
        result = self.tool(step)
        if not result.ok:
            raise mpremote_error(result, self.port, "upload the firmware")

    def step_save(self, step: Step) -> None:
        chosen, o = self.result.identity, self.plan.options
        assert chosen is not None
        self.db.set_secret(chosen.device_id, chosen.secret)
        self.name_device(self.db, chosen.device_id, o.store, o.lane)
        self.echo(f"    saved in {self.db.path or 'the database'}")

    def step_reset(self, step: Step) -> None:
        result = self.tool(step)
        if not result.ok:
            raise mpremote_error(result, self.port, "reset the board")

    def step_verify(self, step: Step) -> None:
        chosen = self.result.identity
        assert chosen is not None
        self.result.hello = self.verify(chosen)
        self.echo(f"    device {chosen.device_id} answers, firmware "
                  f"{self.result.hello.get('firmware')}, secret accepted")

    # --- the board -------------------------------------------------------------------------

    @property
    def port(self) -> str:
        return self.plan.options.port

    def tool(self, step: Step) -> ToolResult:
        return run_tool(step.argv, timeout=TIMEOUTS[step.key], echo=self.tool_line)

    def tool_line(self, line: str) -> None:
        self.echo(f"    | {line}")

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def wait_for_repl(self, timeout: float) -> str:
        return wait_for_repl(self.port, timeout)

    def verify(self, chosen: identity.Identity) -> dict[str, Any]:
        return verify(self.port, chosen,
                      code_sizes=machine_code(self.plan.files, every=True))


def wait_for_repl(port_name: str, timeout: float, poke_every: float = 1.0) -> str:
    """Read the port until MicroPython's ``>>>`` prompt; what it printed. Sends a carriage
    return now and then to ask for a fresh prompt (harmless at a REPL)."""
    port = open_port(port_name, timeout=0.1)
    seen = bytearray()
    try:
        deadline = time.monotonic() + timeout
        poke = time.monotonic() + poke_every
        while time.monotonic() < deadline:
            seen += port.read(port.in_waiting or 1)
            if b">>> " in seen:
                return seen.decode("utf-8", "replace")
            if time.monotonic() >= poke:
                port.write(b"\r")
                poke = time.monotonic() + poke_every
    finally:
        port.close()
    text = seen.decode("utf-8", "replace")
    if "invalid header" in text:
        raise HeardError(
            f"the board on {port_name} does not boot the image: its bootloader reports "
            "'invalid header'",
            hint=f"the image must be a complete ESP32 firmware for 0x1000, as offered at "
            f"{DOWNLOAD_URL} (not an app-only or OTA image); run heard flash again with it")
    shown = "\n".join(text.strip().splitlines()[-4:]) or "nothing"
    raise HeardError(
        f"MicroPython did not start on {port_name} within {timeout:.0f} s; it printed:\n"
        f"{shown}",
        hint="press EN/RESET and run heard flash again; check the image is MicroPython for "
        f"the ESP32 ({DOWNLOAD_URL})")


def verify(port_name: str, chosen: identity.Identity, tries: int = VERIFY_TRIES,
           code_sizes: Sequence[int] = ()) -> dict[str, Any]:
    """Check that the board runs heard with ``chosen``'s id, this firmware version and
    secret; its hello answer. ``code_sizes``: the firmware's functions of machine code (as
    ``plan.machine_code``), to recognise a boot that found no executable RAM for one."""
    from heardapp.app import FIRMWARE_VERSION

    text: list[str] = []
    port = open_port(port_name)
    try:
        client = DeviceClient(port, text.append, timeout=1.0, retries=tries - 1,
                              name=port_name)
        def failed(why: str) -> HeardError:
            return _verify_failed(port_name, code_sizes, why, text)

        try:
            info = client.hello()
        except HeardError as exc:
            raise failed(f"no heard hello ({exc})") from exc
        if info.get("device") != chosen.device_id:
            raise failed(f"the device says it is {info.get('device')!r}, not "
                         f"{chosen.device_id!r}")
        if info.get("firmware") != FIRMWARE_VERSION:
            raise failed(f"the device runs firmware {info.get('firmware')!r}, not "
                         f"{FIRMWARE_VERSION!r}")
        try:
            client.auth(chosen.secret)
            client.bye()
        except HeardError as exc:
            raise failed(f"the device refused the secret ({exc})") from exc
        return info
    finally:
        port.close()


def _no_exec_ram(printed: str, code_sizes: Sequence[int]) -> bool:
    """Whether the board's boot failed for want of executable RAM for a viper function: the
    ESP32 port says "MemoryError: memory allocation failed, allocating N bytes" with N the
    function's size rounded up to 4 (plus the few bytes of a list node in newer releases);
    other ports add "for native code"."""
    if "for native code" in printed:
        return True
    fits = {n + extra for n in code_sizes for extra in (0, 4, 8)}
    found = re.findall(r"MemoryError: memory allocation failed, allocating (\d+) bytes",
                       printed)
    return any(int(n) in fits for n in found)


def _verify_failed(port_name: str, code_sizes: Sequence[int], why: str,
                   text: list[str]) -> HeardError:
    lines = "".join(text).strip().splitlines()[-6:]
    said = ("\nthe device printed:\n" + "\n".join(f"  {line}" for line in lines)) if lines \
        else ""
    if _no_exec_ram("".join(text), code_sizes):
        return HeardError(f"verification failed on {port_name}: heard's viper code does not "
                          f"fit the board's executable RAM{said}", hint=EXEC_RAM_HINT)
    return HeardError(
        f"verification failed on {port_name}: {why}{said}",
        hint="watch the board boot with `mpremote connect PORT repl` and press EN/RESET; "
        "then run heard flash again (the board keeps its identity)")
