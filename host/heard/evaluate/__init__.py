"""Scoring predictions against a synthetic corpus, and reference predictors to score.

- ``scoring.evaluate_corpus(corpus_dir, pred_dir) -> scores.CorpusScore``: every metric
  (``metrics``) per file and aggregated, with the WebRTC VAD baseline (``vad_baseline``).
- ``predictors.run_baseline(corpus_dir, out_dir, kind)``: ``trivial`` or ``energy``
  (``energy``) predictions written as prediction files.
- ``report``: tables and JSON; ``command``: the ``heard eval`` / ``heard baseline`` CLI.

Submodules are imported directly (pyannote is slow to import); metric definitions are in
docs/EVALUATION.md.
"""
