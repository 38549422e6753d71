"""Scoring a prediction directory against a corpus: ``evaluate_corpus`` and ``score_file``."""

from __future__ import annotations

from pathlib import Path

from heard.annotations import Annotation
from heard.errors import HeardError
from heard.evaluate.corpus import (
    Audio,
    corpus_names,
    has_prediction,
    read_prediction,
    read_truth,
    read_wav,
)
from heard.evaluate.metrics import (
    COLLAR_S,
    TOLERANCE_MS,
    der_score,
    frame_count,
    frame_counts,
    interruption_scores,
    speech_frames,
    talk_ratio_error_pp,
)
from heard.evaluate.scores import CorpusScore, FileScore
from heard.evaluate.vad_baseline import VAD_MODES, vad_counts
from heard.wav_files import wav_files

_STEREO = 2


def _duration_ms(truth: Annotation, pred: Annotation) -> int:
    """Without a WAV: the truth's "duration" (seconds), else the last annotated instant."""
    if "duration" in truth.extra:
        try:
            return int(round(float(truth.extra["duration"]) * 1000))
        except (TypeError, ValueError):
            pass
    ends = [s.end_ms for a in (truth, pred) for s in a.segments]
    ends += [end for a in (truth, pred) for _, end in a.conversations]
    ends += [e.time_ms for a in (truth, pred) for e in a.interruptions + a.backchannels]
    return max(ends, default=0)


def _channels(truth: Annotation) -> int:
    """Without a WAV: the truth's "channels", else stereo (the device's normal setup)."""
    value = truth.extra.get("channels", _STEREO)
    return value if isinstance(value, int) and value in (1, 2) else _STEREO


def score_file(
    name: str,
    truth: Annotation,
    pred: Annotation,
    audio: Audio | None,
    *,
    missing_prediction: bool = False,
    collar_s: float = COLLAR_S,
    tolerance_ms: int = TOLERANCE_MS,
    vad: bool = True,
) -> FileScore:
    """Every metric of one file. Channels and duration come from the WAV when there is one,
    and so does the WebRTC VAD baseline (with ``vad``)."""
    if audio is not None:
        channels, duration_ms = audio.channels, audio.duration_ms
    else:
        channels, duration_ms = _channels(truth), _duration_ms(truth, pred)
    mono = channels == 1
    n_frames = frame_count(duration_ms)
    truth_speech = speech_frames(truth.segments, n_frames)
    interruptions, events = interruption_scores(truth, pred, tolerance_ms)
    ratio_truth, ratio_pred = truth.talk_ratio(), pred.talk_ratio()
    return FileScore(
        name=name,
        channels=channels,
        duration_ms=duration_ms,
        missing_prediction=missing_prediction,
        ier=der_score(truth.segments, pred.segments, duration_ms, mapped=False, collar_s=collar_s),
        der_mapped=(
            der_score(truth.segments, pred.segments, duration_ms, mapped=True, collar_s=collar_s)
            if mono
            else None
        ),
        talk_ratio_truth=ratio_truth,
        talk_ratio_pred=ratio_pred,
        talk_ratio_error_pp=talk_ratio_error_pp(ratio_truth, ratio_pred),
        interruptions=interruptions,
        backchannels_truth=len(truth.backchannels),
        backchannels_as_interruptions=events.on_backchannels,
        conversations_truth=len(truth.conversations),
        conversations_pred=len(pred.conversations),
        speech=frame_counts(truth_speech, speech_frames(pred.segments, n_frames)),
        vad=vad_counts(audio, truth_speech) if audio is not None and vad else None,
        interruption_events=events,
    )


def evaluate_corpus(
    corpus_dir: Path,
    pred_dir: Path,
    *,
    allow_missing: bool = False,
    collar_s: float = COLLAR_S,
    tolerance_ms: int = TOLERANCE_MS,
    vad: bool = True,
) -> CorpusScore:
    """Score the predictions in ``pred_dir`` against every file of ``corpus_dir``.

    A file without a prediction is an error unless ``allow_missing``, in which case it is
    scored as an empty prediction (no speech, no events). With ``vad`` the WebRTC VAD
    baseline runs on every file that has a WAV.
    """
    names = corpus_names(corpus_dir)
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise HeardError(
            f"prediction directory {pred_dir} does not exist",
            hint="write predictions first, e.g. `heard baseline CORPUS --out PRED --kind energy`",
        )
    missing = [n for n in names if not has_prediction(pred_dir, n)]
    if missing and not allow_missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise HeardError(
            f"{len(missing)} of {len(names)} files have no prediction (NAME.rttm + NAME.json) "
            f"in {pred_dir}: {shown}",
            hint="pass --allow-missing to score them as empty predictions",
        )
    wavs = wav_files(Path(corpus_dir))
    files = []
    for name in names:
        truth = read_truth(corpus_dir, name)
        absent = name in missing
        pred = Annotation() if absent else read_prediction(pred_dir, name)
        wav = wavs.get(name)
        audio = read_wav(wav) if wav is not None else None
        files.append(
            score_file(
                name,
                truth,
                pred,
                audio,
                missing_prediction=absent,
                collar_s=collar_s,
                tolerance_ms=tolerance_ms,
                vad=vad,
            )
        )
    return CorpusScore(files, collar_s=collar_s, tolerance_ms=tolerance_ms, vad_modes=VAD_MODES)
