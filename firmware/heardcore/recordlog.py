"""The device's record log: append-only segment files in a data area, crash-safe.

Layout (docs/protocol.md, "On flash"): ``seg-NNNNNNNNNN.log`` named by its first seq,
``state.json`` (log id, acked, dropped counters) replaced whole via ``state.tmp``. Records
in a segment are in seq order,
so its last seq is the next segment's first minus one (or ``next_seq - 1`` for the newest).

Damage never costs more than the damaged bytes: a record that fails its check is skipped
and reading goes on at the next intact record (found by its magic, CRC and seq), so only
the damaged record is missing, which the host sees as a gap. A lost or unreadable
``state.json`` is rebuilt from the segments (``rebuilt`` says why): a new log id (the host
fetches that log from its start and drops what it has by boot id and seq), everything
before the oldest segment taken as acknowledged. Runs on MicroPython and CPython.
"""

import binascii
import json
import os
import struct

from heardcore import record

_KEYS = ("log", "acked", "dropped", "dropped_logged")
_BLOCK = 4096  # a new file takes at least one LittleFS block
_SCAN = 256  # bytes read at a time when looking past a damaged record


class LogCorrupt(Exception):
    """The data area's state is unreadable: the app formats it."""


def _state_crc(values):
    return binascii.crc32(",".join(str(v) for v in values).encode()) & 0xFFFFFFFF


def _next_record(f, seq):
    """Record ``seq`` read from ``f``; None at the end or at a bad record."""
    rec = f.read(record.HEADER_SIZE)
    n = record.peek_length(rec)
    if n < record.HEADER_SIZE or n > record.MAX_RECORD:
        return None
    rec += f.read(n - record.HEADER_SIZE)
    try:
        if record.check(rec)[1] == seq:
            return rec
    except record.RecordError:
        pass
    return None


def _next_intact(f, seq, end):
    """(record, its seq) of the next intact record in ``f`` numbered ``seq`` up to
    ``end`` (exclusive): the lowest-numbered one left in the file; (None, seq) if there is
    none. Damaged bytes before it are skipped."""
    pos = f.tell()
    rec = _next_record(f, seq)
    if rec is not None:
        return rec, seq
    # Damage is rare: look for the records left by their magic, in small reads (no large
    # allocation on a device that is also listening).
    best, best_seq, at = None, end, 0
    start = pos
    while best_seq != seq:
        f.seek(start)
        buf = f.read(_SCAN)
        if len(buf) < 2:
            break
        i = buf.find(record.MAGIC)
        while i >= 0:
            f.seek(start + i)
            cand = f.read(record.MAX_RECORD)
            try:
                n, found = record.check(cand)
                if seq <= found < best_seq:
                    best, best_seq, at = cand[:n], found, start + i + n
                    if found == seq:
                        break
            except record.RecordError:
                pass
            i = buf.find(record.MAGIC, i + 1)
        start += len(buf) - 1  # one byte back: a magic split between two reads is found
    if best is None:
        return None, seq
    f.seek(at)
    return best, best_seq


class RecordLog:
    def __init__(self, root, free_bytes, segment_bytes=4096, reserve_bytes=8192,
                 write_chunk=0):
        self.root = root
        self.free_bytes = free_bytes
        self.segment_bytes = segment_bytes
        self.reserve_bytes = reserve_bytes
        self.write_chunk = write_chunk
        self.log_id = self.acked = self.dropped = self.dropped_logged = self.cut_bytes = 0
        self.rebuilt = ""  # why open() rebuilt the state from the segments ("": it did not)
        self.next_seq = 1
        self._segs = []  # first seqs, oldest first
        self._size = None  # bytes in the newest segment; None: the next append starts one
        try:
            os.mkdir(root)
        except OSError:
            pass  # exists; anything worse shows on the first file access

    @property
    def first_seq(self):
        return self._segs[0] if self._segs else self.next_seq

    def _path(self, name):
        return self.root + "/" + name

    def _seg(self, first):
        return self.root + "/seg-{:010d}.log".format(first)

    def _save(self):
        tmp = self._path("state.tmp")
        values = (self.log_id, self.acked, self.dropped, self.dropped_logged)
        with open(tmp, "w") as f:
            f.write(json.dumps({"log": values[0], "acked": values[1], "dropped": values[2],
                                "dropped_logged": values[3], "crc": _state_crc(values)}))
        os.rename(tmp, self._path("state.json"))

    def open(self):
        """Load the state (rebuilt from the segments if it is lost or unreadable), cut a
        torn tail off the newest segment; returns ``cut_bytes``. LogCorrupt: the state is
        unreadable and there are no segments to rebuild it from."""
        segs = self._segs = []
        for name in os.listdir(self.root):
            if len(name) == 18 and name[:4] == "seg-" and name[14:] == ".log":
                try:
                    segs.append(int(name[4:14]))
                except ValueError:
                    pass
            elif name[-4:] == ".tmp":
                os.remove(self._path(name))
        segs.sort()
        self.rebuilt = ""
        try:
            values = self._load_state()
        except LogCorrupt as exc:
            if not segs:
                raise
            self.rebuilt = str(exc)
        except OSError:
            if not segs:
                self._new_log()
                return 0
            self.rebuilt = "segments without state"
        if self.rebuilt:
            # The records are intact: keep them. Everything before the oldest segment was
            # acknowledged (segments go only when acknowledged); the dropped counts are lost.
            values = [self._random_id(0), segs[0] - 1, 0, 0]
        self.log_id, self.acked, self.dropped, self.dropped_logged = values
        if self.rebuilt:
            self._save()
        self.cut_bytes = good = last = 0
        # A newest segment with nothing intact goes and the one before is checked: it may
        # end in part of a record whose write failed (see append).
        while segs and not good:
            good, last = self._repair(segs[-1])
            if not good:
                segs.pop()
        self.next_seq = max(last + 1, self.acked + 1)
        self._size = good if good and last + 1 == self.next_seq else None
        self._drop_acked()
        return self.cut_bytes

    def _load_state(self):
        with open(self._path("state.json"), "rb") as f:
            data = f.read()
        try:
            state = json.loads(data)
            values = [state[k] for k in _KEYS]
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise LogCorrupt("state: {!r}".format(exc)) from None
        for v in values:
            if type(v) is not int or v < 0:
                raise LogCorrupt("state: bad value {!r}".format(v))
        # A flipped digit that still parses (a higher acked would delete unsent records)
        # fails the check; a state from firmware without one is taken as it is.
        if "crc" in state and state["crc"] != _state_crc(values):
            raise LogCorrupt("state: bad crc")
        return values

    def _repair(self, first):
        """(bytes kept, last seq) of segment ``first``, cut after its last intact record
        (a damaged one before it is skipped, not cut)."""
        path = self._seg(first)
        good = 0
        seq = first
        bound = first + self.segment_bytes  # more records than a segment can hold
        with open(path, "rb") as f:
            while True:
                rec, found = _next_intact(f, seq, bound)
                if rec is None:
                    break
                good = f.tell()
                seq = found + 1
            size = f.seek(0, 2)
            if 0 < good < size:  # no truncate() on MicroPython: copy, then rename
                f.seek(0)
                with open(self._path("seg.tmp"), "wb") as out:
                    for at in range(0, good, 512):
                        out.write(f.read(min(512, good - at)))
        self.cut_bytes += size - good
        if not good:
            os.remove(path)
        elif good < size:
            os.rename(self._path("seg.tmp"), path)
        return good, seq - 1

    @staticmethod
    def _random_id(old):
        new = old
        while new == old or not new:
            new = struct.unpack("<I", os.urandom(4))[0]
        return new

    def _new_log(self):
        self.log_id = self._random_id(self.log_id)
        self.acked = self.dropped = self.dropped_logged = self.cut_bytes = 0
        self.next_seq = 1
        self._segs = []
        self._size = None
        self._save()

    def format(self, reason=""):
        """Delete every file in the data area, start a new log (new id, seq 1).
        ``reason`` is not kept: it is for the caller's data_reset event."""
        for name in os.listdir(self.root):
            os.remove(self._path(name))
        self._new_log()

    def _new_seg(self, n):
        return self._size is None or self._size + n > self.segment_bytes

    def _fits(self, n):
        return self.free_bytes() >= n + self.reserve_bytes + _BLOCK * self._new_seg(n)

    def append(self, rec, count=True):
        """Store a record numbered ``next_seq``; False (counted in ``dropped`` if
        ``count``) if the area is full or the write fails."""
        n, seq = record.check(rec)
        if seq != self.next_seq or n != len(rec):
            raise ValueError("seq {} is not next ({})".format(seq, self.next_seq))
        if not self._fits(n):
            self._drop_acked()  # normally none are left: ack() and open() delete them
            if not self._fits(n):
                return self._drop() if count else False
        new = self._new_seg(n)
        path = self._seg(seq) if new else self._seg(self._segs[-1])
        try:
            with open(path, "wb" if new else "ab") as f:
                step = self.write_chunk or n
                for i in range(0, n, step):
                    f.write(rec[i:i + step])
                    f.flush()
        except OSError:
            # The segment may end in part of this record now: the next append starts a
            # new one, and open() cuts the part while this segment is the newest.
            self._size = None
            if new:
                try:
                    os.remove(path)
                except OSError:
                    pass
            return self._drop() if count else False
        if new:
            self._segs.append(seq)
            self._size = 0
        self._size += n
        self.next_seq = seq + 1
        return True

    def _drop(self):
        self.dropped += 1
        try:
            self._save()
        except OSError:
            pass  # a full area never raises; saved with the next change
        return False

    def note_dropped_logged(self):
        """The app wrote a records_dropped event covering every drop so far."""
        self.dropped_logged = self.dropped
        self._save()

    def read(self, from_seq, max_bytes):
        """(records from ``from_seq`` on, seq to ask for next): ``max_bytes`` at most,
        but one record at least. A damaged record is skipped (its seq is missing)."""
        pos = max(from_seq, self.first_seq)
        out = []  # type: list[bytes]
        total = 0
        segs = self._segs
        i = len(segs) - 1
        while i > 0 and segs[i] > pos:
            i -= 1
        while pos < self.next_seq and i < len(segs):
            end = segs[i + 1] if i + 1 < len(segs) else self.next_seq
            seq = segs[i]
            with open(self._seg(seq), "rb") as f:
                while seq < end:
                    rec, seq = _next_intact(f, seq, end)
                    if rec is None:
                        break
                    if seq >= pos:
                        if out and total + len(rec) > max_bytes:
                            return out, seq
                        out.append(rec)
                        total += len(rec)
                    seq += 1
            pos = max(pos, end)
            i += 1
        return out, pos

    def ack(self, seq):
        """Acknowledge records up to ``seq`` (ValueError beyond the last); returns acked."""
        if seq >= self.next_seq:
            raise ValueError("ack {} beyond {}".format(seq, self.next_seq - 1))
        if seq > self.acked:
            self.acked = seq
            self._save()
            self._drop_acked()
        return self.acked

    def _drop_acked(self):
        segs = self._segs
        while segs and (segs[1] - 1 if len(segs) > 1 else self.next_seq - 1) <= self.acked:
            os.remove(self._seg(segs[0]))
            segs.pop(0)
        if not segs:
            self._size = None

    def stored_bytes(self):
        """Bytes in segment files."""
        return sum(os.stat(self._seg(first))[6] for first in self._segs)
