"""Challenge-response authentication of the host: HMAC-SHA256 with a per-device secret.

The device sends a fresh random challenge in every hello answer; the host proves it knows
the device's secret by answering ``proof(secret, challenge, device_id)``. A challenge is
used once. MicroPython has ``hashlib.sha256`` but no ``hmac`` module, so HMAC (RFC 2104)
is built here; the host uses the same function and tests it against CPython's ``hmac``.
"""

import hashlib

_BLOCK = 64
CHALLENGE_SIZE = 16
SECRET_SIZE = 32
PROOF_SIZE = 32
_CONTEXT = b"heard-auth-1"


def hmac_sha256(key, message):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = bytes(key) + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(bytes(k ^ 0x36 for k in key))
    inner.update(message)
    outer = hashlib.sha256(bytes(k ^ 0x5C for k in key))
    outer.update(inner.digest())
    return outer.digest()


def proof(secret, challenge, device_id):
    """What the host sends to open a privileged session."""
    return hmac_sha256(secret, _CONTEXT + bytes(challenge) + device_id.encode())


def same(a, b):
    """Compare two byte strings in time independent of where they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
