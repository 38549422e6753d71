"""``heard simulate``: the firmware detector run on WAV files on a PC.

The firmware's file runner (``heardcore.simrun``) runs under the MicroPython unix port or
CPython and prints NDJSON; this package prepares the input (checks, resampling), runs the
engine, reads its output back (``protocol``), writes RTTM/JSON predictions for
``heard eval`` and prints summaries. See docs/SIMULATE.md.
"""

from heard.simulate.engines import ENGINES, DirRun, simulate_dir, simulate_file
from heard.simulate.protocol import EngineError, SimulationResult, parse_ndjson

__all__ = [
    "ENGINES", "DirRun", "EngineError", "SimulationResult", "parse_ndjson", "simulate_dir",
    "simulate_file",
]
