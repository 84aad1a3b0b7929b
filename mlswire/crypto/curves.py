"""The NIST prime curves as MLS and RFC 9180 see them: wire encodings, private-key
parsing and the rejection sampling of DeriveKeyPair. Shared by the DHKEMs (``hpke``),
the hybrid KEMs (``pq_kem``) and ECDSA (``signature``)."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mlswire.errors import CryptoError


class EcCurve:
    """A NIST prime curve with what MLS and RFC 9180 need to know about it."""

    __slots__ = ("bitmask", "curve", "name", "npk", "nsk", "order")

    def __init__(self, curve: ec.EllipticCurve, name: str, order: int, bitmask: int) -> None:
        self.curve = curve
        self.name = name
        self.order = order
        self.nsk = (order.bit_length() + 7) // 8
        self.npk = 1 + 2 * self.nsk
        self.bitmask = bitmask

    def load_public(self, pk: bytes) -> ec.EllipticCurvePublicKey:
        # Only the uncompressed form is valid on the wire (RFC 9180 §7.1.1, RFC 9420
        # §5.1.1); from_encoded_point also checks that the point is on the curve.
        if len(pk) != self.npk or pk[0] != 4:
            raise CryptoError(
                f"{self.name} public key must be a {self.npk}-byte uncompressed point"
            )
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(self.curve, pk)
        except ValueError:
            raise CryptoError(f"{self.name} public key is not a point on the curve") from None

    def load_private(self, sk: bytes) -> ec.EllipticCurvePrivateKey:
        # Serialized keys are Nsk bytes, but some implementations drop leading zero
        # bytes (the official message-protection vectors hold a 65-byte P-521 key), so
        # any big-endian scalar of 1..Nsk bytes is read; output is always Nsk bytes.
        if not 0 < len(sk) <= self.nsk:
            raise CryptoError(f"{self.name} private key must be 1..{self.nsk} bytes, not {len(sk)}")
        d = int.from_bytes(sk, "big")
        if not 0 < d < self.order:
            raise CryptoError(f"{self.name} private key is not in [1, n-1]")
        return ec.derive_private_key(d, self.curve)

    def public_bytes(self, pk: ec.EllipticCurvePublicKey) -> bytes:
        return pk.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    def private_bytes(self, sk: ec.EllipticCurvePrivateKey) -> bytes:
        return sk.private_numbers().private_value.to_bytes(self.nsk, "big")

    def scalar_from_candidates(self, candidate: Callable[[int], bytes]) -> int:
        """RFC 9180 §7.1.3 rejection sampling: ``candidate(counter)`` gives Nsk bytes."""
        for counter in range(256):
            b = candidate(counter)
            d = int.from_bytes(bytes((b[0] & self.bitmask,)) + b[1:], "big")
            if 0 < d < self.order:
                return d
        raise CryptoError(f"DeriveKeyPair: no valid {self.name} scalar in 256 candidates")


# Group orders from SEC 2 / FIPS 186-4 (checked by the tests: (n-1)G = -G).
P256: EcCurve = EcCurve(
    ec.SECP256R1(),
    "P-256",
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    0xFF,
)
P384: EcCurve = EcCurve(
    ec.SECP384R1(),
    "P-384",
    0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
    0xFF,
)
P521: EcCurve = EcCurve(
    ec.SECP521R1(),
    "P-521",
    0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409,
    0x01,
)


__all__ = ["P256", "P384", "P521", "EcCurve"]
