"""Score records of ``heard eval``: per-file results and their corpus-wide aggregates.

Everything is stored as counts and durations; rates are properties computed from them. So a
corpus score is the sum of its files' components divided once (total errors / total
reference), the way pyannote's ``abs(metric)`` aggregates, never a mean of per-file rates,
except where a metric is defined as a per-file mean (talk-ratio and conversation-count
errors).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from heard.annotations import Event


@dataclass(frozen=True)
class DerScore:
    """Components of a diarization / identification error rate, in seconds."""

    total: float = 0.0  # reference speech scored (outside collars), summed over speakers
    correct: float = 0.0
    confusion: float = 0.0
    miss: float = 0.0
    false_alarm: float = 0.0

    @property
    def errors(self) -> float:
        return self.confusion + self.miss + self.false_alarm

    @property
    def rate(self) -> float:
        """(confusion + miss + false alarm) / total; like pyannote, 0 or 1 when total is 0."""
        if self.total == 0.0:
            return 0.0 if self.errors == 0.0 else 1.0
        return self.errors / self.total

    def __add__(self, other: DerScore) -> DerScore:
        return DerScore(
            self.total + other.total,
            self.correct + other.correct,
            self.confusion + other.confusion,
            self.miss + other.miss,
            self.false_alarm + other.false_alarm,
        )


@dataclass(frozen=True)
class Counts:
    """Detection counts: true positives, false positives, false negatives.

    Empty cases are scored as "nothing wrong": precision is 1 with no predictions, recall is 1
    with nothing to find, and F1 = 2tp / (2tp + fp + fn) is 1 when both are empty.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return 1.0 if self.tp + self.fp == 0 else self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float:
        return 1.0 if self.tp + self.fn == 0 else self.tp / (self.tp + self.fn)

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 1.0 if denominator == 0 else 2 * self.tp / denominator

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def total_der(scores: Iterable[DerScore]) -> DerScore:
    return sum(scores, DerScore())


def total_counts(counts: Iterable[Counts]) -> Counts:
    return sum(counts, Counts())


@dataclass(frozen=True)
class InterruptionEvents:
    """One file's interruptions event by event, as the matching paired them."""

    matched: tuple[tuple[Event, Event], ...] = ()  # (truth, prediction)
    missed: tuple[Event, ...] = ()  # in the truth, not predicted
    false: tuple[tuple[Event, bool], ...] = ()  # predicted, not in the truth; on a backchannel?
    # A miss and a false one within tolerance of each other: found, but given to the other party.
    wrong_party: tuple[tuple[Event, Event], ...] = ()  # (truth, prediction)

    @property
    def on_backchannels(self) -> int:
        """False interruptions that sit on a truth backchannel."""
        return sum(on for _, on in self.false)


@dataclass(frozen=True)
class FileScore:
    """All metrics of one corpus file."""

    name: str
    channels: int
    duration_ms: int
    missing_prediction: bool
    ier: DerScore  # identification error rate: labels taken as they are
    der_mapped: DerScore | None  # optimal label mapping; mono files only
    talk_ratio_truth: float | None
    talk_ratio_pred: float | None
    talk_ratio_error_pp: float | None  # None when truth has no talk
    interruptions: Counts
    backchannels_truth: int
    backchannels_as_interruptions: int
    conversations_truth: int
    conversations_pred: int
    speech: Counts  # 10 ms frames, speech = any party speaking
    vad: dict[int, Counts] | None  # WebRTC VAD mode -> frame counts; None without a WAV
    interruption_events: InterruptionEvents

    @property
    def der(self) -> DerScore:
        """The headline error: identification for stereo, optimal mapping for mono."""
        return self.der_mapped if self.der_mapped is not None else self.ier

    @property
    def conversation_error(self) -> int:
        return abs(self.conversations_pred - self.conversations_truth)


@dataclass(frozen=True)
class CorpusScore:
    """Per-file scores and the settings they were computed with, plus aggregates."""

    files: list[FileScore]
    collar_s: float
    tolerance_ms: int
    vad_modes: tuple[int, ...] = field(default=(0, 1, 2, 3))

    @property
    def der(self) -> DerScore:
        return total_der(f.der for f in self.files)

    @property
    def ier(self) -> DerScore:
        return total_der(f.ier for f in self.files)

    @property
    def der_mapped(self) -> DerScore | None:
        mono = [f.der_mapped for f in self.files if f.der_mapped is not None]
        return total_der(mono) if mono else None

    @property
    def talk_ratio_error_pp(self) -> float | None:
        errors = [f.talk_ratio_error_pp for f in self.files if f.talk_ratio_error_pp is not None]
        return sum(errors) / len(errors) if errors else None

    @property
    def talk_ratio_files(self) -> int:
        return sum(1 for f in self.files if f.talk_ratio_error_pp is not None)

    @property
    def interruptions(self) -> Counts:
        return total_counts(f.interruptions for f in self.files)

    @property
    def backchannels_truth(self) -> int:
        return sum(f.backchannels_truth for f in self.files)

    @property
    def backchannels_as_interruptions(self) -> int:
        return sum(f.backchannels_as_interruptions for f in self.files)

    @property
    def backchannel_error_fraction(self) -> float | None:
        truth = self.backchannels_truth
        return self.backchannels_as_interruptions / truth if truth else None

    @property
    def conversation_error(self) -> float | None:
        if not self.files:
            return None
        return sum(f.conversation_error for f in self.files) / len(self.files)

    @property
    def speech(self) -> Counts:
        return total_counts(f.speech for f in self.files)

    @property
    def vad_files(self) -> int:
        return sum(1 for f in self.files if f.vad is not None)

    @property
    def vad(self) -> dict[int, Counts]:
        """Frame counts per WebRTC VAD mode, summed over the files that have a WAV (empty
        when none has)."""
        with_vad = [f.vad for f in self.files if f.vad is not None]
        if not with_vad:
            return {}
        return {m: total_counts(v[m] for v in with_vad) for m in self.vad_modes}

    @property
    def best_vad_mode(self) -> int | None:
        """The mode with the highest corpus F1 (lowest mode on ties); None without WAVs."""
        if not self.vad_files:
            return None
        vad = self.vad
        return max(self.vad_modes, key=lambda m: (vad[m].f1, -m))

    @property
    def missing_predictions(self) -> list[str]:
        return [f.name for f in self.files if f.missing_prediction]
