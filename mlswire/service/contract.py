"""The wire contract between the client SDK and the servers (AS and DS).

What both sides must agree on, in one module that both import and that imports neither:
how a refusal maps to an HTTP status and what its JSON body says, how bytes travel in
JSON (standard base64), and what a registering device signs to prove it holds its key.
Request signatures are :mod:`.signing`'s (also shared). The SDK (:mod:`.client`) thus
depends on this module, :mod:`.signing` and the AS's credential policy only: never on
the HTTP framework, the DS or its store.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

# --- refusals: a status and a message, JSON {"error": message, "status": status} ----------


class DSError(Exception):
    """A request the AS or DS refuses; ``status`` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class BadRequest(DSError):
    status = 400


class Unauthorized(DSError):
    status = 401


class Forbidden(DSError):
    status = 403


class NotFound(DSError):
    status = 404


class Conflict(DSError):
    status = 409


class Gone(DSError):
    """The thing asked for exists no more, e.g. a device whose credential is revoked."""

    status = 410


class PayloadTooLarge(DSError):
    status = 413


# One encoder for the compact JSON the DS and the SDK write (json.dumps with
# separators would build an encoder per call, on the send path too).
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def compact_json(value: Any) -> str:
    """``value`` as JSON without spaces (request bodies, answers, push frames)."""
    return _COMPACT.encode(value)


def error_body(status: int, message: str) -> dict[str, Any]:
    """The JSON body of a refusal."""
    return {"error": message, "status": status}


def error_message(body: Any, fallback: str) -> str:
    """The message of a refusal's JSON body (``fallback``: the raw text, if not JSON)."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return fallback


# --- bytes in JSON ---------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(value: Any, what: str) -> bytes:
    """Strict base64 of a request field; BadRequest naming the field otherwise."""
    if not isinstance(value, str):
        raise BadRequest(f"{what}: expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{what}: not valid base64") from None


# --- AS registration: proof of possession ---------------------------------------------------

REGISTER_LABEL = "mlswire AS registration"


def registration_content(user: str, device: str, signature_key: bytes) -> bytes:
    """What a registering device signs (``SignWithLabel(key, REGISTER_LABEL, ...)``) to
    prove it holds the key."""
    return user.encode() + b"\0" + device.encode() + b"\0" + signature_key


__all__ = [
    "REGISTER_LABEL",
    "BadRequest",
    "Conflict",
    "DSError",
    "Forbidden",
    "Gone",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "b64",
    "error_body",
    "error_message",
    "registration_content",
    "unb64",
]
