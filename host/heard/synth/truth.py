"""Ground truth of one synthetic file, from the placed turns and the clean party tracks.

Segments come from ``heard.synth.activity.detect`` on each party's dry track; interruptions
and backchannels are the onsets of the turns placed as such; a conversation spans the speech
of one dialogue episode (first to last segment), employee-only episodes are not
conversations. Definitions: docs/TRUTH.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from heard.annotations import CUSTOMER, EMPLOYEE, Annotation, Event, Segment
from heard.synth.activity import detect
from heard.synth.scripts import BACKCHANNEL, INTERRUPTION
from heard.synth.timeline import Turn

CONVERSATION = "conversation"
EMPLOYEE_ONLY = "employee_only"


@dataclass(frozen=True)
class Episode:
    """A dialogue (``conversation``) or an employee-only stretch, as placed in the file."""

    kind: str
    script_id: str
    start_ms: int
    end_ms: int


def _clip_ms(segments: list[Segment], speaker: str, start: int, end: int) -> int:
    return sum(
        max(0, min(s.end_ms, end) - max(s.start_ms, start))
        for s in segments
        if s.speaker == speaker
    )


def _sec(ms: int) -> float:
    return round(ms / 1000, 3)


def build_truth(
    turns: list[Turn], episodes: list[Episode], tracks: dict[str, np.ndarray]
) -> Annotation:
    """Segments, events and conversations; ``extra`` gets the episodes and the timeline."""
    segments = sorted(detect(tracks[EMPLOYEE], EMPLOYEE) + detect(tracks[CUSTOMER], CUSTOMER))
    conversations = []
    episode_info: list[dict[str, Any]] = []
    for ep in episodes:
        inside = [s for s in segments if s.end_ms > ep.start_ms and s.start_ms < ep.end_ms]
        start = min((s.start_ms for s in inside), default=ep.start_ms)
        end = max((s.end_ms for s in inside), default=ep.end_ms)
        if ep.kind == CONVERSATION:
            conversations.append((start, end))
        emp = _clip_ms(segments, EMPLOYEE, start, end)
        cus = _clip_ms(segments, CUSTOMER, start, end)
        episode_info.append({
            "kind": ep.kind,
            "dialogue": ep.script_id,
            "start": _sec(start),
            "end": _sec(end),
            "talk_seconds": {EMPLOYEE: _sec(emp), CUSTOMER: _sec(cus)},
            "talk_ratio": round(emp / (emp + cus), 4) if emp + cus else None,
        })
    return Annotation(
        segments=segments,
        interruptions=sorted(Event(t.start_ms, t.speaker) for t in turns if t.kind == INTERRUPTION),
        backchannels=sorted(Event(t.start_ms, t.speaker) for t in turns if t.kind == BACKCHANNEL),
        conversations=sorted(conversations),
        extra={"episodes": episode_info, "timeline": [t.to_json() for t in turns]},
    )
