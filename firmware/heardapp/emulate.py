"""Entry point of the emulated device on the MicroPython unix port (``heard emulate``).

    micropython -m heardapp.emulate --flash DIR [--fast] [--exit-when-done]
        [--capacity BYTES] [--write-chunk N] [--drop-audio AT_MS:MS] [--reset-cause N]
        [--tail-ms MS] [--fail-at MS] [--gap-ms MS] WAV...

stdin/stdout are the serial port; stderr carries debug lines. A bad argument or WAV prints
one line to stderr and exits with status 2; a reboot command exits with status 3 (the host
side starts the device again).
"""

import sys

from heardapp.hw_unix import UnixHardware
from heardcore.wavfile import WavError

USAGE = "usage: heardapp.emulate --flash DIR [--fast] [--exit-when-done] [options] WAV..."


def _parse(argv):
    opts = {"wavs": [], "drop_audio": []}  # type: dict
    flags = {"--fast": "fast", "--exit-when-done": "exit_when_done"}
    values = {"--flash": "flash", "--capacity": "capacity", "--write-chunk": "write_chunk",
              "--reset-cause": "reset_cause", "--tail-ms": "tail_ms", "--fail-at": "fail_at",
              "--gap-ms": "gap_ms"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in flags:
            opts[flags[arg]] = True
        elif arg in values or arg == "--drop-audio":
            if i + 1 >= len(argv):
                raise ValueError("{} needs a value".format(arg))
            i += 1
            if arg == "--flash":
                opts["flash"] = argv[i]
            elif arg == "--drop-audio":
                at, ms = argv[i].split(":")
                opts["drop_audio"].append((int(at), int(ms)))
            else:
                opts[values[arg]] = int(argv[i])
        elif arg.startswith("--"):
            raise ValueError("unknown option {}".format(arg))
        else:
            opts["wavs"].append(arg)
        i += 1
    if "flash" not in opts:
        raise ValueError("--flash DIR is required")
    opts["wavs"] = opts.pop("wavs")
    return opts


def main(argv):
    try:
        opts = _parse(argv)
        hw = UnixHardware(opts.pop("wavs"), opts.pop("flash"), **opts)
    except (ValueError, WavError, OSError) as exc:
        sys.stderr.write("error: {}\n{}\n".format(exc, USAGE))
        sys.exit(2)
    # The app's modules come after the hardware layer has taken its buffers (heap in one
    # piece, as on the ESP32).
    from heardapp.app import App

    App(hw).run()


main(sys.argv[1:])
