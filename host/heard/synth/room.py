"""Store acoustics for `heard synth`: a shoebox room, the counter geometry and impulse responses.

The device sits on the counter; the employee stands behind it, the customer in front. Mic
layouts: ``omni_pair`` (two omni mics 0.3-0.6 m apart, one toward each party),
``cardioid_pair`` (two cardioid-family capsules back to back, 2-5 cm apart) and ``mono`` (one
omni mic). Channel 0 faces the employee, channel 1 the customer. A ``Placement`` pins the
counter geometry to given distances (the placement study, ``heard.placement``).

Impulse responses are hybrid: pyroomacoustics' image-source model (absorption from
``pra.inverse_sabine``, order capped at ``MAX_ORDER`` for speed) up to the time where the
capped model is still complete, then a seeded exponentially decaying noise tail with the
target RT60, level-matched to the image-source energy just before the junction.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyroomacoustics as pra
from pyroomacoustics.directivities import CardioidFamily
from scipy.signal import oaconvolve

from heard.synth.tts import SAMPLE_RATE

MAX_ORDER = 10
_C = 343.0
_MARGIN = 0.4  # sources and mics stay this far from the walls (m)


@dataclass
class Scene:
    """Room, mics and source positions of one file (metres, room corner at the origin)."""

    dims: tuple[float, float, float]
    rt60: float
    layout: str
    device: np.ndarray
    axis: np.ndarray  # horizontal unit vector from the employee side toward the customer
    mics: np.ndarray  # (3, channels)
    patterns: list[float]  # cardioid-family p per mic (1.0 = omni)
    orientations: list[np.ndarray]  # unit vector each mic points to
    sources: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def absorption(self) -> float:
        volume, surface = float(np.prod(self.dims)), _surface(self.dims)
        return 24 * np.log(10) * volume / (_C * surface * self.rt60)

    def distances(self, name: str) -> list[float]:
        return [float(np.linalg.norm(self.sources[name] - m)) for m in self.mics.T]

    def to_json(self) -> dict[str, Any]:
        """Geometry for the truth file: positions, distances, spacing and directivity."""

        def r(v: Any) -> Any:
            return [round(float(c), 3) for c in v]

        return {
            "room_dims_m": r(self.dims),
            "layout": self.layout,
            "device_m": r(self.device),
            "mics_m": [r(m) for m in self.mics.T],
            "mic_spacing_m": round(float(np.linalg.norm(self.mics[:, 0] - self.mics[:, -1])), 3),
            "directivity": [
                {"pattern_p": round(p, 3), "points_to": r(o)}
                for p, o in zip(self.patterns, self.orientations, strict=True)
            ],
            "sources_m": {k: r(v) for k, v in sorted(self.sources.items())},
            "distances_m": {k: r(self.distances(k)) for k in sorted(self.sources)},
            "image_source_order": MAX_ORDER,
            "absorption": round(self.absorption, 4),
        }


def _surface(dims: tuple[float, float, float]) -> float:
    return 2 * sum(a * b for a, b in itertools.combinations(dims, 2))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _inside(p: np.ndarray, dims: tuple[float, float, float]) -> bool:
    return bool(np.all(p[:2] >= _MARGIN) and np.all(p[:2] <= np.array(dims[:2]) - _MARGIN))


LAYOUTS = ("mono", "omni_pair", "cardioid_pair")


@dataclass(frozen=True)
class Placement:
    """A requested counter geometry, in metres measured flat (as on a floor plan): from the
    employee's mouth to the employee-facing mic, from the customer's mouth to the
    customer-facing mic, and between the two mics. Mouth heights stay as drawn."""

    employee_m: float
    customer_m: float
    spacing_m: float


def _place(
    placement: Placement, spacing: float, dims: tuple[float, float, float], device: np.ndarray,
    axis: np.ndarray, side: np.ndarray, employee: np.ndarray, customer: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Device, employee and customer positions at the requested distances from mics
    ``spacing`` apart. The drawn sideways offsets are kept (at most half the distance); the
    device slides along the axis when the employee would stand outside the room."""
    half = spacing / 2
    out = []
    for person, dist, sign in ((employee, placement.employee_m, -1.0),
                               (customer, placement.customer_m, 1.0)):
        lateral = float(np.clip(np.dot(person - device, side), -dist / 2, dist / 2))
        along = float(np.sqrt(max(dist**2 - lateral**2, 0.0)))
        p = device + axis * sign * (half + along) + side * lateral
        p[2] = person[2]
        out.append(p)
    move = axis * max(0.0, _MARGIN + 0.05 - float(out[0][1])) / axis[1]
    device, employee, customer = device + move, out[0] + move, out[1] + move
    if not (_inside(employee, dims) and _inside(customer, dims)):
        raise ValueError(f"{placement} does not fit in a {dims[0]} x {dims[1]} m room")
    return device, employee, customer


def sample_scene(
    rng: np.random.Generator, layout: str, n_talkers: int, placement: Placement | None = None
) -> Scene:
    """Draw a room, the counter geometry, the mics of ``layout`` and all source positions.

    With ``placement`` the same random draws are made, then the spacing and the parties'
    positions are replaced by the requested ones."""
    dims = (
        round(float(rng.uniform(6, 15)), 2),
        round(float(rng.uniform(5, 12)), 2),
        round(float(rng.uniform(3, 4.5)), 2),
    )
    # Sabine absorption must stay below 0.95: short RT60s need small rooms.
    rt60_min = 0.161 * float(np.prod(dims)) / (0.95 * _surface(dims))
    rt60 = round(max(float(rng.uniform(0.2, 0.8)), rt60_min), 3)
    yaw = np.radians(rng.uniform(-15, 15))
    axis = np.array([np.sin(yaw), np.cos(yaw), 0.0])
    side = np.array([axis[1], -axis[0], 0.0])
    device = np.array([rng.uniform(2, dims[0] - 2), rng.uniform(1.2, 2.5), rng.uniform(0.95, 1.1)])
    employee = device - axis * rng.uniform(0.3, 0.8) + side * rng.uniform(-0.25, 0.25)
    customer = device + axis * rng.uniform(0.6, 1.5) + side * rng.uniform(-0.3, 0.3)
    employee[2], customer[2] = rng.uniform(1.5, 1.7), rng.uniform(1.5, 1.7)

    if layout == "mono":
        spacing, patterns = 0.0, [1.0]
        orientations = [np.array([0.0, 0.0, 1.0])]
    else:
        if layout == "omni_pair":
            spacing, patterns = float(rng.uniform(0.3, 0.6)), [1.0, 1.0]
            orientations = [-axis, axis]
        else:
            spacing = float(rng.uniform(0.02, 0.05))
            p = float(rng.uniform(0.35, 0.6))
            tilt = np.radians(rng.uniform(10, 40))  # capsules tilted up toward the mouths
            up = np.array([0.0, 0.0, np.sin(tilt)])
            orientations = [_unit(-axis * np.cos(tilt) + up), _unit(axis * np.cos(tilt) + up)]
            patterns = [p, p]
    if placement is not None:
        spacing = placement.spacing_m if layout != "mono" else 0.0
        device, employee, customer = _place(placement, spacing, dims, device, axis, side,
                                            employee, customer)
    offsets = [0.0] if layout == "mono" else [-spacing / 2, spacing / 2]
    mics = np.stack([device + axis * o for o in offsets], axis=1)

    sources = {"employee": employee, "customer": customer}
    for k in range(n_talkers):
        sources[f"talker{k}"] = _distant_talker(rng, dims, device, axis)
    top = dims[2] - 0.05
    for name in ("hvac", "music"):
        sources[name] = np.array(
            [rng.uniform(0.5, dims[0] - 0.5), rng.uniform(0.5, dims[1] - 0.5), top]
        )
    scanner = device - axis * 0.1 + side * rng.choice([-1, 1]) * rng.uniform(0.3, 0.6)
    scanner[2] = device[2] - 0.05
    sources["scanner"] = scanner
    return Scene(dims, rt60, layout, device, axis, mics, patterns, orientations, sources)


def _distant_talker(
    rng: np.random.Generator, dims: tuple[float, float, float], device: np.ndarray, axis: np.ndarray
) -> np.ndarray:
    """A shopper's mouth 2-5 m from the device, on the customer side of the counter."""
    best = np.array([dims[0] / 2, dims[1] - _MARGIN, 1.6])
    for _ in range(200):
        dist, angle = rng.uniform(2, 5), rng.uniform(-np.pi / 2, np.pi / 2)
        horiz = np.sqrt(max(dist**2 - (1.6 - device[2]) ** 2, 0.0))
        c, s = np.cos(angle), np.sin(angle)
        direction = np.array([axis[0] * c - axis[1] * s, axis[0] * s + axis[1] * c, 0.0])
        p = device + direction * horiz
        p[2] = rng.uniform(1.5, 1.75)
        if _inside(p, dims):
            return p
    return best


def impulse_responses(scene: Scene, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Hybrid RIRs per source, shape (channels, taps), aligned to the dry timeline."""
    room = pra.ShoeBox(
        list(scene.dims),
        fs=SAMPLE_RATE,
        materials=pra.Material(min(scene.absorption, 0.99)),
        max_order=MAX_ORDER,
    )
    names = sorted(scene.sources)
    for name in names:
        room.add_source(list(scene.sources[name]))
    if all(p >= 1.0 for p in scene.patterns):
        room.add_microphone_array(scene.mics)
    else:
        dirs = [CardioidFamily(o, p=p)
                for o, p in zip(scene.orientations, scene.patterns, strict=True)]
        room.add_microphone_array(scene.mics, directivity=dirs)
    room.compute_rir()
    delay = pra.constants.get("frac_delay_length") // 2  # centre of the fractional-delay filter
    # The capped image-source model is complete up to the largest sphere inside its "diamond"
    # of image rooms (as in pra.inverse_sabine): beyond it, the noise tail takes over.
    pairs = itertools.combinations(scene.dims, 2)
    radius = MAX_ORDER * min(a * b / np.hypot(a, b) for a, b in pairs)
    t_mix = int(radius / _C * SAMPLE_RATE)
    out = {}
    for s, name in enumerate(names):
        rows = [_hybrid(np.asarray(room.rir[m][s])[delay:], t_mix, scene.rt60, rng)
                for m in range(scene.mics.shape[1])]
        taps = max(len(h) for h in rows)
        out[name] = np.stack([np.pad(h, (0, taps - len(h))) for h in rows]).astype(np.float32)
    return out


def _hybrid(h: np.ndarray, t_mix: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Image-source RIR up to t_mix, then noise decaying 60 dB per rt60, energy-matched."""
    fade = int(0.005 * SAMPLE_RATE)
    direct = int(np.argmax(np.abs(h)))
    lo = max(direct + fade, t_mix - int(0.04 * SAMPLE_RATE))
    if t_mix >= len(h) or t_mix - lo < fade:
        return h
    n_tail = t_mix + int(rt60 * SAMPLE_RATE)
    t = np.arange(n_tail) / SAMPLE_RATE
    envelope = np.exp(-13.8155 * t / rt60)  # energy envelope: -60 dB after rt60 seconds
    gain = np.sqrt(np.sum(h[lo:t_mix] ** 2) / np.sum(envelope[lo:t_mix]))
    tail = gain * np.sqrt(envelope[t_mix:]) * rng.standard_normal(n_tail - t_mix)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
    tail[:fade] *= ramp
    out = np.zeros(n_tail)
    out[:t_mix] = h[:t_mix]
    out[t_mix - fade : t_mix] *= ramp[::-1] * 0.5 + 0.5  # soften the end of the ISM part
    out[t_mix:] += tail
    return out


def render(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve a dry source with its (channels, taps) RIR; output (channels, len(x))."""
    return np.stack([oaconvolve(x, h)[: len(x)] for h in rir]).astype(np.float32)
