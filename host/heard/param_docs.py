"""Units and meanings of the detector parameters, for `heard params` and docs/PARAMETERS.md.

The values, defaults and ranges live in ``firmware/heardcore/params.py`` (the device needs
them); the prose lives here so that it costs the device no heap. A test keeps the names
of the two tables equal.
"""

PARAM_DOCS: dict[str, tuple[str, str]] = {
    "frame_ms": (
        "ms",
        "analysis frame length (160 samples at 16 kHz)",
    ),
    "highpass_shift": (
        "shift",
        "two one-pole high-pass stages with leak 2**-k: k=4 cuts below ~160 Hz (HVAC, DC)",
    ),
    "gain_bits": (
        "bits",
        "I2S 32-bit slot to int16 gain on the device: 6 dB per bit",
    ),
    "level_smooth_permille": (
        "1/1000",
        "share of each new frame level in the smoothed level the VAD sees (1000: none)",
    ),
    "floor_rise_db10_per_s": (
        "0.1 dB/s",
        "how fast the noise floor follows rising noise",
    ),
    "floor_fall_shift": (
        "shift",
        "the noise floor falls toward a quieter frame by 1/2**k of the gap per frame",
    ),
    "floor_startup_rise_db10_per_s": (
        "0.1 dB/s",
        (
            "noise floor rise during start-up: fast, so the floor catches up within a fraction"
            " of a second even when the first frames are silent (I2S start-up zeros, a file's"
            " leading silence); speech at start-up lifts it too, but it falls fast in the next"
            " pause"
        ),
    ),
    "floor_startup_ms": (
        "ms",
        "length of the start-up: the floor is learnt and no frame is speech",
    ),
    "floor_window_ms": (
        "ms",
        ("the floor is never below the lowest level of this long a window (0: off): noise "
        "that never pauses lifts it within a window, speech pauses often enough not to"),
    ),
    "vad_on_db10": (
        "0.1 dB",
        "level above the noise floor that starts speech (the level is of the emphasised band)",
    ),
    "vad_off_db10": (
        "0.1 dB",
        "level above the noise floor that keeps speech",
    ),
    "vad_hangover_ms": (
        "ms",
        "speech continues this long after the level drops",
    ),
    "min_speech_ms": (
        "ms",
        "shorter segments are not speech",
    ),
    "tone_ms": (
        "ms",
        (
            "a channel whose zero crossings and level hold steady this long hears a tone (a"
            " scanner's beep, a held note), not speech; 0: no tone test, else from frame_ms up"
            " to below min_speech_ms, which drops a beep's start"
        ),
    ),
    "tone_min_hz": (
        "Hz",
        (
            "a steady tone's lowest frequency (zero crossings per frame: 2 x Hz x frame_ms /"
            " 1000); lower, a held vowel can look steady"
        ),
    ),
    "tone_level_db10": (
        "0.1 dB",
        "how far a steady tone's frame level may move from one frame to the next",
    ),
    "tdoa_max_lag": (
        "samples",
        (
            "largest arrival-time difference searched: mic spacing / 343 m/s * 16 kHz (0: "
            "off)"
        ),
    ),
    "tdoa_min_lag": (
        "samples",
        "lags within +-this carry no direction (coincident capsules, diffuse noise)",
    ),
    "tdoa_stride": (
        "samples",
        ("the correlation uses every k-th sample of the frame; its per-lag cost falls about as "
         "1/k (packing the sign bits stays one step per sample)"),
    ),
    "cue_smooth_shift": (
        "shift",
        "correlation and level difference are smoothed by 1/2**k per frame (3: ~80 ms)",
    ),
    "tdoa_weight_permille": (
        "1/1000",
        "weight of the arrival-time cue",
    ),
    "tdoa_unit_permille": (
        "1/1000",
        "sign correlation that counts as one unit of evidence",
    ),
    "level_weight_permille": (
        "1/1000",
        "weight of the level-difference cue",
    ),
    "level_unit_db10": (
        "0.1 dB",
        (
            "channel level difference that counts as one unit of evidence; each party's "
            "learnt level difference starts this far from level_mid; heard calibrate "
            "stores 10 for mics that separate the parties by 1.5-6 dB"
        ),
    ),
    "level_mid_db10": (
        "0.1 dB",
        (
            "channel 0 - channel 1 level at which both parties are equally likely "
            "(calibration); with level_adapt_shift, the starting point"
        ),
    ),
    "level_adapt_shift": (
        "1/2**k",
        (
            "each party's level difference is learnt from the frames it clearly holds, "
            "moving 1/2**k of the way per frame; the midpoint between the two replaces "
            "level_mid (absorbs leakage and mic gain mismatch); 0 keeps level_mid fixed"
        ),
    ),
    "switch_margin_permille": (
        "1/1000",
        "evidence against the current speaker needed to count toward a switch",
    ),
    "switch_ms": (
        "ms",
        "evidence must hold this long to switch speakers",
    ),
    "both_ratio_permille": (
        "1/1000",
        (
            "the other party overlaps when its correlation peak reaches this share of the "
            "current speaker's"
        ),
    ),
    "both_min_corr_permille": (
        "1/1000",
        (
            "least sign correlation of the other party for an overlap (1000: overlap "
            "detection off)"
        ),
    ),
    "peak_decay_db10_per_s": (
        "0.1 dB/s",
        ("how fast the speech peak level decays (it rises an eighth of the way to a louder "
         "speech frame per frame)"),
    ),
    "distant_drop_db10": (
        "0.1 dB",
        "speech this far below the recent speech peak is a distant talker, not a party",
    ),
    "mono_spurt_gap_ms": (
        "ms",
        "mono: a talk spurt ends after a pause longer than this",
    ),
    "mono_spurt_min_ms": (
        "ms",
        "mono: shorter spurts are judged but their score is not remembered",
    ),
    "mono_spurt_max_ms": (
        "ms",
        "mono: a longer spurt is judged at this length (its frames wait until judged)",
    ),
    "mono_fall_floor_db10": (
        "0.1 dB",
        "mono: level drops over 20 ms count beyond this (the reverberation cue)",
    ),
    "mono_history": (
        "spurts",
        (
            "mono: a spurt is the employee's when its fall score is at least the median of"
            " this many recent spurts"
        ),
    ),
    "turn_bridge_ms": (
        "ms",
        "pauses shorter than this do not end a segment",
    ),
    "interrupt_overlap_ms": (
        "ms",
        (
            "an onset during the other's speech is an interruption when the other carries on "
            "this long past it ... (with two mics, a seamless switch onto a rising mic stands "
            "for this overlap, and the onset is dated back by this much)"
        ),
    ),
    "interrupt_hold_ms": (
        "ms",
        ("... and the newcomer keeps talking this long (or outlasts the other; after a "
         "seamless switch onto a rising mic, only this)"),
    ),
    "interrupt_prior_ms": (
        "ms",
        "... and the interrupted party had been talking this long (mid-utterance, not a fragment)",
    ),
    "interrupt_rise_db10": (
        "0.1 dB",
        (
            "two mics: ... and the newcomer's own mic was this much louder over the last "
            "rise_recent_ms than over the rise_before_ms before (a second voice joined); such a "
            "rise at a seamless switch is taken as the overlap itself (0: off)"
        ),
    ),
    "rise_recent_ms": (
        "ms",
        "two mics: the window just before an onset whose level the rise compares",
    ),
    "rise_gap_ms": (
        "ms",
        "two mics: the time between the rise's earlier window and its recent one",
    ),
    "rise_before_ms": (
        "ms",
        (
            "two mics: the earlier window, ending rise_gap_ms before the recent one began (the "
            "three together: the seconds of frame levels kept, one byte a frame per mic)"
        ),
    ),
    "backchannel_max_ms": (
        "ms",
        (
            "a listener utterance shorter than this that the speaker talks through is a "
            "backchannel"
        ),
    ),
    "conversation_idle_ms": (
        "ms",
        "a conversation ends after this long without customer speech",
    ),
    "conversation_min_customer_ms": (
        "ms",
        ("a stretch with less customer talk than this is no conversation (a noise or a "
         "passer-by taken for the customer): its employee talk is reported as employee-only"),
    ),
    "low_snr_db10": (
        "0.1 dB",
        (
            "conversations whose speech is less than this above the noise get the low-SNR "
            "flag"
        ),
    ),
}
