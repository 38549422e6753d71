"""The WAV files of a folder, as every command that takes a folder of them finds them."""

from __future__ import annotations

from pathlib import Path

from heard.errors import HeardError


def wav_files(directory: Path) -> dict[str, Path]:
    """The WAV files of ``directory`` by name, sorted; ``.WAV`` counts too (``A.WAV`` is
    ``A``). Two files that would write the same ``NAME.rttm`` are a ``HeardError``."""
    files: dict[str, Path] = {}
    try:
        paths = sorted(directory.iterdir())
    except OSError as exc:
        raise HeardError(f"{directory}: cannot read ({exc.strerror})") from None
    for path in paths:
        if path.suffix.lower() != ".wav" or not path.is_file():
            continue
        if path.stem in files:
            raise HeardError(f"{directory}: {files[path.stem].name} and {path.name} would "
                             f"both write {path.stem}.rttm", hint="rename one of them")
        files[path.stem] = path
    return dict(sorted(files.items()))
