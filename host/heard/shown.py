"""File names as text for rich tables and messages: readable whatever their bytes."""

from __future__ import annotations

import os

from rich.markup import escape


def shown_name(name: str) -> str:
    """``name`` for a rich table or title: bytes that are not UTF-8 as U+FFFD (their
    surrogates fail on a strict UTF-8 stdout), "[...]" as text, not markup."""
    return escape(os.fsencode(name).decode("utf-8", "replace"))
