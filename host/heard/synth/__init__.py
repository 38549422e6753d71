"""``heard synth``: synthetic counter conversations with exact ground truth.

Dialogues (``dialogues``, ``scripts``) are spoken by espeak-ng (``tts``), placed in time
(``timeline``, ``plan``), rendered through a simulated store (``room``, ``noise``) and mixed
(``compose``); the truth comes from the clean speech (``activity``, ``truth``).
``generate_corpus`` (``corpus``) writes a whole corpus; ``command`` is the CLI wrapper.
"""

from heard.synth.corpus import generate_corpus

__all__ = ["generate_corpus"]
