"""Every threshold and time constant of the detector, with units, ranges and meaning.

All values are integers (fixed point): times in ms, levels in tenths of a dB (``_db10``),
fractions in 1/1000 (``_permille``). ``Params()`` holds the defaults; ``update(mapping)``
applies overrides from a config file (a JSON object of name: value) and raises
``ConfigError`` naming the field for an unknown name, a non-integer or an out-of-range value.
docs/PARAMETERS.md is generated from ``SPEC`` (``heard params --markdown``).
"""

# (name, default, minimum, maximum, unit, meaning)
SPEC = (
    ("frame_ms", 10, 10, 10, "ms", "analysis frame length (160 samples at 16 kHz)"),
    ("highpass_shift", 4, 2, 6, "shift",
     "two one-pole high-pass stages with leak 2**-k: k=4 cuts below ~160 Hz (HVAC, DC)"),
    ("gain_bits", 0, 0, 8, "bits", "I2S 32-bit slot to int16 gain on the device: 6 dB per bit"),
    ("level_smooth_permille", 1000, 50, 1000, "1/1000",
     "share of each new frame level in the smoothed level the VAD sees (1000: none)"),
    ("floor_rise_db10_per_s", 10, 1, 200, "0.1 dB/s",
     "how fast the noise floor follows rising noise"),
    ("floor_fall_shift", 2, 0, 6, "shift",
     "the noise floor falls toward a quieter frame by 1/2**k of the gap per frame"),
    ("floor_startup_rise_db10_per_s", 200, 10, 1000, "0.1 dB/s",
     "noise floor rise during start-up, so a device switched on in noise settles fast"),
    ("floor_startup_ms", 1000, 0, 10000, "ms", "length of the start-up"),
    ("vad_on_db10", 90, 20, 300, "0.1 dB", "level above the noise floor that starts speech"),
    ("vad_off_db10", 50, 10, 300, "0.1 dB", "level above the noise floor that keeps speech"),
    ("vad_hangover_ms", 40, 0, 1000, "ms", "speech continues this long after the level drops"),
    ("min_speech_ms", 60, 10, 1000, "ms", "shorter segments are not speech"),
    ("tdoa_max_lag", 24, 0, 32, "samples",
     "largest arrival-time difference searched: mic spacing / 343 m/s * 16 kHz (0: off)"),
    ("tdoa_min_lag", 3, 1, 16, "samples",
     "lags within +-this carry no direction (coincident capsules, diffuse noise)"),
    ("cue_smooth_shift", 3, 0, 6, "shift",
     "correlation and level difference are smoothed by 1/2**k per frame (3: ~80 ms)"),
    ("tdoa_weight_permille", 1000, 0, 4000, "1/1000", "weight of the arrival-time cue"),
    ("tdoa_unit_permille", 150, 10, 1000, "1/1000",
     "sign correlation that counts as one unit of evidence"),
    ("level_weight_permille", 1000, 0, 4000, "1/1000", "weight of the level-difference cue"),
    ("level_unit_db10", 30, 5, 200, "0.1 dB",
     "channel level difference that counts as one unit of evidence"),
    ("level_mid_db10", 0, -200, 200, "0.1 dB",
     "channel 0 - channel 1 level at which both parties are equally likely (calibration)"),
    ("switch_margin_permille", 0, 0, 4000, "1/1000",
     "evidence against the current speaker needed to count toward a switch"),
    ("switch_ms", 50, 10, 1000, "ms", "evidence must hold this long to switch speakers"),
    ("both_ratio_permille", 1000, 100, 1000, "1/1000",
     ("the other party overlaps when its correlation peak reaches this share of the "
      "current speaker's")),
    ("both_min_corr_permille", 1000, 0, 1000, "1/1000",
     "least sign correlation of the other party for an overlap (1000: overlap detection off)"),
    ("peak_decay_db10_per_s", 20, 1, 500, "0.1 dB/s", "how fast the speech peak level decays"),
    ("distant_drop_db10", 200, 30, 600, "0.1 dB",
     "speech this far below the recent speech peak is a distant talker, not a party"),
    ("mono_adapt_shift", 6, 2, 10, "shift", "mono: speech-level clusters adapt by 1/2**k"),
    ("turn_bridge_ms", 300, 0, 2000, "ms", "pauses shorter than this do not end a segment"),
    ("interrupt_overlap_ms", 300, 100, 2000, "ms",
     ("an onset during the other's speech is an interruption when the other carries on "
      "this long past it ...")),
    ("interrupt_hold_ms", 1000, 200, 5000, "ms",
     "... and the newcomer keeps talking this long (or outlasts the other)"),
    ("backchannel_max_ms", 1000, 200, 3000, "ms",
     "a listener utterance shorter than this that the speaker talks through is a backchannel"),
    ("conversation_idle_ms", 8000, 2000, 120000, "ms",
     "a conversation ends after this long without customer speech"),
    ("low_snr_db10", 60, 0, 300, "0.1 dB",
     "conversations whose speech is less than this above the noise get the low-SNR flag"),
)

_RANGES = {}
for _entry in SPEC:
    _RANGES[_entry[0]] = (_entry[2], _entry[3])


class ConfigError(ValueError):
    """A configuration value is unknown, not an integer, or out of range."""

    def __init__(self, field, message):
        super().__init__("config field '{}': {}".format(field, message))
        self.field = field


class Params:
    """The detector's parameters: defaults from ``SPEC``, then overrides."""

    def __init__(self, overrides=None):
        for name, default, _lo, _hi, _unit, _meaning in SPEC:
            setattr(self, name, default)
        if overrides:
            self.update(overrides)

    def update(self, overrides):
        """Validate every override first, then apply them all (all or nothing)."""
        if not isinstance(overrides, dict):
            raise ConfigError("*", "the configuration must be an object of name: value")
        for name in overrides:
            value = overrides[name]
            if name not in _RANGES:
                raise ConfigError(name, "unknown parameter")
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(name, "must be a whole number, got {!r}".format(value))
            lo, hi = _RANGES[name]
            if value < lo or value > hi:
                raise ConfigError(name, "{} is outside {}..{}".format(value, lo, hi))
        merged = self.as_dict()
        merged.update(overrides)
        if merged["vad_off_db10"] > merged["vad_on_db10"]:
            raise ConfigError("vad_off_db10", "must not exceed vad_on_db10")
        if merged["tdoa_min_lag"] > merged["tdoa_max_lag"]:
            raise ConfigError("tdoa_min_lag", "must not exceed tdoa_max_lag")
        for name in overrides:
            setattr(self, name, overrides[name])

    def as_dict(self):
        return {entry[0]: getattr(self, entry[0]) for entry in SPEC}


def load_json(text):
    """Parameters from a JSON config text; ``ConfigError`` for anything wrong."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError("*", "not valid JSON") from None
    return Params(data)
