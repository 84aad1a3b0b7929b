"""Client side of the mlswire services: the client SDK (also importable as
``mlswire.client``).

It depends on the wire contract (:mod:`.contract`), request signing (:mod:`.signing`),
the AS's credential policy and the engine; never on the servers' HTTP framework, the DS
or its store (``tests/test_layers.py`` checks), so an application embedding it loads no
server code.

Two levels:

* :class:`ServiceClient`: the HTTP API of the AS and the DS, every request signed with
  the device's key (:mod:`mlswire.service.signing`); refusals raise
  :class:`ServiceError` with the HTTP status and the server's message.
  :class:`DeviceKeys` is a device's identity (user, device, MLS signature key pair and
  the credential the AS issued).
* :class:`MLSClient`: one device running MLS groups through the DS with the engine
  (:mod:`mlswire.engine.group`): register, create a group, invite users (every device
  of theirs), send, receive, remove, update, leave, rejoin by external commit after a
  state loss. Its state lives in a private directory (:mod:`.files`) and is saved
  after every change, before the DS queue is acknowledged, so a restarted client
  continues where it stopped; what it received reaches the application at least once
  and takes effect exactly once (:meth:`MLSClient.receive`).

>>> keys = DeviceKeys.generate("alice", "phone")
>>> keys.address
'alice/phone'

The MLS group logic stays in :mod:`mlswire.engine`; this module moves its bytes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..crypto import cipher_suite, labeled
from .contract import REGISTER_LABEL, b64, compact_json, error_message, registration_content
from .files import private_dir, write_private
from .push_client import Delivered, PushBroken, PushChannel, PushRefused
from .signing import sign_request

# After the DS refused a push upgrade (an older DS, a proxy without WebSockets), the
# SDK long-polls for this many seconds before trying push again.
PUSH_RETRY = 60.0


class ServiceError(Exception):
    """The AS or DS refused a request: ``status`` (HTTP) and the server's ``message``."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"HTTP {status}: {message}")


@dataclass
class DeviceKeys:
    user: str
    device: str
    suite: int
    signature_private_key: bytes = field(repr=False)
    signature_public_key: bytes
    credential: bytes | None = None  # TLS-encoded Credential, once the AS issued it

    @property
    def address(self) -> str:
        return f"{self.user}/{self.device}"

    @classmethod
    def generate(cls, user: str, device: str, suite: int = 1) -> DeviceKeys:
        sk, pk = cipher_suite(suite).signature_key_pair()
        return cls(user, device, suite, sk, pk)

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "device": self.device,
            "suite": self.suite,
            "signature_private_key": b64(self.signature_private_key),
            "signature_public_key": b64(self.signature_public_key),
            "credential": None if self.credential is None else b64(self.credential),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DeviceKeys:
        cred = d.get("credential")
        return cls(
            d["user"],
            d["device"],
            int(d["suite"]),
            base64.b64decode(d["signature_private_key"]),
            base64.b64decode(d["signature_public_key"]),
            None if cred is None else base64.b64decode(cred),
        )


def _unb64(value: str) -> bytes:
    return base64.b64decode(value)


class ServiceClient:
    """A device's connection to the AS (``as_url``) and the DS (``ds_url``)."""

    def __init__(
        self,
        keys: DeviceKeys,
        ds_url: str,
        as_url: str | None = None,
        *,
        timeout: float = 30.0,
        push: bool = True,
    ) -> None:
        self.keys = keys
        self.ds_url = ds_url.rstrip("/")
        self.as_url = (as_url or ds_url).rstrip("/")
        self._http = httpx.Client(timeout=timeout)
        self.lost = 0
        self.lost_warning = ""
        # Push delivery (next_batch): the open channel, and until when to long-poll
        # instead after the DS refused the upgrade. False: always long-poll.
        self.push = push
        self._push: PushChannel | None = None
        self._push_retry_at = 0.0
        self.pushed = 0  # entries next_batch handed out from the push channel

    def close(self) -> None:
        self.drop_push()
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --
    def request(
        self,
        method: str,
        target: str,
        payload: dict[str, Any] | None = None,
        *,
        base: str | None = None,
        signer: DeviceKeys | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        raw: bytes | None = None,
    ) -> httpx.Response:
        """Send one request (a JSON ``payload`` or ``raw`` bytes), signed by ``signer``
        (default: this device), and raise ServiceError for a 4xx/5xx answer."""
        if raw is not None:
            body, hdrs = raw, {"content-type": "application/octet-stream"}
        elif payload is not None:
            body = compact_json(payload).encode()
            hdrs = {"content-type": "application/json"}
        else:
            body, hdrs = b"", {}
        k = signer or self.keys
        hdrs["authorization"] = sign_request(
            k.suite, k.signature_private_key, k.address, method, target, body
        )
        hdrs.update(headers or {})
        r = self._http.request(
            method,
            (base or self.ds_url) + target,
            content=body,
            headers=hdrs,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        if r.status_code >= 400:
            try:
                message = error_message(r.json(), r.text)
            except ValueError:
                message = r.text
            raise ServiceError(r.status_code, message)
        return r

    # -- Authentication Service --
    def as_register(
        self, *, approver: DeviceKeys | None = None, admin_token: str | None = None
    ) -> bytes:
        """Get this device's key certified; ``approver`` is another current device of
        the same user (needed for every device after the user's first)."""
        k = self.keys
        proof = labeled.sign_with_label(
            cipher_suite(k.suite),
            k.signature_private_key,
            REGISTER_LABEL,
            registration_content(k.user, k.device, k.signature_public_key),
        )
        payload = {
            "user": k.user,
            "device": k.device,
            "suite": k.suite,
            "signature_key": b64(k.signature_public_key),
            "proof": b64(proof),
        }
        headers = {"authorization": f"Bearer {admin_token}"} if admin_token else None
        r = self.request(
            "POST",
            "/as/register",
            payload,
            base=self.as_url,
            signer=approver or k,
            headers=headers,
        )
        k.credential = _unb64(r.json()["credential"])
        return k.credential

    def as_revoke(self, user: str, device: str) -> list[str]:
        r = self.request("POST", "/as/revoke", {"user": user, "device": device}, base=self.as_url)
        revoked: list[str] = r.json()["revoked"]
        return revoked

    def as_root(self) -> bytes:
        return self._http.get(self.as_url + "/as/root").content

    def as_crl(self) -> bytes:
        return self._http.get(self.as_url + "/as/crl").content

    # -- Delivery Service --
    def _dev(self, address: str | None = None) -> str:
        return "/v1/devices/" + (address or self.keys.address)

    def register(self) -> None:
        """Register this device's credential with the DS."""
        if self.keys.credential is None:
            raise ValueError("no credential: call as_register() first")
        self.request("PUT", self._dev(), {"credential": b64(self.keys.credential)})

    def user_devices(self, user: str) -> list[str]:
        devices: list[str] = self.request("GET", f"/v1/users/{user}/devices").json()["devices"]
        return devices

    def publish_key_packages(
        self, key_packages: Sequence[bytes], last_resort: bytes | None = None
    ) -> int:
        payload: dict[str, Any] = {"key_packages": [b64(k) for k in key_packages]}
        if last_resort is not None:
            payload["last_resort"] = b64(last_resort)
        n: int = self.request("POST", self._dev() + "/key-packages", payload).json()["available"]
        return n

    def key_package_count(self) -> int:
        n: int = self.request("GET", self._dev() + "/key-packages").json()["available"]
        return n

    def claim_key_package(self, address: str) -> tuple[bytes, bool]:
        d = self.request("POST", self._dev(address) + "/key-packages/claim").json()
        return _unb64(d["key_package"]), bool(d["last_resort"])

    def create_group(
        self, group_id: bytes, *, epoch: int = 0, group_info: bytes | None = None
    ) -> None:
        payload: dict[str, Any] = {"group_id": b64(group_id), "epoch": epoch}
        if group_info is not None:
            payload["group_info"] = b64(group_info)
        self.request("POST", "/v1/groups", payload)

    def group(self, group_id: bytes) -> dict[str, Any]:
        d: dict[str, Any] = self.request("GET", f"/v1/groups/{group_id.hex()}").json()
        return d

    def group_info(self, group_id: bytes) -> bytes:
        d = self.request("GET", f"/v1/groups/{group_id.hex()}/group-info").json()
        return _unb64(d["group_info"])

    def put_group_info(self, group_id: bytes, group_info: bytes) -> None:
        self.request(
            "PUT", f"/v1/groups/{group_id.hex()}/group-info", {"group_info": b64(group_info)}
        )

    def send(
        self,
        message: bytes,
        *,
        welcome: bytes | None = None,
        group_info: bytes | None = None,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Send an MLSMessage to its group (the DS reads the group from its header).
        A commit answered with 409 lost the race for its epoch: process the queue and
        commit again."""
        payload: dict[str, Any] = {
            "message": b64(message),
            "add": list(add),
            "remove": list(remove),
        }
        if welcome is not None:
            payload["welcome"] = b64(welcome)
        if group_info is not None:
            payload["group_info"] = b64(group_info)
        d: dict[str, Any] = self.request("POST", "/v1/messages", payload).json()
        return d

    def put_blob(self, group_id: bytes, data: bytes) -> str:
        """Store an (encrypted) attachment for the group; returns its id."""
        blob_id: str = self.request("POST", f"/v1/groups/{group_id.hex()}/blobs", raw=data).json()[
            "id"
        ]
        return blob_id

    def get_blob(self, group_id: bytes, blob_id: str) -> bytes:
        return self.request("GET", f"/v1/groups/{group_id.hex()}/blobs/{blob_id}").content

    def fetch(self, *, after: int = 0, limit: int = 100, wait: int = 0) -> list[Delivered]:
        """This device's queued messages in order (unacknowledged ones come again);
        ``wait`` long-polls up to that many seconds for the first one."""
        target = self._dev() + f"/queue?after={after}&limit={limit}&wait={wait}"
        r = self.request("GET", target, timeout=wait + 30.0)
        body = r.json()
        # The DS says when messages expired unread (queue retention): this device is
        # behind in some groups and must rejoin them.
        self.lost = int(body.get("lost", 0))
        self.lost_warning = str(body.get("warning", ""))
        return [Delivered.from_json(m) for m in body["messages"]]

    def push_url(self, after: int = 0) -> tuple[str, str]:
        """The ws(s):// URL of this device's push connection and its signed
        ``Authorization`` header (the GET of ``.../push?after=N``, as for the queue)."""
        target = self._dev() + f"/push?after={after}"
        k = self.keys
        auth = sign_request(k.suite, k.signature_private_key, k.address, "GET", target, b"")
        scheme, rest = self.ds_url.split("://", 1)
        return ("wss" if scheme == "https" else "ws") + "://" + rest + target, auth

    def _channel(self) -> PushChannel | None:
        """The open push channel, opened if need be; None: long-poll (push is off, the
        DS refused the upgrade lately, or it cannot be reached: then the long-poll
        says so as an HTTP error)."""
        if self._push is None and self.push and time.monotonic() >= self._push_retry_at:
            try:
                self._push = PushChannel(*self.push_url())
            except PushRefused as e:
                if e.status in (401, 403):
                    raise ServiceError(e.status, e.message) from None
                self._push_retry_at = time.monotonic() + PUSH_RETRY
            except PushBroken:
                pass
        return self._push

    def drop_push(self) -> None:
        """Close the push channel. The next :meth:`next_batch` opens a new one, which
        sends every unacknowledged entry again (also those this one handed out)."""
        if self._push is not None:
            with contextlib.suppress(Exception):
                self._push.close()
            self._push = None

    def next_batch(self, *, limit: int = 100, wait: int = 0) -> list[Delivered]:
        """The next entries of this device's queue, in order: pushed over a WebSocket
        when the DS offers it, else long-polled (:meth:`fetch`). Waits up to ``wait``
        seconds for the first. Entries are deleted only by :meth:`ack`.

        ``wait=0`` means "what is queued now": a push may still be in flight, so what
        has been pushed is completed by one read of the queue over HTTP."""
        channel = self._channel()
        if channel is not None:
            try:
                got = channel.take(limit, wait)
                self.pushed += len(got)
                self.lost, self.lost_warning = channel.lost, channel.lost_warning
                if wait > 0 or len(got) == limit:
                    return got
                # Everything pushed so far is handed out (got is short): read the rest.
                try:
                    more = self.fetch(after=channel.through, limit=limit - len(got))
                except (ServiceError, httpx.HTTPError):
                    if got:
                        return got  # handed out: never dropped on the floor
                    raise
                if more:
                    channel.skip_through(more[-1].seq)  # not again by push
                return got + more
            except PushBroken:
                self.drop_push()
        return self.fetch(limit=limit, wait=wait)

    def ack(self, up_to: int) -> int | None:
        """Delete every entry of this device's queue up to ``up_to``: over the push
        connection when one is open (not answered: None), else over HTTP (the number
        deleted)."""
        if self._push is not None:
            try:
                self._push.ack(up_to)
                self.lost, self.lost_warning = 0, ""
                return None
            except PushRefused as e:
                raise ServiceError(e.status, e.message) from None
            except PushBroken:
                self.drop_push()
        n: int = self.request("POST", self._dev() + "/queue/ack", {"up_to": up_to}).json()[
            "deleted"
        ]
        return n


# --- the MLS client --------------------------------------------------------------------------

# Attachments: an application message that starts with this prefix is a JSON reference
# to a blob at the DS, encrypted with AES-GCM under MLS-Exporter(ATTACHMENT_LABEL,
# context, 32) of the epoch in which the reference is sent (RFC 9420 §8.5).
ATTACHMENT_PREFIX = b"\x00mlswire-attachment:"
ATTACHMENT_LABEL = b"mlswire attachment"


class Invited(list[str]):
    """The devices :meth:`MLSClient.invite` added, and in ``skipped`` those it did not
    add (revoked, expired, no KeyPackage) with the reason for each."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: dict[str, str] = {}


@dataclass(frozen=True)
class Event:
    """What :meth:`MLSClient.receive` observed.

    ``kind``: ``"joined"`` (a Welcome added this device), ``"message"`` (application
    data), ``"attachment"`` (``data`` is the decrypted attachment, ``detail`` its name),
    ``"commit"`` (the group moved to ``epoch``), ``"proposal"``, ``"removed"``
    (this device was removed; its group state is deleted), ``"lost"`` (the DS dropped
    queued messages that waited too long), ``"behind"`` (a message of an epoch this
    device never reached, or a commit the DS sequenced that this device cannot process,
    e.g. a member's bad path ciphertext: call :meth:`MLSClient.rejoin`, which resyncs
    by an external commit from the DS's GroupInfo) or ``"error"`` (the message
    was rejected; ``detail`` says why, the group state is unchanged). ``sender`` is the
    ``user/device`` of the MLS credential that signed it (authenticated by MLS, not
    taken from the DS). ``seq`` is the DS queue position of the message it came from
    (0 for ``"lost"``): with ``group_id`` it names the event, for an application that
    must recognise one it saw before a crash (see :meth:`MLSClient.receive`)."""

    kind: str
    group_id: bytes
    sender: str | None = None
    data: bytes = b""
    epoch: int = 0
    detail: str = ""
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "group_id": b64(self.group_id),
            "sender": self.sender,
            "data": b64(self.data),
            "epoch": self.epoch,
            "detail": self.detail,
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Event:
        return cls(
            d["kind"],
            _unb64(d["group_id"]),
            d["sender"],
            _unb64(d["data"]),
            int(d["epoch"]),
            d["detail"],
            int(d["seq"]),
        )


def service_config(config: Any) -> Any:
    """``config`` with handshakes (proposals, commits) sent as PublicMessage: the DS
    reads what it sequences and refuses PrivateMessage handshakes. Application messages
    stay PrivateMessage (RFC 9420 §6.2 allows nothing else)."""
    import dataclasses

    if config.handshake_wire_format == "public":
        return config
    return dataclasses.replace(config, handshake_wire_format="public")


# Files of a client's state directory written by receive() (see MLSClient.receive).
INBOX_FILE = "inbox.json"  # {"through": seq, "events": [...]}: processed, not yet taken
JOURNAL_FILE = "journal.json"  # one processed batch, written before the files it changes


def _apply_journal(state_dir: Path, journal: dict[str, Any]) -> None:
    """Write the files a processed batch changes: group states, KeyPackage secrets, the
    inbox. Idempotent, so a journal found at load (a crash while applying) is applied
    again whole."""
    gdir = state_dir / "groups"
    for gid_hex, state in journal["groups"].items():
        if state is None:
            (gdir / f"{gid_hex}.bin").unlink(missing_ok=True)
            (gdir / f"{gid_hex}.pending.json").unlink(missing_ok=True)
        else:
            write_private(gdir / f"{gid_hex}.bin", _unb64(state))
    if journal["key_packages"] is not None:
        write_private(state_dir / "key_packages.json", journal["key_packages"].encode())
    inbox = {"through": journal["through"], "events": journal["events"]}
    write_private(state_dir / INBOX_FILE, json.dumps(inbox).encode())


class MLSClient:
    """One device's MLS groups, driven through the AS and the DS.

    Create with :meth:`register` (new device) or :meth:`load` (from its directory).
    Every credential in every group is checked with the AS's policy (root certificate
    and CRL, fetched at load and by :meth:`refresh_crl`).
    """

    COMMIT_RETRIES = 5

    def __init__(
        self,
        state_dir: Path,
        service: ServiceClient,
        config: Any = None,
        *,
        root_pem: bytes | None = None,
    ) -> None:
        from ..codecs import tls
        from ..engine.group import Client, GroupConfig
        from ..schema import Credential
        from .auth_service import CredentialPolicy

        self.dir = state_dir
        self.service = service
        k = service.keys
        if k.credential is None:
            raise ValueError("the device has no credential")
        # The AS root is fetched once, at registration, and pinned in the state
        # directory: a later answer from the network cannot swap the trust anchor.
        self.root_pem = root_pem or service.as_root()
        self.policy = CredentialPolicy.from_published(self.root_pem, service.as_crl())
        self.config = service_config(config or GroupConfig())
        self.engine = Client(
            tls.decode(k.credential, Credential),
            k.suite,
            k.signature_private_key,
            k.signature_public_key,
            policy=self.policy.engine_policy(),
        )
        self.groups: dict[bytes, Any] = {}
        # group_id -> the devices a pending commit of ours adds and removes.
        self._pending_roster: dict[bytes, dict[str, list[str]]] = {}
        # The durable inbox (see receive()): events processed and saved but not yet
        # taken by the application, the queue position processed through, and how many
        # of the inbox's events the last receive() returned.
        self._inbox: list[Event] = []
        self._through = 0
        self._handed = 0
        self._lost_told = 0  # the DS's lost count last reported as an Event("lost")

    @property
    def address(self) -> str:
        return self.service.keys.address

    # -- lifecycle and persistence --
    @classmethod
    def register(
        cls,
        state_dir: str | Path,
        user: str,
        device: str,
        ds_url: str,
        as_url: str | None = None,
        *,
        suite: int = 1,
        approver: DeviceKeys | None = None,
        key_packages: int = 5,
    ) -> MLSClient:
        """A new device: certified by the AS (``approver``: another current device of
        the user, needed for every device after the first), registered with the DS,
        with ``key_packages`` KeyPackages and a last-resort one published."""
        d = private_dir(state_dir)
        service = ServiceClient(DeviceKeys.generate(user, device, suite), ds_url, as_url)
        service.as_register(approver=approver)
        service.register()
        c = cls(d, service)
        c._save_device()
        c.publish_key_packages(key_packages, last_resort=True)
        return c

    @classmethod
    def load(cls, state_dir: str | Path) -> MLSClient:
        from ..engine.group import Group

        # Folders of an older version (0755) become private: their files then are too.
        d = private_dir(state_dir)
        if (d / "groups").exists():
            private_dir(d / "groups")
        journal = d / JOURNAL_FILE
        if journal.exists():  # a crash while a processed batch was being saved: finish it
            _apply_journal(d, json.loads(journal.read_text()))
            journal.unlink()
        meta = json.loads((d / "device.json").read_text())
        service = ServiceClient(DeviceKeys.from_json(meta["keys"]), meta["ds_url"], meta["as_url"])
        c = cls(d, service, root_pem=meta["as_root"].encode())
        kps = json.loads((d / "key_packages.json").read_text())
        for entry in kps.values():
            c.engine.add_key_package(
                _unb64(entry["key_package"]), _unb64(entry["init"]), _unb64(entry["enc"])
            )
        for f in sorted((d / "groups").glob("*.bin")):
            group = Group.from_bytes(f.read_bytes(), c.engine)
            group.config = service_config(group.config)  # saved by an older version
            c.groups[group.group_id] = group
            roster = f.with_suffix(".pending.json")
            if group.pending_commit is not None and roster.exists():
                c._pending_roster[group.group_id] = json.loads(roster.read_text())
        if (d / INBOX_FILE).exists():
            inbox = json.loads((d / INBOX_FILE).read_text())
            c._through = int(inbox["through"])
            c._inbox = [Event.from_json(e) for e in inbox["events"]]
        return c

    def close(self) -> None:
        """Close the connections. What :meth:`receive` returned counts as taken by the
        application (:meth:`events_taken`)."""
        self.events_taken()
        self.service.close()

    def _save_device(self) -> None:
        meta = {
            "keys": self.service.keys.to_json(),
            "ds_url": self.service.ds_url,
            "as_url": self.service.as_url,
            "as_root": self.root_pem.decode(),
        }
        write_private(self.dir / "device.json", json.dumps(meta).encode())
        self._save_key_packages()

    def _save_key_packages(self) -> None:
        write_private(self.dir / "key_packages.json", self._key_packages_json())

    def _key_packages_json(self) -> bytes:
        from ..codecs import tls
        from ..schema import MLSMessage, WireFormat

        # add_key_package() puts them back on load.
        secrets = self.engine.unused_key_packages()
        out = {
            ref.hex(): {
                "key_package": b64(
                    tls.encode(
                        MLSMessage(
                            wire_format=WireFormat.mls_key_package, key_package=s.key_package
                        ),
                        MLSMessage,
                    )
                ),
                "init": b64(s.init_private_key),
                "enc": b64(s.encryption_private_key),
            }
            for ref, s in secrets.items()
        }
        return json.dumps(out).encode()

    def _save_group(self, group_id: bytes) -> None:
        """The group's state (a pending commit of ours included) and, while a commit is
        pending, the devices it adds and removes (the DS needs them to send it again)."""
        gdir = self.dir / "groups"
        path = gdir / f"{group_id.hex()}.bin"
        roster = gdir / f"{group_id.hex()}.pending.json"
        group = self.groups.get(group_id)
        if group is None:
            path.unlink(missing_ok=True)
        else:
            write_private(path, group.to_bytes())
        if group is not None and group.pending_commit is not None:
            write_private(roster, json.dumps(self._pending_roster.get(group_id, {})).encode())
        else:
            self._pending_roster.pop(group_id, None)
            roster.unlink(missing_ok=True)

    def refresh_crl(self) -> None:
        """Fetch the AS's current revocation list."""
        self.policy.update_crl(self.service.as_crl())

    def publish_key_packages(self, n: int = 5, *, last_resort: bool = False) -> int:
        kps = [self.engine.key_package() for _ in range(n)]
        last = self.engine.key_package() if last_resort else None
        self._save_key_packages()  # private keys on disk before the DS hands them out
        return self.service.publish_key_packages(kps, last)

    # -- groups --
    def member_address(self, group_id: bytes, leaf_index: int) -> str | None:
        from .auth_service import credential_address

        member = self.groups[group_id].members.get(leaf_index)
        return None if member is None else credential_address(member.credential)

    def members(self, group_id: bytes) -> dict[int, str | None]:
        group = self.groups[group_id]
        return {i: self.member_address(group_id, i) for i in group.members}

    def create_group(self, group_id: bytes | None = None) -> bytes:
        group = self.engine.create_group(group_id, config=self.config)
        gid: bytes = group.group_id
        # With its tree: the DS builds its view of the group (and the roster) from it.
        info = group.group_info(ratchet_tree=True)
        self.service.create_group(gid, epoch=group.epoch, group_info=info)
        self.groups[gid] = group
        self._save_group(gid)
        return gid

    def _commit(
        self, group_id: bytes, make: Any, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> Any:
        """Build a commit with ``make(group)`` and send it; on 409 (another member's
        commit won the epoch) process the queue and build it again."""
        for _ in range(self.COMMIT_RETRIES):
            self._settle(group_id)  # a commit of ours left pending by a crash goes first
            group = self.groups[group_id]
            out = make(group)
            self._pending_roster[group_id] = {"add": list(add), "remove": list(remove)}
            # Saved, pending, before it leaves: if this process dies after the DS took
            # the commit, the next start sends it again (the DS answers a resent message
            # with its first answer) and merges it, instead of losing the epoch.
            self._save_group(group_id)
            if not self._send_pending(group_id):
                self.receive()
                if group_id not in self.groups:
                    raise ServiceError(409, f"removed from group {group_id.hex()} meanwhile")
                continue
            if out.group_info is None:
                # Keep the DS's GroupInfo current for external joins (a commit without
                # a Welcome carries none). Losing a race here only leaves it stale.
                with contextlib.suppress(ServiceError):
                    self.service.put_group_info(group_id, group.group_info())
            return out
        raise ServiceError(409, f"gave up committing to group {group_id.hex()} after retries")

    def _send_pending(self, group_id: bytes) -> bool:
        """Send (again) our pending commit of the group. Taken by the DS (now, or
        already: a retry): merged, True. Another commit won its epoch (409): dropped,
        False. Refused otherwise (4xx): dropped, raised. No answer (network, 5xx): kept
        pending, raised; :meth:`receive` and the next commit send it again."""
        group = self.groups[group_id]
        out = group.pending_commit_output
        roster = self._pending_roster.get(group_id, {})
        try:
            self.service.send(
                out.commit,
                welcome=out.welcome,
                group_info=out.group_info,
                add=roster.get("add", []),
                remove=roster.get("remove", []),
            )
        except ServiceError as e:
            if e.status >= 500:
                raise
            group.clear_pending_commit()
            self._save_group(group_id)
            if e.status != 409:
                raise
            return False
        group.merge_pending_commit()
        self._save_group(group_id)
        return True

    def _settle(self, group_id: bytes) -> None:
        if self.groups[group_id].pending_commit is not None:
            self._send_pending(group_id)

    def invite(self, group_id: bytes, *users: str) -> Invited:
        """Add every current device of each user (one KeyPackage claimed per device).

        The AS's revocation list is fetched first, so a device revoked since the last
        refresh is not added. A device that cannot be added (revoked or expired: the DS
        refuses its KeyPackages, or its KeyPackage's credential fails the AS policy; or
        it has no KeyPackage left) is skipped rather than failing the whole invitation.
        Returns the devices added; ``.skipped`` maps each skipped device to why."""
        from ..errors import MLSError

        self.refresh_crl()
        added = Invited()
        key_packages: list[bytes] = []
        present = set(self.members(group_id).values())
        for user in users:
            for addr in self.service.user_devices(user):
                if addr in present or addr == self.address:
                    continue
                try:
                    kp, _ = self.service.claim_key_package(addr)
                except ServiceError as e:
                    if e.status not in (404, 410):
                        raise
                    added.skipped[addr] = e.message
                    continue
                try:
                    self._check_key_package(kp, addr)
                except (MLSError, ValueError) as e:
                    added.skipped[addr] = str(e)
                    continue
                added.append(addr)
                key_packages.append(kp)
        if key_packages:
            self._commit(group_id, lambda g: g.add_members(key_packages), add=list(added))
        return added

    def _check_key_package(self, data: bytes, address: str) -> None:
        """The KeyPackage is one of ``address`` whose credential passes the AS policy
        (not revoked, not expired), or raise saying why."""
        from ..codecs import tls
        from ..errors import ValidationError
        from ..schema import MLSMessage

        msg = tls.decode(data, MLSMessage)
        if msg.key_package is None:
            raise ValidationError("mlswire SDK", f"the DS handed out no KeyPackage for {address}")
        leaf = msg.key_package.leaf_node
        ident = self.policy(leaf.credential, leaf.signature_key)
        if ident.address != address:
            raise ValidationError(
                "mlswire SDK", f"the KeyPackage handed out for {address} is {ident.address}'s"
            )

    def remove(self, group_id: bytes, *addresses: str) -> None:
        """Remove these devices from the group."""
        leaves = {a: i for i, a in self.members(group_id).items() if a is not None}
        missing = [a for a in addresses if a not in leaves]
        if missing:
            raise ValueError(f"not in group {group_id.hex()}: {', '.join(missing)}")
        self._commit(
            group_id,
            lambda g: g.remove_members([leaves[a] for a in addresses]),
            remove=list(addresses),
        )

    def update(self, group_id: bytes) -> None:
        """A commit with a fresh leaf key and path (post-compromise security)."""
        self._commit(group_id, lambda g: g.update())

    def send(self, group_id: bytes, data: bytes) -> None:
        group = self.groups[group_id]
        message = group.encrypt(data)
        # Saved before it leaves: after a crash a reloaded state must never encrypt
        # again with the generation (key and nonce) this message used.
        self._save_group(group_id)
        self.service.send(message)

    def send_attachment(self, group_id: bytes, data: bytes, name: str = "") -> str:
        """Encrypt ``data`` under a key from the group's exporter (this epoch), store
        the ciphertext at the DS and send a reference to it in an application message.
        Returns the blob id. Only members of this epoch can derive the key; the DS sees
        ciphertext only."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        group = self.groups[group_id]
        context = os.urandom(16)
        key = group.export_secret(ATTACHMENT_LABEL, context, 32)
        ciphertext = AESGCM(key).encrypt(context[:12], data, group_id)
        blob_id = self.service.put_blob(group_id, ciphertext)
        ref = {"blob": blob_id, "context": b64(context), "name": name, "size": len(data)}
        self.send(group_id, ATTACHMENT_PREFIX + json.dumps(ref).encode())
        return blob_id

    def _open_attachment(self, group_id: bytes, data: bytes) -> tuple[bytes, str]:
        """Fetch and decrypt a referenced attachment, with the exporter of the epoch
        the reference was processed in (the current one)."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from ..errors import CryptoError

        ref = json.loads(data[len(ATTACHMENT_PREFIX) :])
        context = _unb64(ref["context"])
        key = self.groups[group_id].export_secret(ATTACHMENT_LABEL, context, 32)
        ciphertext = self.service.get_blob(group_id, ref["blob"])
        try:
            return AESGCM(key).decrypt(context[:12], ciphertext, group_id), str(ref["name"])
        except InvalidTag:
            raise CryptoError(f"attachment {ref['blob']} does not decrypt") from None

    def leave(self, group_id: bytes) -> None:
        """Propose this device's removal (another member commits it) and forget the
        group."""
        group = self.groups[group_id]
        proposal = group.propose_remove(group.own_leaf_index)
        del self.groups[group_id]
        self._save_group(group_id)
        self.service.send(proposal)

    def rejoin(self, group_id: bytes) -> None:
        """Rejoin by external commit (RFC 9420 §12.4.3.2) from the GroupInfo at the DS,
        e.g. after losing this device's state; the old leaf of this device is removed
        in the same commit when the GroupInfo's tree shows it."""
        from ..engine.group import Group

        info = self.service.group_info(group_id)
        # The rejoined group replaces this device's stale copy, which must go first: a
        # client takes part in a group_id once (RFC 9420 §12.4.3.1). The copy on disk
        # stays until the rejoin is saved.
        self.groups.pop(group_id, None)
        for _ in range(self.COMMIT_RETRIES):
            group, commit = self.engine.join_by_external_commit(
                info, config=self.config, remove_leaf=self._own_old_leaf(info)
            )
            try:
                self.service.send(commit, group_info=group.group_info())
                break
            except ServiceError as e:
                if e.status != 409:
                    raise
                info = self.service.group_info(group_id)
        else:
            raise ServiceError(409, f"gave up rejoining group {group_id.hex()}")
        self.groups[group_id] = group
        self._save_group(group_id)
        # Drop queued messages of the epochs before the rejoin: they cannot be read.
        assert isinstance(group, Group)
        stale = [
            i
            for i, a in self.members(group_id).items()
            if a == self.address and i != group.own_leaf_index
        ]
        if stale:
            self._commit(group_id, lambda g: g.remove_members(stale))

    def _own_old_leaf(self, group_info: bytes) -> int | None:
        """This device's leaf in the GroupInfo's ratchet tree, if it is still there
        (resync, RFC 9420 §12.4.3.2: the external commit removes it in the same commit;
        a second leaf with the same signature key would be refused, §7.3)."""
        from ..codecs import tls
        from ..schema import ExtensionType, MLSMessage, RatchetTree
        from .auth_service import credential_address

        msg = tls.decode(group_info, MLSMessage)
        if msg.group_info is None:
            return None
        for ext in msg.group_info.extensions:
            if ext.extension_type == ExtensionType.ratchet_tree:
                nodes = tls.decode(ext.extension_data, RatchetTree)
                for i in range(0, len(nodes), 2):  # leaves are the even nodes
                    leaf = nodes[i].leaf_node if nodes[i] is not None else None
                    if leaf is not None and credential_address(leaf.credential) == self.address:
                        return i // 2
        return None

    # -- receiving --
    def receive(self, *, wait: int = 0, limit: int = 100) -> list[Event]:
        """Process this device's queue in order and return what happened, oldest first.
        The queue is pushed over the device's WebSocket (long-polled when the DS does
        not offer push; ``ServiceClient(push=False)`` always long-polls); ``wait``
        waits up to that many seconds for the first entry, ``limit`` caps a batch.

        At least once to the application, exactly once in effect: a processed batch's
        events go to a durable inbox in the same atomic save as the group states they
        come with (a journal file, written first, makes the several files one write),
        and only then is the queue acknowledged. The inbox also records the queue
        position processed through, so a message the DS sends again (the ack failed,
        the DS restarted, this process died before acking) is acknowledged without
        being processed twice. An ack that fails is therefore harmless: the events are
        returned anyway and the next call acknowledges again. Events stay in the inbox,
        and are returned again by every call, until the application has taken them:
        when the next :meth:`receive` starts, or :meth:`events_taken` / :meth:`close`
        is called. After a crash in between, a reloaded client returns them again
        (``Event.seq`` lets the application recognise them). When the DS cannot be
        reached but the inbox holds events, they are returned instead of the error.
        """
        self.events_taken()
        try:
            for group_id in [g for g, group in self.groups.items() if group.pending_commit]:
                self._settle(group_id)  # our commit first: the queue may hold its epoch
            batch = self.service.next_batch(limit=limit, wait=wait)
        except (ServiceError, httpx.HTTPError) as e:
            unreachable = isinstance(e, httpx.HTTPError) or e.status >= 500
            if unreachable and self._inbox:
                return self._hand_over()
            raise
        try:
            return self._take(batch)
        except BaseException:
            # Not saved, so not acknowledged: a push channel must send it all again.
            self.service.drop_push()
            raise

    def _take(self, batch: list[Delivered]) -> list[Event]:
        """Process, save, then acknowledge one batch (see :meth:`receive`)."""
        fresh = [m for m in batch if m.seq > self._through]
        events: list[Event] = []
        # The DS repeats its count of lost messages until an ack: told once per count.
        if self.service.lost and self.service.lost != self._lost_told:
            events.append(Event("lost", b"", detail=self.service.lost_warning))
            self._lost_told = self.service.lost
        touched: set[bytes] = set()  # groups whose state may have changed
        key_packages_used = False
        for m in fresh:
            event, joined = self._process(m)
            events.append(event)
            if joined:
                key_packages_used = True
            touched.add(event.group_id)
        if fresh or events:
            self._inbox += events
            self._through = max([self._through, *(m.seq for m in fresh)])
            self._save_batch(touched, key_packages_used)
        if batch:
            # Best effort: what it covers is saved, and a redelivery is recognised.
            with contextlib.suppress(ServiceError, httpx.HTTPError):
                self.service.ack(batch[-1].seq)
                self._lost_told = 0
        return self._hand_over()

    def events_taken(self) -> None:
        """The application has taken the events the last :meth:`receive` returned:
        drop them from the durable inbox."""
        if not self._handed:
            return
        del self._inbox[: self._handed]
        self._handed = 0
        self._write_inbox()

    def _hand_over(self) -> list[Event]:
        self._handed = len(self._inbox)
        return list(self._inbox)

    def _write_inbox(self) -> None:
        inbox = {"through": self._through, "events": [e.to_json() for e in self._inbox]}
        write_private(self.dir / INBOX_FILE, json.dumps(inbox).encode())

    def _save_batch(self, group_ids: set[bytes], key_packages_used: bool) -> None:
        """Save a processed batch as one atomic change (see :meth:`receive`)."""
        groups: dict[str, str | None] = {}
        for gid in group_ids:
            group = self.groups.get(gid)
            groups[gid.hex()] = None if group is None else b64(group.to_bytes())
        journal = {
            "through": self._through,
            "events": [e.to_json() for e in self._inbox],
            "groups": groups,
            "key_packages": self._key_packages_json().decode() if key_packages_used else None,
        }
        path = self.dir / JOURNAL_FILE
        write_private(path, json.dumps(journal).encode())
        _apply_journal(self.dir, journal)
        path.unlink()

    def _process(self, m: Delivered) -> tuple[Event, bool]:
        """One queued message through the engine, in memory: its event, and whether it
        was a Welcome that consumed a KeyPackage. Saving is the caller's."""
        from ..engine.group import ApplicationMessage, ProposalMessage, StagedCommit
        from ..errors import MLSError
        from ..schema import ContentType

        if m.kind == "welcome":
            try:
                joined = self.engine.join_group(m.data, config=self.config)
            except MLSError as e:
                return Event(
                    "error", m.group_id, m.sender, detail=f"welcome: {e}", seq=m.seq
                ), False
            self.groups[joined.group_id] = joined
            return Event("joined", joined.group_id, epoch=joined.epoch, seq=m.seq), True
        group = self.groups.get(m.group_id)
        if group is None:
            return Event("error", m.group_id, detail="not a member of this group", seq=m.seq), False
        try:
            result = group.process(m.data)
        except MLSError as e:
            # A message from an epoch this device never reached: it missed commits
            # (expired at the DS, or its state is old). Told so; rejoin() recovers.
            kind = "behind" if m.epoch > group.epoch else "error"
            detail = str(e)
            if m.content_type == ContentType.commit and m.epoch == group.epoch:
                # The DS verified and sequenced this commit, so the group moved on; what
                # failed here is what the DS cannot check (path ciphertexts, confirmation
                # tag): a bad commit strands this device until it resyncs.
                kind = "behind"
                detail = f"a commit the DS sequenced cannot be processed ({e}); call rejoin()"
            return Event(kind, m.group_id, detail=detail, epoch=m.epoch, seq=m.seq), False
        if isinstance(result, ApplicationMessage):
            sender = self.member_address(m.group_id, result.sender)
            if not result.data.startswith(ATTACHMENT_PREFIX):
                return Event(
                    "message", m.group_id, sender, result.data, result.epoch, seq=m.seq
                ), False
            try:
                content, name = self._open_attachment(m.group_id, result.data)
            except (MLSError, ServiceError, httpx.HTTPError, ValueError, KeyError) as e:
                return Event("error", m.group_id, sender, detail=str(e), seq=m.seq), False
            return Event(
                "attachment", m.group_id, sender, content, result.epoch, name, seq=m.seq
            ), False
        if isinstance(result, ProposalMessage):
            return Event("proposal", m.group_id, epoch=group.epoch, seq=m.seq), False
        assert isinstance(result, StagedCommit)
        if result.removes_self:
            del self.groups[m.group_id]
            return Event("removed", m.group_id, epoch=m.epoch, seq=m.seq), False
        result.merge()
        return Event("commit", m.group_id, epoch=group.epoch, seq=m.seq), False


__all__ = [
    "Delivered",
    "DeviceKeys",
    "Event",
    "Invited",
    "MLSClient",
    "ServiceClient",
    "ServiceError",
]
