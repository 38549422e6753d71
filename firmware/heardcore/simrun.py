"""The file runner: a WAV file through the detector, NDJSON lines on stdout.

The same code runs on the MicroPython unix port and on CPython, and prints the same bytes:

    MICROPYPATH=firmware micropython -X heapsize=111936 -m heardcore.simrun WAV [OPTIONS]
    python -m heard.simulate.cpython_engine WAV [OPTIONS]

with OPTIONS ``--config JSON_FILE`` (parameter overrides) and ``--frames``; after ``--``
every argument is a file name, even one that starts with ``-``.

The WAV (16 kHz 16-bit PCM, mono or stereo) is read frame by frame into one preallocated
buffer and fed to ``heardcore.detector.Detector``. Each line is one compact JSON object, in
the order things become final: ``start``, then ``segment``, ``interruption``,
``backchannel``, ``conversation``, ``employee_only`` (and with ``--frames`` one ``frame``
line per frame), then ``end``. A bad WAV, config file or argument prints one
``{"type":"error",...}`` line and exits with status 2. docs/SIMULATE.md has the protocol.

JSON is written by a small formatter of our own: MicroPython's ``json.dumps`` differs from
CPython's in separators, key order and escaping, and both runtimes must agree byte for byte.
"""

import array
import gc
import sys

from heardcore.events import PARTY_NAMES, Sink
from heardcore.params import ConfigError, Params, entries, load_json
from heardcore.wavfile import WavError, WavReader

PROTOCOL_VERSION = 1
EXIT_ERROR = 2
USAGE = "usage: simrun [--config JSON_FILE] [--frames] [--] WAV"

# Conversation attributes in output order; two-element lists become NAME_employee-style pairs.
_CONVERSATION_ORDER = (
    "start_ms", "end_ms", "duration_ms", "employee_ms", "customer_ms", "talk_ratio_permille",
    "overlap_ms", "turns", "switches", "interruptions_by_employee", "interruptions_by_customer",
    "backchannels_by_employee", "backchannels_by_customer", "longest_employee_monologue_ms",
    "longest_customer_story_ms", "median_latency_ms", "latency_count", "flags", "snr_db",
    "clipped_samples", "lost_ms",
)
_CONVERSATION_LISTS = {
    "talk_ms": ("employee_ms", "customer_ms"),
    "interruptions": ("interruptions_by_employee", "interruptions_by_customer"),
    "backchannels": ("backchannels_by_employee", "backchannels_by_customer"),
}
_ERRNO_NAMES = {2: "no such file", 13: "permission denied", 21: "is a directory"}


class UsageError(ValueError):
    """The command line is wrong."""


def _string(text):
    # Printable ASCII as is; quote, backslash, control and non-ASCII characters as escapes.
    out = []
    for ch in text:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code > 0xFFFF:  # outside the BMP: a UTF-16 surrogate pair
            code -= 0x10000
            out.append("\\u{:04x}\\u{:04x}".format(0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)))
        else:
            out.append("\\u{:04x}".format(code))
    return '"' + "".join(out) + '"'


def encode(value):
    """Compact JSON of None, bool, int, str, a list (array) or a tuple of (key, value) pairs
    (an object, keys in the given order); anything else is a ``TypeError``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join([encode(v) for v in value]) + "]"
    if isinstance(value, tuple):
        return "{" + ",".join([_string(k) + ":" + encode(v) for k, v in value]) + "}"
    raise TypeError("cannot encode {}".format(type(value)))


def conversation_pairs(conv):
    """Every number of an ``events.Conversation`` as ordered (name, value) pairs."""
    values = {
        "duration_ms": conv.duration_ms(),
        "talk_ratio_permille": conv.talk_ratio_permille(),
    }
    attrs = conv.__dict__
    extra = []
    for name in attrs:
        value = attrs[name]
        if name in _CONVERSATION_LISTS:
            names = _CONVERSATION_LISTS[name]
            values[names[0]] = value[0]
            values[names[1]] = value[1]
        elif name[0] != "_":
            values[name] = value
            if name not in _CONVERSATION_ORDER:
                extra.append(name)  # a field added later still gets printed
    pairs = [("type", "conversation")]
    for name in _CONVERSATION_ORDER:
        if name in values:
            pairs.append((name, values[name]))
    for name in sorted(extra):
        value = values[name]
        if isinstance(value, list) and len(value) == 2:
            pairs.append((name + "_employee", value[0]))
            pairs.append((name + "_customer", value[1]))
        else:
            pairs.append((name, value))
    return tuple(pairs)


class NdjsonSink(Sink):
    """A detector sink that writes one JSON line per event through ``write(text)``."""

    def __init__(self, write, frames):
        self._write = write
        self.wants_frames = frames

    def emit(self, pairs):
        self._write(encode(pairs) + "\n")

    def segment(self, party, start_ms, end_ms):
        self.emit((("type", "segment"), ("speaker", PARTY_NAMES[party]),
                   ("start_ms", start_ms), ("end_ms", end_ms)))

    def interruption(self, by, time_ms):
        self.emit((("type", "interruption"), ("by", PARTY_NAMES[by]), ("time_ms", time_ms)))

    def backchannel(self, by, time_ms):
        self.emit((("type", "backchannel"), ("by", PARTY_NAMES[by]), ("time_ms", time_ms)))

    def conversation(self, conv):
        self.emit(conversation_pairs(conv))

    def employee_only(self, start_ms, end_ms, talk_ms):
        self.emit((("type", "employee_only"), ("start_ms", start_ms), ("end_ms", end_ms),
                   ("talk_ms", talk_ms)))

    def attributed(self, party, first_frame, frames):
        if self.wants_frames:  # mono: the party of frame lines already written
            self.emit((("type", "attributed"), ("speaker", PARTY_NAMES[party]),
                       ("first", first_frame), ("frames", frames)))

    def frame(self, index, detector):
        pairs = [("type", "frame"), ("i", index)]
        names = detector.FRAME_FIELDS
        values = detector.frame_state()
        for k in range(len(names)):
            pairs.append((names[k], values[k]))
        self.emit(tuple(pairs))


_READ_FRAMES = 8  # frames per file read: a read is a system call on the unix port
_FRAME_SAMPLES = 160


def run(wav, params, sink, detector_class, block=None):
    """Feed every frame of an open ``WavReader`` to a new detector; start and end lines
    around the detector's output. Returns the number of frames processed."""
    det = detector_class(params, wav.channels, sink)
    sink.emit((
        ("type", "start"), ("version", PROTOCOL_VERSION), ("rate", wav.rate),
        ("channels", wav.channels), ("frame_ms", params.frame_ms),
        ("params", tuple([(entry[0], getattr(params, entry[0])) for entry in entries()])),
    ))
    channels = wav.channels
    size = det.frame_samples * channels
    # Read several frames per call and hand the detector preallocated views of the block.
    if block is None:
        block = array.array("h", bytes(2 * size * _READ_FRAMES))
    count = len(block) // size
    whole = memoryview(block)
    views = [whole[k * size:(k + 1) * size] for k in range(count)]
    frames = 0
    samples = 0
    while True:
        n = wav.readinto(block)
        if n == 0:
            break
        samples += n // channels
        used = (n + size - 1) // size
        for i in range(n, used * size):  # the last, partial frame is padded with silence
            block[i] = 0
        for k in range(used):
            det.process(views[k])
        frames += used
    det.finish()
    sink.emit((("type", "end"), ("frames", frames), ("samples", samples),
               ("truncated", wav.truncated)))
    return frames


def _parse_args(argv):
    wav_path = None
    config_path = None
    frames = False
    options = True
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not options or not arg.startswith("-") or arg == "-":
            if wav_path is not None:
                raise UsageError("one WAV file only")
            wav_path = arg
        elif arg == "--":
            options = False
        elif arg == "--frames":
            frames = True
        elif arg == "--config":
            if i + 1 >= len(argv):
                raise UsageError("--config needs a file name")
            i += 1
            config_path = argv[i]
        else:
            raise UsageError("unknown option " + arg)
        i += 1
    if wav_path is None:
        raise UsageError(USAGE)
    return wav_path, config_path, frames


def _os_error(source, path, exc):
    # Not str(exc): CPython and MicroPython word OS errors differently. "read" for open and
    # read alike: the unix port opens a directory and fails on reading it, CPython on opening.
    errno = exc.args[0] if exc.args else 0
    reason = _ERRNO_NAMES.get(errno, "errno {}".format(errno))
    return _SourceError(source, "cannot read {} ({})".format(path, reason))


def _open(path, mode, source):
    try:
        return open(path, mode)
    except OSError as exc:
        raise _os_error(source, path, exc) from None


class _SourceError(Exception):
    """A file named on the command line cannot be opened or read."""

    def __init__(self, source, message):
        super().__init__(message)  # MicroPython has no Exception.__init__ to call directly
        self.source = source


def _error_line(write, source, message):
    write(encode((("type", "error"), ("source", source), ("message", message))) + "\n")


def main(argv, write=None):
    """Run ``simrun`` with the arguments ``argv``; output goes through ``write`` (stdout by
    default). Returns the exit status: 0, or 2 after an error line."""
    if write is None:
        write = sys.stdout.write
    try:
        wav_path, config_path, frames = _parse_args(argv)
        params = Params()
        if config_path is not None:
            f = _open(config_path, "rb", "config")
            try:
                text = f.read()
            except OSError as exc:
                raise _os_error("config", config_path, exc) from None
            finally:
                f.close()
            try:
                text = text.decode()
            except UnicodeError:
                raise ConfigError("*", "not valid UTF-8 text") from None
            params = load_json(text)
        f = _open(wav_path, "rb", "wav")
        try:
            try:
                wav = WavReader(f)
            except OSError as exc:
                raise _os_error("wav", wav_path, exc) from None
            # The read block first: compiling the detector's modules fragments the heap.
            block = array.array("h", bytes(2 * _FRAME_SAMPLES * wav.channels * _READ_FRAMES))
            gc.collect()  # room to compile the detector's modules from source
            from heardcore.detector import Detector

            run(wav, params, NdjsonSink(write, frames), Detector, block)
        finally:
            f.close()
    except UsageError as exc:
        _error_line(write, "usage", str(exc))
        return EXIT_ERROR
    except ConfigError as exc:
        _error_line(write, "config", str(exc))
        return EXIT_ERROR
    except WavError as exc:
        _error_line(write, "wav", str(exc))
        return EXIT_ERROR
    except _SourceError as exc:
        _error_line(write, exc.source, str(exc))
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
