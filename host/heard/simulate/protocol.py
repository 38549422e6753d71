"""The NDJSON the file runner prints (``heardcore.simrun``), read back into typed results.

``parse_ndjson(text)`` turns an engine's output into a ``SimulationResult``: segments and
events as ``heard.annotations`` types, per-conversation numbers, employee-only stretches
and the end-of-input counts. ``SimulationResult.annotation()`` and ``.to_json()`` give the
prediction files ``heard eval`` reads. An ``error`` line becomes ``EngineError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heard.annotations import PARTIES, Annotation, Event, Segment, annotation_to_json
from heard.errors import HeardError
from heardcore.events import FLAG_AUDIO_GAP, FLAG_CLIPPING, FLAG_LOW_SNR
from heardcore.simrun import PROTOCOL_VERSION

FLAG_NAMES = ((FLAG_LOW_SNR, "low_snr"), (FLAG_CLIPPING, "clipping"), (FLAG_AUDIO_GAP, "audio_gap"))


class EngineError(HeardError):
    """The engine refused the input (an ``error`` line) or did not finish."""

    def __init__(self, message: str, hint: str | None = None, source: str = "engine"):
        super().__init__(message, hint)
        self.source = source


def _sec(ms: int) -> float:
    return round(ms / 1000.0, 3)


def flag_names(flags: int) -> list[str]:
    """Names of the quality flags set in a conversation's bit mask."""
    return [name for bit, name in FLAG_NAMES if flags & bit]


@dataclass(frozen=True)
class ConversationStats:
    """One ``conversation`` line: its span and every number the detector reported."""

    start_ms: int
    end_ms: int
    values: dict[str, int]

    def get(self, name: str, default: int = 0) -> int:
        return int(self.values.get(name, default))

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def talk_ratio(self) -> float | None:
        """Employee share of the talk, 0..1; None when nobody talked."""
        permille = self.get("talk_ratio_permille", -1)
        return None if permille < 0 else permille / 1000.0

    @property
    def flags(self) -> list[str]:
        return flag_names(self.get("flags"))

    @property
    def switches_per_minute(self) -> float | None:
        """Speaker switches per minute of conversation, one decimal; None when it has no
        length."""
        if self.duration_ms <= 0:
            return None
        return round(self.get("switches") * 60000 / self.duration_ms, 1)

    def to_json(self) -> dict[str, Any]:
        """``start``/``end`` in seconds (the annotation format), then every number as is."""
        data: dict[str, Any] = {"start": _sec(self.start_ms), "end": _sec(self.end_ms)}
        data.update(self.values)
        data["talk_ratio"] = self.talk_ratio
        data["switches_per_minute"] = self.switches_per_minute
        data["flag_names"] = self.flags
        return data


@dataclass(frozen=True)
class EmployeeOnly:
    """Employee talk with no customer present (phone calls, talking to oneself)."""

    start_ms: int
    end_ms: int
    talk_ms: int


@dataclass
class SimulationResult:
    """Everything one run of the detector over one WAV file reported."""

    rate: int
    channels: int
    frame_ms: int
    params: dict[str, int]
    frames: int = 0
    samples: int = 0  # per channel
    truncated: bool = False
    segments: list[Segment] = field(default_factory=list)
    interruptions: list[Event] = field(default_factory=list)
    backchannels: list[Event] = field(default_factory=list)
    conversations: list[ConversationStats] = field(default_factory=list)
    employee_only: list[EmployeeOnly] = field(default_factory=list)
    ndjson: str = ""  # the engine's output as printed
    engine: str = ""
    source: Path | None = None
    notices: list[str] = field(default_factory=list)  # input conversions

    @property
    def duration_ms(self) -> int:
        return self.samples * 1000 // self.rate if self.rate else 0

    def annotation(self) -> Annotation:
        return Annotation(
            segments=sorted(self.segments),
            interruptions=sorted(self.interruptions),
            backchannels=sorted(self.backchannels),
            conversations=[(c.start_ms, c.end_ms) for c in self.conversations],
        )

    def quality(self) -> dict[str, Any]:
        counts = {name: 0 for _, name in FLAG_NAMES}
        for conv in self.conversations:
            for name in conv.flags:
                counts[name] += 1
        return {
            "truncated": self.truncated,
            "conversions": list(self.notices),
            "conversations_flagged": counts,
            "clipped_samples": sum(c.get("clipped_samples") for c in self.conversations),
            "lost_ms": sum(c.get("lost_ms") for c in self.conversations),
        }

    def to_json(self) -> dict[str, Any]:
        """The prediction JSON: ``annotation_to_json`` with the segments (as in the RTTM)
        and per-conversation numbers."""
        ann = self.annotation()
        data = annotation_to_json(ann)
        data["segments"] = [{"speaker": s.speaker, "start": _sec(s.start_ms), "end": _sec(s.end_ms)}
                            for s in ann.segments]
        data["conversations"] = [c.to_json() for c in self.conversations]
        data["employee_only"] = [
            {"start": _sec(e.start_ms), "end": _sec(e.end_ms), "talk_seconds": _sec(e.talk_ms)}
            for e in self.employee_only
        ]
        data["quality"] = self.quality()
        data.update(
            predictor="heard",
            engine=self.engine,
            channels=self.channels,
            duration=_sec(self.duration_ms),
            params=dict(self.params),
        )
        return data


def _int(obj: dict[str, Any], key: str, lineno: int) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise EngineError(f"engine output line {lineno}: {key!r} must be an integer, got {value!r}")
    return value


def _party(obj: dict[str, Any], key: str, lineno: int) -> str:
    value = obj.get(key)
    if value not in PARTIES:
        raise EngineError(f"engine output line {lineno}: {key!r} must be a party, got {value!r}")
    return str(value)


def parse_ndjson(text: str) -> SimulationResult:
    """Read a whole NDJSON run; ``EngineError`` for an error line or an incomplete run."""
    result: SimulationResult | None = None
    ended = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise EngineError(f"engine output line {lineno} is not JSON: {line[:80]!r}") from None
        if not isinstance(obj, dict) or "type" not in obj:
            raise EngineError(f"engine output line {lineno} has no type: {line[:80]!r}")
        kind = obj["type"]
        if kind == "error":
            raise EngineError(str(obj.get("message", "unknown error")),
                              source=str(obj.get("source", "engine")))
        if kind == "start":
            if obj.get("version") != PROTOCOL_VERSION:
                raise EngineError(
                    f"engine speaks protocol version {obj.get('version')!r}, "
                    f"heard reads version {PROTOCOL_VERSION}",
                    hint="the firmware and the heard package come from different versions",
                )
            result = SimulationResult(
                rate=_int(obj, "rate", lineno),
                channels=_int(obj, "channels", lineno),
                frame_ms=_int(obj, "frame_ms", lineno),
                params=dict(obj.get("params", {})),
            )
            continue
        if result is None:
            raise EngineError(f"engine output line {lineno}: {kind!r} before the start line")
        if kind == "segment":
            start, end = _int(obj, "start_ms", lineno), _int(obj, "end_ms", lineno)
            if end > start:
                result.segments.append(Segment(start, end, _party(obj, "speaker", lineno)))
        elif kind in ("interruption", "backchannel"):
            event = Event(_int(obj, "time_ms", lineno), _party(obj, "by", lineno))
            (result.interruptions if kind == "interruption" else result.backchannels).append(event)
        elif kind == "conversation":
            values = {k: _int(obj, k, lineno) for k in obj if k != "type"}
            if "start_ms" not in values or "end_ms" not in values:
                raise EngineError(f"engine output line {lineno}: a conversation needs start_ms "
                                  "and end_ms")
            start, end = values.pop("start_ms"), values.pop("end_ms")
            result.conversations.append(ConversationStats(start, end, values))
        elif kind == "employee_only":
            result.employee_only.append(EmployeeOnly(
                _int(obj, "start_ms", lineno), _int(obj, "end_ms", lineno),
                _int(obj, "talk_ms", lineno)))
        elif kind == "end":
            result.frames = _int(obj, "frames", lineno)
            result.samples = _int(obj, "samples", lineno)
            result.truncated = bool(obj.get("truncated", False))
            ended = True
        # "frame" lines and types added later are kept in ``ndjson`` only.
    if result is None or not ended:
        raise EngineError("the engine stopped before the end of the input"
                          if result else "the engine printed nothing")
    result.ndjson = text
    return result
