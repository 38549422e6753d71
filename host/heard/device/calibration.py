"""What ``heard calibrate`` measures, on lists of live frames (``heard.device.live``).

Per phase (the employee talks, then the customer) the talk frames are the frames with
voice on either channel that the detector counts as near talk (a party, not a passer-by),
leaving out the first and last ``TRIM_MS`` of the phase (people start late and stop early).
On them: the median level of each channel and their difference (ch0 - ch1), and the share
of frames whose arrival-time cue points at the right side. "Leakage" in each direction is
how far below the talker's own mic the other mic hears them (dB; more is better). The
calibration is ``level_mid_db10``: halfway between the employee-phase and customer-phase
differences, so each party sits equally far from the detector's split (the detector
starts from it and then learns each party's difference from their own talk,
``level_adapt_shift``, so it spares the first minutes after a restart), and
``level_unit_db10``: how much the level counts, chosen from the separation of the two
phases, which tells mics far apart from close ones and from directional capsules.

The thresholds (see ``GOOD_SEPARATION_DB`` and below) follow from the detector's
parameters (docs/DETECTOR.md, section 4) and the placement study (hardware/PLACEMENT.md).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heardcore.params import Params, entries

TRIM_MS = 500  # left out at each end of a phase
MIN_TALK_FRAMES = 5  # fewer talk frames than this in a phase: nobody was heard
MIN_TALK_SHARE = 0.15  # ... or a smaller share of the phase's frames

# --- thresholds ---------------------------------------------------------------------------
# The level cue adds (D - level_mid) / level_unit units of evidence per attributed frame
# (D: the smoothed ch0 - ch1 level difference). level_unit_db10 is 30 by default: 3 dB
# away from level_mid count as one unit, as much as a clear arrival-time cue (one
# tdoa_unit). With level_mid calibrated halfway, each party sits half the separation S
# (employee-phase difference minus customer-phase difference) from it.
# - S >= 6 dB: each party at least one level_unit from the split; the level cue alone
#   decides right, whatever the arrival-time cue does.
# - S >= 2 dB: a third of a unit each; it tips frames where the arrival time is unsure.
#   Below that it barely moves the evidence.
# The arrival-time cue is independent of level_mid. In the simulated shops of
# hardware/PLACEMENT.md, omnidirectional mics 0.1 m apart differ by under 1 dB, yet the
# detector gives under 2% of speech to the wrong party there: the arrival time carries it.
# So a placement is also good when the arrival-time cue points at the talker on most talk
# frames of both phases (ARRIVAL_GOOD), usable on a clear majority (ARRIVAL_USABLE); these
# two shares are a judgement. The placement study checks the verdicts as a whole: DER
# after calibration by verdict (hardware/PLACEMENT.md, "What `heard calibrate` says").
# The distant-talker gate drops speech distant_drop_db10 (20 dB) below the recent speech
# peak: a party that is that much quieter at its own mic than the other party at theirs
# is taken for a passer-by. Speech loudness varies by several dB, so GATE_MARGIN_DB of
# headroom is required.
# All of these come from the detector's parameters and simulated rooms (the placement
# study, hardware/PLACEMENT.md), not yet from measurements in real shops.
GOOD_SEPARATION_DB = 6.0
USABLE_SEPARATION_DB = 2.0
ARRIVAL_GOOD = 0.8
ARRIVAL_USABLE = 0.6
ARRIVAL_DEAD_UNITS = 0.25  # |tdoa| below this many evidence units points nowhere
# A phase whose talk comes from the other side on ARRIVAL_USABLE of its frames, while the
# other phase's comes from where it should, and is louder on the other side's mic, with the
# two phases' level differences within SAME_TALKER_DB, is the other person talking: try
# again.
SAME_TALKER_DB = 1.0
GATE_MARGIN_DB = 6.0

# --- the level unit -----------------------------------------------------------------------
# The default level unit (3 dB) suits two kinds of placement: omni mics about 0.1 m apart,
# where the parties differ by about 1 dB and the arrival time decides (a smaller unit lets
# noise in that 1 dB steer), and most directional capsules, whose separation of
# GOOD_SEPARATION_DB or more puts each party a unit or more from the split already (a
# smaller unit only makes the level's noise count three times as much). Between the two,
# omni mics 0.2-0.6 m apart separate the parties by a few dB while their arrival time is
# less clear, and a 1 dB unit lets the level decide (hardware/PLACEMENT.md, "When the mics
# cannot be about 0.10 m apart"). WIDE_SEPARATION_DB is where that starts, as this check
# measures separation (store noise narrows it). Simulated (docs/ACCURACY.md): omni mics
# 0.1 m apart measure -0.4 to 1.6 dB (2 files in 45 from 1.5 dB), 0.2 m apart 0.4-2.5 dB
# (18 of 45 from 1.5 dB), 0.4-0.6 m apart mostly 1.5-6 dB (81 of 90); directional capsules
# 2-5 cm apart 4.2-23.7 dB, so the few of them below 6 dB get the 1 dB unit too (4 of 50).
WIDE_SEPARATION_DB = 1.5
WIDE_LEVEL_UNIT_DB10 = 10

STORED = ("level_mid_db10", "level_unit_db10")  # the parameters the check stores

EMPLOYEE, CUSTOMER = "employee", "customer"
GOOD, USABLE, MOVE, RETRY = "good", "usable", "move the device", "try again"
VERDICTS = (GOOD, USABLE, MOVE, RETRY)
LiveFrame = Mapping[str, int]


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def window(frames: Sequence[LiveFrame], trim_ms: int = TRIM_MS) -> list[LiveFrame]:
    """The frames of one phase without its first and last ``trim_ms`` (by the device's
    uptime, which wraps at 2**32)."""
    if not frames:
        return []
    first = frames[0]["uptime_ms"]
    end = (frames[-1]["uptime_ms"] - first) & 0xFFFFFFFF
    return [f for f in frames if trim_ms <= (f["uptime_ms"] - first) & 0xFFFFFFFF <= end - trim_ms]


def talk_frames(frames: Sequence[LiveFrame]) -> list[LiveFrame]:
    """The frames with voice on either channel that the detector counts as near talk."""
    return [f for f in frames if (f["vad0"] or f["vad1"]) and f["near"]]


def tdoa_unit(params: Mapping[str, int] | None = None) -> float:
    """One unit of arrival-time evidence in the live frame's ``tdoa`` (docs/DETECTOR.md:
    16 x terms x tdoa_unit_permille / 1000)."""
    p = known_params(params)
    samples = 16 * p.frame_ms
    k, stride = p.tdoa_max_lag, p.tdoa_stride
    terms = len(range(k, samples - k, stride))
    return 16 * terms * p.tdoa_unit_permille / 1000


@dataclass(frozen=True)
class Phase:
    """One side's measurement."""

    side: str  # EMPLOYEE or CUSTOMER
    frames: int  # frames received in the phase
    talk: int  # talk frames measured (trimmed)
    talk_share: float  # talk frames / frames in the trimmed window
    level0_db10: float  # median level of channel 0 (employee mic) on talk frames, dB x 10
    level1_db10: float
    arrival_share: float  # talk frames whose arrival-time cue points at this side
    arrival_wrong: float  # ... and at the other side

    @property
    def heard(self) -> bool:
        return self.talk >= MIN_TALK_FRAMES and self.talk_share >= MIN_TALK_SHARE

    @property
    def level0_db(self) -> float:
        return self.level0_db10 / 10

    @property
    def level1_db(self) -> float:
        return self.level1_db10 / 10

    @property
    def diff_db10(self) -> float:
        return self.level0_db10 - self.level1_db10

    @property
    def diff_db(self) -> float:
        """Channel 0 minus channel 1 (dB)."""
        return self.diff_db10 / 10

    @property
    def own_db(self) -> float:
        """The talker's level at their own mic."""
        return self.level0_db if self.side == EMPLOYEE else self.level1_db

    @property
    def leakage_db(self) -> float:
        """How far below the talker's own mic the other mic hears them (more is better)."""
        return self.diff_db if self.side == EMPLOYEE else -self.diff_db


def measure(side: str, frames: Sequence[LiveFrame], unit: float | None = None,
            trim_ms: int = TRIM_MS) -> Phase:
    """Measure one phase from its live frames (levels in the frames are dB x 10)."""
    unit = tdoa_unit() if unit is None else unit
    kept = window(frames, trim_ms)
    talk = talk_frames(kept)
    dead = ARRIVAL_DEAD_UNITS * unit
    sign = 1 if side == EMPLOYEE else -1
    if talk:
        level0 = _median([f["level0_db10"] for f in talk])
        level1 = _median([f["level1_db10"] for f in talk])
        right = sum(1 for f in talk if sign * f["tdoa"] >= dead) / len(talk)
        wrong = sum(1 for f in talk if -sign * f["tdoa"] >= dead) / len(talk)
    else:
        level0 = level1 = right = wrong = 0.0
    share = len(talk) / len(kept) if kept else 0.0
    return Phase(side, len(frames), len(talk), share, level0, level1, right, wrong)


def known_params(params: Mapping[str, int] | None) -> Params:
    """The detector's parameters from a device's config (names this host does not know are
    left out: a newer firmware may have more)."""
    names = {entry[0] for entry in entries()}
    return Params({k: v for k, v in (params or {}).items() if k in names})


def _param_range(name: str) -> tuple[int, int]:
    for entry in entries():
        if entry[0] == name:
            return int(entry[2]), int(entry[3])
    raise KeyError(name)


@dataclass(frozen=True)
class Result:
    """Both phases, the verdict and the calibration to store (None: store nothing)."""

    employee: Phase
    customer: Phase
    verdict: str  # GOOD, USABLE, MOVE or RETRY
    reasons: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    level_mid_db10: int | None = None
    notes: list[str] = field(default_factory=list)  # measured, but not what decided
    level_unit_db10: int | None = None  # stored with level_mid_db10

    def __post_init__(self) -> None:
        if (self.level_mid_db10 is None) != (self.level_unit_db10 is None):
            raise ValueError("a calibration is level_mid_db10 and level_unit_db10 together")

    def calibration(self) -> dict[str, int]:
        """The parameters to store (empty: store nothing)."""
        if self.level_mid_db10 is None or self.level_unit_db10 is None:
            return {}
        return dict(zip(STORED, (self.level_mid_db10, self.level_unit_db10), strict=True))

    @property
    def separation_db(self) -> float:
        return separation_db(self.employee, self.customer)


def separation_db(employee: Phase, customer: Phase) -> float:
    """The employee-phase minus the customer-phase level difference, to 0.1 dB (half up):
    one value for the verdict, the level unit and what is printed."""
    return math.floor(employee.diff_db10 - customer.diff_db10 + 0.5) / 10


def verdict_summary(verdicts: Sequence[str], wide: int) -> str:
    """"3 good, 2 usable; 1 dB unit on 2": how often each verdict was given (in ``VERDICTS``
    order, other labels such as "failed" after), and on how many the 1 dB level unit was
    stored (left out when none)."""
    order = list(VERDICTS) + sorted(set(verdicts) - set(VERDICTS))
    counts = [f"{list(verdicts).count(v)} {v}" for v in order if v in verdicts]
    unit = f"; {WIDE_LEVEL_UNIT_DB10 / 10:.0f} dB unit on {wide}" if wide else ""
    return (", ".join(counts) or "no files") + unit


def quieter(db: float) -> str:
    """A leakage in words: "3.2 dB quieter", "0.4 dB louder" or "just as loud"."""
    if round(db, 1) > 0:
        return f"{db:.1f} dB quieter"
    if round(db, 1) < 0:
        return f"{-db:.1f} dB louder"
    return "just as loud"


def midpoint_db10(employee: Phase, customer: Phase) -> int:
    """``level_mid_db10`` halfway between the two phases' differences (rounded half up)."""
    return math.floor((employee.diff_db10 + customer.diff_db10) / 2 + 0.5)


def level_unit_db10(separation_db: float) -> int:
    """The level unit for a measured separation: 1 dB from ``WIDE_SEPARATION_DB`` up to
    ``GOOD_SEPARATION_DB``, else the detector's default (``separation_db`` gives it to 0.1
    dB, as the installer sees it)."""
    if WIDE_SEPARATION_DB <= separation_db < GOOD_SEPARATION_DB:
        return WIDE_LEVEL_UNIT_DB10
    return Params().level_unit_db10


def unit_reason(separation_db: float) -> str:
    """Why ``level_unit_db10(separation_db)``, in the installer's words."""
    unit = level_unit_db10(separation_db)
    rule = (f"heard uses {WIDE_LEVEL_UNIT_DB10 / 10:.0f} dB when the sides are "
            f"{WIDE_SEPARATION_DB:.1f} to {GOOD_SEPARATION_DB:.0f} dB apart")
    apart = f"the sides are {separation_db:.1f} dB apart in level"
    if unit == WIDE_LEVEL_UNIT_DB10:
        return (f"{unit / 10:.0f} dB, so the level counts more: {apart}, typical of omni mics "
                f"0.2-0.6 m apart ({rule})")
    if separation_db >= GOOD_SEPARATION_DB:
        return (f"{unit / 10:.0f} dB, the default: {apart}, enough for the level to decide "
                f"at the default ({rule})")
    return (f"{unit / 10:.0f} dB, the default: {apart}, too little for the level to count "
            f"more ({rule})")


def judge(employee: Phase, customer: Phase, params: Mapping[str, int] | None = None) -> Result:
    """The verdict on a placement and the calibration it allows."""
    for phase in (employee, customer):
        if not phase.heard:
            return Result(employee, customer, RETRY, [
                f"I did not hear anyone talking on the {phase.side} side; try again"])
    p = known_params(params)
    reasons: list[str] = []
    advice: list[str] = []
    mid = midpoint_db10(employee, customer)
    lo, hi = _param_range("level_mid_db10")
    sep = separation_db(employee, customer)
    arrival = min(employee.arrival_share, customer.arrival_share)
    weak = customer if customer.leakage_db < employee.leakage_db else employee
    other = EMPLOYEE if weak.side == CUSTOMER else CUSTOMER

    gate_db = p.distant_drop_db10 / 10 - GATE_MARGIN_DB
    quiet, loud = sorted((employee, customer), key=lambda ph: ph.own_db)
    swapped_arrival = min(employee.arrival_wrong, customer.arrival_wrong) >= ARRIVAL_GOOD
    if sep <= -USABLE_SEPARATION_DB or swapped_arrival:
        reasons.append("each side is heard louder or sooner on the other side's mic than on "
                       "its own: the mics look swapped")
        advice.append("the employee mic (L/R to GND) must face the employee, the customer "
                      "mic (L/R to VDD) the customer; check the wiring (hardware/README.md)")
        return Result(employee, customer, MOVE, reasons, advice)
    for part, source in ((customer, employee), (employee, customer)):
        # One side's talk comes from the other side, as the other side's own talk does, and
        # the levels say the same person too (louder on the other side's mic, by about as
        # much): the wrong person talked (or stood on the wrong side), not a placement
        # fault, and what was measured is not a calibration. Arrival alone is not enough: a
        # talker farther off than the mics' window can arrive from the wrong side.
        if part.arrival_wrong >= ARRIVAL_USABLE and source.arrival_share >= ARRIVAL_USABLE \
                and part.leakage_db < 0 and abs(sep) < SAME_TALKER_DB:
            reasons.append(
                f"while the {part.side} side talked, the sound came from the {source.side}'s side "
                f"on {100 * part.arrival_wrong:.0f}% of the talk, as it did while the "
                f"{source.side} talked: it sounds like the {source.side} talked then")
            advice.append(
                f"try again: only the {part.side} talks in the {part.side} part, standing where "
                f"{part.side}s stand, and the {source.side} stays quiet")
            advice.append(
                f"if it says this again although only the {part.side} talked, move the device: "
                f"the {part.side}'s voice reaches the {source.side} mic first "
                "(hardware/PLACEMENT.md)")
            return Result(employee, customer, RETRY, reasons, advice)
    if not lo <= mid <= hi:
        reasons.append(f"the two mics differ by {abs(mid) / 10:.0f} dB whoever talks: more "
                       f"than the detector can correct ({lo / 10:.0f}..{hi / 10:.0f} dB)")
        advice.append("check that both mics are wired and open to the room, not covered")
        return Result(employee, customer, MOVE, reasons, advice)
    if loud.own_db - quiet.own_db > gate_db:
        reasons.append(
            f"the {quiet.side} is {loud.own_db - quiet.own_db:.0f} dB quieter at their mic "
            f"than the {loud.side} at theirs: the detector may take them for a passer-by "
            f"(it ignores speech {p.distant_drop_db10 / 10:.0f} dB below the loudest)")
        advice.append(f"move the {quiet.side} mic closer to where the {quiet.side} stands")
        return Result(employee, customer, MOVE, reasons, advice)

    level_good, level_ok = sep >= GOOD_SEPARATION_DB, sep >= USABLE_SEPARATION_DB
    arrival_good, arrival_ok = arrival >= ARRIVAL_GOOD, arrival >= ARRIVAL_USABLE
    if level_good or arrival_good:
        verdict = GOOD
    elif level_ok or arrival_ok:
        verdict = USABLE
    else:
        verdict = MOVE
    level = (f"level separation {sep:.1f} dB "
             f"({'strong' if level_good else 'weak' if level_ok else 'too small'}: "
             f"good from {GOOD_SEPARATION_DB:.0f} dB, usable from {USABLE_SEPARATION_DB:.0f} dB)")
    timing = (f"arrival time points at the talker on {100 * arrival:.0f}% of talk "
              f"({'strong' if arrival_good else 'weak' if arrival_ok else 'too rare'}: "
              f"good from {100 * ARRIVAL_GOOD:.0f}%, usable from {100 * ARRIVAL_USABLE:.0f}%)")
    # The verdict is the better cue's: that one is the reason; a weaker one is a note, or an
    # installer reads "arrival time too rare" as a cause of GOOD.
    level_grade, timing_grade = level_good + level_ok, arrival_good + arrival_ok
    notes: list[str] = []
    if verdict == MOVE or level_grade == timing_grade:
        reasons += [level, timing]
    elif level_grade > timing_grade:
        reasons.append(level)
        notes.append(f"{timing}; one {verdict} cue is enough")
    else:
        reasons.append(timing)
        notes.append(f"{level}; one {verdict} cue is enough")
    if verdict != GOOD:
        advice.append(
            f"the {weak.side} is heard almost as loud on the {other} mic "
            f"({quieter(weak.leakage_db)} than on the {weak.side} mic): turn the {weak.side} "
            f"mic towards the {weak.side} or move the device so each mic is nearer its own "
            "side")
        if not arrival_good:
            advice.append("keep both mics on the line between employee and customer, about "
                          "0.1 m apart, both open to the room (hardware/PLACEMENT.md)")
    if verdict == MOVE:
        return Result(employee, customer, verdict, reasons, advice, None, notes)
    return Result(employee, customer, verdict, reasons, advice, mid, notes,
                  level_unit_db10(sep))
