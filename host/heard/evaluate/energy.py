"""The ``energy`` reference predictor: who talks when, from frame energy alone.

A floating-point numpy detector for the host, meant as a yardstick for the product, not as
the product. Per 10 ms frame and channel:

1. energy in dBFS;
2. an adaptive noise floor that follows drops at once and rises at most 2 dB/s (started at
   the channel's 10th-percentile energy, so a file that opens with speech works);
3. the channel is active where energy exceeds the floor by ``MARGIN_DB``;
4. stereo: the channel's level relative to its own 10th percentile (per-file gain
   normalisation) decides who talks: an active channel counts for its party (ch0 employee,
   ch1 customer) when it is the louder one or within ``OVERLAP_DB`` of it (overlapping
   speech); a farther channel is taken as crosstalk. Mono: all speech is the employee's;
5. each party's activity is held for ``HANGOVER_MS`` after its last active frame.

Events: an interruption is the onset of one party while the other has been speaking for
the preceding 0.5 s and keeps speaking for 0.3 s after. Conversations are spans of customer
speech (mono: any speech) merged across idle gaps shorter than 8 s.
"""

from __future__ import annotations

import numpy as np

from heard.annotations import CUSTOMER, PARTIES, Annotation, Event, Segment, merge_segments
from heard.evaluate.corpus import Audio

FRAME_MS = 10
MARGIN_DB = 8.0  # speech: this far above the channel's noise floor
FLOOR_RISE_DB_PER_S = 2.0  # the floor drops at once and rises at most this fast
OVERLAP_DB = 3.0  # an active channel this close to the louder one is a second talker
HANGOVER_MS = 200
INTERRUPT_BEFORE_MS = 500  # the interrupted party has been speaking this long
INTERRUPT_AFTER_MS = 300  # and keeps speaking this long after the onset
CONVERSATION_GAP_MS = 8000
_POWER_EPS = 1e-10  # -100 dBFS: digital silence stays finite


def frame_db(audio: Audio) -> np.ndarray:
    """Energy of each full 10 ms frame in dBFS, shape (frames, channels)."""
    step = audio.rate * FRAME_MS // 1000
    n = audio.samples.shape[0] // step
    x = audio.samples[: n * step].astype(np.float64) / 32768.0
    power = (x.reshape(n, step, audio.channels) ** 2).mean(axis=1)
    return 10.0 * np.log10(power + _POWER_EPS)


def noise_floor(db: np.ndarray) -> np.ndarray:
    """Adaptive floor of one channel: min over past frames s of db[s] + rise * (t - s)."""
    rise = FLOOR_RISE_DB_PER_S * FRAME_MS / 1000.0
    ramp = rise * np.arange(db.size)
    tracked = ramp + np.minimum.accumulate(db - ramp)
    start = np.percentile(db, 10) + ramp if db.size else ramp
    return np.minimum(tracked, start)


def with_hangover(active: np.ndarray, frames: int) -> np.ndarray:
    """Hold each active frame for ``frames`` more frames."""
    index = np.arange(active.size)
    last_active = np.maximum.accumulate(np.where(active, index, -frames - 1))
    return index - last_active <= frames


def party_activity(audio: Audio) -> np.ndarray:
    """Boolean speech of (employee, customer) per 10 ms frame, shape (frames, 2)."""
    db = frame_db(audio)
    floor = np.column_stack([noise_floor(db[:, c]) for c in range(audio.channels)])
    active = db > floor + MARGIN_DB
    hang = HANGOVER_MS // FRAME_MS
    if audio.channels == 1:
        return np.column_stack([with_hangover(active[:, 0], hang), np.zeros(len(db), bool)])
    level = db - np.percentile(db, 10, axis=0) if len(db) else db
    near_loudest = level >= level.max(axis=1, keepdims=True) - OVERLAP_DB
    talking = active & near_loudest
    return np.column_stack([with_hangover(talking[:, c], hang) for c in (0, 1)])


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) frame indices of the runs of True."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()
    return list(zip(starts, ends, strict=True))


def find_interruptions(activity: np.ndarray) -> list[Event]:
    """Onsets of one party inside a stretch of the other's speech (see module docstring)."""
    before, after = INTERRUPT_BEFORE_MS // FRAME_MS, INTERRUPT_AFTER_MS // FRAME_MS
    events = []
    for p, q in ((0, 1), (1, 0)):
        for start, _ in runs(activity[:, p]):
            other = activity[:, q]
            if (
                start >= before
                and start + after <= len(other)
                and other[start - before : start + after].all()
            ):
                events.append(Event(start * FRAME_MS, PARTIES[p]))
    return sorted(events)


def find_conversations(segments: list[Segment], mono: bool) -> list[tuple[int, int]]:
    basis = segments if mono else [s for s in segments if s.speaker == CUSTOMER]
    anyone = [Segment(s.start_ms, s.end_ms, "speech") for s in basis]
    return [(s.start_ms, s.end_ms) for s in merge_segments(anyone, CONVERSATION_GAP_MS)]


def energy_predict(audio: Audio) -> Annotation:
    """Segments, interruptions and conversations of one recording."""
    activity = party_activity(audio)
    segments = [
        Segment(start * FRAME_MS, end * FRAME_MS, PARTIES[p])
        for p in (0, 1)
        for start, end in runs(activity[:, p])
    ]
    return Annotation(
        segments=sorted(segments),
        interruptions=find_interruptions(activity),
        conversations=find_conversations(segments, mono=audio.channels == 1),
    )
