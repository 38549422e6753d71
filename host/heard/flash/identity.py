"""The device's identity: its id and 32-byte secret, kept in ``/heard/identity.json``.

A board that already has an identity keeps it (unless ``--new-identity``); one that has
none gets the id the user names and the secret the host database holds for that id, or a
fresh one. The file's format is what ``heardapp.app`` reads (see
``heard.device.emulator.provision``).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from heard.errors import HeardError
from heardcore.auth import SECRET_SIZE

DEVICE_PATH = "/heard/identity.json"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}\Z")


@dataclass(frozen=True)
class Identity:
    device_id: str
    secret: bytes
    source: str  # "board", "host database" or "new"

    def to_json(self) -> str:
        return json.dumps({"device_id": self.device_id, "secret": self.secret.hex()})


def check_device_id(device_id: str) -> str:
    if not _ID.match(device_id):
        raise HeardError(
            f"device id {device_id!r} is not usable",
            hint="use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit, e.g. store12-lane3")
    return device_id


def parse_identity(text: str) -> Identity | None:
    """The identity in an ``identity.json``; None if it is not one the app would accept."""
    try:
        data = json.loads(text)
        device_id, secret = str(data["device_id"]), bytes.fromhex(data["secret"])
    except (ValueError, KeyError, TypeError):
        return None
    if len(secret) != SECRET_SIZE:
        return None
    return Identity(device_id, secret, "board")


def read_identity(path: Path) -> Identity | None:
    try:
        return parse_identity(path.read_text())
    except (OSError, UnicodeDecodeError):
        return None


def choose_identity(
    board: Identity | None,
    requested_id: str | None,
    new_identity: bool,
    stored_secret: Callable[[str], bytes | None],
) -> Identity:
    """The identity to write: the board's own unless ``new_identity``; else the requested
    (or, for ``new_identity``, the board's) id with the secret the host holds for it
    (not with ``new_identity``) or a fresh one."""
    if board is not None and not new_identity:
        if requested_id is not None and requested_id != board.device_id:
            raise HeardError(
                f"the board is already provisioned as {board.device_id!r}, not "
                f"{requested_id!r}",
                hint=f"leave out --device-id to keep {board.device_id!r}, or give the board "
                "a new id and secret with --new-identity (sync it first: flashing erases "
                "the records on it)")
        return board
    device_id = requested_id or (board.device_id if board is not None else None)
    if device_id is None:
        raise HeardError("the board has no heard identity yet: name it with --device-id ID",
                         hint="e.g. --device-id store12-lane3")
    check_device_id(device_id)
    if not new_identity:
        known = stored_secret(device_id)
        if known is not None:
            return Identity(device_id, known, "host database")
    return Identity(device_id, secrets.token_bytes(SECRET_SIZE), "new")
