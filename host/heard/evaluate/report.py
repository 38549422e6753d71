"""Presenting a ``CorpusScore``: rich tables for people, one JSON document for machines."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from heard.annotations import Event
from heard.evaluate.metrics import FRAME_MS
from heard.evaluate.scores import CorpusScore, Counts, DerScore, FileScore
from heard.evaluate.vad_baseline import VAD_FRAME_MS
from heard.shown import shown_name


def _der_dict(der: DerScore | None) -> dict[str, float] | None:
    if der is None:
        return None
    return {
        "rate": der.rate,
        "total_s": der.total,
        "correct_s": der.correct,
        "confusion_s": der.confusion,
        "miss_s": der.miss,
        "false_alarm_s": der.false_alarm,
    }


def _counts_dict(c: Counts) -> dict[str, float]:
    return {
        "tp": c.tp,
        "fp": c.fp,
        "fn": c.fn,
        "precision": c.precision,
        "recall": c.recall,
        "f1": c.f1,
    }


def _event_dict(e: Event) -> dict[str, Any]:
    return {"by": e.by, "time_s": e.time_ms / 1000}


def _file_dict(f: FileScore) -> dict[str, Any]:
    return {
        "name": f.name,
        "channels": f.channels,
        "duration_s": f.duration_ms / 1000,
        "missing_prediction": f.missing_prediction,
        "der": _der_dict(f.der),
        "ier": _der_dict(f.ier),
        "der_mapped": _der_dict(f.der_mapped),
        "talk_ratio": {
            "truth": f.talk_ratio_truth,
            "pred": f.talk_ratio_pred,
            "error_pp": f.talk_ratio_error_pp,
        },
        "interruptions": _counts_dict(f.interruptions),
        "interruption_events": {
            "matched": [
                {"by": t.by, "truth_s": t.time_ms / 1000, "pred_s": p.time_ms / 1000}
                for t, p in f.interruption_events.matched
            ],
            "missed": [_event_dict(e) for e in f.interruption_events.missed],
            "false": [
                dict(_event_dict(e), on_backchannel=on) for e, on in f.interruption_events.false
            ],
            "wrong_party": [
                {"truth_by": t.by, "truth_s": t.time_ms / 1000, "pred_by": p.by,
                 "pred_s": p.time_ms / 1000}
                for t, p in f.interruption_events.wrong_party
            ],
        },
        "backchannels": {
            "truth": f.backchannels_truth,
            "as_interruptions": f.backchannels_as_interruptions,
        },
        "conversations": {
            "truth": f.conversations_truth,
            "pred": f.conversations_pred,
            "error": f.conversation_error,
        },
        "speech": _counts_dict(f.speech),
        "vad": None if f.vad is None else {str(m): _counts_dict(c) for m, c in f.vad.items()},
    }


def score_to_dict(score: CorpusScore) -> dict[str, Any]:
    """The whole evaluation as plain JSON-ready data: settings, summary, per-file scores."""
    best = score.best_vad_mode
    vad = score.vad
    return {
        "settings": {
            "collar_s": score.collar_s,
            "tolerance_s": score.tolerance_ms / 1000,
            "frame_ms": FRAME_MS,
            "vad_frame_ms": VAD_FRAME_MS,
        },
        "summary": {
            "files": len(score.files),
            "missing_predictions": score.missing_predictions,
            "der": _der_dict(score.der),
            "ier": _der_dict(score.ier),
            "der_mapped": _der_dict(score.der_mapped),
            "talk_ratio_error_pp": score.talk_ratio_error_pp,
            "talk_ratio_files": score.talk_ratio_files,
            "interruptions": _counts_dict(score.interruptions),
            "backchannels": {
                "truth": score.backchannels_truth,
                "as_interruptions": score.backchannels_as_interruptions,
                "fraction": score.backchannel_error_fraction,
            },
            "conversation_count_error": score.conversation_error,
            "speech": _counts_dict(score.speech),
            "vad": {
                "files": score.vad_files,
                "modes": {str(m): _counts_dict(c) for m, c in vad.items()},
                "best_mode": best,
                "best_f1": None if best is None else vad[best].f1,
            },
        },
        "files": [_file_dict(f) for f in score.files],
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _der_detail(der: DerScore) -> str:
    return (
        f"miss {der.miss:.1f} s, false alarm {der.false_alarm:.1f} s, "
        f"confusion {der.confusion:.1f} s of {der.total:.1f} s"
    )


def _prf(c: Counts) -> str:
    return f"P {c.precision:.2f} R {c.recall:.2f} (tp {c.tp}, fp {c.fp}, fn {c.fn})"


def file_table(score: CorpusScore) -> Table:
    best = score.best_vad_mode
    table = Table(title="Per file", title_justify="left")
    for heading in (
        "file",
        "ch",
        "DER",
        "IER",
        "ratio err pp",
        "interr. F1",
        "bc→int",
        "conv err",
        "speech F1",
        f"VAD F1 (m{best})" if best is not None else "VAD F1",
    ):
        table.add_column(heading, justify="left" if heading == "file" else "right")
    for f in score.files:
        vad = None if f.vad is None or best is None else f.vad[best].f1
        table.add_row(
            shown_name(f.name) + (" (missing)" if f.missing_prediction else ""),
            str(f.channels),
            _pct(f.der.rate),
            _pct(f.ier.rate),
            _num(f.talk_ratio_error_pp, 1),
            _num(f.interruptions.f1),
            f"{f.backchannels_as_interruptions}/{f.backchannels_truth}",
            str(f.conversation_error),
            _num(f.speech.f1, 3),
            _num(vad, 3),
        )
    return table


def summary_table(score: CorpusScore) -> Table:
    table = Table(title=f"Summary over {len(score.files)} files", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("detail")
    collar = f"collar {score.collar_s / 2:g} s each side of truth boundaries"
    der = score.der
    table.add_row(
        "DER (stereo: fixed labels, mono: mapped)", _pct(der.rate), f"{_der_detail(der)}; {collar}"
    )
    table.add_row("IER (no label mapping)", _pct(score.ier.rate), _der_detail(score.ier))
    if score.der_mapped is not None:
        table.add_row(
            "DER, optimal mapping (mono files)",
            _pct(score.der_mapped.rate),
            _der_detail(score.der_mapped),
        )
    table.add_row(
        "talk-ratio error",
        f"{_num(score.talk_ratio_error_pp, 1)} pp",
        f"mean over {score.talk_ratio_files} files with talk",
    )
    tol = f"±{score.tolerance_ms / 1000:g} s"
    table.add_row(
        "interruption F1",
        _num(score.interruptions.f1),
        f"{_prf(score.interruptions)}; onset {tol}, same party",
    )
    table.add_row(
        "backchannels taken as interruptions",
        _pct(score.backchannel_error_fraction),
        f"{score.backchannels_as_interruptions} of {score.backchannels_truth} backchannels",
    )
    table.add_row(
        "conversation count error", _num(score.conversation_error), "mean |pred − truth| per file"
    )
    table.add_row(
        "speech F1 (predictor)",
        _num(score.speech.f1, 3),
        f"{_prf(score.speech)}; {FRAME_MS} ms frames",
    )
    best = score.best_vad_mode
    for mode, counts in score.vad.items():
        mark = " ← best" if mode == best else ""
        table.add_row(
            f"speech F1 WebRTC VAD mode {mode}", _num(counts.f1, 3), f"{_prf(counts)}{mark}"
        )
    return table


def print_events(score: CorpusScore, console: Console) -> None:
    """Every missed and every false interruption, by file and time: where to listen."""
    table = Table(title="Interruptions missed and false", title_justify="left")
    table.add_column("file")
    table.add_column("time", justify="right")
    table.add_column("by")
    table.add_column("what")
    for f in score.files:
        events = f.interruption_events
        as_other = {id(t): p for t, p in events.wrong_party}
        of_other = {id(p): t for t, p in events.wrong_party}
        rows = []
        for e in events.missed:
            p = as_other.get(id(e))
            rows.append((e.time_ms, e.by, "missed" if p is None else
                         f"missed: predicted as the {p.by}'s at {p.time_ms / 1000:.2f} s"))
        for e, on in events.false:
            t = of_other.get(id(e))
            what = ("false, on a backchannel" if on else "false") if t is None else (
                f"false: the {t.by}'s at {t.time_ms / 1000:.2f} s, wrong party")
            rows.append((e.time_ms, e.by, what))
        name = shown_name(f.name) + (" (no prediction)" if f.missing_prediction else "")
        for time_ms, by, what in sorted(rows):
            table.add_row(name, f"{time_ms / 1000:.2f} s", by, what)
    if table.row_count:
        console.print(table)
    else:
        console.print("Interruptions missed and false: none (every interruption was found, "
                      "and nothing else)")


def print_report(score: CorpusScore, console: Console, *, vad: bool = True) -> None:
    """Per-file table, summary table and the predictor-versus-VAD verdict (``vad`` False:
    the baseline was skipped on request)."""
    console.print(file_table(score))
    console.print(summary_table(score))
    if score.missing_predictions:
        console.print(
            f"{len(score.missing_predictions)} files had no prediction and were "
            f"scored as empty: {', '.join(map(shown_name, score.missing_predictions))}"
        )
    best = score.best_vad_mode
    if best is None:
        why = "no WAV files" if vad else "skipped (--no-vad)"
        console.print(f"WebRTC VAD baseline: {why}, not run")
        return
    ours, theirs = score.speech.f1, score.vad[best].f1
    files = "" if score.vad_files == len(score.files) else f" (VAD on {score.vad_files} files)"
    console.print(
        f"speech F1: predictor {ours:.3f} vs WebRTC VAD mode {best} {theirs:.3f}: "
        f"{ours - theirs:+.3f}{files}"
    )
