"""Script types for `heard synth`: who says what, in which order, and how each turn enters.

A script is data: a list of lines, each with a speaker (employee / customer), the text, and a
kind: ``normal`` (after a short gap), ``interruption`` (starts while the other party is still
talking) or ``backchannel`` (a short "mm-hmm" placed inside the other party's turn).

Scripts are written as text blocks, one line per turn::

    E: Hi there, what can I do for you?      employee, normal
    C!: Sorry, just a quick question.        customer interrupts the employee's turn before
    C~: mm-hmm                               customer backchannel inside the employee's turn

An indented line continues the turn above it.

The dialogues themselves live in ``heard.synth.dialogues``.
"""

from __future__ import annotations

from dataclasses import dataclass

from heard.annotations import CUSTOMER, EMPLOYEE

NORMAL = "normal"
INTERRUPTION = "interruption"
BACKCHANNEL = "backchannel"
KINDS = (NORMAL, INTERRUPTION, BACKCHANNEL)

# Words a backchannel may consist of (short acknowledgements, under ~0.8 s when spoken).
BACKCHANNEL_WORDS = ("mm-hmm", "okay", "yeah", "right", "uh-huh")

_SPEAKERS = {"E": EMPLOYEE, "C": CUSTOMER}
_KIND_MARKS = {"": NORMAL, "!": INTERRUPTION, "~": BACKCHANNEL}


class ScriptError(ValueError):
    """A script breaks the rules (a bug in the script data, not a user error)."""


@dataclass(frozen=True)
class Line:
    """One scripted turn."""

    speaker: str
    text: str
    kind: str = NORMAL


@dataclass(frozen=True)
class Script:
    """A dialogue (employee and customer) or an employee-only stretch (``solo``)."""

    id: str
    lines: tuple[Line, ...]
    solo: bool = False

    @property
    def words(self) -> int:
        return sum(len(line.text.split()) for line in self.lines)


def parse_script(script_id: str, text: str, solo: bool = False) -> Script:
    """Parse a text block of ``E:``/``C:`` lines (with ``!`` or ``~`` marks) and validate it."""
    lines: list[Line] = []
    for raw in text.strip("\n").splitlines():
        if raw[:1].isspace() and raw.strip() and lines:  # an indented line continues a turn
            last = lines[-1]
            lines[-1] = Line(last.speaker, f"{last.text} {raw.strip()}", last.kind)
            continue
        raw = raw.strip()
        if not raw:
            continue
        head, sep, body = raw.partition(":")
        if not sep or not head or head[0] not in _SPEAKERS or head[1:] not in _KIND_MARKS:
            raise ScriptError(f"{script_id}: cannot parse line {raw!r}")
        lines.append(Line(_SPEAKERS[head[0]], body.strip(), _KIND_MARKS[head[1:]]))
    script = Script(script_id, tuple(lines), solo)
    validate(script)
    return script


def validate(script: Script) -> None:
    """Check the rules the timeline relies on; raise ScriptError naming the bad line."""
    if not script.lines:
        raise ScriptError(f"{script.id}: empty script")
    if script.lines[0].kind != NORMAL:
        raise ScriptError(f"{script.id}: the first line must be a normal turn")
    if script.solo and any(ln.speaker != EMPLOYEE or ln.kind != NORMAL for ln in script.lines):
        raise ScriptError(f"{script.id}: an employee-only script has only normal employee lines")
    if not script.solo and not any(ln.speaker == CUSTOMER for ln in script.lines):
        raise ScriptError(f"{script.id}: a dialogue needs the customer")
    last_main: Line | None = None
    for i, line in enumerate(script.lines):
        where = f"{script.id} line {i + 1}"
        if not line.text:
            raise ScriptError(f"{where}: empty text")
        if line.kind == BACKCHANNEL:
            if line.text.lower().strip(".!,") not in BACKCHANNEL_WORDS:
                raise ScriptError(f"{where}: a backchannel is one of {BACKCHANNEL_WORDS}")
            if last_main is None or last_main.speaker == line.speaker:
                raise ScriptError(f"{where}: a backchannel goes inside the other party's turn")
            if len(last_main.text.split()) < 10:
                raise ScriptError(f"{where}: a backchannel needs a host turn of 10+ words")
            continue
        if line.kind == INTERRUPTION:
            if last_main is None or last_main.speaker == line.speaker:
                raise ScriptError(f"{where}: an interruption cuts into the other party's turn")
            if len(last_main.text.split()) < 8:
                raise ScriptError(f"{where}: an interrupted turn needs 8+ words")
        last_main = line


def main_index(script: Script, i: int) -> int | None:
    """Index of the last non-backchannel line before line i (the host or interrupted turn)."""
    for j in range(i - 1, -1, -1):
        if script.lines[j].kind != BACKCHANNEL:
            return j
    return None
