"""The record log on flash, each test in its own directory under /tmp (no tempfile on
MicroPython). Failing writes and a model-based test are in tests/test_recordlog_host.py.

Kept short, and ``record`` is taken from ``recordlog``: compiling recordlog before record
is what lets this module run in the unix port's 64 KB test heap (fragmentation).
"""

import os
import struct

from heardcore.recordlog import LogCorrupt, RecordLog, record

_OPEN = open


def _rec(seq, size=8):  # 41 + size bytes
    return record.event(seq, 0x1234, seq * 10, 0, record.EVENT_ERROR, seq, 0, "x" * size)


def _plenty():
    return 1 << 30


def _capacity(root, cap):
    """free_bytes of an area of ``cap`` bytes holding the files in ``root``."""
    def free():
        return cap - sum(os.stat(root + "/" + n)[6] for n in os.listdir(root))
    return free


def _with_dir(fn):
    def test():
        root = "/tmp/heard_test_recordlog_{:08x}".format(struct.unpack("<I", os.urandom(4))[0])
        try:
            fn(root)
        finally:
            for name in os.listdir(root):
                os.remove(root + "/" + name)
            os.rmdir(root)
    return test


def _open(root, seg=200, free=_plenty, **kw):
    log = RecordLog(root, free, seg, **kw)
    log.open()
    return log


def _fill(log, count, size=8):
    out = []
    for _ in range(count):
        out.append(_rec(log.next_seq, size))
        assert log.append(out[-1])
    return out


def _read_all(log, pos=1):
    out = []
    while True:
        recs, pos = log.read(pos, 150)
        if not recs:
            return out, pos
        out += recs


def _segs(root):
    return sorted(n for n in os.listdir(root) if n.startswith("seg-"))


def _load(path):
    with _OPEN(path, "rb") as f:
        return f.read()


def _store(path, data):
    with _OPEN(path, "wb") as f:
        f.write(data)


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return True
    return False


@_with_dir
def test_fresh_log_and_unknown_files(root):
    log = _open(root)
    assert (log.next_seq, log.first_seq, log.acked, log.dropped, log.dropped_logged) == (
        1, 1, 0, 0, 0)
    assert os.listdir(root) == ["state.json"]
    assert log.read(1, 100) == ([], 1) and log.stored_bytes() == 0
    recs = _fill(log, 2)
    for name in ("state.tmp", "seg.tmp", "notes.txt", "seg-12.log"):
        _store(root + "/" + name, b"junk")
    again = _open(root)
    assert again.log_id == log.log_id
    assert sorted(os.listdir(root)) == [
        "notes.txt", "seg-0000000001.log", "seg-12.log", "state.json"]
    assert _read_all(again) == (recs, 3)
    assert _raises(ValueError, again.append, _rec(4))
    assert _raises(ValueError, again.append, _rec(3)[:-1])
    assert _raises(ValueError, again.append, b"junk")


@_with_dir
def test_round_trip_across_rotation_and_reopen(root):
    log = _open(root, write_chunk=7)
    recs = [_rec(i + 1, i % 5 * 7) for i in range(20)]
    for rec in recs:
        assert log.append(rec)
    names = _segs(root)
    assert len(names) > 3 and names[0] == "seg-0000000001.log"
    assert max(os.stat(root + "/" + n)[6] for n in names) <= 200
    assert _read_all(log) == (recs, 21)
    assert log.stored_bytes() == sum(len(r) for r in recs)
    again = _open(root)
    assert again.cut_bytes == 0 and (again.first_seq, again.next_seq) == (1, 21)
    assert _read_all(again) == (recs, 21)


@_with_dir
def test_read_max_bytes_and_resume(root):
    log = _open(root)
    recs = _fill(log, 12)  # 49 bytes each, 4 per segment
    n = len(recs[0])
    assert log.read(1, 1) == ([recs[0]], 2)  # at least one record
    assert log.read(3, 3 * n) == (recs[2:5], 6)  # across a segment boundary
    assert log.read(3, 3 * n - 1) == (recs[2:4], 5)
    assert log.read(7, 1000) == (recs[6:], 13)
    assert log.read(0, n) == ([recs[0]], 2)
    assert log.read(13, 1000) == ([], 13)
    assert log.read(50, 1000) == ([], 50)
    log.ack(4)  # deletes the first segment
    assert log.first_seq == 5 and log.read(1, n) == ([recs[4]], 6)


@_with_dir
def test_torn_last_record_is_cut_at_every_offset(root):
    recs = _fill(_open(root, 100), 3)  # segment 1: records 1 and 2; segment 3: record 3
    one, three = root + "/seg-0000000001.log", root + "/seg-0000000003.log"
    os.remove(three)
    for k in range(len(recs[1])):
        _store(one, recs[0] + recs[1][:k])
        log = _open(root, 100)
        assert (log.cut_bytes, log.next_seq, os.stat(one)[6]) == (k, 2, len(recs[0]))
        assert log.append(recs[1]) and log.append(recs[2])
        assert _read_all(log) == (recs, 4)
        _store(three, recs[2][:k])  # the only record of the newest segment
        log = _open(root, 100)
        assert (log.cut_bytes, log.next_seq) == (k, 3)
        assert _read_all(log) == (recs[:2], 3)
        assert sorted(os.listdir(root)) == ["seg-0000000001.log", "state.json"]


@_with_dir
def test_garbage_after_the_tail_is_cut(root):
    recs = _fill(_open(root), 2)
    flipped = bytearray(_rec(3))
    flipped[20] ^= 1
    for junk in (os.urandom(30), b"hR\x01\x02\xff\xff" + bytes(20), b"\xff" * 200, _rec(2),
                 bytes(flipped), bytes(60), bytes(flipped) + _rec(2)):
        _store(root + "/seg-0000000001.log", recs[0] + recs[1] + junk)
        log = _open(root)
        assert (log.cut_bytes, log.next_seq) == (len(junk), 3)
        assert _read_all(log) == (recs, 3)


@_with_dir
def test_a_damaged_record_costs_only_itself(root):
    log = _open(root)
    recs = _fill(log, 12)  # segments 1, 5, 9
    n = len(recs[0])
    for first, at in ((1, n + 20), (9, 2 * n + 3)):  # records 2 and 11
        path = root + "/seg-{:010d}.log".format(first)
        data = bytearray(_load(path))
        data[at] ^= 0x40
        _store(path, bytes(data))
    kept = [recs[0]] + recs[2:10] + [recs[11]]
    assert _read_all(log) == (kept, 13)
    assert log.read(1, n) == ([recs[0]], 3)  # the next to ask for is past the damaged one
    assert log.read(2, n) == ([recs[2]], 4)
    assert log.read(11, n) == ([recs[11]], 13)
    log = _open(root)  # at boot the newest segment is read past the damage, not cut
    assert (log.cut_bytes, log.next_seq) == (0, 13)
    assert _read_all(log) == (kept, 13)
    # A damaged length field: the next intact record is found by its magic and seq.
    path = root + "/seg-0000000005.log"
    data = bytearray(_load(path))
    data[4:6] = b"\x09\x00"  # record 5 claims 9 bytes
    _store(path, bytes(data))
    assert _read_all(_open(root)) == ([recs[0]] + recs[2:4] + recs[5:10] + [recs[11]], 13)


@_with_dir
def test_an_intact_later_record_after_damage_at_the_tail_is_kept(root):
    recs = _fill(_open(root), 2)
    flipped = bytearray(_rec(3))
    flipped[20] ^= 1
    later = _rec(4)
    _store(root + "/seg-0000000001.log", recs[0] + recs[1] + bytes(flipped) + later)
    log = _open(root)
    assert (log.cut_bytes, log.next_seq) == (0, 5)
    assert _read_all(log) == (recs + [later], 5)


@_with_dir
def test_ack_deletes_only_fully_acknowledged_segments(root):
    log = _open(root)
    assert log.ack(0) == 0 and _raises(ValueError, log.ack, 1)
    recs = _fill(log, 12)  # segments 1, 5, 9
    assert _raises(ValueError, log.ack, 13)
    assert log.ack(3) == 3 and len(_segs(root)) == 3 and log.first_seq == 1
    assert log.ack(4) == 4 and _segs(root) == ["seg-0000000005.log", "seg-0000000009.log"]
    assert log.ack(2) == 4  # less than before: nothing changes
    assert log.ack(11) == 11 and _segs(root) == ["seg-0000000009.log"]
    assert _read_all(log) == (recs[8:], 13)
    again = _open(root)
    assert (again.acked, again.first_seq, again.next_seq) == (11, 9, 13)
    # A power cut between saving an ack and deleting the segment: open deletes it.
    data = _load(root + "/seg-0000000009.log")
    again.ack(12)
    assert _segs(root) == [] and (again.first_seq, again.next_seq) == (13, 13)
    _store(root + "/seg-0000000009.log", data)
    again = _open(root)
    assert _segs(root) == [] and (again.first_seq, again.next_seq, again.acked) == (13, 13, 12)
    recs = _fill(again, 2)
    assert _segs(root) == ["seg-0000000013.log"] and _read_all(again) == (recs, 15)
    assert _open(root).next_seq == 15


@_with_dir
def test_full_area_drops_records_and_never_deletes_unacknowledged_ones(root):
    # 4 records of 49 bytes per 200-byte segment; a new segment needs 4096 + 100 + 49
    # bytes free: there is room for the second segment, not the third.
    free = _capacity(root, 4096 + 500)
    log = _open(root, free=free, reserve_bytes=100)
    recs = _fill(log, 8)
    assert not log.append(_rec(9)) and not log.append(_rec(9))
    assert (log.dropped, log.next_seq) == (2, 9)
    assert _read_all(log) == (recs, 9)
    log = _open(root, free=free, reserve_bytes=100)
    assert (log.dropped, log.dropped_logged) == (2, 0)
    assert not log.append(_rec(9)) and log.dropped == 3
    log.ack(4)  # the acknowledged segment makes room
    recs.append(_rec(9))
    assert log.append(recs[-1])
    log.note_dropped_logged()
    assert _read_all(log) == (recs[4:], 10)
    log = _open(root, free=free, reserve_bytes=100)
    assert (log.dropped, log.dropped_logged, log.next_seq) == (3, 3, 10)


@_with_dir
def test_a_lost_or_unreadable_state_is_rebuilt_from_the_segments(root):
    log = _open(root)
    recs = _fill(log, 12)  # segments 1, 5, 9
    log.ack(4)  # segment 1 goes
    saved = _load(root + "/state.json")
    assert b'"acked": 4' in saved
    flipped = saved.replace(b'"acked": 4', b'"acked": 9')  # parses, but would lose 5..9
    tail = b', "acked": 0, "dropped": 0, "dropped_logged": 0}'
    for bad in (None, b"", b"\xff\xfe{", b'{"log": 1', b"[]", b"7", b'{"log": 1}',
                b'{"log": "a"' + tail, b'{"log": -1' + tail, b'{"log": true' + tail, flipped):
        if bad is None:
            os.remove(root + "/state.json")
        else:
            _store(root + "/state.json", bad)
        again = _open(root)
        assert again.rebuilt, bad
        assert again.log_id not in (0, log.log_id), bad  # a new log: the host refetches it
        assert (again.acked, again.first_seq, again.next_seq) == (4, 5, 13), bad
        assert _read_all(again) == (recs[4:], 13), bad
        assert _open(root).rebuilt == ""  # rebuilt once, saved
    # A state from firmware that kept no crc is read as it is.
    _store(root + "/state.json", b'{"log": 7, "acked": 4, "dropped": 1, "dropped_logged": 1}')
    old = _open(root)
    assert (old.rebuilt, old.log_id, old.acked, old.dropped) == ("", 7, 4, 1)
    # Without a segment to rebuild from, an unreadable state is for the app to format.
    for name in _segs(root):
        os.remove(root + "/" + name)
    _store(root + "/state.json", b"[]")
    assert _raises(LogCorrupt, _open, root)
    fresh = RecordLog(root, _plenty)
    fresh.format("state unreadable")
    assert os.listdir(root) == ["state.json"]
    assert (fresh.next_seq, fresh.first_seq, fresh.acked, fresh.dropped) == (1, 1, 0, 0)
    again = _open(root)
    assert again.log_id == fresh.log_id and again.next_seq == 1
