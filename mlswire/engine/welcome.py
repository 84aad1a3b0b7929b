"""Welcome messages (RFC 9420 §12.4.3): build them, open them, check what they carry.

Joining takes two steps because the GroupInfo's signer key lives in the ratchet tree,
which the group engine finds (in the GroupInfo's ``ratchet_tree`` extension or out of
band) only after the GroupInfo is decrypted::

    opened = open_welcome(welcome, key_package, init_priv, psks=lookup)
    signer_pub = <the signature_key of leaf opened.group_info.signer in the tree>
    hashes = opened.verify(signer_pub)      # signature and confirmation tag

Until :meth:`OpenedWelcome.verify` returns, nothing in ``opened`` is authenticated
beyond the HPKE encryption to our init key.

Sending: :func:`sign_group_info` then :func:`create_welcome`, with the
:class:`~mlswire.engine.key_schedule.EpochSecrets` of the epoch the Commit creates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..codecs import tls
from ..crypto.labeled import (
    LabeledEncryptor,
    Rng,
    decrypt_with_label,
    make_key_package_ref,
    sign_with_label,
    verify_with_label,
)
from ..crypto.suites import CipherSuite, cipher_suite
from ..errors import CryptoError, ValidationError
from ..schema import CipherSuite as SuiteId
from ..schema import (
    EncryptedGroupSecrets,
    Extension,
    GroupContext,
    GroupInfo,
    GroupInfoTBS,
    GroupSecrets,
    HPKECiphertext,
    KeyPackage,
    PathSecret,
    PreSharedKeyID,
    ResumptionPSKUsage,
    Welcome,
)
from . import key_schedule as ks
from . import psk as psk_mod
from .transcript import TranscriptHashes, interim_transcript_hash, verify_confirmation_tag

WELCOME_LABEL = "Welcome"  # EncryptWithLabel label of the GroupSecrets (§12.4.3.1)
GROUP_INFO_LABEL = "GroupInfoTBS"  # SignWithLabel label of the GroupInfo (§12.4.3)


class WelcomeNotForKeyPackage(ValidationError):
    """The Welcome has no EncryptedGroupSecrets for the KeyPackage it was opened with."""


def key_package_ref(cs: CipherSuite, key_package: KeyPackage) -> bytes:
    """KeyPackageRef = RefHash("MLS 1.0 KeyPackage Reference", KeyPackage) (§5.2)."""
    return make_key_package_ref(cs, tls.encode(key_package, KeyPackage))


def _suite_of(welcome: Welcome, key_package: KeyPackage) -> CipherSuite:
    # §12.4.3.1: the KeyPackage's suite must be the Welcome's. Checked before anything
    # is hashed or decrypted, so a mismatch is reported as such rather than as "not
    # found" (the ref would be computed with the wrong hash).
    if welcome.cipher_suite != key_package.cipher_suite:
        raise ValidationError(
            "RFC 9420 §12.4.3.1: the KeyPackage's cipher_suite matches the Welcome's",
            f"Welcome 0x{int(welcome.cipher_suite):04x}, "
            f"KeyPackage 0x{int(key_package.cipher_suite):04x}",
        )
    return cipher_suite(int(welcome.cipher_suite))


def find_group_secrets(welcome: Welcome, ref: bytes) -> EncryptedGroupSecrets:
    """The entry of ``welcome.secrets`` addressed to the KeyPackageRef ``ref``."""
    for entry in welcome.secrets:
        if entry.new_member == ref:
            return entry
    raise WelcomeNotForKeyPackage(
        "RFC 9420 §12.4.3.1: the Welcome has an entry for this client's KeyPackage",
        f"no secrets for KeyPackageRef {ref.hex()} among {len(welcome.secrets)} entries",
        "Welcome.secrets",
    )


def decrypt_group_secrets(
    cs: CipherSuite, init_priv: bytes, entry: EncryptedGroupSecrets, encrypted_group_info: bytes
) -> GroupSecrets:
    """DecryptWithLabel(init_priv, "Welcome", encrypted_group_info, kem_output, ciphertext),
    decoded as GroupSecrets. CryptoError if it does not decrypt, DecodeError if the
    plaintext is not a GroupSecrets."""
    ct = entry.encrypted_group_secrets
    try:
        plaintext = decrypt_with_label(
            cs, init_priv, WELCOME_LABEL, encrypted_group_info, ct.kem_output, ct.ciphertext
        )
    except CryptoError as e:
        # Say which part of the Welcome failed: the HPKE layer only knows "open failed".
        raise CryptoError(
            f"RFC 9420 §12.4.3.1: encrypted_group_secrets does not decrypt ({e})"
        ) from e
    secrets: GroupSecrets = tls.decode(plaintext, GroupSecrets)
    return secrets


def decrypt_group_info(
    cs: CipherSuite, welcome_secret: bytes, encrypted_group_info: bytes
) -> GroupInfo:
    """AEAD.Open(welcome_key, welcome_nonce, "", encrypted_group_info) as a GroupInfo."""
    key, nonce = ks.welcome_key_nonce(cs, welcome_secret)
    try:
        plaintext = cs.aead_open(key, nonce, b"", encrypted_group_info)
    except CryptoError as e:
        raise CryptoError(f"RFC 9420 §12.4.3.1: encrypted_group_info does not decrypt ({e})") from e
    info: GroupInfo = tls.decode(plaintext, GroupInfo)
    return info


def encrypt_group_info(cs: CipherSuite, welcome_secret: bytes, group_info: GroupInfo) -> bytes:
    """AEAD.Seal(welcome_key, welcome_nonce, "", GroupInfo)."""
    key, nonce = ks.welcome_key_nonce(cs, welcome_secret)
    return cs.aead_seal(key, nonce, b"", tls.encode(group_info, GroupInfo))


def group_info_tbs(group_info: GroupInfo) -> bytes:
    """The TLS encoding of the GroupInfoTBS that the GroupInfo's signature covers."""
    tbs = GroupInfoTBS(
        group_context=group_info.group_context,
        extensions=group_info.extensions,
        confirmation_tag=group_info.confirmation_tag,
        signer=group_info.signer,
    )
    return tls.encode(tbs, GroupInfoTBS)


def sign_group_info(
    cs: CipherSuite,
    sign_key: bytes,
    *,
    group_context: GroupContext,
    confirmation_tag: bytes,
    signer: int,
    extensions: Sequence[Extension] = (),
    rng: Rng | None = None,
) -> GroupInfo:
    """A GroupInfo signed with SignWithLabel(sign_key, "GroupInfoTBS", GroupInfoTBS)."""
    unsigned = GroupInfo(
        group_context=group_context,
        extensions=tuple(extensions),
        confirmation_tag=confirmation_tag,
        signer=signer,
        signature=b"",
    )
    signature = sign_with_label(cs, sign_key, GROUP_INFO_LABEL, group_info_tbs(unsigned), rng=rng)
    return GroupInfo(
        group_context=group_context,
        extensions=tuple(extensions),
        confirmation_tag=confirmation_tag,
        signer=signer,
        signature=signature,
    )


def verify_group_info(cs: CipherSuite, group_info: GroupInfo, signer_pub: bytes) -> None:
    """VerifyWithLabel(signer_pub, "GroupInfoTBS", GroupInfoTBS, signature); CryptoError
    when the signature does not verify."""
    verify_with_label(
        cs, signer_pub, GROUP_INFO_LABEL, group_info_tbs(group_info), group_info.signature
    )


def encrypt_group_secrets(
    cs: CipherSuite,
    key_package: KeyPackage,
    encrypted_group_info: bytes,
    group_secrets: GroupSecrets,
    rng: Rng | None = None,
) -> EncryptedGroupSecrets:
    """EncryptWithLabel(init_key, "Welcome", encrypted_group_info, GroupSecrets),
    addressed to the KeyPackage's ref (one entry; :func:`create_welcome` makes them all)."""
    encryptor = LabeledEncryptor(cs, WELCOME_LABEL, encrypted_group_info)
    return _seal_group_secrets(cs, encryptor, key_package, group_secrets, rng)


def _seal_group_secrets(
    cs: CipherSuite,
    encryptor: LabeledEncryptor,
    key_package: KeyPackage,
    group_secrets: GroupSecrets,
    rng: Rng | None,
) -> EncryptedGroupSecrets:
    kem_output, ciphertext = encryptor.encrypt(
        key_package.init_key, tls.encode(group_secrets, GroupSecrets), rng=rng
    )
    return EncryptedGroupSecrets(
        new_member=key_package_ref(cs, key_package),
        encrypted_group_secrets=HPKECiphertext(kem_output=kem_output, ciphertext=ciphertext),
    )


@dataclass(frozen=True, slots=True)
class NewMember:
    """One recipient of a Welcome: its KeyPackage and, when the Commit had a path, the
    path secret of the lowest common ancestor of its leaf and the committer's."""

    key_package: KeyPackage
    path_secret: bytes | None = field(default=None, repr=False)


def create_welcome(
    epoch: ks.EpochSecrets,
    group_info: GroupInfo,
    new_members: Sequence[NewMember],
    psks: Sequence[PreSharedKeyID] = (),
    rng: Rng | None = None,
) -> Welcome:
    """The Welcome for the epoch ``epoch`` (the one the Commit creates).

    ``group_info`` is already signed; ``psks`` are the PSKs of the Commit, in order
    (§12.4.2: the same list, so joiners derive the same psk_secret)."""
    cs = epoch.suite
    for i, member in enumerate(new_members):
        if member.key_package.cipher_suite != cs.suite_id:
            raise ValidationError(
                "RFC 9420 §12.4.3.1: every new member's KeyPackage uses the group's suite",
                f"0x{int(member.key_package.cipher_suite):04x} != 0x{cs.suite_id:04x}",
                f"new_members[{i}]",
            )
    encrypted_group_info = encrypt_group_info(cs, epoch.welcome_secret, group_info)
    # Every entry is sealed under the same EncryptContext, which holds the whole
    # encrypted GroupInfo (the ratchet tree: megabytes in a large group). Encoding it
    # and hashing it into HPKE's key schedule once, not once per new member, keeps a
    # Welcome linear in its size plus its members instead of their product.
    encryptor = LabeledEncryptor(cs, WELCOME_LABEL, encrypted_group_info)
    secrets = tuple(
        _seal_group_secrets(
            cs,
            encryptor,
            member.key_package,
            GroupSecrets(
                joiner_secret=epoch.joiner_secret,
                path_secret=(
                    None
                    if member.path_secret is None
                    else PathSecret(path_secret=member.path_secret)
                ),
                psks=tuple(psks),
            ),
            rng,
        )
        for member in new_members
    )
    return Welcome(
        cipher_suite=SuiteId(cs.suite_id),
        secrets=secrets,
        encrypted_group_info=encrypted_group_info,
    )


@dataclass(frozen=True, slots=True)
class OpenedWelcome:
    """A decrypted Welcome, not yet authenticated: call :meth:`verify` before use."""

    group_secrets: GroupSecrets = field(repr=False)
    group_info: GroupInfo
    psk_secret: bytes = field(repr=False)
    epoch: ks.EpochSecrets

    @property
    def suite(self) -> CipherSuite:
        return self.epoch.suite

    def verify(self, signer_pub: bytes) -> TranscriptHashes:
        """Check the GroupInfo's signature (CryptoError) and its confirmation tag against
        the epoch's confirmation key (ValidationError); return the transcript hashes the
        new member starts from."""
        cs = self.suite
        info = self.group_info
        try:
            verify_group_info(cs, info, signer_pub)
        except CryptoError as e:
            raise CryptoError(
                f"RFC 9420 §12.4.3.1: GroupInfo signature does not verify ({e})"
            ) from e
        confirmed = info.group_context.confirmed_transcript_hash
        verify_confirmation_tag(
            cs, self.epoch.confirmation_key, confirmed, info.confirmation_tag, "GroupInfo"
        )
        return TranscriptHashes(
            confirmed, interim_transcript_hash(cs, confirmed, info.confirmation_tag)
        )


def open_welcome(
    welcome: Welcome,
    key_package: KeyPackage,
    init_priv: bytes,
    *,
    psks: psk_mod.PskLookup | None = None,
) -> OpenedWelcome:
    """Decrypt the Welcome for ``key_package`` (whose init private key is ``init_priv``)
    and derive the epoch's secrets (§12.4.3.1 up to the signature check).

    ``psks`` answers for the PSKs the GroupSecrets names (StateError if one is not held).
    Raises WelcomeNotForKeyPackage when no entry is addressed to the KeyPackage,
    CryptoError when something does not decrypt, DecodeError/ValidationError when what
    decrypts breaks the format or the rules.
    """
    cs = _suite_of(welcome, key_package)
    entry = find_group_secrets(welcome, key_package_ref(cs, key_package))
    secrets = decrypt_group_secrets(cs, init_priv, entry, welcome.encrypted_group_info)

    # A Welcome may carry a reinit/branch resumption PSK (it is how those groups start).
    psk_mod.check_psk_ids(
        cs,
        secrets.psks,
        allowed_usages=(ResumptionPSKUsage.reinit, ResumptionPSKUsage.branch),
    )
    psk_secret = psk_mod.psk_secret(cs, psk_mod.resolve_psks(secrets.psks, psks))

    joiner = secrets.joiner_secret
    info = decrypt_group_info(
        cs, ks.welcome_secret(cs, joiner, psk_secret), welcome.encrypted_group_info
    )
    context = info.group_context
    if context.cipher_suite != key_package.cipher_suite:
        raise ValidationError(
            "RFC 9420 §12.4.3.1: the GroupInfo's cipher_suite matches the KeyPackage's",
            f"GroupInfo 0x{int(context.cipher_suite):04x}",
            "GroupInfo.group_context",
        )
    if psk_mod.resumed_group_psk(secrets.psks) is not None and context.epoch != 1:
        raise ValidationError(
            "RFC 9420 §12.4.3.1: a Welcome with a reinit/branch PSK starts epoch 1",
            f"epoch {context.epoch}",
            "GroupInfo.group_context",
        )
    epoch = ks.epoch_from_joiner(cs, joiner, context, psk_secret)
    return OpenedWelcome(group_secrets=secrets, group_info=info, psk_secret=psk_secret, epoch=epoch)


__all__ = [
    "GROUP_INFO_LABEL",
    "WELCOME_LABEL",
    "NewMember",
    "OpenedWelcome",
    "WelcomeNotForKeyPackage",
    "create_welcome",
    "decrypt_group_info",
    "decrypt_group_secrets",
    "encrypt_group_info",
    "encrypt_group_secrets",
    "find_group_secrets",
    "group_info_tbs",
    "key_package_ref",
    "open_welcome",
    "sign_group_info",
    "verify_group_info",
]
