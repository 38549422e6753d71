"""What one synthetic file holds, and when: episodes, voices, levels and the turn timeline.

A file is a sequence of episodes separated by idle time: one conversation, two or three
conversations (10-18 s apart, so the customer is silent for at least 10 s between them), or a
conversation and an employee-only stretch (a phone call or talking to oneself, 4-8 s away).
The employee keeps one voice for the whole file; every conversation has a new customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from heard.annotations import CUSTOMER, EMPLOYEE
from heard.synth.activity import SPEECH_DBFS, scale_to
from heard.synth.dialogues import DIALOGUES, SOLO
from heard.synth.scripts import BACKCHANNEL, Script
from heard.synth.timeline import Turn, episode_span, place_script
from heard.synth.truth import CONVERSATION, EMPLOYEE_ONLY, Episode
from heard.synth.tts import SAMPLE_RATE, Voice, random_voice, speak_all

MIN_FILE_MS = 30_000
MAX_PLANNED_S = 84.0  # plus up to 6 s of lead-in and tail: files stay under ~90 s
BACKCHANNEL_MAX_MS = 750  # a backchannel is shorter than ~0.8 s
CONVERSATION_GAP_MS = (10_000, 18_000)
SOLO_GAP_MS = (4_000, 8_000)
LEAD_MS = (500, 3_000)
TAIL_MS = (1_000, 3_000)


@dataclass
class Plan:
    """Episodes (kind, script), a voice per episode and speech levels in dBFS."""

    employee: Voice
    episodes: list[tuple[str, Script]] = field(default_factory=list)
    voices: list[Voice] = field(default_factory=list)  # the other party's voice per episode
    levels: list[dict[str, float]] = field(default_factory=list)  # per episode, per speaker


def _estimate_s(script: Script, rate: int) -> float:
    """Rough spoken length: espeak reads ~rate words per minute, plus pauses between lines."""
    return script.words * 60.0 / rate * 0.85 + 0.55 * len(script.lines)


def plan_file(rng: np.random.Generator, seed: int, index: int) -> Plan:
    """Pick the file layout, dialogues (cycling through all of them per corpus) and voices."""
    ids = sorted(DIALOGUES)
    order = np.random.default_rng([seed, 7919]).permutation(len(ids))
    first = DIALOGUES[ids[int(order[index % len(ids)])]]
    employee = random_voice(rng)
    plan = Plan(employee)
    est = _estimate_s(first, employee.rate)
    layout = str(rng.choice(["one", "two", "solo_before", "solo_after"], p=[0.3, 0.3, 0.2, 0.2]))
    chosen: list[tuple[str, Script]] = [(CONVERSATION, first)]
    while layout == "two" and (len(chosen) < 2 or rng.random() < 0.5):
        used = {s.id for _, s in chosen}
        fits = [DIALOGUES[k] for k in ids if k not in used
                and est + _estimate_s(DIALOGUES[k], employee.rate) + 18 <= MAX_PLANNED_S]
        if not fits:
            break
        chosen.append((CONVERSATION, fits[int(rng.integers(len(fits)))]))
        est += _estimate_s(chosen[-1][1], employee.rate) + 18
    if layout.startswith("solo"):
        solos = [SOLO[k] for k in sorted(SOLO)
                 if est + _estimate_s(SOLO[k], employee.rate) + 8 <= MAX_PLANNED_S]
        if solos:
            solo = (EMPLOYEE_ONLY, solos[int(rng.integers(len(solos)))])
            chosen.insert(0 if layout == "solo_before" else 1, solo)
    employee_db = SPEECH_DBFS + float(rng.uniform(-3, 3))
    customers: list[Voice] = []
    for kind, script in chosen:
        plan.episodes.append((kind, script))
        if kind == CONVERSATION:
            customers.append(random_voice(rng, avoid=(employee, *customers)))
            plan.voices.append(customers[-1])
        else:
            plan.voices.append(employee)
        customer_db = SPEECH_DBFS + float(rng.uniform(-4, 3))
        plan.levels.append({EMPLOYEE: employee_db, CUSTOMER: customer_db})
    return plan


def speak_plan(plan: Plan, rng: np.random.Generator, workers: int = 2) -> list[list[np.ndarray]]:
    """Audio of every line, per episode, scaled to its speaker's level (+-1.5 dB per turn)."""
    items: list[tuple[str, Voice, int | None]] = []
    for (_kind, script), other in zip(plan.episodes, plan.voices, strict=True):
        for line in script.lines:
            voice = plan.employee if line.speaker == EMPLOYEE else other
            fast = max(voice.rate + 40, 210) if line.kind == BACKCHANNEL else None
            items.append((line.text, voice, fast))
    audio = iter(speak_all(items, workers))
    out = []
    for (_kind, script), levels in zip(plan.episodes, plan.levels, strict=True):
        lines = []
        for line in script.lines:
            x = next(audio)
            db = levels[line.speaker] + float(rng.uniform(-1.5, 1.5))
            if line.kind == BACKCHANNEL:
                db -= 3.0
                x = _shorten(x, BACKCHANNEL_MAX_MS * SAMPLE_RATE // 1000)
            lines.append(scale_to(x, db))
        out.append(lines)
    return out


def _shorten(x: np.ndarray, n: int) -> np.ndarray:
    """Cut an over-long backchannel to n samples with a 30 ms fade-out."""
    if len(x) <= n:
        return x
    y = x[:n].copy()
    fade = min(n, SAMPLE_RATE * 30 // 1000)
    y[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return y


def _draw_ms(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0] // 10, bounds[1] // 10 + 1)) * 10


def layout_file(
    plan: Plan, audio: list[list[np.ndarray]], rng: np.random.Generator
) -> tuple[list[Turn], list[Episode], int]:
    """Place all episodes: returns the turns (file order), the episodes and the length in ms."""
    turns: list[Turn] = []
    episodes: list[Episode] = []
    lead = _draw_ms(rng, LEAD_MS)
    t0 = lead
    for e, ((kind, script), lines) in enumerate(zip(plan.episodes, audio, strict=True)):
        if e > 0:
            both = kind == CONVERSATION and plan.episodes[e - 1][0] == CONVERSATION
            t0 = episodes[-1].end_ms + _draw_ms(rng, CONVERSATION_GAP_MS if both else SOLO_GAP_MS)
        durations = [-(-len(x) * 1000 // SAMPLE_RATE) for x in lines]
        placed = place_script(script, durations, t0, e, len(turns), rng)
        start, end = episode_span(placed)
        turns += placed
        episodes.append(Episode(kind, script.id, start, end))
    total = episodes[-1].end_ms + _draw_ms(rng, TAIL_MS)
    if total < MIN_FILE_MS:  # pad an idle counter before and after to reach 30 s
        shift = (MIN_FILE_MS - total) // 20 * 10
        turns = [_shifted(t, shift) for t in turns]
        episodes = [Episode(ep.kind, ep.script_id, ep.start_ms + shift, ep.end_ms + shift)
                    for ep in episodes]
        total = MIN_FILE_MS
    return turns, episodes, total


def _shifted(t: Turn, ms: int) -> Turn:
    return replace(t, start_ms=t.start_ms + ms, end_ms=t.end_ms + ms)
