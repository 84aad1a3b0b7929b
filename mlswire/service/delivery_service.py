"""The Delivery Service (RFC 9750 §4, §5.2): KeyPackage directory, group fan-out,
per-device store-and-forward queues, strict commit sequencing.

This module is the DS's logic without HTTP (:mod:`.http` puts it on the wire) and
without SQL (:mod:`.store` keeps it). It never holds group secrets: from a message it
reads only the cleartext header of RFC 9420 §6 (wire format, ``group_id``, ``epoch``,
``content_type``, and for a PublicMessage the sender type) through the schema codec.
Application messages are accepted only as PrivateMessage, so the store holds their
ciphertext only (RFC 9420 §6.2 forbids application data in a PublicMessage anyway).

Group membership at the DS ("who gets a copy") follows the DS's own view of the group
(:mod:`.group_view`, the engine's PublicGroup): the creator uploads the group's
GroupInfo and ratchet tree, the DS verifies them and derives the roster from the tree;
every proposal and commit (PublicMessage) is verified against the view before it is
sequenced, and a commit's effect on the roster is read from the verified commit. The
``add``/``remove`` fields a client may still send are ignored for such groups.

Only a DS started with ``follow_groups=False`` (``mlswire serve
--unverified-groups``, for tests and benchmarks that send synthetic messages) also
takes groups created without a GroupInfo; for those it trusts the committer's
``add``/``remove`` as before (and reads only headers).

Devices: a device registers its AS-issued X.509 credential with the DS (the request
signed with the certified key is the proof of possession); every later request is
signed with that key (:mod:`.signing`), and the credential is re-checked against the AS
policy (revocation, expiry) on each request.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography import x509

from ..codecs import tls
from ..engine.group import Member, PublicGroup
from ..errors import DecodeError, ValidationError
from ..schema import (
    ContentType,
    Credential,
    CredentialType,
    MLSMessage,
    SenderType,
    WireFormat,
)
from .auth_service import CertifiedIdentity, CredentialPolicy, mls_public_key, split_address
from .contract import (
    BadRequest,
    Conflict,
    DSError,
    Forbidden,
    Gone,
    NotFound,
    Unauthorized,
    b64,
    compact_json,
    unb64,
)
from .group_view import HandshakeCheck, ViewCache, check_group_info, follow, roster
from .signing import MAX_SKEW, AuthHeader
from .store import Device, QueuedMessage, SendResult, Store, Submission, not_member

T = TypeVar("T")

MAX_KEY_PACKAGES_PER_REQUEST = 100
MAX_FETCH = 500

# The suite recorded for a device only selects the signature scheme its requests are
# verified with; suites sharing a scheme (1 and 3, 4 and 6) are interchangeable here.
_SUITE_OF_KEY_LENGTH = {32: 1, 57: 4, 65: 2, 97: 7, 133: 5}


@dataclass(frozen=True)
class MessageHeader:
    """What the DS may read from an MLSMessage (RFC 9420 §6): the cleartext header."""

    wire_format: int
    group_id: bytes
    epoch: int
    content_type: int
    sender_type: int  # 0 for PrivateMessage: the sender is encrypted
    leaf_signature_key: bytes | None = None  # a PublicMessage commit's path leaf key


@dataclass(frozen=True)
class Request:
    """A request whose signature and credential verified (:meth:`DeliveryService.
    verify`), its nonce not yet spent (:meth:`DeliveryService.serve` does)."""

    device: Device
    nonce: str
    now: float
    signed: tuple[str, str, bytes, str | None] = field(repr=False)  # to verify again
    fresh: bool = False  # the device was read from the store, not the cache


class _StaleKey(Exception):
    """The device's registered key is not the one the request was verified with."""


def decode_message(data: bytes, what: str) -> MLSMessage:
    """Decode MLSMessage bytes; a BadRequest names the field and offset that failed."""
    try:
        msg: MLSMessage = tls.decode(data, MLSMessage)
    except DecodeError as e:
        raise BadRequest(f"{what}: malformed MLSMessage: {e}") from None
    return msg


def read_header(data: bytes, what: str = "message") -> MessageHeader:
    msg = decode_message(data, what)
    if msg.wire_format == WireFormat.mls_private_message and msg.private_message is not None:
        pm = msg.private_message
        if pm.content_type != ContentType.application:
            # The DS sequences handshakes, so it must be able to read them (the
            # sender, the proposals, a commit's path); PrivateMessage hides all that.
            raise BadRequest(
                f"{what}: a {getattr(pm.content_type, 'name', pm.content_type)} in a PrivateMessage is"
                " refused: this DS takes handshake messages (proposals, commits) only as"
                " PublicMessage (GroupConfig handshake_wire_format='public', the SDK's"
                " setting for service groups)"
            )
        return MessageHeader(int(msg.wire_format), pm.group_id, pm.epoch, int(pm.content_type), 0)
    if msg.wire_format == WireFormat.mls_public_message and msg.public_message is not None:
        content = msg.public_message.content
        if content.content_type == ContentType.application:
            raise BadRequest(
                f"{what}: application data in a PublicMessage is not allowed (RFC 9420 §6.2);"
                " the DS stores application messages only as PrivateMessage ciphertext"
            )
        leaf_key = None
        if content.commit is not None and content.commit.path is not None:
            leaf_key = content.commit.path.leaf_node.signature_key
        return MessageHeader(
            int(msg.wire_format),
            content.group_id,
            content.epoch,
            int(content.content_type),
            int(content.sender.sender_type),
            leaf_key,
        )
    raise BadRequest(
        f"{what}: wire format {msg.wire_format!r} cannot be sent to a group; send a"
        " PublicMessage or PrivateMessage (Welcome and GroupInfo go beside a commit)"
    )


def suite_for_key(signature_key: bytes) -> int:
    try:
        return _SUITE_OF_KEY_LENGTH[len(signature_key)]
    except KeyError:
        raise BadRequest("certificate key is not an MLS signature key") from None


class DeliveryService:
    """The DS operations, each authorised for one authenticated device."""

    def __init__(
        self,
        store: Store,
        policy: CredentialPolicy,
        *,
        max_skew: float = MAX_SKEW,
        clock: Any = time.time,
        queue_retention: float | None = None,
        follow_groups: bool = True,
    ) -> None:
        self.store = store
        # True: every group is created from a verified GroupInfo and its handshakes are
        # verified (the default). False also takes groups without one (header-only).
        self.follow_groups = follow_groups
        # Seconds a queued message is kept for an offline device (None: forever); a
        # device that comes back after that is told how many it lost and rejoins.
        self.queue_retention = queue_retention
        self.policy = policy
        self.max_skew = max_skew
        self.clock = clock
        # Credential checks are cached per credential (a signature verification each);
        # revocation and expiry are still checked on every request.
        self._verified: dict[bytes, CertifiedIdentity] = {}
        self._devices: dict[str, Device] = {}  # registered devices (see _device)
        self.views = ViewCache()  # verified group views by stored state (group_view)
        self._lock = threading.Lock()

    # -- authentication --
    def _identity(self, credential: bytes, signature_key: bytes) -> CertifiedIdentity:
        with self._lock:
            ident = self._verified.get(credential)
        if ident is None:
            try:
                ident = self.policy.check_bytes(credential, signature_key)
            except ValidationError as e:
                raise Unauthorized(f"credential refused: {e}") from None
            with self._lock:
                if len(self._verified) > 10_000:
                    self._verified.clear()
                self._verified[credential] = ident
        if ident.serial in self.policy.revoked():
            raise Unauthorized(f"credential of {ident.address} is revoked")
        if ident.not_after < self.clock():
            raise Unauthorized(f"credential of {ident.address} has expired")
        return ident

    def _device(self, address: str, fresh: bool = False) -> Device | None:
        """The registered device, from this process's cache unless ``fresh``. The
        cache only saves a read: the transaction that spends a request's nonce
        checks the key is still the registered one (:meth:`.store.SqlStore.spend_nonce`)."""
        if not fresh:
            with self._lock:
                cached = self._devices.get(address)
            if cached is not None:
                return cached
        device = self.store.device(address)
        with self._lock:
            if device is None:
                self._devices.pop(address, None)
            else:
                if len(self._devices) > 100_000:
                    self._devices.clear()
                self._devices[address] = device
        return device

    def verify(
        self, method: str, target: str, body: bytes, header: str | None, fresh: bool = False
    ) -> Request:
        """The request's signer, its signature and credential checked; nothing is
        written: :meth:`serve` spends the nonce in the operation's transaction."""
        req = self._verify(method, target, body, header, fresh, read=True)
        assert req is not None
        return req

    def verify_cached(
        self, method: str, target: str, body: bytes, header: str | None
    ) -> Request | None:
        """:meth:`verify` without reading the store, for an event loop: None when it
        would need a read (a device this process has not cached, or a signature that
        fails against the cached key, which may be stale), so that the caller
        verifies in a thread instead. Requests naming unknown devices or carrying
        forged signatures then never block the loop on the database."""
        return self._verify(method, target, body, header, fresh=False, read=False)

    def _verify(
        self, method: str, target: str, body: bytes, header: str | None, fresh: bool, read: bool
    ) -> Request | None:
        try:
            auth = AuthHeader.parse(header)
        except ValueError as e:
            raise Unauthorized(str(e)) from None
        if read:
            device = self._device(auth.device, fresh)
        else:
            with self._lock:
                device = self._devices.get(auth.device)
            if device is None:
                return None
        if device is None:
            raise Unauthorized(f"device {auth.device!r} is not registered with this DS")
        now = self.clock()
        try:
            auth.verify(
                device.suite, device.signature_key, method, target, body,
                now=now, max_skew=self.max_skew,
            )  # fmt: skip
        except ValueError as e:
            if not read:
                return None
            if not fresh:  # the device may have re-registered with a new key
                return self._verify(method, target, body, header, fresh=True, read=True)
            raise Unauthorized(str(e)) from None
        self._identity(device.credential, device.signature_key)
        return Request(device, auth.nonce, now, (method, target, body, header), fresh)

    def _spend(self, req: Request) -> None:
        why = self.store.spend_nonce(
            req.device.address, req.device.signature_key, req.nonce, req.now, 2 * self.max_skew + 60
        )
        if why == "replay":
            raise Unauthorized("request nonce already used (replayed request)")
        if why == "key":
            raise _StaleKey

    def serve(self, req: Request, operation: Callable[[], T]) -> T:
        """Run ``operation`` (store calls) and spend the request's nonce in one
        transaction. A refused operation changes nothing but still spends the nonce
        (in a transaction of its own), so a refused request cannot be replayed."""

        def tx() -> T:
            self._spend(req)
            return operation()

        try:
            return self.store.atomic(tx)
        except _StaleKey:
            if req.fresh:
                raise Unauthorized("the device's key changed during the request") from None
            # Re-registered through another process: verify against the new key.
            return self.serve(self.verify(*req.signed, fresh=True), operation)
        except (DSError, ValidationError) as refused:
            if isinstance(refused, Unauthorized):
                raise
            with contextlib.suppress(_StaleKey, Unauthorized):  # the refusal says more
                self.store.atomic(lambda: self._spend(req))
            raise

    async def serve_async(
        self,
        req: Request,
        operation: Callable[[], T],
        offload: Callable[[Callable[[], T]], Awaitable[T]],
    ) -> T:
        """:meth:`serve` from an event loop: when the store has a writer thread
        (SQLite) the transaction is handed to it and awaited, no thread blocks;
        otherwise (and for the rare retry with a changed key) :meth:`serve` runs
        through ``offload`` (a thread pool)."""

        def tx() -> T:
            self._spend(req)
            return operation()

        future = self.store.submit_atomic(tx)
        if future is None:
            return await offload(lambda: self.serve(req, operation))
        try:
            return await future
        except _StaleKey:
            return await offload(lambda: self.serve(req, operation))
        except (DSError, ValidationError) as refused:
            if isinstance(refused, Unauthorized):
                raise
            spent = self.store.submit_atomic(lambda: self._spend(req))
            if spent is not None:
                with contextlib.suppress(_StaleKey, Unauthorized):
                    await spent
            raise

    def authenticate(self, method: str, target: str, body: bytes, header: str | None) -> Device:
        """The registered device that signed this request, its nonce spent (a
        transaction of its own: for requests with no store operation, e.g. a push
        upgrade), or Unauthorized saying why."""
        req = self.verify(method, target, body, header)
        self.serve(req, lambda: None)
        return req.device

    def _check_signature(
        self, auth: AuthHeader, suite: int, key: bytes, method: str, target: str, body: bytes
    ) -> None:
        now = self.clock()
        try:
            auth.verify(suite, key, method, target, body, now=now, max_skew=self.max_skew)
        except ValueError as e:
            raise Unauthorized(str(e)) from None
        # Only a verified request spends a nonce, so forged requests change nothing.
        if not self.store.use_nonce(auth.device, auth.nonce, now, 2 * self.max_skew + 60):
            raise Unauthorized("request nonce already used (replayed request)")

    def register(
        self,
        address: str,
        credential_b64: Any,
        method: str,
        target: str,
        body: bytes,
        header: str | None,
    ) -> Device:
        """Register (or re-register) a device with its AS credential. The request must
        be signed with the certified key: that is the proof of possession."""
        user, _ = split_address(address)
        try:
            auth = AuthHeader.parse(header)
        except ValueError as e:
            raise Unauthorized(str(e)) from None
        if auth.device != address:
            raise Forbidden(f"a request signed as {auth.device} cannot register {address}")
        credential = unb64(credential_b64, "credential")
        try:
            cred = tls.decode(credential, Credential)
        except DecodeError as e:
            raise BadRequest(f"credential: malformed Credential: {e}") from None
        if cred.credential_type != CredentialType.x509 or not cred.certificates:
            raise Unauthorized("credential refused: only x509 credentials issued by the AS")
        try:
            cert = x509.load_der_x509_certificate(cred.certificates[0].cert_data)
            key = mls_public_key(cert.public_key())
        except (ValueError, ValidationError) as e:
            raise Unauthorized(f"credential refused: {e}") from None
        suite = suite_for_key(key)
        self._check_signature(auth, suite, key, method, target, body)
        ident = self._identity(credential, key)
        if ident.address != address:
            raise Forbidden(f"the credential certifies {ident.address}, not {address}")
        device = Device(address, user, suite, key, credential)
        self.store.register_device(device)
        with self._lock:
            self._devices[address] = device
        return device

    # -- KeyPackages --
    @staticmethod
    def require_own(device: Device, address: str, what: str) -> None:
        if device.address != address:
            raise Forbidden(f"{device.address} cannot {what} of {address}")

    def publish_key_packages(self, device: Device, address: str, body: dict[str, Any]) -> int:
        self.require_own(device, address, "publish the KeyPackages")
        items = body.get("key_packages", [])
        if not isinstance(items, list) or len(items) > MAX_KEY_PACKAGES_PER_REQUEST:
            raise BadRequest(
                f"key_packages: a list of at most {MAX_KEY_PACKAGES_PER_REQUEST} base64 strings"
            )
        kps = [
            self._key_package(device, unb64(v, f"key_packages[{i}]"), f"key_packages[{i}]")
            for i, v in enumerate(items)
        ]
        last = body.get("last_resort")
        last_resort = None
        if last is not None:
            last_resort = self._key_package(device, unb64(last, "last_resort"), "last_resort")
        if not kps and last_resort is None:
            raise BadRequest("nothing to publish: give key_packages and/or last_resort")
        return self.store.publish_key_packages(address, kps, last_resort)

    def _key_package(self, device: Device, data: bytes, what: str) -> bytes:
        msg = decode_message(data, what)
        if msg.wire_format != WireFormat.mls_key_package or msg.key_package is None:
            raise BadRequest(f"{what}: expected an MLSMessage with a KeyPackage")
        leaf = msg.key_package.leaf_node
        if leaf.signature_key != device.signature_key:
            raise Forbidden(f"{what}: the KeyPackage is not signed by {device.address}'s key")
        try:
            self.policy(leaf.credential, leaf.signature_key)
        except ValidationError as e:
            raise Forbidden(f"{what}: credential refused: {e}") from None
        return data

    def current(self, address: str) -> Device | None:
        """The registered device ``address`` if its credential is current (neither
        revoked nor expired), else None."""
        target = self.store.device(address)
        if target is None:
            return None
        try:
            self._identity(target.credential, target.signature_key)
        except Unauthorized:
            return None
        return target

    def user_devices(self, user: str) -> list[str]:
        """The user's registered devices whose credential is current: a revoked device
        is not offered to inviters."""
        return [a for a in self.store.user_devices(user) if self.current(a) is not None]

    def claim_key_package(self, device: Device, address: str) -> tuple[bytes, bool]:
        split_address(address)
        if self.store.device(address) is not None and self.current(address) is None:
            raise Gone(f"{address}'s credential is revoked or expired: no KeyPackage of it")
        got = self.store.claim_key_package(address)
        if got is None:
            raise NotFound(f"no KeyPackage available for {address}")
        return got

    # -- groups and messages --
    def create_group(self, device: Device, body: dict[str, Any]) -> bytes:
        return self.prepare_group(device, body)()

    def prepare_group(self, device: Device, body: dict[str, Any]) -> Callable[[], bytes]:
        """Check a new group (its GroupInfo and tree: the costly part, done before any
        transaction); the returned call stores it."""
        group_id = unb64(body.get("group_id"), "group_id")
        if not 1 <= len(group_id) <= 255:
            raise BadRequest("group_id: 1 to 255 bytes")
        epoch = body.get("epoch", 0)
        if not isinstance(epoch, int) or epoch < 0:
            raise BadRequest("epoch: a non-negative integer")
        info = None
        if body.get("group_info") is None:
            if self.follow_groups:
                raise BadRequest(
                    "group_info: required (the group's signed GroupInfo with its ratchet"
                    " tree): this DS verifies every group's handshakes against it"
                )

            def header_only() -> bytes:
                self.store.create_group(group_id, device.address, epoch, None)
                return group_id

            return header_only
        info = self._group_info(unb64(body["group_info"], "group_info"), group_id, epoch)
        tree = None
        if body.get("ratchet_tree") is not None:
            tree = unb64(body["ratchet_tree"], "ratchet_tree")
        view = follow(info, tree, group_id, self.policy.engine_policy())
        devices = roster(view)
        if device.address not in devices:
            raise BadRequest(f"group_info: its tree has no leaf of the creator {device.address}")
        for m in view.members.values():
            self._certify(m)
        state = view.to_bytes()
        self.views.put(group_id, state, view)  # used only if these bytes get stored

        def store() -> bytes:
            self.store.create_group(group_id, device.address, epoch, info, state, devices)
            return group_id

        return store

    def _certify(self, m: Member) -> str:
        """The device a leaf the DS is to let in names, if the AS certified it (current
        credential, the leaf's key): a Forbidden otherwise."""
        try:
            ident = self._identity(tls.encode(m.credential, Credential), m.signature_key)
        except Unauthorized as e:
            raise Forbidden(f"leaf {m.leaf_index}: {e}") from None
        return ident.address

    @staticmethod
    def _group_info(data: bytes, group_id: bytes, epoch: int) -> bytes:
        msg = decode_message(data, "group_info")
        if msg.wire_format != WireFormat.mls_group_info or msg.group_info is None:
            raise BadRequest("group_info: expected an MLSMessage with a GroupInfo")
        ctx = msg.group_info.group_context
        if ctx.group_id != group_id or ctx.epoch != epoch:
            raise BadRequest(
                f"group_info: is for group {ctx.group_id.hex()} epoch {ctx.epoch}, expected"
                f" group {group_id.hex()} epoch {epoch}"
            )
        return data

    def group(self, device: Device, group_id: bytes) -> dict[str, Any]:
        rec = self.store.group(group_id)
        if rec is None or device.address not in rec.members:
            raise not_member(device.address, group_id)
        return {
            "group_id": b64(group_id),
            "epoch": rec.epoch,
            "members": list(rec.members),
            "has_group_info": rec.group_info is not None,
        }

    def group_info(self, device: Device, group_id: bytes) -> bytes:
        rec = self.store.group(group_id)
        # Members only: a device that lost its state is still on the roster and uses
        # this to rejoin by external commit; outsiders learn nothing about the group.
        if rec is None or device.address not in rec.members:
            raise not_member(device.address, group_id)
        if rec.group_info is None:
            raise NotFound(f"no GroupInfo published for group {group_id.hex()} epoch {rec.epoch}")
        return rec.group_info

    def put_group_info(self, device: Device, group_id: bytes, data: bytes) -> None:
        msg = decode_message(data, "body")
        if msg.group_info is None:
            raise BadRequest("body: expected an MLSMessage with a GroupInfo")
        ctx = msg.group_info.group_context
        if ctx.group_id != group_id:
            raise BadRequest(f"body: GroupInfo is for group {ctx.group_id.hex()}")

        def check(state: bytes) -> None:
            view = PublicGroup.from_bytes(state, policy=self.policy.engine_policy())
            check_group_info(view, data, "body")

        self.store.set_group_info(group_id, device.address, ctx.epoch, data, check)

    def send(self, device: Device, body: dict[str, Any]) -> tuple[SendResult, Submission]:
        sub = self.submission(device, body)
        return self.store.submit(sub), sub

    def submission(self, device: Device, body: dict[str, Any]) -> Submission:
        """A send's body decoded and checked (before any transaction); the store's
        ``submit`` sequences and fans it out (a handshake verified under the group's
        lock, in that transaction)."""
        message = unb64(body.get("message"), "message")
        header = read_header(message)
        is_commit = header.content_type == ContentType.commit
        welcome = group_info = None
        add = self._addresses(body.get("add", []), "add")
        remove = self._addresses(body.get("remove", []), "remove")
        if body.get("welcome") is not None:
            welcome = unb64(body["welcome"], "welcome")
            msg = decode_message(welcome, "welcome")
            if msg.wire_format != WireFormat.mls_welcome:
                raise BadRequest("welcome: expected an MLSMessage with a Welcome")
            if not add:
                raise BadRequest("welcome: given without any device to add")
        if body.get("group_info") is not None:
            group_info = self._group_info(
                unb64(body["group_info"], "group_info"), header.group_id, header.epoch + 1
            )
        if not is_commit and (add or remove or welcome or group_info):
            raise BadRequest("add, remove, welcome and group_info go only with a commit")
        if header.sender_type == SenderType.new_member_commit and (
            header.leaf_signature_key != device.signature_key
        ):
            raise Forbidden(
                "external commit: its leaf must carry the sending device's registered key"
            )
        sub = Submission(
            sender=device.address,
            group_id=header.group_id,
            epoch=header.epoch,
            content_type=header.content_type,
            sender_type=header.sender_type,
            message=message,
            welcome=welcome,
            group_info=group_info,
            add=add,
            remove=remove,
            # Only handshakes are verified (an application message is ciphertext).
            verify=None
            if header.content_type == ContentType.application
            else HandshakeCheck(
                device.address,
                message,
                group_info,
                self._certify,
                self.policy.engine_policy(),
                header.group_id,
                self.views,
            ),
        )
        return sub

    @staticmethod
    def _addresses(value: Any, what: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequest(f"{what}: a list of user/device strings")
        for v in value:
            try:
                split_address(v)
            except ValidationError as e:
                raise BadRequest(f"{what}: {e}") from None
        if len(set(value)) != len(value):
            raise BadRequest(f"{what}: duplicate devices")
        return tuple(value)

    # -- queues --
    def fetch(self, device: Device, address: str, after: int, limit: int) -> list[QueuedMessage]:
        self.require_own(device, address, "read the queue")
        if self.queue_retention is not None:
            self.store.expire(self.clock() - self.queue_retention, address)
        return self.store.fetch(address, after, max(1, min(limit, MAX_FETCH)))

    def fetch_with_lost(
        self, device: Device, address: str, after: int, limit: int
    ) -> tuple[list[QueuedMessage], int]:
        """:meth:`fetch` and :meth:`lost` in one store transaction (a long-poll round,
        a push)."""
        self.require_own(device, address, "read the queue")
        before = None
        if self.queue_retention is not None:
            before = self.clock() - self.queue_retention
        return self.store.read_queue(address, after, max(1, min(limit, MAX_FETCH)), before)

    def lost(self, device: Device) -> int:
        """How many of the device's messages expired unread since its last ack."""
        return self.store.lost(device.address)

    def ack(self, device: Device, address: str, up_to: Any) -> int:
        return self.store.ack(address, self.check_ack(device, address, up_to))

    def check_ack(self, device: Device, address: str, up_to: Any) -> int:
        """The seq an ack of ``device`` for ``address``'s queue names, or the refusal."""
        self.require_own(device, address, "acknowledge the queue")
        # JSON true is no seq, though bool is an int in Python.
        if not isinstance(up_to, int) or isinstance(up_to, bool) or up_to < 0:
            raise BadRequest("up_to: a non-negative integer (a seq from the queue)")
        return up_to


def entry_tail(m: QueuedMessage) -> str:
    """A queue entry's JSON object without its opening brace and seq: the part the
    copies of one send share (they differ only in their recipient's seq), so a
    fan-out encodes it, and base64s the message, once."""
    return compact_json(
        {
            "kind": m.kind,
            "group_id": b64(m.group_id),
            "sender": m.sender,
            "epoch": m.epoch,
            "content_type": m.content_type,
            "data": b64(m.data),
            "received_at": m.received_at,
        }
    )[1:]


def entry_text(m: QueuedMessage, tail: str | None = None) -> str:
    """A queue entry as the compact JSON object of the API (queue answers and push
    frames): ``{"seq": ..., "kind": ..., "group_id": ..., "sender": ..., "epoch":
    ..., "content_type": ..., "data": ..., "received_at": ...}``."""
    return f'{{"seq":{m.seq},{entry_tail(m) if tail is None else tail}'


def messages_text(entries: Iterable[str], extra: dict[str, Any] | None = None) -> str:
    """``{"messages": [...], **extra}`` from entries already encoded (:func:`entry_text`)."""
    head = '{"messages":[' + ",".join(entries) + "]"
    if not extra:
        return head + "}"
    return head + "," + compact_json(extra)[1:]


__all__ = [
    "Conflict",
    "DeliveryService",
    "MessageHeader",
    "decode_message",
    "entry_tail",
    "entry_text",
    "messages_text",
    "read_header",
]
