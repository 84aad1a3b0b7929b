"""The KEM interface HPKE and MLS use (RFC 9180 §4) and the parsed private-key handle.

The DHKEMs (:mod:`mlswire.crypto.hpke`) and the post-quantum KEMs
(:mod:`mlswire.crypto.pq_kem`) both implement :class:`Kem`; HPKE's key schedule in
``hpke`` runs over either.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from .primitives import Rng

HPKE_VERSION = b"HPKE-v1"


class Kem(ABC):
    """The KEM interface HPKE and MLS use (RFC 9180 §4): keys are their wire bytes.

    The DHKEMs below implement it, and so do the post-quantum KEMs of
    :mod:`mlswire.crypto.pq_kem`."""

    kem_id: int
    name: str
    nsecret: int
    nenc: int
    npk: int
    nsk: int

    @abstractmethod
    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        """DeriveKeyPair(ikm) -> (serialized private key, serialized public key)."""

    @abstractmethod
    def generate_key_pair(self, rng: Rng | None) -> tuple[bytes, bytes]:
        """GenerateKeyPair(); DeriveKeyPair(rng(Nsk)) when an rng is injected."""

    @abstractmethod
    def encap(self, pk_r: bytes, rng: Rng | None) -> tuple[bytes, bytes]:
        """Encap(pkR) -> (shared_secret, enc)."""

    @abstractmethod
    def decap(self, enc: bytes, sk_r: bytes | HpkePrivateKey) -> bytes:
        """Decap(enc, skR) -> shared_secret."""

    @abstractmethod
    def prepare(self, sk: bytes) -> HpkePrivateKey:
        """Parse and check a private key once, for repeated opens."""

    def public_key_of(self, sk: bytes) -> bytes:
        """SerializePublicKey(pk(DeserializePrivateKey(sk)))."""
        return self.prepare(sk).public_key

    @abstractmethod
    def clear_caches(self) -> None:
        """Drop cached parsed public keys."""


class HpkePrivateKey:
    """A parsed HPKE private key (see ``CipherSuite.hpke_private_key``).

    Loading a raw X25519/X448/NIST private key computes its public key, a scalar
    multiplication as costly as the DH of an open. HPKE private keys are epoch secrets
    that the engine deletes on schedule, so mlswire never caches them behind the
    caller's back; a caller that opens several times with one key can parse it once
    into this handle and drop the handle when it deletes the key.
    """

    __slots__ = ("kem_id", "key", "public_key")

    def __init__(self, kem_id: int, key: Any, public_key: bytes) -> None:
        self.kem_id = kem_id
        self.key = key
        self.public_key = public_key  # SerializePublicKey(pk(sk))

    def __repr__(self) -> str:
        return f"<HpkePrivateKey kem={self.kem_id:#06x} pk={self.public_key[:8].hex()}...>"


__all__ = ["HPKE_VERSION", "HpkePrivateKey", "Kem"]
