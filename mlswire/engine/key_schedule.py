"""The MLS key schedule (RFC 9420 §8): one epoch's secrets from its inputs.

A group engine calls one function per epoch change::

    secrets = derive_epoch(cs, init_secret, group_context, commit_secret, psk_secret)

and a new member, who learns ``joiner_secret`` from a Welcome instead of the previous
``init_secret``, calls :func:`welcome_secret` (to open the GroupInfo) and then
:func:`epoch_from_joiner`. Both return an :class:`EpochSecrets`, an immutable value
holding every secret of the §8 table plus ``init_secret`` for the next epoch.

``epoch_secret`` itself is not kept: nothing but this module needs it, and §9.2 asks that
secrets be deleted as soon as everything derived from them has been derived.

Absent inputs follow the RFC's conventions: a Commit without a path has an all-zero
``commit_secret`` and an epoch without PSKs an all-zero ``psk_secret``, both ``KDF.Nh``
bytes (pass ``None`` to get them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..codecs import tls
from ..crypto.labeled import Rng, derive_secret, expand_with_label
from ..crypto.suites import CipherSuite, cipher_suite
from ..errors import ValidationError
from ..schema import GroupContext

# §8.3: the HPKE exporter context that turns an external init into an init_secret.
EXTERNAL_INIT_LABEL = b"MLS 1.0 external init secret"


def zero_secret(cs: CipherSuite) -> bytes:
    """The all-zero vector of length ``KDF.Nh`` the RFC writes as ``0``."""
    return bytes(cs.hash_len)


def _check_secret(cs: CipherSuite, name: str, value: bytes) -> bytes:
    # Every secret fed into the schedule is KDF.Nh bytes by construction; a different
    # length means a caller mixed up suites or a peer sent a malformed GroupSecrets, and
    # HKDF would otherwise accept it silently and derive garbage.
    if len(value) != cs.hash_len:
        raise ValidationError(
            "RFC 9420 §8: key schedule inputs are KDF.Nh bytes",
            f"{name} has {len(value)} bytes, suite 0x{cs.suite_id:04x} needs {cs.hash_len}",
        )
    return value


def encode_group_context(group_context: GroupContext | bytes) -> bytes:
    """The TLS encoding of a GroupContext (bytes are taken as already encoded)."""
    if isinstance(group_context, bytes | bytearray):
        return bytes(group_context)
    return tls.encode(group_context, GroupContext)


@dataclass(frozen=True, slots=True)
class EpochSecrets:
    """The secrets of one epoch (RFC 9420 §8, "Epoch-Derived Secrets").

    ``joiner_secret`` and ``welcome_secret`` are what a committer needs to build the
    Welcome for this epoch; ``init_secret`` is the input to the next epoch. The repr
    shows no secret material, so an EpochSecrets can appear in logs and tracebacks.
    """

    cipher_suite: int
    joiner_secret: bytes = field(repr=False)
    welcome_secret: bytes = field(repr=False)
    sender_data_secret: bytes = field(repr=False)
    encryption_secret: bytes = field(repr=False)
    exporter_secret: bytes = field(repr=False)
    external_secret: bytes = field(repr=False)
    confirmation_key: bytes = field(repr=False)
    membership_key: bytes = field(repr=False)
    resumption_psk: bytes = field(repr=False)
    epoch_authenticator: bytes = field(repr=False)
    init_secret: bytes = field(repr=False)

    @property
    def suite(self) -> CipherSuite:
        return cipher_suite(self.cipher_suite)

    def export(self, label: str | bytes, context: bytes, length: int) -> bytes:
        """MLS-Exporter(label, context, length) of this epoch (§8.5)."""
        return mls_exporter(self.suite, self.exporter_secret, label, context, length)

    def external_key_pair(self) -> tuple[bytes, bytes]:
        """``(external_priv, external_pub)`` = KEM.DeriveKeyPair(external_secret)."""
        return external_key_pair(self.suite, self.external_secret)

    def welcome_key_nonce(self) -> tuple[bytes, bytes]:
        """``(welcome_key, welcome_nonce)`` for this epoch's GroupInfo (§12.4.3.1)."""
        return welcome_key_nonce(self.suite, self.welcome_secret)


def joiner_secret(
    cs: CipherSuite,
    init_secret: bytes,
    group_context: GroupContext | bytes,
    commit_secret: bytes | None = None,
) -> bytes:
    """ExpandWithLabel(Extract(init_secret, commit_secret), "joiner", GroupContext, Nh)."""
    commit = zero_secret(cs) if commit_secret is None else commit_secret
    _check_secret(cs, "commit_secret", commit)
    # init_secret is Nh bytes except the very first one, which the group creator draws at
    # random (§11): the vectors use Nh bytes too, but the RFC does not fix its length.
    prk = cs.kdf_extract(init_secret, commit)
    return expand_with_label(cs, prk, "joiner", encode_group_context(group_context), cs.hash_len)


def _member_prk(cs: CipherSuite, joiner: bytes, psk_secret: bytes | None) -> bytes:
    """The output of the second KDF.Extract, from which welcome and epoch secrets come."""
    psk = zero_secret(cs) if psk_secret is None else psk_secret
    _check_secret(cs, "joiner_secret", joiner)
    _check_secret(cs, "psk_secret", psk)
    return cs.kdf_extract(joiner, psk)


def welcome_secret(cs: CipherSuite, joiner: bytes, psk_secret: bytes | None = None) -> bytes:
    """DeriveSecret(Extract(joiner_secret, psk_secret), "welcome").

    A new member needs this before it knows the GroupContext (which is inside the
    GroupInfo that this secret decrypts)."""
    return derive_secret(cs, _member_prk(cs, joiner, psk_secret), "welcome")


def epoch_from_joiner(
    cs: CipherSuite,
    joiner: bytes,
    group_context: GroupContext | bytes,
    psk_secret: bytes | None = None,
) -> EpochSecrets:
    """Every secret of the epoch from its ``joiner_secret`` (what a new member holds)."""
    prk = _member_prk(cs, joiner, psk_secret)
    epoch_secret = expand_with_label(
        cs, prk, "epoch", encode_group_context(group_context), cs.hash_len
    )

    def child(label: str) -> bytes:
        return derive_secret(cs, epoch_secret, label)

    return EpochSecrets(
        cipher_suite=cs.suite_id,
        joiner_secret=joiner,
        welcome_secret=derive_secret(cs, prk, "welcome"),
        sender_data_secret=child("sender data"),
        encryption_secret=child("encryption"),
        exporter_secret=child("exporter"),
        external_secret=child("external"),
        confirmation_key=child("confirm"),
        membership_key=child("membership"),
        resumption_psk=child("resumption"),
        epoch_authenticator=child("authentication"),
        init_secret=child("init"),
    )


def derive_epoch(
    cs: CipherSuite,
    init_secret: bytes,
    group_context: GroupContext | bytes,
    commit_secret: bytes | None = None,
    psk_secret: bytes | None = None,
) -> EpochSecrets:
    """The epoch's secrets from the previous epoch's ``init_secret`` (§8).

    ``commit_secret`` and ``psk_secret`` default to the all-zero vector (a Commit
    without a path, an epoch without PSKs). ``group_context`` is the GroupContext of the
    new epoch, as a value or already TLS-encoded."""
    context = encode_group_context(group_context)
    joiner = joiner_secret(cs, init_secret, context, commit_secret)
    return epoch_from_joiner(cs, joiner, context, psk_secret)


def mls_exporter(
    cs: CipherSuite, exporter_secret: bytes, label: str | bytes, context: bytes, length: int
) -> bytes:
    """MLS-Exporter (§8.5): ExpandWithLabel(DeriveSecret(exporter_secret, Label),
    "exported", Hash(Context), Length).

    ``label`` is the application's label; ExpandWithLabel adds the "MLS 1.0 " prefix."""
    return expand_with_label(
        cs, derive_secret(cs, exporter_secret, label), "exported", cs.hash(context), length
    )


def external_key_pair(cs: CipherSuite, external_secret: bytes) -> tuple[bytes, bytes]:
    """``(external_priv, external_pub)`` = KEM.DeriveKeyPair(external_secret) (§8)."""
    return cs.derive_key_pair(external_secret)


def external_init_sender(
    cs: CipherSuite, external_pub: bytes, rng: Rng | None = None
) -> tuple[bytes, bytes]:
    """§8.3, joiner side: ``(kem_output, init_secret)`` for an ExternalInit proposal."""
    return cs.hpke_export_sender(external_pub, b"", EXTERNAL_INIT_LABEL, cs.hash_len, rng)


def external_init_receiver(cs: CipherSuite, external_priv: bytes, kem_output: bytes) -> bytes:
    """§8.3, member side: the ``init_secret`` carried by an ExternalInit's kem_output."""
    return cs.hpke_export_receiver(external_priv, kem_output, b"", EXTERNAL_INIT_LABEL, cs.hash_len)


def welcome_key_nonce(cs: CipherSuite, welcome: bytes) -> tuple[bytes, bytes]:
    """``(welcome_key, welcome_nonce)`` from the welcome_secret (§12.4.3.1)."""
    key = expand_with_label(cs, welcome, "key", b"", cs.aead_key_len)
    nonce = expand_with_label(cs, welcome, "nonce", b"", cs.aead_nonce_len)
    return key, nonce


__all__ = [
    "EXTERNAL_INIT_LABEL",
    "EpochSecrets",
    "derive_epoch",
    "encode_group_context",
    "epoch_from_joiner",
    "external_init_receiver",
    "external_init_sender",
    "external_key_pair",
    "joiner_secret",
    "mls_exporter",
    "welcome_key_nonce",
    "welcome_secret",
    "zero_secret",
]
