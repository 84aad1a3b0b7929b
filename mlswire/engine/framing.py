"""Message framing (RFC 9420 §6): AuthenticatedContent, PublicMessage, PrivateMessage.

Sans-I/O: every function takes schema values and secrets and returns schema values.
Nothing here knows about the ratchet tree or the key schedule; the caller passes the
epoch's GroupContext, the secrets it needs (membership_key, sender_data_secret, a
:class:`~mlswire.engine.secret_tree.SecretTree`) and a way to find a sender's
signature public key.

Protecting:
  ``authenticate`` (or ``sign_framed_content`` for commits, whose confirmation tag comes
  after the signature) -> AuthenticatedContent -> ``protect_public`` / ``protect_private``.
Unprotecting:
  ``unprotect_public`` / ``unprotect_private`` -> a verified AuthenticatedContent. The
  commit's confirmation tag is the key schedule's to check (it needs the next epoch).

Failures: a bad signature, membership tag or AEAD tag raises :class:`CryptoError`;
input that breaks a framing rule raises :class:`ValidationError`; an epoch that is not
the group's, or a generation already used / too old / too far ahead, raises
:class:`StateError`; undecodable bytes raise :class:`DecodeError`. A PrivateMessage is
only consumed from the secret tree once it decrypted *and* its signature verified, so a
rejected message leaves the tree as it was.
"""

from __future__ import annotations

import hmac
import os
import struct
from collections.abc import Callable

from ..codecs import tls
from ..crypto.labeled import Rng, sign_with_label, verify_with_label
from ..crypto.suites import CipherSuite
from ..errors import CryptoError, DecodeError, EncodeError, StaleMessageError, ValidationError
from ..limits import Limits
from ..schema import (
    AuthenticatedContent,
    Commit,
    ContentType,
    FramedContent,
    FramedContentAuthData,
    FramedContentTBS,
    GroupContext,
    MLSMessage,
    PrivateMessage,
    PrivateMessageContent,
    Proposal,
    ProposalType,
    ProtocolVersion,
    PublicMessage,
    Sender,
    SenderData,
    SenderType,
    WireFormat,
)
from .secret_tree import SecretTree, ratchet_type, sender_data_key_nonce

#: Finds the signature public key of a sender (the LeafNode's, an external sender's,
#: ...); raises :class:`ValidationError` for a sender it does not know (a blank leaf).
SignatureKeyLookup = Callable[[Sender], bytes]

#: Given the length of the encoded content and auth of a PrivateMessageContent, the
#: number of zero bytes of padding to append (§6.3.1).
PaddingPolicy = Callable[[int], int]


def no_padding(length: int) -> int:
    """The default padding policy: none."""
    return 0


def pad_to_multiple(block: int) -> PaddingPolicy:
    """A padding policy that rounds the plaintext up to a multiple of ``block`` bytes."""
    if block < 1:
        raise ValueError("block must be >= 1")

    def policy(length: int) -> int:
        return -length % block

    return policy


# --- content ---------------------------------------------------------------------------


def member_sender(leaf_index: int) -> Sender:
    return Sender(sender_type=SenderType.member, leaf_index=leaf_index)


def framed_content(
    *,
    group_id: bytes,
    epoch: int,
    sender: Sender,
    application_data: bytes | None = None,
    proposal: Proposal | None = None,
    commit: Commit | None = None,
    authenticated_data: bytes = b"",
) -> FramedContent:
    """A FramedContent carrying exactly one of application data, a proposal or a commit;
    the content type follows from which one is given."""
    if application_data is not None and proposal is None and commit is None:
        # Every application message comes here: no list to build.
        return FramedContent(
            group_id=group_id,
            epoch=epoch,
            sender=sender,
            authenticated_data=authenticated_data,
            content_type=_APPLICATION,
            application_data=application_data,
        )
    given = [
        (ct, v)
        for ct, v in (
            (ContentType.application, application_data),
            (ContentType.proposal, proposal),
            (ContentType.commit, commit),
        )
        if v is not None
    ]
    if len(given) != 1:
        raise ValidationError(
            "RFC 9420 §6: FramedContent carries exactly one of application_data, proposal, commit",
            detail=f"{len(given)} given",
        )
    return FramedContent(
        group_id=group_id,
        epoch=epoch,
        sender=sender,
        authenticated_data=authenticated_data,
        content_type=given[0][0],
        application_data=application_data,
        proposal=proposal,
        commit=commit,
    )


def _ct_context(content_type: ContentType) -> dict[str, ContentType]:
    # The selects of FramedContentAuthData and PrivateMessageContent depend on fields of
    # the enclosing message, which the codec takes through its context.
    return {"FramedContent.content_type": content_type, "PrivateMessage.content_type": content_type}


def _tbs(
    content: FramedContent, wire_format: WireFormat, group_context: GroupContext | None
) -> FramedContentTBS:
    # The GroupContext is covered for members and new_member_commit senders (§6.1) only.
    with_context = content.sender.sender_type in _WITH_CONTEXT
    if with_context and group_context is None:
        raise ValidationError(
            "RFC 9420 §6.1: FramedContentTBS of a member or new_member_commit sender "
            "covers the GroupContext, but none was given"
        )
    return FramedContentTBS(
        wire_format=wire_format, content=content, context=group_context if with_context else None
    )


def _encode(
    value: object, tp: object, what: str, context: dict[str, ContentType] | None = None
) -> bytes:
    try:
        return tls.encode(value, tp, context=context)
    except EncodeError as e:
        raise ValidationError(f"cannot encode {what}", detail=str(e)) from e


def _aad_head(m: FramedContent | PrivateMessage, ct: ContentType) -> bytes:
    # group_id<V>, uint64 epoch, uint8 content_type: the start of both AADs of §6.3.2,
    # written directly (one message, two AADs; tests compare with the codec).
    if not 0 <= m.epoch < 1 << 64 or not 0 <= ct < 256:
        raise ValidationError("cannot encode the PrivateMessage AAD", detail="epoch or type")
    gid = m.group_id
    return b"".join((tls.write_length(len(gid)), gid, m.epoch.to_bytes(8, "big"), bytes((ct,))))


def _content_aad(
    m: FramedContent | PrivateMessage, ct: ContentType, head: bytes | None = None
) -> bytes:
    """PrivateContentAAD (RFC 9420 §6.3.2): the additional data of the content's AEAD;
    ``head``: the SenderDataAAD, its first fields, if already made."""
    data = m.authenticated_data
    return (head or _aad_head(m, ct)) + tls.write_length(len(data)) + data


def _sender_data_aad(m: FramedContent | PrivateMessage, ct: ContentType) -> bytes:
    """SenderDataAAD (RFC 9420 §6.3.2): the additional data of the sender data's AEAD."""
    return _aad_head(m, ct)


# Encode once (issue 20): a FramedContentTBS is needed for the signature, again for the
# membership tag (AuthenticatedContentTBM = FramedContentTBS || FramedContentAuthData)
# and the GroupContext inside it is the same for every message of an epoch. The last
# TBS and the last GroupContext encoding are kept, keyed by the identity of the
# (immutable) values they encode, so one operation encodes each once. A tuple is
# replaced in one step, so threads reading it see a consistent pair.
_last_context: tuple[GroupContext | None, bytes] = (None, b"")
_last_tbs: tuple[FramedContent | None, WireFormat | None, GroupContext | None, bytes] = (
    None,
    None,
    None,
    b"",
)


def _context_bytes(group_context: GroupContext) -> bytes:
    global _last_context
    held, data = _last_context
    if held is not group_context:
        data = _encode(group_context, GroupContext, "GroupContext")
        _last_context = (group_context, data)
    return data


def content_tbs(
    content: FramedContent, wire_format: WireFormat, group_context: GroupContext | None
) -> bytes:
    """The encoded FramedContentTBS that the sender signs (§6.1): version, wire format,
    the FramedContent and, for member and new_member_commit senders, the GroupContext."""
    global _last_tbs
    c, wf, gc, data = _last_tbs
    if c is content and wf is wire_format and gc is group_context:
        return data
    head = _TBS_HEAD.get(wire_format)
    if head is None:  # a wire format RFC 9420 does not define: the codec decides
        data = _encode(
            _tbs(content, wire_format, group_context), FramedContentTBS, "FramedContentTBS"
        )
    elif content.sender.sender_type in _WITH_CONTEXT:
        if group_context is None:
            _tbs(content, wire_format, group_context)  # raises: the context is missing
        assert group_context is not None
        data = head + _framed_content_bytes(content) + _context_bytes(group_context)
    else:
        data = head + _encode(content, FramedContent, "FramedContent")
    _last_tbs = (content, wire_format, group_context, data)
    return data


# --- the application-message fast paths (issue 20) ----------------------------------------
# An application message's structs are flat: a few opaque<V>, fixed-size integers and
# the member's leaf index. For them, the encodings below are written directly and the
# decodings read directly; anything else (another content type or sender, a value the
# codec would refuse or that needs its limits, input it would reject) goes to the codec,
# so the bytes, values and errors are the codec's (tests/test_app_fast_paths.py
# compares them on random and mutated values).

_U32 = 1 << 32
_U64 = 1 << 64
_MAX_OPAQUE = 1 << 30
_u32_pair = struct.Struct(">II")
_u64 = struct.Struct(">Q")
_wl = tls.write_length
_read_length = tls.read_length
_APPLICATION = ContentType.application
_MEMBER = SenderType.member
_PRIVATE_HEAD = b"\x00\x01\x00\x02"  # MLSMessage: version mls10, wire format 2
_CONTENT_TYPES = {int(ct): ct for ct in ContentType}


def _opaques(*values: object) -> bool:
    """Whether every value is ``bytes`` short enough for an opaque<V>."""
    for v in values:  # noqa: SIM110 - a loop: all() over a generator costs twice as much
        if v.__class__ is not bytes or len(v) >= _MAX_OPAQUE:
            return False
    return True


def _framed_content_bytes(fc: FramedContent) -> bytes:
    """The TLS encoding of a FramedContent."""
    sender, gid, aad, data = fc.sender, fc.group_id, fc.authenticated_data, fc.application_data
    if (
        fc.content_type == _APPLICATION
        and sender.sender_type == _MEMBER
        and sender.leaf_index.__class__ is int
        and 0 <= sender.leaf_index < _U32
        and fc.epoch.__class__ is int
        and 0 <= fc.epoch < _U64
        and _opaques(gid, aad, data)
    ):
        assert data is not None and sender.leaf_index is not None
        return b"".join(
            (
                _wl(len(gid)),
                gid,
                _u64.pack(fc.epoch),
                b"\x01",  # Sender: member
                sender.leaf_index.to_bytes(4, "big"),
                _wl(len(aad)),
                aad,
                b"\x01",  # content_type: application
                _wl(len(data)),
                data,
            )
        )
    return _encode(fc, FramedContent, "FramedContent")


def _private_content_bytes(body: PrivateMessageContent, ct: ContentType) -> bytes:
    """The TLS encoding of a PrivateMessageContent of content type ``ct``."""
    data, auth = body.application_data, body.auth
    if (
        ct == _APPLICATION
        and auth.confirmation_tag is None
        and body.padding == b""
        and _opaques(data, auth.signature)
    ):
        assert data is not None
        sig = auth.signature
        return b"".join((_wl(len(data)), data, _wl(len(sig)), sig))
    return _encode(body, PrivateMessageContent, "PrivateMessageContent", _ct_context(ct))


def _application_body(plaintext: bytes) -> tuple[bytes, bytes] | None:
    """``(application_data, signature)`` of an application PrivateMessageContent, or
    None where the codec must decide (including every input it rejects)."""
    try:
        n, pos = _read_length(plaintext, 0)
        end = pos + n
        m, pos2 = _read_length(plaintext, end)
    except (DecodeError, IndexError):
        return None
    end2 = pos2 + m
    if end2 > len(plaintext) or plaintext[end2:].strip(b"\x00"):
        return None
    return plaintext[pos:end], plaintext[pos2:end2]


def _sender_data_bytes(leaf: int, generation: int, reuse_guard: bytes) -> bytes:
    if 0 <= leaf < _U32 and 0 <= generation < _U32 and len(reuse_guard) == 4:
        return _u32_pair.pack(leaf, generation) + reuse_guard
    return _encode(
        SenderData(leaf_index=leaf, generation=generation, reuse_guard=reuse_guard),
        SenderData,
        "SenderData",
    )


def _decode_sender_data(raw: bytes) -> tuple[int, int, bytes]:
    if len(raw) == 12:
        leaf, generation = _u32_pair.unpack_from(raw)
        return leaf, generation, raw[8:]
    sd: SenderData = tls.decode(raw, SenderData)  # raises the codec's error
    return sd.leaf_index, sd.generation, sd.reuse_guard


def private_message_bytes(message: PrivateMessage) -> bytes:
    """The TLS encoding of the MLSMessage that carries ``message``."""
    m = message
    gid, aad, esd, ct = m.group_id, m.authenticated_data, m.encrypted_sender_data, m.ciphertext
    if (
        m.content_type in _CONTENT_TYPES
        and m.epoch.__class__ is int
        and 0 <= m.epoch < _U64
        and _opaques(gid, aad, esd, ct)
    ):
        return b"".join(
            (
                _PRIVATE_HEAD,
                _wl(len(gid)),
                gid,
                _u64.pack(m.epoch),
                bytes((m.content_type,)),
                _wl(len(aad)),
                aad,
                _wl(len(esd)),
                esd,
                _wl(len(ct)),
                ct,
            )
        )
    return _encode(to_mls_message(m), MLSMessage, "MLSMessage")


def decode_private_message(data: bytes, limits: Limits | None = None) -> MLSMessage | None:
    """The MLSMessage of ``data`` when it is a well-formed PrivateMessage within
    ``limits``, as the codec decodes it; None for anything else (the codec decides)."""
    if data[:4] != _PRIVATE_HEAD or data.__class__ is not bytes:
        return None
    if limits is not None and min(limits.max_vector_length, limits.max_vector_elements) < len(data):
        return None  # the codec checks every vector against the limits
    try:
        n, pos = _read_length(data, 4)
        end = pos + n
        gid = data[pos:end]
        (epoch,) = _u64.unpack_from(data, end)  # struct.error when gid ran past the end
        ct = _CONTENT_TYPES[data[end + 8]]
        pos = end + 9
        fields = []
        for _ in range(3):
            n, pos = _read_length(data, pos)
            end = pos + n
            if end > len(data):
                return None
            fields.append(data[pos:end])
            pos = end
    except (DecodeError, IndexError, KeyError, struct.error):
        return None
    if pos != len(data):
        return None
    message = PrivateMessage(
        group_id=gid,
        epoch=epoch,
        content_type=ct,
        authenticated_data=fields[0],
        encrypted_sender_data=fields[1],
        ciphertext=fields[2],
    )
    return MLSMessage(
        version=ProtocolVersion.mls10,
        wire_format=WireFormat.mls_private_message,
        private_message=message,
    )


# The senders whose FramedContentTBS covers the GroupContext (§6.1).
_WITH_CONTEXT = (SenderType.member, SenderType.new_member_commit)
# version mls10 (uint16 1) and the wire format (uint16) that start a FramedContentTBS.
_TBS_HEAD = {wf: b"\x00\x01" + int(wf).to_bytes(2, "big") for wf in WireFormat}


def sign_framed_content(
    cs: CipherSuite,
    signature_private_key: bytes,
    content: FramedContent,
    wire_format: WireFormat,
    group_context: GroupContext | None,
    rng: Rng | None = None,
) -> bytes:
    """SignWithLabel(., "FramedContentTBS", FramedContentTBS) (§6.1)."""
    tbs = content_tbs(content, wire_format, group_context)
    return sign_with_label(cs, signature_private_key, "FramedContentTBS", tbs, rng=rng)


def authenticate(
    cs: CipherSuite,
    signature_private_key: bytes,
    content: FramedContent,
    wire_format: WireFormat,
    group_context: GroupContext | None,
    *,
    confirmation_tag: bytes | None = None,
    rng: Rng | None = None,
) -> AuthenticatedContent:
    """Sign ``content`` for sending as ``wire_format``. A commit needs its
    ``confirmation_tag``; when it is not known yet (it depends on this signature through
    the confirmed transcript hash) use :func:`sign_framed_content` and
    :func:`authenticated_content`."""
    signature = sign_framed_content(
        cs, signature_private_key, content, wire_format, group_context, rng
    )
    return authenticated_content(content, wire_format, signature, confirmation_tag)


def authenticated_content(
    content: FramedContent,
    wire_format: WireFormat,
    signature: bytes,
    confirmation_tag: bytes | None = None,
) -> AuthenticatedContent:
    """An AuthenticatedContent from an existing signature (and, for a commit, its tag)."""
    is_commit = content.content_type == ContentType.commit
    if is_commit and confirmation_tag is None:
        raise ValidationError(
            "RFC 9420 §6.1: a commit's FramedContentAuthData needs a confirmation_tag"
        )
    if not is_commit and confirmation_tag is not None:
        raise ValidationError("RFC 9420 §6.1: only a commit carries a confirmation_tag")
    auth = FramedContentAuthData(signature=signature, confirmation_tag=confirmation_tag)
    return AuthenticatedContent(wire_format=wire_format, content=content, auth=auth)


def verify_signature(
    cs: CipherSuite,
    signature_public_key: bytes,
    content: AuthenticatedContent,
    group_context: GroupContext | None,
) -> None:
    """Check the FramedContentTBS signature; :class:`CryptoError` names the sender."""
    tbs = content_tbs(content.content, content.wire_format, group_context)
    try:
        verify_with_label(cs, signature_public_key, "FramedContentTBS", tbs, content.auth.signature)
    except CryptoError as e:
        raise CryptoError(
            f"RFC 9420 §6.1: FramedContentTBS signature of {_describe(content.content.sender)} "
            f"does not verify ({e})"
        ) from e


def membership_tag(
    cs: CipherSuite,
    membership_key: bytes,
    content: AuthenticatedContent,
    group_context: GroupContext,
) -> bytes:
    """MAC(membership_key, AuthenticatedContentTBM) (§6.2)."""
    # AuthenticatedContentTBM is FramedContentTBS followed by FramedContentAuthData.
    tbs = content_tbs(content.content, content.wire_format, group_context)
    auth = _encode(
        content.auth,
        FramedContentAuthData,
        "FramedContentAuthData",
        _ct_context(content.content.content_type),
    )
    return cs.mac(membership_key, tbs + auth)


def _describe(sender: Sender) -> str:
    if sender.sender_type == SenderType.member:
        return f"member leaf {sender.leaf_index}"
    if sender.sender_type == SenderType.external:
        return f"external sender {sender.sender_index}"
    return sender.sender_type.name


def _lookup_key(signature_key: bytes | SignatureKeyLookup, sender: Sender) -> bytes:
    return signature_key if isinstance(signature_key, bytes) else signature_key(sender)


def _check_group(group_id: bytes, epoch: int, group_context: GroupContext, what: str) -> None:
    if group_id != group_context.group_id:
        raise ValidationError(
            "RFC 9420 §6: message group_id differs from the group's",
            detail=f"got {group_id.hex()}, the group is {group_context.group_id.hex()}",
            where=what,
        )
    if epoch < group_context.epoch:
        raise StaleMessageError(
            f"{what}: epoch {epoch} is too old (the group is at epoch {group_context.epoch})"
        )
    if epoch > group_context.epoch:
        raise StaleMessageError(
            f"{what}: epoch {epoch} is from the future (the group is at epoch {group_context.epoch})"
        )


def _check_sender_content(content: FramedContent, what: str) -> None:
    """§6.1: which senders may send which content types."""
    st, ct = content.sender.sender_type, content.content_type
    if st == SenderType.external and ct != ContentType.proposal:
        raise ValidationError("RFC 9420 §6.1: an external sender only sends proposals", where=what)
    if st == SenderType.new_member_commit and ct != ContentType.commit:
        raise ValidationError(
            "RFC 9420 §6.1: a new_member_commit sender only sends commits", where=what
        )
    if st == SenderType.new_member_proposal and (
        ct != ContentType.proposal
        or content.proposal is None
        or content.proposal.proposal_type != ProposalType.add
    ):
        raise ValidationError(
            "RFC 9420 §6.1: a new_member_proposal sender only sends Add proposals", where=what
        )


# --- PublicMessage (§6.2) ---------------------------------------------------------------


def protect_public(
    cs: CipherSuite,
    content: AuthenticatedContent,
    *,
    group_context: GroupContext,
    membership_key: bytes | None = None,
) -> PublicMessage:
    """Frame signed content as a PublicMessage; member senders need ``membership_key``.
    Application data is refused: it MUST be sent as a PrivateMessage (§6)."""
    fc = content.content
    if content.wire_format != WireFormat.mls_public_message:
        raise ValidationError(
            "RFC 9420 §6.1: the content was signed for another wire format",
            detail=f"wire_format={content.wire_format!r}",
        )
    if fc.content_type == ContentType.application:
        raise ValidationError("RFC 9420 §6: application messages MUST use PrivateMessage")
    _check_sender_content(fc, "PublicMessage")
    tag: bytes | None = None
    if fc.sender.sender_type == SenderType.member:
        if membership_key is None:
            raise ValidationError(
                "RFC 9420 §6.2: a member's PublicMessage needs a membership_tag, "
                "but no membership_key was given"
            )
        tag = membership_tag(cs, membership_key, content, group_context)
    return PublicMessage(content=fc, auth=content.auth, membership_tag=tag)


def unprotect_public(
    cs: CipherSuite,
    message: PublicMessage,
    *,
    group_context: GroupContext,
    signature_key: bytes | SignatureKeyLookup,
    membership_key: bytes | None = None,
    check_membership_tag: bool = True,
) -> AuthenticatedContent:
    """Check a PublicMessage (group, epoch, membership tag for members, signature) and
    return its AuthenticatedContent. ``check_membership_tag=False`` is for an observer
    without the epoch's secrets (a PublicGroup): the tag is then not checked at all."""
    fc = message.content
    _check_group(fc.group_id, fc.epoch, group_context, "PublicMessage")
    if fc.content_type == ContentType.application:
        raise ValidationError("RFC 9420 §6: application data in a PublicMessage")
    _check_sender_content(fc, "PublicMessage")
    content = AuthenticatedContent(
        wire_format=WireFormat.mls_public_message, content=fc, auth=message.auth
    )
    if fc.sender.sender_type == SenderType.member and check_membership_tag:
        if membership_key is None:
            raise ValidationError(
                "RFC 9420 §6.2: checking a member's membership_tag needs the membership_key"
            )
        if message.membership_tag is None:
            raise ValidationError(
                "RFC 9420 §6.2: a member's PublicMessage lacks its membership_tag"
            )
        want = membership_tag(cs, membership_key, content, group_context)
        if not hmac.compare_digest(want, message.membership_tag):
            raise CryptoError(
                f"RFC 9420 §6.2: membership_tag of {_describe(fc.sender)} does not verify"
            )
    verify_signature(cs, _lookup_key(signature_key, fc.sender), content, group_context)
    return content


# --- PrivateMessage (§6.3) --------------------------------------------------------------


def protect_private(
    cs: CipherSuite,
    content: AuthenticatedContent,
    *,
    secret_tree: SecretTree,
    sender_data_secret: bytes,
    padding: PaddingPolicy = no_padding,
    rng: Rng | None = None,
) -> PrivateMessage:
    """Encrypt signed content as a PrivateMessage with the next generation of the
    sender's ratchet (consumed from ``secret_tree``) and a fresh reuse guard."""
    fc = content.content
    if content.wire_format != WireFormat.mls_private_message:
        raise ValidationError(
            "RFC 9420 §6.1: the content was signed for another wire format",
            detail=f"wire_format={content.wire_format!r}",
        )
    if fc.sender.sender_type != SenderType.member or fc.sender.leaf_index is None:
        raise ValidationError(
            "RFC 9420 §6.3.2: only members send PrivateMessages",
            detail=f"sender is {_describe(fc.sender)}",
        )
    ct = fc.content_type
    body = PrivateMessageContent(
        application_data=fc.application_data,
        proposal=fc.proposal,
        commit=fc.commit,
        auth=content.auth,
    )
    plaintext = _private_content_bytes(body, ct)
    pad = padding(len(plaintext))
    if not isinstance(pad, int) or pad < 0:
        raise ValidationError("padding policy must return a non-negative int", detail=repr(pad))
    plaintext += bytes(pad)

    sender_data_aad = _sender_data_aad(fc, ct)
    aad = _content_aad(fc, ct, sender_data_aad)
    leaf = fc.sender.leaf_index
    key_nonce = secret_tree.next_send_key(leaf, ratchet_type(ct))
    reuse_guard = (rng or os.urandom)(4)
    ciphertext = cs.aead_seal(key_nonce.key, key_nonce.guarded_nonce(reuse_guard), aad, plaintext)

    sender_data = _sender_data_bytes(leaf, key_nonce.generation, reuse_guard)
    sd_key, sd_nonce = sender_data_key_nonce(cs, sender_data_secret, ciphertext)
    encrypted_sender_data = cs.aead_seal(sd_key, sd_nonce, sender_data_aad, sender_data)
    return PrivateMessage(
        group_id=fc.group_id,
        epoch=fc.epoch,
        content_type=ct,
        authenticated_data=fc.authenticated_data,
        encrypted_sender_data=encrypted_sender_data,
        ciphertext=ciphertext,
    )


def unprotect_private(
    cs: CipherSuite,
    message: PrivateMessage,
    *,
    group_context: GroupContext,
    secret_tree: SecretTree,
    sender_data_secret: bytes,
    signature_key: bytes | SignatureKeyLookup,
) -> AuthenticatedContent:
    """Decrypt and verify a PrivateMessage. The key it used is deleted from
    ``secret_tree`` only when everything checked out; on any error the tree is unchanged."""
    _check_group(message.group_id, message.epoch, group_context, "PrivateMessage")
    ct = message.content_type
    kind = ratchet_type(ct)

    # §6.3.2: the sender data, keyed from a sample of the content ciphertext.
    sender_data_aad = _sender_data_aad(message, ct)
    sd_key, sd_nonce = sender_data_key_nonce(cs, sender_data_secret, message.ciphertext)
    try:
        raw_sender_data = cs.aead_open(
            sd_key, sd_nonce, sender_data_aad, message.encrypted_sender_data
        )
    except CryptoError as e:
        raise CryptoError(
            f"RFC 9420 §6.3.2: PrivateMessage sender data does not decrypt ({e})"
        ) from e
    leaf, generation, reuse_guard = _decode_sender_data(raw_sender_data)
    sender = member_sender(leaf)

    # Nothing is deleted until the content decrypted and verified; then ``consume``
    # deletes the key without deriving it again.
    key_nonce, consume = secret_tree.prepare_receive(leaf, kind, generation)
    aad = _content_aad(message, ct, sender_data_aad)
    nonce = key_nonce.guarded_nonce(reuse_guard)
    try:
        plaintext = cs.aead_open(key_nonce.key, nonce, aad, message.ciphertext)
    except CryptoError as e:
        raise CryptoError(
            f"RFC 9420 §6.3.1: PrivateMessage content from leaf {leaf} generation {generation} "
            f"does not decrypt ({e})"
        ) from e
    fast = _application_body(plaintext) if ct == _APPLICATION else None
    data: bytes | None
    if fast is not None:
        data, proposal, commit = fast[0], None, None
        auth = FramedContentAuthData(signature=fast[1])
    else:
        body: PrivateMessageContent = tls.decode(
            plaintext, PrivateMessageContent, context=_ct_context(ct)
        )
        data, proposal, commit, auth = body.application_data, body.proposal, body.commit, body.auth
    fc = FramedContent(
        group_id=message.group_id,
        epoch=message.epoch,
        sender=sender,
        authenticated_data=message.authenticated_data,
        content_type=ct,
        application_data=data,
        proposal=proposal,
        commit=commit,
    )
    content = AuthenticatedContent(
        wire_format=WireFormat.mls_private_message, content=fc, auth=auth
    )
    verify_signature(cs, _lookup_key(signature_key, sender), content, group_context)
    consume()
    return content


def to_mls_message(message: PublicMessage | PrivateMessage) -> MLSMessage:
    """Wrap a framed message in an MLSMessage."""
    if isinstance(message, PublicMessage):
        return MLSMessage(wire_format=WireFormat.mls_public_message, public_message=message)
    return MLSMessage(wire_format=WireFormat.mls_private_message, private_message=message)


def framed_message(message: MLSMessage) -> PublicMessage | PrivateMessage:
    """The PublicMessage or PrivateMessage inside an MLSMessage, after checking that its
    version is mls10 (the only version RFC 9420 defines) and that it is one of the two."""
    if message.version != ProtocolVersion.mls10:
        raise ValidationError(
            "RFC 9420 §6: MLSMessage.version must be mls10", detail=f"got {message.version!r}"
        )
    if message.wire_format == WireFormat.mls_public_message and message.public_message:
        return message.public_message
    if message.wire_format == WireFormat.mls_private_message and message.private_message:
        return message.private_message
    raise ValidationError(
        "RFC 9420 §6: expected a PublicMessage or PrivateMessage",
        detail=f"wire_format={message.wire_format!r}",
    )


__all__ = [
    "PaddingPolicy",
    "SignatureKeyLookup",
    "authenticate",
    "authenticated_content",
    "content_tbs",
    "decode_private_message",
    "framed_content",
    "framed_message",
    "member_sender",
    "membership_tag",
    "no_padding",
    "pad_to_multiple",
    "private_message_bytes",
    "protect_private",
    "protect_public",
    "sign_framed_content",
    "to_mls_message",
    "unprotect_private",
    "unprotect_public",
    "verify_signature",
]
