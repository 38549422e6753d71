"""Turn timing for `heard synth`: where each scripted turn starts, from the seed.

All times are integer milliseconds on a 10 ms grid. Rules (documented in docs/TRUTH.md):

- normal turn: starts 100-1000 ms after the latest end of the episode's turns so far
  (800-4000 ms in an employee-only stretch: the unheard other end of a phone call);
- interruption: starts 300-1500 ms before the interrupted turn ends; the interrupted
  speaker keeps talking past the onset, so the two overlap for that long;
- backchannel: placed inside the other party's turn, at least 300 ms after it starts and
  300 ms before it ends; the host keeps talking through it.

A speaker's new interruption or backchannel starts at least ``SAME_SPEAKER_GAP_MS`` after
that speaker's previous speech, so its onset is a new segment in the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from heard.synth.scripts import BACKCHANNEL, INTERRUPTION, NORMAL, Script, main_index

GRID_MS = 10
SAME_SPEAKER_GAP_MS = 400  # > the truth's 300 ms bridging, so onsets stay onsets
EDGE_MS = 300  # backchannels and interruptions keep this far inside the other's turn
OVERLAP_MS = (300, 1500)
GAP_MS = (100, 1000)
SOLO_GAP_MS = (800, 4000)


@dataclass(frozen=True)
class Turn:
    """One placed turn: its speech spans [start_ms, end_ms) of the file."""

    speaker: str
    kind: str
    text: str
    start_ms: int
    end_ms: int
    episode: int
    line: int  # index of the line in its script
    ref: int | None = None  # file-level index of the interrupted or host turn

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "speaker": self.speaker,
            "kind": self.kind,
            "start": round(self.start_ms / 1000, 3),
            "end": round(self.end_ms / 1000, 3),
            "text": self.text,
            "episode": self.episode,
        }
        if self.ref is not None:
            data["ref"] = self.ref
        return data


def _grid(ms: float) -> int:
    return int(np.ceil(ms / GRID_MS)) * GRID_MS


def _draw(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0] // GRID_MS, bounds[1] // GRID_MS + 1)) * GRID_MS


def place_script(
    script: Script,
    durations_ms: list[int],
    t0_ms: int,
    episode: int,
    first_index: int,
    rng: np.random.Generator,
) -> list[Turn]:
    """Place every line of a script from t0_ms; returns turns in script order.

    A backchannel that cannot fit inside its host turn is left out; an interruption whose
    target turn is too short for a 300 ms overlap becomes a normal turn.
    """
    placed: dict[int, Turn] = {}
    last_end = t0_ms
    gaps = SOLO_GAP_MS if script.solo else GAP_MS
    for i, line in enumerate(script.lines):
        if line.kind == BACKCHANNEL:
            continue
        kind, ref, start = line.kind, None, None
        host_i = main_index(script, i)
        if host_i is None:
            start = _grid(t0_ms)
        elif kind == INTERRUPTION:
            host = placed[host_i]
            lo = max(_own_end(placed, line.speaker) + SAME_SPEAKER_GAP_MS, host.start_ms + EDGE_MS)
            latest = host.end_ms - OVERLAP_MS[0]
            if _grid(lo) <= latest:
                # ceil to the grid shortens the drawn overlap by < 10 ms: keep it > 300 ms
                overlap = _draw(rng, (OVERLAP_MS[0] + GRID_MS, OVERLAP_MS[1]))
                start = max(_grid(host.end_ms - overlap), _grid(lo))
                ref = host_i
            else:
                kind = NORMAL
        if start is None:  # ceil to the grid adds < 10 ms: draw up to 10 ms short of the max
            start = _grid(last_end + _draw(rng, (gaps[0], gaps[1] - GRID_MS)))
        turn = Turn(line.speaker, kind, line.text, start, start + durations_ms[i], episode, i, ref)
        placed[i] = turn
        last_end = max(last_end, turn.end_ms)
    for i, line in enumerate(script.lines):
        if line.kind == BACKCHANNEL:
            host_i = main_index(script, i)
            assert host_i is not None  # validated by heard.synth.scripts
            start = _backchannel_start(placed, placed[host_i], line.speaker, durations_ms[i], rng)
            if start is not None:
                placed[i] = Turn(line.speaker, BACKCHANNEL, line.text, start,
                                 start + durations_ms[i], episode, i, host_i)
    # refs so far are script line numbers: make them file-level turn indices
    order = sorted(placed)
    where = {line_no: first_index + k for k, line_no in enumerate(order)}
    return [replace(t, ref=None if t.ref is None else where[t.ref])
            for t in (placed[i] for i in order)]


def _own_end(placed: dict[int, Turn], speaker: str) -> int:
    return max((t.end_ms for t in placed.values() if t.speaker == speaker), default=-10**9)


def _backchannel_start(
    placed: dict[int, Turn], host: Turn, speaker: str, dur_ms: int, rng: np.random.Generator
) -> int | None:
    """A grid start inside the host turn, clear of the backchanneler's own speech."""
    lo, hi = host.start_ms + EDGE_MS, host.end_ms - EDGE_MS - dur_ms
    starts = np.arange(_grid(lo), hi + 1, GRID_MS)
    for t in placed.values():
        if t.speaker == speaker:
            clash = (starts < t.end_ms + SAME_SPEAKER_GAP_MS) & (
                starts + dur_ms + SAME_SPEAKER_GAP_MS > t.start_ms
            )
            starts = starts[~clash]
    if starts.size == 0:
        return None
    return int(rng.choice(starts))


def episode_span(turns: list[Turn]) -> tuple[int, int]:
    return min(t.start_ms for t in turns), max(t.end_ms for t in turns)
