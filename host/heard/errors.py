"""The one error type the host library raises for "the world said no".

Library functions raise ``HeardError`` (or a subclass) with a message and an optional hint;
only the CLI turns it into a printed line and an exit code.
"""

from __future__ import annotations


class HeardError(Exception):
    """A failure the user can act on: bad input, missing tool, unreadable file."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n  hint: {self.hint}" if self.hint else text
