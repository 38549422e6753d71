"""The metrics of ``heard eval`` for one file: pure functions from annotations to scores.

Times are integer milliseconds (``heard.annotations``); only pyannote is handed float
seconds. See docs/EVALUATION.md for the precise definition of each metric.
"""

from __future__ import annotations

import numpy as np
from pyannote.core import Annotation as PyannoteAnnotation
from pyannote.core import Segment as PyannoteSegment
from pyannote.core import Timeline
from pyannote.metrics.diarization import DiarizationErrorRate
from pyannote.metrics.identification import IdentificationErrorRate
from scipy.optimize import linear_sum_assignment

from heard.annotations import Annotation, Event, Segment, merge_segments
from heard.evaluate.scores import Counts, DerScore, InterruptionEvents

FRAME_MS = 10
COLLAR_S = 0.5  # pyannote's collar is the total width: 0.25 s each side of a boundary (NIST)
TOLERANCE_MS = 500  # event onsets match within +-0.5 s


def _to_pyannote(segments: list[Segment], uri: str) -> PyannoteAnnotation:
    annotation = PyannoteAnnotation(uri=uri)
    for track, seg in enumerate(merge_segments(segments)):
        annotation[PyannoteSegment(seg.start_ms / 1000, seg.end_ms / 1000), track] = seg.speaker
    return annotation


def der_score(
    truth: list[Segment],
    pred: list[Segment],
    duration_ms: int,
    *,
    mapped: bool,
    collar_s: float = COLLAR_S,
) -> DerScore:
    """Error components over ``[0, duration)``: identification (labels as they are) or, with
    ``mapped``, diarization (optimal one-to-one label mapping, Hungarian)."""
    metric_type = DiarizationErrorRate if mapped else IdentificationErrorRate
    metric = metric_type(collar=collar_s, skip_overlap=False)
    uem = Timeline([PyannoteSegment(0.0, duration_ms / 1000)])
    c = metric(_to_pyannote(truth, "truth"), _to_pyannote(pred, "pred"), uem=uem, detailed=True)
    return DerScore(
        total=c["total"],
        correct=c["correct"],
        confusion=c["confusion"],
        miss=c["missed detection"],
        false_alarm=c["false alarm"],
    )


def frame_count(duration_ms: int) -> int:
    """Number of 10 ms frames on a file's grid (a partial last frame counts)."""
    return -(-duration_ms // FRAME_MS)


def speech_frames(segments: list[Segment], n_frames: int) -> np.ndarray:
    """Boolean 10 ms grid: frame i is speech when its centre (10 i + 5 ms) lies in a segment."""
    mask = np.zeros(n_frames, dtype=bool)
    half = FRAME_MS // 2
    for seg in segments:
        first = -(-(seg.start_ms - half) // FRAME_MS)  # ceil
        last = -(-(seg.end_ms - half) // FRAME_MS)  # exclusive
        mask[max(first, 0) : max(last, 0)] = True
    return mask


def frame_counts(truth: np.ndarray, pred: np.ndarray) -> Counts:
    """Frame-level detection counts of two equally long boolean masks."""
    return Counts(
        tp=int(np.count_nonzero(truth & pred)),
        fp=int(np.count_nonzero(~truth & pred)),
        fn=int(np.count_nonzero(truth & ~pred)),
    )


def match_events(
    truth: list[Event],
    pred: list[Event],
    *,
    tolerance_ms: int = TOLERANCE_MS,
    same_by: bool = True,
) -> list[tuple[int, int]]:
    """One-to-one matching of predicted to truth events whose onsets are within tolerance
    (and, with ``same_by``, attributed to the same party).

    Optimal: the largest number of matches, and among those the smallest total time
    distance. Returns (truth index, prediction index) pairs.
    """
    if not truth or not pred:
        return []
    dt = np.abs(
        np.array([t.time_ms for t in truth])[:, None] - np.array([p.time_ms for p in pred])[None, :]
    )
    allowed = dt <= tolerance_ms
    if same_by:
        by_truth, by_pred = np.array([t.by for t in truth]), np.array([p.by for p in pred])
        allowed &= by_truth[:, None] == by_pred[None, :]
    forbidden = float(dt.sum() + 1)  # costlier than any set of allowed pairs
    rows, cols = linear_sum_assignment(np.where(allowed, dt, forbidden))
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


def interruption_scores(
    truth: Annotation, pred: Annotation, tolerance_ms: int = TOLERANCE_MS
) -> tuple[Counts, InterruptionEvents]:
    """Interruption detection counts, and the events behind them: matched pairs, misses,
    false alarms and which of those sit on a truth backchannel (matched one-to-one, either
    party, within tolerance). Events are listed in time order."""
    matched = match_events(truth.interruptions, pred.interruptions, tolerance_ms=tolerance_ms)
    counts = Counts(
        tp=len(matched),
        fp=len(pred.interruptions) - len(matched),
        fn=len(truth.interruptions) - len(matched),
    )
    found = {t for t, _ in matched}
    taken = {p for _, p in matched}
    false_alarms = [e for i, e in enumerate(pred.interruptions) if i not in taken]
    on_backchannel = {
        p for _, p in match_events(
            truth.backchannels, false_alarms, tolerance_ms=tolerance_ms, same_by=False
        )
    }
    missed = [e for i, e in enumerate(truth.interruptions) if i not in found]
    wrong_party = match_events(missed, false_alarms, tolerance_ms=tolerance_ms, same_by=False)
    events = InterruptionEvents(
        matched=tuple(sorted(((truth.interruptions[t], pred.interruptions[p])
                              for t, p in matched), key=lambda pair: pair[0].time_ms)),
        missed=tuple(sorted(missed, key=lambda e: e.time_ms)),
        false=tuple(sorted(((e, i in on_backchannel) for i, e in enumerate(false_alarms)),
                           key=lambda pair: pair[0].time_ms)),
        wrong_party=tuple(sorted(((missed[t], false_alarms[p]) for t, p in wrong_party),
                                 key=lambda pair: pair[0].time_ms)),
    )
    return counts, events


def talk_ratio_error_pp(truth_ratio: float | None, pred_ratio: float | None) -> float | None:
    """|predicted - true| employee talk ratio in percentage points; None when truth has no
    talk. A prediction that heard nobody gets the worst possible error, max(r, 1 - r)."""
    if truth_ratio is None:
        return None
    if pred_ratio is None:
        return 100.0 * max(truth_ratio, 1.0 - truth_ratio)
    return 100.0 * abs(pred_ratio - truth_ratio)
