"""A RIFF/WAVE reader: the microphone of the unix port and of ``heard simulate``.

``WavReader(stream)`` parses the header of an open binary file (chunks in any order,
unknown chunks skipped; WAVE_FORMAT_PCM, and WAVE_FORMAT_EXTENSIBLE with the PCM
subformat) and exposes ``rate``, ``channels``, ``bits``, ``block_align``, ``frames``
(sample frames per channel) and ``truncated``. ``readinto(buf)`` fills a preallocated
``array('h')`` with whole interleaved frames and allocates nothing while a full buffer is
available.

By default only what the detector takes is accepted, 16 kHz 16-bit PCM with one or two
channels; anything else raises ``WavError`` (a ``ValueError``) saying what is wrong.
``WavReader(stream, False)`` parses any PCM or IEEE-float WAV header without that check,
which the host uses to inspect files it will convert.

A data chunk shorter than declared (a cut-off recording) is read as far as it goes and
``truncated`` is True; a declared size of 0xFFFFFFFF (a stream whose length was never
filled in) means "to the end of the file". Samples are little-endian in the file and
copied as they are: both the ESP32 and the PC are little-endian.
"""

import struct

from micropython import const

RATE = const(16000)
FORMAT_PCM = const(1)
FORMAT_FLOAT = const(3)
_FORMAT_EXTENSIBLE = const(0xFFFE)
_UNKNOWN_SIZE = 0xFFFFFFFF
# The 14 bytes after the format code in a KSDATAFORMAT_SUBTYPE_* GUID (PCM, IEEE float).
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_FORMAT_NAMES = {1: "PCM", 3: "IEEE float", 6: "A-law", 7: "mu-law", 0x11: "IMA ADPCM",
                 0x55: "MP3"}


class WavError(ValueError):
    """The input is not a WAV file the reader can use; the message says why."""


def format_name(code):
    """A readable name of a WAVE format code ("PCM", "format 0x0055")."""
    name = _FORMAT_NAMES.get(code)
    return name if name else "format 0x{:04x}".format(code)


def _read_exact(stream, n):
    data = stream.read(n)
    if data is None or len(data) < n:
        raise WavError("truncated header")
    return data


class WavReader:
    """Header fields of a WAV file and whole-frame int16 reads from its data chunk."""

    def __init__(self, stream, detector_format=True):
        self._stream = stream
        self.format = 0  # FORMAT_PCM or FORMAT_FLOAT (EXTENSIBLE resolved to its subformat)
        self.rate = 0
        self.channels = 0
        self.bits = 0
        self.block_align = 0
        self.frames = 0  # whole sample frames that can be read (per channel)
        self.declared_frames = 0  # what the data chunk's size field announces
        self.truncated = False
        self.data_offset = 0
        self._left = 0  # bytes of whole frames still to read
        self._parse()
        if detector_format:
            self.check_detector_format()

    def _parse(self):
        stream = self._stream
        head = stream.read(12)
        if not head:
            raise WavError("empty file (0 bytes)")
        if len(head) < 12 and b"RIFF".startswith(head[0:4]):
            raise WavError("truncated header")  # the start of a WAV, cut off
        if len(head) < 12 or head[0:4] != b"RIFF" or head[8:12] != b"WAVE":
            if head and head[0:4] == b"RF64":
                raise WavError("not a WAV file (RF64 is not supported)")
            raise WavError("not a WAV file")
        fmt = None
        data_offset = -1
        data_size = 0
        pos = 12  # offset of the next chunk header
        while True:
            header = stream.read(8)
            if header is None or len(header) == 0:
                break
            if len(header) < 8:
                raise WavError("truncated header")
            chunk_id, size = struct.unpack("<4sI", header)
            body = pos + 8
            if chunk_id == b"fmt ":
                if size < 16:
                    raise WavError("truncated header (fmt chunk of {} bytes)".format(size))
                fmt = _read_exact(stream, size if size < 40 else 40)
            elif chunk_id == b"data":
                data_offset = body
                data_size = size
                if size == _UNKNOWN_SIZE:
                    break  # nothing can follow a data chunk of unknown length
            if fmt is not None and data_offset >= 0:
                break
            pos = body + size + (size & 1)  # chunks are padded to an even size
            stream.seek(pos)
        if fmt is None:
            raise WavError("no fmt chunk" if data_offset >= 0 else "truncated header")
        if data_offset < 0:
            raise WavError("no data chunk")
        self._parse_fmt(fmt)
        self.data_offset = data_offset
        file_end = stream.seek(0, 2)
        available = file_end - data_offset
        if available < 0:
            available = 0
        if data_size == _UNKNOWN_SIZE:
            data_size = available
        align = self.block_align
        self.declared_frames = data_size // align
        if available < data_size:
            self.truncated = True
            data_size = available
        self.frames = data_size // align
        self._left = self.frames * align
        stream.seek(data_offset)

    def _parse_fmt(self, fmt):
        code, channels, rate, _byte_rate, align, bits = struct.unpack("<HHIIHH", fmt[0:16])
        if code == _FORMAT_EXTENSIBLE:
            if len(fmt) < 40:
                raise WavError("truncated header (WAVE_FORMAT_EXTENSIBLE fmt chunk)")
            code = struct.unpack("<H", fmt[24:26])[0]
            if fmt[26:40] != _GUID_TAIL:
                raise WavError("unknown WAVE_FORMAT_EXTENSIBLE subformat")
        if code != FORMAT_PCM and code != FORMAT_FLOAT:
            raise WavError("PCM needed, got {}".format(format_name(code)))
        if channels == 0 or bits == 0 or rate == 0:
            raise WavError("bad fmt chunk ({} channels, {} Hz, {}-bit)".format(
                channels, rate, bits))
        if align != channels * ((bits + 7) // 8):
            raise WavError("bad fmt chunk (block align {} for {} channels of {}-bit)".format(
                align, channels, bits))
        self.format = code
        self.channels = channels
        self.rate = rate
        self.bits = bits
        self.block_align = align

    def check_detector_format(self):
        """Raise ``WavError`` unless the file is 16 kHz 16-bit PCM, mono or stereo."""
        if self.format != FORMAT_PCM:
            raise WavError("16-bit PCM needed, got {}-bit {}".format(
                self.bits, format_name(self.format)))
        if self.bits != 16:
            raise WavError("16-bit PCM needed, got {}-bit".format(self.bits))
        if self.rate != RATE:
            raise WavError("{} Hz needed, got {} Hz".format(RATE, self.rate))
        if self.channels > 2:
            raise WavError("1 or 2 channels needed, got {}".format(self.channels))

    def readinto(self, buf):
        """Read whole int16 frames into ``buf``; returns the samples read (all channels).

        0 means the end of the data. Only 16-bit files can be read this way.
        """
        left = self._left
        want = (len(buf) // self.channels) * self.block_align
        if want > left:
            want = left
        if want <= 0:
            return 0
        if want == len(buf) * 2:
            got = self._stream.readinto(buf)
        else:
            got = self._stream.readinto(memoryview(buf)[0 : want // 2])
        if got is None:
            got = 0
        if got < want:
            # The file shrank or ended early after the header was read.
            self.truncated = True
            self._left = 0
        else:
            self._left = left - got
        return (got // self.block_align) * self.channels
