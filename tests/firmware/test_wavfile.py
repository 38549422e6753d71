"""The WAV reader of the unix-port microphone (runs on CPython and MicroPython).

WAV files are built in memory with ``struct``; one test writes a real file under /tmp.
"""

import array
import io
import os
import struct

import micropython

from heardcore.wavfile import WavError, WavReader

_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def _chunk(chunk_id, body, size=None):
    pad = b"\x00" if len(body) & 1 else b""
    return chunk_id + struct.pack("<I", len(body) if size is None else size) + body + pad


def _fmt(channels=1, rate=16000, bits=16, code=1):
    align = channels * ((bits + 7) // 8)
    return _chunk(b"fmt ", struct.pack("<HHIIHH", code, channels, rate, rate * align, align, bits))


def _fmt_extensible(channels=2, bits=16, subformat=1):
    align = channels * bits // 8
    body = struct.pack("<HHIIHH", 0xFFFE, channels, 16000, 16000 * align, align, bits)
    body += struct.pack("<HHI", 22, bits, 3) + struct.pack("<H", subformat) + _GUID_TAIL
    return _chunk(b"fmt ", body)


def _pcm(values):
    return bytes(array.array("h", values))  # little-endian, like the PC and the ESP32


def _riff(*chunks):
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _wav(values, channels=1, **kw):
    return _riff(_fmt(channels, **kw), _chunk(b"data", _pcm(values)))


def _error(data, detector_format=True):
    try:
        WavReader(io.BytesIO(data), detector_format)
    except WavError as exc:
        return str(exc)
    return None


def test_mono_header_and_samples():
    wav = WavReader(io.BytesIO(_wav([1, -2, 3, 32767, -32768])))
    assert (wav.rate, wav.channels, wav.bits, wav.frames) == (16000, 1, 16, 5)
    assert not wav.truncated
    buf = array.array("h", [0] * 8)
    assert wav.readinto(buf) == 5
    assert list(buf[:5]) == [1, -2, 3, 32767, -32768]
    assert wav.readinto(buf) == 0


def test_stereo_reads_whole_frames_then_the_rest():
    values = list(range(-10, 10))  # 10 stereo frames
    wav = WavReader(io.BytesIO(_wav(values, channels=2)))
    assert (wav.channels, wav.frames, wav.block_align) == (2, 10, 4)
    buf = array.array("h", [0] * 8)  # 4 frames
    got = []
    while True:
        n = wav.readinto(buf)
        if n == 0:
            break
        assert n % 2 == 0
        got += list(buf[:n])
    assert got == values


def test_buffer_of_odd_size_gets_whole_frames_only():
    wav = WavReader(io.BytesIO(_wav(list(range(12)), channels=2)))
    buf = array.array("h", [-1] * 5)  # room for 2 stereo frames and one spare sample
    assert wav.readinto(buf) == 4
    assert list(buf) == [0, 1, 2, 3, -1]


def test_chunks_in_any_order_and_unknown_chunks_skipped():
    info = _chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00heard\x00")  # odd size: padded
    data = _chunk(b"data", _pcm([7, 8, 9]))
    for chunks in ((info, _fmt(), data), (data, info, _fmt()), (_fmt(), info, data, info)):
        wav = WavReader(io.BytesIO(_riff(*chunks)))
        buf = array.array("h", [0] * 4)
        assert wav.frames == 3
        assert wav.readinto(buf) == 3
        assert list(buf[:3]) == [7, 8, 9]


def test_extensible_pcm_accepted():
    data = _riff(_fmt_extensible(), _chunk(b"data", _pcm([1, 2, 3, 4])))
    wav = WavReader(io.BytesIO(data))
    assert (wav.channels, wav.frames, wav.format) == (2, 2, 1)


def test_extensible_float_rejected():
    data = _riff(_fmt_extensible(bits=32, subformat=3), _chunk(b"data", b"\x00" * 16))
    assert _error(data) == "16-bit PCM needed, got 32-bit IEEE float"


def test_not_a_wav():
    assert _error(b"") == "empty file (0 bytes)"
    assert _error(b"RIFF") == "truncated header"
    assert _error(b"RIFF\x10\x00") == "truncated header"
    assert _error(b"ID3\x03\x00\x00\x00\x00\x00\x00\x00\x00mp3 data") == "not a WAV file"
    assert _error(b"RIFF\x10\x00\x00\x00AVI LIST") == "not a WAV file"


def test_truncated_header():
    full = _wav([1, 2, 3])
    assert _error(full[:12]) == "truncated header"
    assert _error(full[:16]) == "truncated header"
    assert _error(full[:30]) == "truncated header"


def test_missing_chunks():
    assert _error(_riff(_fmt())) == "no data chunk"
    assert _error(_riff(_chunk(b"data", _pcm([1])))) == "no fmt chunk"


def test_formats_the_detector_cannot_take():
    assert _error(_wav([0, 0, 0], bits=24)) == "16-bit PCM needed, got 24-bit"
    assert _error(_wav([0, 0], bits=8)) == "16-bit PCM needed, got 8-bit"
    assert _error(_wav([0] * 4, bits=32, code=3)) == "16-bit PCM needed, got 32-bit IEEE float"
    assert _error(_wav([0] * 4, rate=44100)) == "16000 Hz needed, got 44100 Hz"
    assert _error(_wav([0] * 6, channels=3)) == "1 or 2 channels needed, got 3"
    assert _error(_wav([0] * 4, code=0x55)) == "PCM needed, got MP3"


def test_inspection_without_the_detector_check():
    wav = WavReader(io.BytesIO(_wav([0] * 9, channels=3, bits=24, rate=44100)), False)
    assert (wav.channels, wav.bits, wav.rate, wav.block_align) == (3, 24, 44100, 9)
    assert wav.frames == 2  # 18 bytes of data hold two 9-byte frames


def test_bad_block_align():
    body = struct.pack("<HHIIHH", 1, 2, 16000, 64000, 2, 16)  # stereo needs align 4
    assert _error(_riff(_chunk(b"fmt ", body), _chunk(b"data", b""))).startswith("bad fmt chunk")


def test_truncated_data_reads_what_is_there():
    full = _riff(_fmt(channels=2), _chunk(b"data", _pcm(list(range(200)))))
    cut = full[: len(full) - 2 * 61]  # 30.5 frames missing
    wav = WavReader(io.BytesIO(cut))
    assert wav.truncated
    assert wav.declared_frames == 100
    assert wav.frames == 69
    buf = array.array("h", [0] * 320)
    assert wav.readinto(buf) == 138
    assert list(buf[:4]) == [0, 1, 2, 3]
    assert buf[137] == 137
    assert wav.readinto(buf) == 0


def test_unknown_data_size_reads_to_the_end():
    data = _riff(_fmt(), _chunk(b"data", _pcm([5, 6, 7, 8]), size=0xFFFFFFFF))
    wav = WavReader(io.BytesIO(data))
    assert (wav.frames, wav.truncated) == (4, False)


def test_empty_data_chunk():
    wav = WavReader(io.BytesIO(_wav([])))
    buf = array.array("h", [0] * 4)
    assert wav.frames == 0
    assert wav.readinto(buf) == 0


def test_file_on_disk_reads_without_allocation():
    path = "/tmp/heard_test_wavfile_{:08x}.wav".format(struct.unpack("<I", os.urandom(4))[0])
    values = [(i * 37) % 2000 - 1000 for i in range(2 * 160 * 3)]  # three stereo frames
    data = _wav(values, channels=2)
    try:
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb") as f:
            wav = WavReader(f)
            buf = array.array("h", [0] * 320)
            counts = [0, 0, 0]
            micropython.heap_lock()
            try:
                counts[0] = wav.readinto(buf)
                counts[1] = wav.readinto(buf)
                counts[2] = wav.readinto(buf)
            finally:
                micropython.heap_unlock()
            assert counts == [320, 320, 320]
            assert list(buf) == values[640:]
            assert wav.readinto(buf) == 0
    finally:
        os.remove(path)
