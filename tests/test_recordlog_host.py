"""Record log tests that need CPython: writes that fail or are cut short by a crash
(``open`` of the module replaced), and a hypothesis model of random appends, acks,
reopens, full areas, failed writes and crashes mid-write."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heardcore import record, recordlog
from heardcore.recordlog import RecordLog

_OPEN = open


class _Crash(Exception):
    """The process dies in the middle of a write."""


class _Tearing:
    """A segment file that takes the first ``keep`` bytes of a write, then raises."""

    def __init__(self, f, keep: int, exc: BaseException) -> None:
        self.f, self.keep, self.exc = f, keep, exc

    def __enter__(self) -> _Tearing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.f.close()

    def write(self, data: bytes) -> int:
        self.f.write(bytes(data[: self.keep]))
        self.f.flush()
        raise self.exc

    def flush(self) -> None:
        self.f.flush()


def _append_torn(
    monkeypatch: pytest.MonkeyPatch, log: RecordLog, rec: bytes, keep: int, exc: BaseException
) -> bool:
    def fake(path, mode="r"):
        f = _OPEN(path, mode)
        return _Tearing(f, keep, exc) if path.endswith(".log") and "r" not in mode else f

    with monkeypatch.context() as m:
        m.setattr(recordlog, "open", fake, raising=False)
        return log.append(rec)


def _rec(seq: int, size: int = 8) -> bytes:
    return record.event(seq, 7, seq, 0, record.EVENT_ERROR, seq, 0, "y" * size)


def _open(root: Path, seg: int = 200, free=lambda: 1 << 30) -> RecordLog:
    log = RecordLog(str(root), free, seg)
    log.open()
    return log


def _fill(log: RecordLog, count: int) -> list[bytes]:
    out = [_rec(log.next_seq + i) for i in range(count)]
    for rec in out:
        assert log.append(rec)
    return out


def _read_all(log: RecordLog, max_bytes: int = 150) -> tuple[list[bytes], int]:
    out: list[bytes] = []
    pos = 1
    while True:
        recs, pos = log.read(pos, max_bytes)
        if not recs:
            return out, pos
        out += recs


def _segs(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob("seg-*"))


def test_failed_write_counts_as_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _open(tmp_path, 400)
    recs = _fill(log, 2)
    assert not _append_torn(monkeypatch, log, _rec(3), 20, OSError(28, "no space"))
    assert (log.dropped, log.next_seq) == (1, 3)
    recs += _fill(log, 2)  # into a new segment, after the partial record
    assert _segs(tmp_path) == ["seg-0000000001.log", "seg-0000000003.log"]
    assert _read_all(log) == (recs, 5)
    assert not _append_torn(monkeypatch, log, _rec(5), 20, OSError(28, "no space"))
    log = _open(tmp_path, 400)  # cut while its segment is the newest
    assert (log.dropped, log.cut_bytes, log.next_seq) == (2, 20, 5)
    log = _open(tmp_path, 100)
    assert not _append_torn(monkeypatch, log, _rec(5), 20, OSError(28, "no space"))
    assert _segs(tmp_path) == ["seg-0000000001.log", "seg-0000000003.log"]  # new file gone
    recs += _fill(log, 1)
    assert _read_all(_open(tmp_path)) == (recs, 6)


def test_full_area_never_raises_even_when_the_state_cannot_be_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _open(tmp_path, free=lambda: 0)
    real = _OPEN

    def no_space(path, mode="r"):
        if "r" not in mode:
            raise OSError(28, "no space")
        return real(path, mode)

    monkeypatch.setattr(recordlog, "open", no_space, raising=False)
    assert not log.append(_rec(1)) and log.dropped == 1
    monkeypatch.undo()
    assert not log.append(_rec(1))
    assert _open(tmp_path).dropped == 2


def test_crash_mid_write_loses_only_that_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _open(tmp_path, 100)
    recs = _fill(log, 3)
    with pytest.raises(_Crash):
        _append_torn(monkeypatch, log, _rec(4), 30, _Crash())
    log = _open(tmp_path, 100)
    assert (log.cut_bytes, log.next_seq) == (30, 4)
    assert _read_all(log) == (recs, 4)


# --- model-based ----------------------------------------------------------------------

_OPS = st.one_of(
    st.tuples(st.just("append"), st.integers(0, 60)),
    st.tuples(st.just("ack"), st.integers(-2, 12)),
    st.tuples(st.just("reopen"), st.just(0)),
    st.tuples(st.just("full"), st.booleans()),
    st.tuples(st.just("fail"), st.integers(0, 40)),
    st.tuples(st.just("crash"), st.integers(0, 40)),
    st.tuples(st.just("read"), st.integers(1, 400)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_OPS, max_size=40))
def test_model(ops: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        root = Path(tmp) / "data"
        room = [True]

        def free() -> int:
            return 1 << 30 if room[0] else 0

        def reopen() -> RecordLog:
            log = RecordLog(str(root), free, 150)
            log.open()
            return log

        log = reopen()
        stored: dict[int, bytes] = {}  # every record ever written intact
        acked = dropped = 0
        nxt = 1
        for op, arg in ops:
            if op == "append":
                rec = _rec(nxt, arg)
                if log.append(rec):
                    stored[nxt] = rec
                    nxt += 1
                else:
                    assert not room[0]
                    dropped += 1
            elif op == "ack":
                seq = acked + arg
                if seq >= nxt:
                    with pytest.raises(ValueError):
                        log.ack(seq)
                else:
                    acked = max(acked, seq)
                    assert log.ack(seq) == acked
            elif op == "reopen":
                log = reopen()
            elif op == "full":
                room[0] = arg
            elif op in ("fail", "crash"):
                rec = _rec(nxt)
                if op == "fail":
                    dropped += 1
                    assert not _append_torn(mp, log, rec, arg, OSError(28, "no space"))
                else:
                    try:
                        _append_torn(mp, log, rec, arg, _Crash())
                    except _Crash:
                        pass
                    else:
                        assert not room[0]
                        dropped += 1
                    log = reopen()
            else:
                recs, resume = log.read(1, arg)
                assert recs or resume == nxt
                assert sum(map(len, recs)) <= arg or len(recs) == 1
            assert (log.next_seq, log.acked, log.dropped) == (nxt, acked, dropped)
            got, resume = _read_all(log)
            seqs = [record.check(r)[1] for r in got]
            assert resume == nxt
            assert seqs == sorted(set(seqs))  # in order, no duplicates
            assert all(stored[s] == r for s, r in zip(seqs, got, strict=True))
            assert set(range(acked + 1, nxt)) <= set(seqs)  # nothing unacknowledged lost
            assert log.first_seq <= acked + 1
            assert os.path.isdir(root)
