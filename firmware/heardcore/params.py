"""Every threshold and time constant of the detector, with units, ranges and meaning.

All values are integers (fixed point): times in ms, levels in tenths of a dB (``_db10``),
fractions in 1/1000 (``_permille``). ``Params()`` holds the defaults; ``update(mapping)``
applies overrides from a config file (a JSON object of name: value) and raises
``ConfigError`` naming the field for an unknown name, a non-integer or an out-of-range value.
docs/PARAMETERS.md is generated from ``SPEC`` (``heard params --markdown``).
"""

# name, default, minimum, maximum, four by four: one flat tuple takes 1.8 KB less heap than
# a tuple per parameter. Units by suffix: _ms, _db10 (0.1 dB), _permille (1/1000), _shift
# (1/2**k), _bits, _lag (samples). Meanings: host/heard/param_docs.py.
SPEC = (  # type: tuple
    'frame_ms', 10, 10, 10,
    'highpass_shift', 4, 2, 6,
    'gain_bits', 0, 0, 8,
    'level_smooth_permille', 1000, 50, 1000,
    'floor_rise_db10_per_s', 10, 1, 200,
    'floor_fall_shift', 2, 0, 6,
    'floor_startup_rise_db10_per_s', 2000, 10, 4000,
    'floor_startup_ms', 300, 0, 10000,
    'floor_window_ms', 2000, 0, 20000,
    'vad_on_db10', 50, 20, 300,
    'vad_off_db10', 30, 10, 300,
    'vad_hangover_ms', 20, 0, 1000,
    'min_speech_ms', 60, 10, 1000,
    'tone_ms', 30, 0, 1000,
    'tone_min_hz', 800, 100, 4000,
    'tone_level_db10', 5, 0, 100,
    'tdoa_max_lag', 24, 0, 32,
    'tdoa_min_lag', 3, 1, 16,
    'tdoa_stride', 4, 1, 8,
    'cue_smooth_shift', 3, 0, 6,
    'tdoa_weight_permille', 1000, 0, 4000,
    'tdoa_unit_permille', 150, 10, 1000,
    'level_weight_permille', 1000, 0, 4000,
    'level_unit_db10', 30, 5, 200,
    'level_mid_db10', 0, -200, 200,
    'level_adapt_shift', 6, 0, 12,
    'switch_margin_permille', 1000, 0, 4000,
    'switch_ms', 50, 10, 1000,
    'both_ratio_permille', 1000, 100, 1000,
    'both_min_corr_permille', 1000, 0, 1000,
    'peak_decay_db10_per_s', 5, 1, 500,
    'distant_drop_db10', 200, 30, 600,
    'mono_spurt_gap_ms', 200, 50, 1000,
    'mono_spurt_min_ms', 200, 0, 2000,
    'mono_spurt_max_ms', 5000, 500, 20000,
    'mono_fall_floor_db10', 30, 0, 200,
    'mono_history', 15, 1, 63,
    'turn_bridge_ms', 450, 0, 2000,
    'interrupt_overlap_ms', 300, 100, 2000,
    'interrupt_hold_ms', 1000, 200, 5000,
    'interrupt_prior_ms', 2000, 0, 5000,
    'interrupt_rise_db10', 30, 0, 300,
    'rise_recent_ms', 300, 50, 1000,
    'rise_gap_ms', 200, 0, 1000,
    'rise_before_ms', 500, 50, 1000,
    'backchannel_max_ms', 1000, 200, 3000,
    'conversation_idle_ms', 8000, 2000, 120000,
    'conversation_min_customer_ms', 1500, 0, 10000,
    'low_snr_db10', 60, 0, 300,
)


def entries():
    """Each parameter as (name, default, minimum, maximum), in ``SPEC`` order."""
    for i in range(0, len(SPEC), 4):
        yield SPEC[i], SPEC[i + 1], SPEC[i + 2], SPEC[i + 3]


def _entry(name):
    for i in range(0, len(SPEC), 4):
        if SPEC[i] == name:
            return i
    return -1


def known(name):
    """True when ``name`` is a parameter of this firmware."""
    return _entry(name) >= 0


class ConfigError(ValueError):
    """A configuration value is unknown, not an integer, or out of range."""

    def __init__(self, field, message):
        super().__init__("config field '{}': {}".format(field, message))
        self.field = field


class Params:
    """The detector's parameters: defaults from ``SPEC``, then overrides."""

    def __init__(self, overrides=None):
        # Index loops here, not entries(): its tuples, one per parameter, fragmented the
        # 64 KiB heap enough that the firmware tests' next detector no longer fit.
        for i in range(0, len(SPEC), 4):
            setattr(self, SPEC[i], SPEC[i + 1])
        if overrides:
            self.update(overrides)

    def update(self, overrides):
        """Validate every override first, then apply them all (all or nothing)."""
        if not isinstance(overrides, dict):
            raise ConfigError("*", "the configuration must be an object of name: value")
        for name in overrides:
            value = overrides[name]
            i = _entry(name)
            if i < 0:
                raise ConfigError(name, "unknown parameter")
            if isinstance(value, bool) or not isinstance(value, int):
                import json  # the value is said as the config file wrote it: true, null, "5"

                raise ConfigError(name, "must be a whole number, got {}".format(json.dumps(value)))
            lo, hi = SPEC[i + 2], SPEC[i + 3]
            if value < lo or value > hi:
                raise ConfigError(name, "{} is outside {}..{}".format(value, lo, hi))
        merged = self.as_dict()
        merged.update(overrides)
        if merged["vad_off_db10"] > merged["vad_on_db10"]:
            raise ConfigError("vad_off_db10", "must not exceed vad_on_db10")
        if merged["tdoa_max_lag"] and merged["tdoa_min_lag"] > merged["tdoa_max_lag"]:
            raise ConfigError("tdoa_min_lag", "must not exceed tdoa_max_lag")
        tone = merged["tone_ms"]
        if tone and (tone < merged["frame_ms"] or tone >= merged["min_speech_ms"]):
            # Shorter than a frame the test is off; as long as min_speech_ms, every beep's
            # start would be long enough to be talk.
            raise ConfigError("tone_ms", "must be 0 (off) or from frame_ms up to below "
                              "min_speech_ms")
        for name in overrides:
            setattr(self, name, overrides[name])

    def as_dict(self):
        return {SPEC[i]: getattr(self, SPEC[i]) for i in range(0, len(SPEC), 4)}


def load_json(text):
    """Parameters from a JSON config text; ``ConfigError`` for anything wrong."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError("*", "not valid JSON") from None
    if not isinstance(data, dict):  # also null, [] or 0, which Params would take as none
        raise ConfigError("*", "the configuration must be an object of name: value")
    return Params(data)
