"""Annotation files shared by `heard synth`, `heard simulate` and `heard eval`.

One place defines how ground truth and predictions are stored next to a WAV file:

- ``NAME.rttm``: standard RTTM ``SPEAKER`` lines, speakers ``employee`` / ``customer``.
- ``NAME.truth.json`` (synth) and ``NAME.json`` (predictions): talk seconds, talk ratio,
  interruptions and backchannels as ``[{"time": s, "by": party}]``, conversations as
  ``[{"start": s, "end": s, ...}]``.

Times are integer milliseconds in memory and seconds with millisecond precision on disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heard.errors import HeardError

EMPLOYEE = "employee"
CUSTOMER = "customer"
PARTIES = (EMPLOYEE, CUSTOMER)


class AnnotationError(ValueError):
    """An annotation file is missing, malformed or inconsistent."""


@dataclass(frozen=True, order=True)
class Segment:
    """A stretch of one party's speech, in integer milliseconds, ``start < end``."""

    start_ms: int
    end_ms: int
    speaker: str

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, order=True)
class Event:
    """A point event (interruption onset, backchannel onset) attributed to a party."""

    time_ms: int
    by: str


@dataclass
class Annotation:
    """Everything known about one file: segments, events and conversations."""

    segments: list[Segment] = field(default_factory=list)
    interruptions: list[Event] = field(default_factory=list)
    backchannels: list[Event] = field(default_factory=list)
    conversations: list[tuple[int, int]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def talk_ms(self, speaker: str) -> int:
        """Total speech of one party (segments of one party never overlap each other)."""
        return sum(s.duration_ms for s in merge_segments(self.segments) if s.speaker == speaker)

    def talk_ratio(self) -> float | None:
        """Employee talk / (employee + customer talk); None when nobody talked."""
        emp, cus = self.talk_ms(EMPLOYEE), self.talk_ms(CUSTOMER)
        return None if emp + cus == 0 else emp / (emp + cus)


def merge_segments(segments: list[Segment], bridge_ms: int = 0) -> list[Segment]:
    """Merge each speaker's overlapping segments, and those separated by <= bridge_ms."""
    out: list[Segment] = []
    for speaker in sorted({s.speaker for s in segments}):
        cur: Segment | None = None
        for seg in sorted(s for s in segments if s.speaker == speaker):
            if cur is not None and seg.start_ms <= cur.end_ms + bridge_ms:
                cur = Segment(cur.start_ms, max(cur.end_ms, seg.end_ms), speaker)
            else:
                if cur is not None:
                    out.append(cur)
                cur = seg
        if cur is not None:
            out.append(cur)
    return sorted(out)


def _sec(ms: int) -> float:
    return round(ms / 1000.0, 3)


def _ms(seconds: Any, where: str) -> int:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: expected a number of seconds, got {seconds!r}") from None
    if value != value or value < 0:
        raise AnnotationError(f"{where}: time must be a non-negative number, got {seconds!r}")
    return int(round(value * 1000))


def rttm_file_id(name: str) -> str:
    """``name`` as an RTTM file id: one field (RTTM splits on white space) of UTF-8 text
    (a file name that is not UTF-8 gets "?" for the bytes that are not)."""
    return "_".join(name.encode("utf-8", "replace").decode("utf-8").split()) or "_"


def write_rttm(path: Path, file_id: str, segments: list[Segment]) -> None:
    file_id = rttm_file_id(file_id)
    lines = [
        f"SPEAKER {file_id} 1 {_sec(s.start_ms):.3f} {_sec(s.duration_ms):.3f} "
        f"<NA> <NA> {s.speaker} <NA> <NA>\n"
        for s in sorted(segments)
        if s.duration_ms > 0
    ]
    Path(path).write_text("".join(lines))


def read_rttm(path: Path) -> list[Segment]:
    """Read SPEAKER lines of an RTTM file; other line types are ignored."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read ({exc.strerror})") from None
    segments = []
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise AnnotationError(f"{path}:{lineno}: an RTTM SPEAKER line has 10 fields")
        start = _ms(fields[3], f"{path}:{lineno}")
        duration = _ms(fields[4], f"{path}:{lineno}")
        if duration > 0:
            segments.append(Segment(start, start + duration, fields[7]))
    return sorted(segments)


def _events(items: Any, where: str) -> list[Event]:
    if not isinstance(items, list):
        raise AnnotationError(f"{where}: expected a list of {{time, by}}")
    events = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "time" not in item or "by" not in item:
            raise AnnotationError(f"{where}[{i}]: expected {{time, by}}, got {item!r}")
        events.append(Event(_ms(item["time"], f"{where}[{i}].time"), str(item["by"])))
    return sorted(events)


def annotation_to_json(ann: Annotation) -> dict[str, Any]:
    """The JSON form shared by truth and prediction files (plus any extra keys)."""
    emp, cus = ann.talk_ms(EMPLOYEE), ann.talk_ms(CUSTOMER)
    ratio = ann.talk_ratio()
    data: dict[str, Any] = {
        "talk_seconds": {EMPLOYEE: _sec(emp), CUSTOMER: _sec(cus)},
        "talk_ratio": None if ratio is None else round(ratio, 4),
        "interruptions": [{"time": _sec(e.time_ms), "by": e.by} for e in ann.interruptions],
        "backchannels": [{"time": _sec(e.time_ms), "by": e.by} for e in ann.backchannels],
        "conversations": [{"start": _sec(a), "end": _sec(b)} for a, b in ann.conversations],
    }
    data.update(ann.extra)
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def read_annotation(rttm_path: Path, json_path: Path) -> Annotation:
    """Load segments from an RTTM file and events/conversations from its JSON companion."""
    segments = read_rttm(rttm_path)
    json_path = Path(json_path)
    try:
        data = json.loads(json_path.read_text())
    except OSError as exc:
        raise AnnotationError(f"{json_path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise AnnotationError(
            f"{json_path}: not valid JSON ({exc.msg}, line {exc.lineno})"
        ) from None
    if not isinstance(data, dict):
        raise AnnotationError(f"{json_path}: expected a JSON object")
    conversations = []
    for i, conv in enumerate(data.get("conversations", [])):
        if not isinstance(conv, dict) or "start" not in conv or "end" not in conv:
            raise AnnotationError(f"{json_path}: conversations[{i}] needs start and end")
        conversations.append(
            (_ms(conv["start"], f"{json_path}: conversations[{i}].start"),
             _ms(conv["end"], f"{json_path}: conversations[{i}].end"))
        )
    known = {"interruptions", "backchannels", "conversations", "talk_seconds", "talk_ratio"}
    return Annotation(
        segments=segments,
        interruptions=_events(data.get("interruptions", []), f"{json_path}: interruptions"),
        backchannels=_events(data.get("backchannels", []), f"{json_path}: backchannels"),
        conversations=sorted(conversations),
        extra={k: v for k, v in data.items() if k not in known},
    )


def prediction_dir(corpus_dir: Path, out_dir: Path) -> Path:
    """Create the folder for predictions of a corpus; never the corpus folder itself, whose
    truth RTTM files the predictions would overwrite."""
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    if out_dir.resolve() == corpus_dir.resolve():
        raise HeardError(
            "the output directory is the input directory",
            hint="predictions would overwrite a corpus's truth RTTM files; pass another --out",
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HeardError(f"cannot create {out_dir} ({exc.strerror})") from None
    return out_dir
