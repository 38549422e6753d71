"""The steps of ``heard flash`` as data: ``--dry-run`` prints this plan, a real run executes it.

``stage_files`` prepares on the host everything the board receives, in a folder that
mirrors the board's filesystem (``STAGING/device/lib/heardcore/pcm.mpy`` becomes
``/lib/heardcore/pcm.mpy``); ``build_plan`` lays out the commands. Nothing here touches a
serial port.
"""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from heard.db import default_path
from heard.errors import HeardError
from heard.flash import identity
from heard.flash.image import ESPTOOL_CHIP, FLASH_OFFSET, SUPPORTED, ImageInfo
from heard.flash.tools import MARK
from heard.mpyinfo import functions
from heard.mpytools import ESP32_ARCH, compiled_firmware

PACKAGES = ("heardcore", "heardapp")
# Modules only the host uses (simulation, the emulated device's WAV microphone): not uploaded.
HOST_ONLY = ("heardcore/simrun.py", "heardcore/wavfile.py", "heardapp/emulate.py",
             "heardapp/hw_unix.py")
# Imported only by a one-microphone detector (heardcore.detector), so not at every boot.
MONO_ONLY = ("/lib/heardcore/monospurt.mpy",)
DEFAULT_BAUD = 460800  # MicroPython's instructions for ESP32 use this to write the image
REFUSE_TEMPLATE = (
    "import os, sys\n"
    "m = getattr(sys.implementation, '_mpy', 0)\n"
    "if m & 0xff != {version} or m >> 8 != {flags}:\n"
    "    raise ValueError('{mark} it loads .mpy files v%d.%d arch %d, heard is compiled as "
    "v{version}.{sub} arch {arch} ({march}); MicroPython %s' % (m & 0xff, (m >> 8) & 3, "
    "m >> 10, sys.version))\n"
    # Viper machine code is copied into the ESP32's executable RAM, one allocation per
    # function, and a MicroPython build leaves little of it: refuse a board that surely
    # cannot hold it (at boot it would fail with a MemoryError).
    "try:\n"
    "    import esp32\n"
    "    x = esp32.idf_heap_info(esp32.HEAP_EXEC)\n"
    "except (ImportError, AttributeError):\n"
    "    x = None\n"
    "if x is not None:\n"
    "    f = sum(h[1] for h in x)\n"
    "    b = max([h[2] for h in x] + [0])\n"
    "    if f < {need} or b < {largest}:\n"
    "        raise ValueError('{mark} its executable RAM has %d bytes free, at most %d in one "
    "piece; the viper code of heard takes at least {need}, {largest} in one piece' % (f, b))\n"
    "import vfs\n"
    "for d in {dirs!r}:\n"
    "    try:\n"
    "        os.mkdir(d)\n"
    "    except OSError:\n"
    "        pass\n"
)


@dataclass(frozen=True)
class DeviceFile:
    """A file the board receives."""

    device_path: str  # "/lib/heardcore/pcm.mpy"
    local: Path
    size: int | None  # None: written during the run (the identity)
    what: str


@dataclass(frozen=True)
class Step:
    """One step: ``key`` says what kind, ``argv`` the command (tool name first; empty for a
    step the host does itself)."""

    key: str
    title: str
    argv: tuple[str, ...] = ()
    files: tuple[DeviceFile, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Options:
    port: str
    image: ImageInfo
    device_id: str | None
    new_identity: bool = False
    store: str | None = None
    lane: str | None = None
    baud: int = DEFAULT_BAUD
    db_path: Path | None = None


@dataclass(frozen=True)
class Plan:
    options: Options
    staging: Path
    files: tuple[DeviceFile, ...]
    steps: tuple[Step, ...] = field(default=())

    @property
    def board_identity_copy(self) -> Path:
        """Where the identity read from the board lands on the host."""
        return self.staging / "board-identity.json"

    @property
    def identity_file(self) -> Path:
        return device_local(self.staging, identity.DEVICE_PATH)

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)


def device_local(staging: Path, device_path: str) -> Path:
    return staging / "device" / device_path.lstrip("/")


def source_files() -> tuple[Path, Path, Path]:
    """The firmware folder, ``firmware/main.py`` and ``hardware/pinmap.json``."""
    from heard.device.emulator import firmware_dir

    firmware = firmware_dir()
    main, pinmap = firmware / "main.py", firmware.parent / "hardware" / "pinmap.json"
    for path in (main, pinmap):
        if not path.is_file():
            raise HeardError(f"{path} not found: heard flash needs the heard source tree",
                             hint="run it from a checkout of heard installed with "
                             "`pip install -e .`")
    return firmware, main, pinmap


def stage_files(staging: Path) -> tuple[DeviceFile, ...]:
    """Compile the firmware for the ESP32 and lay out every file the board receives."""
    from heardapp import board

    firmware, main, pinmap = source_files()
    try:
        board.check(json.loads(pinmap.read_text()))
    except (ValueError, board.PinmapError) as exc:
        raise HeardError(f"{pinmap}: {exc}") from exc
    compiled = compiled_firmware(firmware, ESP32_ARCH)  # cached by the sources' content
    files: list[DeviceFile] = []
    for package in PACKAGES:
        for source in sorted((firmware / package).glob("*.py")):
            rel = f"{package}/{source.name}"
            if rel in HOST_ONLY:
                continue
            device_path = f"/lib/{package}/{source.stem}.mpy"
            files.append(_place(staging, compiled / package / f"{source.stem}.mpy",
                                device_path, f"{rel} compiled for {ESP32_ARCH}"))
    files.append(_place(staging, pinmap, "/heard/pinmap.json", "hardware/pinmap.json"))
    files.append(DeviceFile(identity.DEVICE_PATH,
                            device_local(staging, identity.DEVICE_PATH), None,
                            "device id and secret (decided in the identity step)"))
    files.append(_place(staging, main, "/main.py", "firmware/main.py, as source: "
                        "MicroPython runs /main.py at boot"))
    return tuple(files)


def _place(staging: Path, source: Path, device_path: str, what: str) -> DeviceFile:
    local = device_local(staging, device_path)
    local.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, local)
    return DeviceFile(device_path, local, local.stat().st_size, what)


def mpy_requirement(files: Sequence[DeviceFile]) -> tuple[int, int]:
    """(version, flags) of the .mpy files with native code: what the board must load."""
    for f in files:
        if f.device_path.endswith(".mpy"):
            head = f.local.read_bytes()[:3]
            if len(head) == 3 and head[2]:
                return head[1], head[2]
    raise HeardError("no compiled module carries native code: cannot tell what the board "
                     "must load")


def machine_code(files: Sequence[DeviceFile], every: bool = False) -> list[int]:
    """The functions of machine code (viper, native) every board loads at boot: bytes each,
    rounded up to 4 as MicroPython allocates them. Not the modules only a one-microphone
    detector imports (a two-microphone board never loads them) unless ``every``."""
    sizes = []
    for f in files:
        if f.device_path.endswith(".mpy") and (every or f.device_path not in MONO_ONLY):
            sizes += [(n + 3) & ~3 for kind, n in functions(f.local) if kind != "bytecode"]
    return sizes


def prepare_script(files: Sequence[DeviceFile]) -> str:
    """MicroPython the board runs before the upload: refuse a MicroPython that cannot load
    the compiled modules or has too little executable RAM for their machine code, and make
    the folders."""
    version, flags = mpy_requirement(files)
    dirs = sorted({f.device_path.rsplit("/", 1)[0] for f in files} - {""})
    wanted = []
    for d in dirs:  # parents first: /lib before /lib/heardcore
        parts = d.strip("/").split("/")
        wanted += ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ordered = tuple(dict.fromkeys(wanted))
    code = machine_code(files)
    return REFUSE_TEMPLATE.format(version=version, flags=flags, sub=flags & 3,
                                  arch=flags >> 2, march=ESP32_ARCH, mark=MARK,
                                  need=sum(code), largest=max(code, default=0), dirs=ordered)


def upload_argv(port: str, files: Sequence[DeviceFile]) -> tuple[str, ...]:
    """One mpremote run: the check and folders, then one ``fs cp`` per folder; ``/main.py``
    last, so a board whose upload broke off does not boot into half a firmware. ``resume``:
    no soft reset first, the board sits at the prompt of a fresh boot (mpremote's soft
    reset would also end the unix port that tests use as a board)."""
    argv = ["mpremote", "connect", port, "resume", "exec", prepare_script(files)]
    main = [f for f in files if f.device_path == "/main.py"]
    rest = [f for f in files if f.device_path != "/main.py"]
    folders: dict[str, list[DeviceFile]] = {}
    for f in rest:
        folders.setdefault(f.device_path.rsplit("/", 1)[0], []).append(f)
    for folder, group in folders.items():
        argv += ["+", "fs", "cp", *[str(f.local) for f in group], f":{folder}/"]
    for f in main:
        argv += ["+", "fs", "cp", str(f.local), f":{f.device_path}"]
    return tuple(argv)


def build_plan(options: Options, staging: Path, files: tuple[DeviceFile, ...]) -> Plan:
    port = options.port
    plan = Plan(options, staging, files)
    image = options.image
    steps = (
        Step("detect", "detect the chip (heard runs on the ESP32 only)",
             ("esptool", "--port", port, "flash-id"),
             notes=("refuses anything but an ESP32 with 4 MB of flash or more",)),
        Step("read-identity", "read the board's identity, if it has one",
             ("mpremote", "connect", port, "resume", "fs", "cp", f":{identity.DEVICE_PATH}",
              str(plan.board_identity_copy)),
             notes=(("after a few seconds for the board to boot; a board without "
                    "MicroPython or without an identity counts as new"),)),
        Step("identity", "choose the device's id and secret",
             notes=(_identity_note(options),)),
        Step("erase", "erase the whole flash (records not yet synced are lost)",
             ("esptool", "--chip", ESPTOOL_CHIP, "--port", port, "erase-flash")),
        Step("write", f"write MicroPython at 0x{FLASH_OFFSET:x} ({image.size:,} bytes)",
             ("esptool", "--chip", ESPTOOL_CHIP, "--port", port, "--baud", str(options.baud),
              "write-flash", f"0x{FLASH_OFFSET:x}", str(image.path))),
        Step("boot", "wait for MicroPython's prompt on the port (first boot makes its "
             "filesystem)", notes=("reads the port without resetting the board",)),
        Step("upload", f"upload {len(files)} files", upload_argv(port, files), files,
             notes=(("first checks on the board that its MicroPython can load the "
                    f"compiled modules (MicroPython 1.23 or newer, {ESP32_ARCH}) and has "
                    f"at least {sum(machine_code(files)):,} bytes of executable RAM free "
                    "for their machine code"),)),
        Step("save", "save the secret (and store, lane) in the host database",
             notes=(f"database: {options.db_path or default_path()}",
                    "only now: a board whose upload failed keeps the identity it had")),
        Step("reset", "reset the board: it boots into heard",
             ("mpremote", "connect", port, "resume", "reset")),
        Step("verify", "check the device's hello (id and firmware version) and its secret",
             notes=("opens the port without resetting the board",)),
    )
    return Plan(options, staging, files, steps)


def _identity_note(options: Options) -> str:
    if options.new_identity:
        return (f"new id {options.device_id!r} and a new secret" if options.device_id
                else "the board's id with a new secret")
    named = f"else {options.device_id!r}" if options.device_id else "else --device-id (needed)"
    return (f"keep the board's id and secret; {named} with the secret this computer holds "
            "for it, or a new one")


def describe(plan: Plan, tools: dict[str, list[str]]) -> list[str]:
    """The plan as text: every step, command and file."""
    o = plan.options
    lines = [
        f"port: {o.port}",
        f"image: {o.image.path} ({o.image.size:,} bytes, for the {o.image.chip})",
        f"board: {SUPPORTED}, MicroPython at 0x{FLASH_OFFSET:x}",
        *[f"{name}: {shlex.join(cmd)}" for name, cmd in tools.items()],
        f"STAGING={plan.staging}  (the files the board receives, prepared on this computer)",
        "",
    ]
    for n, step in enumerate(plan.steps, 1):
        lines.append(f"{n}. {step.title}")
        scripts = [a for a in step.argv if "\n" in a]
        if step.argv:
            shown = ["$CHECK" if a in scripts else a for a in step.argv]
            command = shlex.join(shown).replace("'$CHECK'", '"$CHECK"')
            lines.append(f"   $ {command.replace(str(plan.staging), '$STAGING')}")
        for script in scripts:
            lines.append("   CHECK (run on the board first):")
            lines += [f"     {line}" for line in script.splitlines()]
        lines += [f"   - {note}" for note in step.notes]
        if step.files:
            width = max(len(f.device_path) for f in step.files)
            for f in step.files:
                size = f"{f.size:>7,} B" if f.size is not None else "      ? B"
                lines.append(f"   {f.device_path:<{width}} {size}  {f.what}")
            known = sum(f.size or 0 for f in step.files)
            lines.append(f"   {'total':<{width}} {known:>7,} B  (and the identity, ~100 B)")
    return lines
