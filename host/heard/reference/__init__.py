"""The detector's floating-point reference model and its comparison with the firmware.

``model.reference_frames`` implements docs/DETECTOR.md sections 1-5 in numpy, in float64:
the oracle the fixed-point firmware (``heardcore``) is tested against. ``compare.compare_wav``
runs both on a WAV file and measures how closely they agree. See docs/REFERENCE.md.
"""

from heard.reference.compare import (
    Agreement,
    ErrorStats,
    compare_frames,
    compare_wav,
    pool,
    run_firmware,
)
from heard.reference.model import FIELDS, reference_frames

__all__ = [
    "FIELDS", "Agreement", "ErrorStats", "compare_frames", "compare_wav", "pool",
    "reference_frames", "run_firmware",
]
