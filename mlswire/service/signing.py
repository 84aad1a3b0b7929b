"""Request authentication shared by the servers and the client SDK.

Every client request carries an ``Authorization`` header signed with the device's MLS
signature key, the key its AS certificate binds (so no extra secret is issued, stored
or leaked; the DS stores only public keys)::

    Authorization: MLS-Signature device="alice/phone", ts="1764150000",
                   nonce="<32 hex digits>", sig="<base64>"

``sig`` is ``SignWithLabel(key, "mlswire request", content)`` (RFC 9420 §5.1.2, so it
can never be confused with an MLS signature) over::

    METHOD \\n path[?query] \\n ts \\n nonce \\n hex(SHA-256(body))

The server accepts ``ts`` within ``MAX_SKEW`` seconds of its clock and each nonce once
per device (kept longer than the skew window), so a captured request cannot be
replayed, and the body hash binds the content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time

from ..crypto import cipher_suite, labeled
from ..errors import CryptoError

LABEL = "mlswire request"
SCHEME = "MLS-Signature"
MAX_SKEW = 300.0
_PARAM = re.compile(r'(\w+)="([^"]*)"')
_NONCE = re.compile(r"[0-9a-f]{16,64}")
_TS = re.compile(r"[0-9]{1,12}")


def signed_content(method: str, target: str, ts: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), target, ts, nonce, hashlib.sha256(body).hexdigest()]).encode()


def sign_request(
    suite: int,
    signature_private_key: bytes,
    address: str,
    method: str,
    target: str,
    body: bytes = b"",
    *,
    now: float | None = None,
) -> str:
    """The ``Authorization`` header value for one request of device ``address``."""
    ts = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    sig = labeled.sign_with_label(
        cipher_suite(suite),
        signature_private_key,
        LABEL,
        signed_content(method, target, ts, nonce, body),
    )
    return (
        f'{SCHEME} device="{address}", ts="{ts}", nonce="{nonce}", '
        f'sig="{base64.b64encode(sig).decode()}"'
    )


class AuthHeader:
    """A parsed ``MLS-Signature`` header (not yet verified)."""

    def __init__(self, device: str, ts: str, nonce: str, sig: bytes) -> None:
        self.device, self.ts, self.nonce, self.sig = device, ts, nonce, sig

    @classmethod
    def parse(cls, header: str | None) -> AuthHeader:
        """Raises ValueError with the reason when the header is missing or malformed."""
        if not header:
            raise ValueError(f"missing Authorization header ({SCHEME} ...)")
        scheme, _, rest = header.partition(" ")
        if scheme != SCHEME:
            raise ValueError(f"Authorization scheme must be {SCHEME}, not {scheme!r}")
        params = dict(_PARAM.findall(rest))
        missing = [k for k in ("device", "ts", "nonce", "sig") if k not in params]
        if missing:
            raise ValueError(f"Authorization lacks {', '.join(missing)}")
        if not _NONCE.fullmatch(params["nonce"]):
            raise ValueError("Authorization nonce must be 16-64 lowercase hex digits")
        if not _TS.fullmatch(params["ts"]):
            raise ValueError("Authorization ts must be Unix seconds")
        try:
            sig = base64.b64decode(params["sig"], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("Authorization sig is not base64") from None
        return cls(params["device"], params["ts"], params["nonce"], sig)

    def verify(
        self,
        suite: int,
        signature_key: bytes,
        method: str,
        target: str,
        body: bytes,
        *,
        now: float | None = None,
        max_skew: float = MAX_SKEW,
    ) -> None:
        """Raises ValueError naming what failed (stale timestamp, bad signature)."""
        now = time.time() if now is None else now
        if abs(now - int(self.ts)) > max_skew:
            raise ValueError(
                f"request timestamp {self.ts} is more than {int(max_skew)} s from the"
                f" server's clock ({int(now)})"
            )
        try:
            labeled.verify_with_label(
                cipher_suite(suite),
                signature_key,
                LABEL,
                signed_content(method, target, self.ts, self.nonce, body),
                self.sig,
            )
        except CryptoError:
            raise ValueError(
                f"request signature does not verify with {self.device}'s registered key"
            ) from None


__all__ = ["LABEL", "MAX_SKEW", "SCHEME", "AuthHeader", "sign_request", "signed_content"]
