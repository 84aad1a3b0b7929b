"""The Authentication Service (RFC 9750 §3, §5): a small certificate authority.

It binds a user identity and one of the user's devices to an MLS signature public key
by issuing an X.509 certificate, which clients carry as an RFC 9420 ``x509``
:class:`~mlswire.schema.Credential` (``certificates[0]`` is the device certificate).
It publishes its root certificate and a signed certificate revocation list (CRL), and
gives clients a :class:`CredentialPolicy` to plug into the engine, so that a credential
not issued by this AS, revoked, expired, or bound to another key is refused by every
client ("unauthorized device additions", RFC 9750 §8.4.4).

Key types: the certificate's subject key *is* the MLS signature key, so it has the
suite's signature algorithm: Ed25519 (suites 1, 3), Ed448 (4, 6), ECDSA P-256 (2),
P-521 (5), P-384 (7); ``cryptography`` certifies all five. The root key is Ed25519.

Identity in the certificate: subject ``CN=<user>/<device>`` and a SAN URI
``mlswire:<user>/<device>``; names are ``[A-Za-z0-9][A-Za-z0-9._-]{0,63}``, so the
``user/device`` string is unambiguous and safe in URL paths.

State (root key, root certificate, issued and revoked serials) lives in one directory,
written atomically (temp file + rename), so a restarted AS keeps its root and its CRL.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.x509.oid import NameOID

from ..codecs import tls
from ..crypto import cipher_suite
from ..errors import DecodeError, ValidationError
from ..schema import Certificate, Credential, CredentialType, LeafNode
from .contract import (
    REGISTER_LABEL,
    BadRequest,
    DSError,
    Forbidden,
    NotFound,
    Unauthorized,
    b64,
    registration_content,
    unb64,
)
from .files import write_private
from .signing import MAX_SKEW, AuthHeader

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
URI_PREFIX = "mlswire:"
DEFAULT_VALIDITY = dt.timedelta(days=365)
# Certificates are back-dated a little so that a client whose clock is slightly behind
# the AS's does not reject a certificate issued a second ago.
CLOCK_SKEW = dt.timedelta(minutes=5)
RULE = "RFC 9750 §5.3: the credential is issued by the Authentication Service"

_CURVES: dict[int, ec.EllipticCurve] = {
    0x0403: ec.SECP256R1(),
    0x0503: ec.SECP384R1(),
    0x0603: ec.SECP521R1(),
}

Clock = Callable[[], float]


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationError(
            "mlswire AS: user and device names are [A-Za-z0-9][A-Za-z0-9._-]{0,63}",
            f"bad {kind} name {name!r}",
        )
    return name


def device_address(user: str, device: str) -> str:
    """The ``user/device`` string that names a device everywhere in the service."""
    return f"{check_name('user', user)}/{check_name('device', device)}"


def split_address(address: str) -> tuple[str, str]:
    user, sep, device = address.partition("/")
    if not sep:
        raise ValidationError("mlswire: a device is named user/device", repr(address))
    return check_name("user", user), check_name("device", device)


# --- MLS signature keys <-> X.509 subject public keys --------------------------------------

_PublicKey = ed25519.Ed25519PublicKey | ed448.Ed448PublicKey | ec.EllipticCurvePublicKey


def public_key_from_mls(suite: int, signature_key: bytes) -> _PublicKey:
    """The ``cryptography`` key object of an MLS signature public key of ``suite``."""
    scheme = cipher_suite(suite).signature_scheme_id
    try:
        if scheme == 0x0807:
            return ed25519.Ed25519PublicKey.from_public_bytes(signature_key)
        if scheme == 0x0808:
            return ed448.Ed448PublicKey.from_public_bytes(signature_key)
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[scheme], signature_key)
    except ValueError as e:
        raise ValidationError(
            "RFC 9420 §5.1.1: a signature public key of the suite's scheme", str(e)
        ) from None


def mls_public_key(key: Any) -> bytes:
    """The MLS encoding of a certificate's subject key (raw EdDSA, uncompressed SEC1)."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return key.public_bytes_raw()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    raise ValidationError(RULE, f"certificate key type {type(key).__name__} is not an MLS one")


# --- issued credentials ----------------------------------------------------------------------


@dataclass(frozen=True)
class CertifiedIdentity:
    """What a valid credential says: who, which device, which certificate."""

    user: str
    device: str
    serial: int
    not_after: float

    @property
    def address(self) -> str:
        return f"{self.user}/{self.device}"


@dataclass(frozen=True)
class IssuedCredential:
    user: str
    device: str
    serial: int
    certificate: bytes  # DER

    @property
    def address(self) -> str:
        return f"{self.user}/{self.device}"

    @property
    def credential(self) -> Credential:
        return x509_credential(self.certificate)

    def credential_bytes(self) -> bytes:
        return tls.encode(self.credential, Credential)


def x509_credential(*certificates_der: bytes) -> Credential:
    return Credential(
        credential_type=CredentialType.x509,
        certificates=tuple(Certificate(cert_data=c) for c in certificates_der),
    )


def _identity_of(cert: x509.Certificate) -> tuple[str, str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ValidationError(RULE, "device certificate has no subjectAltName") from None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(URI_PREFIX):
            return split_address(uri[len(URI_PREFIX) :])
    raise ValidationError(RULE, f"device certificate has no {URI_PREFIX} URI")


def credential_address(credential: Credential) -> str | None:
    """The ``user/device`` an x509 credential names (unverified: use it for display
    and routing once the policy accepted the credential), or None."""
    if credential.credential_type != CredentialType.x509 or not credential.certificates:
        return None
    try:
        cert = x509.load_der_x509_certificate(credential.certificates[0].cert_data)
        user, device = _identity_of(cert)
    except (ValueError, ValidationError):
        return None
    return f"{user}/{device}"


# --- the validation policy clients plug in ----------------------------------------------------


class CredentialPolicy:
    """Accepts exactly the credentials this AS issued, unrevoked and unexpired.

    Call it with an RFC 9420 :class:`Credential` and the signature public key it is
    presented with (a LeafNode's ``signature_key``); it returns the
    :class:`CertifiedIdentity` or raises :class:`mlswire.ValidationError` saying why.
    Basic credentials are refused: they bind nothing.

    ``revoked`` returns the current set of revoked serials: bound to a live
    :class:`CertificateAuthority` it sees revocations at once; built from a published
    CRL (:meth:`from_published`) it sees them when :meth:`update_crl` is called.
    """

    def __init__(
        self,
        root: x509.Certificate,
        revoked: Callable[[], frozenset[int]],
        *,
        clock: Clock = time.time,
    ) -> None:
        self.root = root
        self._revoked = revoked
        self.clock = clock
        # Set by from_published: the revocation set that update_crl replaces.
        self._crl_state: dict[str, frozenset[int]] | None = None

    @classmethod
    def from_published(
        cls, root_pem: bytes, crl_der: bytes | None = None, *, clock: Clock = time.time
    ) -> CredentialPolicy:
        """A policy for a client that only has what the AS publishes (root and CRL)."""
        root = x509.load_pem_x509_certificate(root_pem)
        state: dict[str, frozenset[int]] = {"revoked": frozenset()}
        policy = cls(root, lambda: state["revoked"], clock=clock)
        policy._crl_state = state
        if crl_der is not None:
            policy.update_crl(crl_der)
        return policy

    def revoked(self) -> frozenset[int]:
        """The serials revoked as far as this policy knows."""
        return self._revoked()

    def update_crl(self, crl_der: bytes) -> None:
        """Adopt a newer CRL after checking it is signed by the root."""
        state = self._crl_state
        if state is None:
            raise TypeError("this policy reads revocations from a live AS")
        try:
            crl = x509.load_der_x509_crl(crl_der)
        except ValueError as e:
            raise ValidationError("RFC 5280 §5: a well-formed CRL", str(e)) from None
        if not crl.is_signature_valid(self.root.public_key()):  # type: ignore[arg-type]
            raise ValidationError("RFC 5280 §5: the CRL is signed by the AS root")
        state["revoked"] = frozenset(r.serial_number for r in crl)

    def __call__(self, credential: Credential, signature_key: bytes) -> CertifiedIdentity:
        if credential.credential_type != CredentialType.x509:
            raise ValidationError(
                RULE, f"{credential.credential_type!r} credentials are not accepted, only x509"
            )
        chain = credential.certificates or ()
        if not chain:
            raise ValidationError(RULE, "x509 credential without certificates")
        try:
            cert = x509.load_der_x509_certificate(chain[0].cert_data)
        except ValueError as e:
            raise ValidationError(RULE, f"certificates[0] is not a DER certificate: {e}") from None
        try:
            cert.verify_directly_issued_by(self.root)
        except (ValueError, TypeError, InvalidSignature):
            raise ValidationError(RULE, "certificate not issued by this AS") from None
        now = self.clock()
        if not (
            cert.not_valid_before_utc.timestamp() <= now <= cert.not_valid_after_utc.timestamp()
        ):
            raise ValidationError(
                RULE,
                f"certificate serial {cert.serial_number} is not valid now "
                f"({cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} .. "
                f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ})",
            )
        if cert.serial_number in self._revoked():
            raise ValidationError(RULE, f"certificate serial {cert.serial_number} is revoked")
        if mls_public_key(cert.public_key()) != signature_key:
            raise ValidationError(
                "RFC 9420 §5.3.1: the credential's key matches the signature key",
                f"certificate serial {cert.serial_number} certifies another key",
            )
        user, device = _identity_of(cert)
        return CertifiedIdentity(
            user, device, cert.serial_number, cert.not_valid_after_utc.timestamp()
        )

    def check_bytes(self, credential: bytes, signature_key: bytes) -> CertifiedIdentity:
        """The same check over a TLS-encoded Credential."""
        try:
            cred = tls.decode(credential, Credential)
        except DecodeError as e:
            raise ValidationError("RFC 9420 §5.3: a well-formed Credential", str(e)) from None
        return self(cred, signature_key)

    def credential_ok(self, credential: Credential, signature_key: bytes) -> bool:
        """The engine hook (``ValidationPolicy.credential_ok``): raises the precise
        ValidationError for a bad credential rather than returning False, so the
        engine's error says why."""
        self(credential, signature_key)
        return True

    @staticmethod
    def same_client(removed: LeafNode, new: LeafNode) -> bool:
        """The engine hook ``ValidationPolicy.same_client`` (RFC 9420 §12.2): an
        external commit may remove the old leaf of the *same device*, which after a
        state loss holds another certificate (the old one is revoked on re-issue), so
        the certified user/device is compared, not the credential bytes. The new
        leaf's credential itself is checked by :meth:`credential_ok`."""
        old_address = credential_address(removed.credential)
        return old_address is not None and old_address == credential_address(new.credential)

    def engine_policy(self) -> Any:
        """A :class:`mlswire.engine.proposals.ValidationPolicy` that uses this policy.
        KeyPackages may last 91 days in all (§7.2 asks for a maximum): the SDK's last 90,
        plus the hour their start is set back for clock skew."""
        from ..engine.proposals import ValidationPolicy

        return ValidationPolicy(
            credential_ok=self.credential_ok,
            same_client=self.same_client,
            max_lifetime=91 * 24 * 3600,
        )


# --- the certificate authority ---------------------------------------------------------------


class CertificateAuthority:
    """Root key and certificate, the registry of issued and revoked device certificates.

    Thread-safe. With ``path`` (a directory) the state is persisted there; without it
    the CA lives in memory (tests, one-shot demos).
    """

    def __init__(
        self,
        root_key: ed25519.Ed25519PrivateKey,
        root: x509.Certificate,
        *,
        path: Path | None = None,
        registry: dict[str, Any] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._key = root_key
        self.root = root
        self.path = path
        self.clock = clock
        self._lock = threading.RLock()
        reg = registry or {}
        # address -> list of {"serial", "not_after", "key"}; revoked: serial -> time
        self._issued: dict[str, list[dict[str, Any]]] = reg.get("issued", {})
        self._revoked: dict[int, float] = {int(k): v for k, v in reg.get("revoked", {}).items()}
        self._revoked_set: frozenset[int] = frozenset(self._revoked)

    # -- construction and persistence --
    @classmethod
    def create(
        cls,
        name: str = "mlswire Authentication Service",
        *,
        path: str | Path | None = None,
        clock: Clock = time.time,
    ) -> CertificateAuthority:
        key = ed25519.Ed25519PrivateKey.generate()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.fromtimestamp(clock(), dt.UTC)
        root = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, None)
        )
        ca = cls(key, root, path=Path(path) if path is not None else None, clock=clock)
        if ca.path is not None:
            write_private(
                ca.path / "root-key.pem",
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
            write_private(ca.path / "root.pem", ca.root_pem)
            ca._save()
        return ca

    @classmethod
    def open(cls, path: str | Path, *, clock: Clock = time.time) -> CertificateAuthority:
        """Load the CA persisted in ``path``, or create one there."""
        p = Path(path)
        if not (p / "root-key.pem").exists():
            return cls.create(path=p, clock=clock)
        key = serialization.load_pem_private_key((p / "root-key.pem").read_bytes(), None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"{p / 'root-key.pem'}: not an Ed25519 key")
        root = x509.load_pem_x509_certificate((p / "root.pem").read_bytes())
        registry = json.loads((p / "registry.json").read_text())
        return cls(key, root, path=p, registry=registry, clock=clock)

    def _save(self) -> None:
        if self.path is None:
            return
        data = {"issued": self._issued, "revoked": {str(k): v for k, v in self._revoked.items()}}
        write_private(self.path / "registry.json", json.dumps(data, indent=1).encode())

    # -- publication --
    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    @property
    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)

    def crl_der(self) -> bytes:
        """A freshly signed CRL of every revoked serial (valid for one day)."""
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.root.subject)
            .last_update(now - CLOCK_SKEW)
            .next_update(now + dt.timedelta(days=1))
        )
        with self._lock:
            revoked = dict(self._revoked)
        for serial, when in sorted(revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(dt.datetime.fromtimestamp(when, dt.UTC))
                .build()
            )
        return builder.sign(self._key, None).public_bytes(serialization.Encoding.DER)

    def revoked_serials(self) -> frozenset[int]:
        return self._revoked_set

    def policy(self) -> CredentialPolicy:
        """A policy bound to this CA: revocations take effect immediately."""
        return CredentialPolicy(self.root, self.revoked_serials, clock=self.clock)

    # -- issuing and revoking --
    def devices(self, user: str) -> list[str]:
        """The user's devices that hold a current (unrevoked, unexpired) certificate."""
        now = self.clock()
        with self._lock:
            return sorted(
                addr.split("/", 1)[1]
                for addr, certs in self._issued.items()
                if addr.split("/", 1)[0] == user
                and any(c["serial"] not in self._revoked and c["not_after"] > now for c in certs)
            )

    def known_user(self, user: str) -> bool:
        """Whether ``user`` was ever certified: the name stays bound to that user after
        all of its devices are revoked or expired."""
        prefix = user + "/"
        with self._lock:
            return any(addr.startswith(prefix) for addr in self._issued)

    def issue(
        self,
        user: str,
        device: str,
        signature_key: bytes,
        suite: int,
        *,
        validity: dt.timedelta = DEFAULT_VALIDITY,
    ) -> IssuedCredential:
        """Certify ``signature_key`` (an MLS signature key of ``suite``) for user/device.

        The caller (the HTTP layer) has checked possession of the private key and that
        the requester may add this device."""
        address = device_address(user, device)
        subject_key = public_key_from_mls(suite, signature_key)
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
            .issuer_name(self.root.subject)
            .public_key(subject_key)
            .serial_number(serial)
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(URI_PREFIX + address)]),
                critical=False,
            )
            .sign(self._key, None)
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        with self._lock:
            # One current certificate per device: re-registering a device (a new key
            # after a state loss or a key change) revokes the certificates before it,
            # so a lost or stolen old key stops being accepted.
            for c in self._issued.get(address, []):
                if c["serial"] not in self._revoked:
                    self._revoked[c["serial"]] = self.clock()
            self._revoked_set = frozenset(self._revoked)
            self._issued.setdefault(address, []).append(
                {
                    "serial": serial,
                    "not_after": cert.not_valid_after_utc.timestamp(),
                    "key": signature_key.hex(),
                    "suite": suite,
                }
            )
            self._save()
        return IssuedCredential(user, device, serial, der)

    def revoke_device(self, user: str, device: str) -> list[int]:
        """Revoke every certificate of user/device; returns the serials revoked."""
        address = device_address(user, device)
        with self._lock:
            serials = [
                c["serial"]
                for c in self._issued.get(address, [])
                if c["serial"] not in self._revoked
            ]
            for s in serials:
                self._revoked[s] = self.clock()
            self._revoked_set = frozenset(self._revoked)
            self._save()
        return serials

    def device_keys(self, user: str, device: str) -> list[tuple[int, bytes]]:
        """The (suite, signature key) pairs currently certified for user/device."""
        address = device_address(user, device)
        now = self.clock()
        with self._lock:
            return [
                (int(c["suite"]), bytes.fromhex(c["key"]))
                for c in self._issued.get(address, [])
                if c["serial"] not in self._revoked and c["not_after"] > now
            ]


# --- request authorization ---------------------------------------------------------------


def _user_device(body_json: dict[str, Any]) -> tuple[str, str]:
    """The request body's ``user`` and ``device``, each a valid name (BadRequest if not)."""
    user, device = body_json.get("user"), body_json.get("device")
    try:
        check_name("user", user)  # type: ignore[arg-type]
        check_name("device", device)  # type: ignore[arg-type]
    except ValidationError as e:
        raise BadRequest(str(e)) from None
    assert isinstance(user, str) and isinstance(device, str)
    return user, device


class Enrollment:
    """Who may register and revoke devices: the AS's request authorization, over a
    :class:`CertificateAuthority` (the HTTP layer only parses and answers)."""

    def __init__(
        self, ca: CertificateAuthority, admin_token: str | None, open_enrollment: bool
    ) -> None:
        self.ca = ca
        self.admin_token = admin_token
        self.open_enrollment = open_enrollment
        self._nonces: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def _is_admin(self, header: str | None) -> bool:
        return bool(
            self.admin_token and header is not None and header == f"Bearer {self.admin_token}"
        )

    def _signed_by_user(
        self, user: str, header: str | None, method: str, target: str, body: bytes
    ) -> str:
        """The device of ``user`` that signed this request, or Unauthorized/Forbidden."""
        try:
            auth = AuthHeader.parse(header)
        except ValueError as e:
            raise Unauthorized(str(e)) from None
        signer_user, _, signer_device = auth.device.partition("/")
        if signer_user != user:
            raise Forbidden(f"{auth.device} cannot act for user {user}")
        keys = self.ca.device_keys(signer_user, signer_device) if signer_device else []
        if not keys:
            raise Unauthorized(f"{auth.device} holds no current certificate")
        errors = []
        for suite, key in keys:
            try:
                auth.verify(suite, key, method, target, body)
                break
            except ValueError as e:
                errors.append(str(e))
        else:
            raise Unauthorized(errors[-1])
        now = time.time()
        with self._lock:
            if (auth.device, auth.nonce) in self._nonces:
                raise Unauthorized("request nonce already used (replayed request)")
            if len(self._nonces) > 100_000:
                horizon = now - 2 * MAX_SKEW
                self._nonces = {k: t for k, t in self._nonces.items() if t > horizon}
            self._nonces[(auth.device, auth.nonce)] = now
        return auth.device

    def register(
        self, body_json: dict[str, Any], header: str | None, target: str, body: bytes
    ) -> dict[str, Any]:
        user, device = _user_device(body_json)
        suite = body_json.get("suite")
        if not isinstance(suite, int):
            raise BadRequest("suite: an RFC 9420 cipher suite number")
        key = unb64(body_json.get("signature_key"), "signature_key")
        proof = unb64(body_json.get("proof"), "proof")
        from ..crypto import cipher_suite, labeled
        from ..errors import CryptoError, UnsupportedCipherSuite

        try:
            cs = cipher_suite(suite)
            public_key_from_mls(suite, key)
            labeled.verify_with_label(
                cs, key, REGISTER_LABEL, registration_content(user, device, key), proof
            )
        except UnsupportedCipherSuite as e:
            raise BadRequest(f"suite: {e}") from None
        except ValidationError as e:
            raise BadRequest(f"signature_key: {e}") from None
        except CryptoError:
            raise Unauthorized(
                "proof: not a signature of the registration by the signature key"
            ) from None
        if not self._is_admin(header):
            existing = self.ca.devices(user)
            if existing:
                # Adding a device to an existing user: one of the user's current
                # devices must approve (RFC 9750 §8.4.4, unauthorized device additions).
                try:
                    self._signed_by_user(user, header, "POST", target, body)
                except DSError as e:
                    raise type(e)(
                        f"user {user} already has devices ({', '.join(existing)}): registering"
                        f" {device} needs a request signed by one of them or the admin token"
                        f" ({e.message})"
                    ) from None
            elif self.ca.known_user(user):
                # Every device of the user is revoked (or expired): nobody can approve,
                # and the name must not pass to whoever asks next.
                raise Unauthorized(
                    f"user {user} exists but has no current device: registering {device}"
                    " needs the admin token"
                )
            elif not self.open_enrollment:
                raise Unauthorized("enrolment is closed: registration needs the admin token")
        issued = self.ca.issue(user, device, key, suite)
        return {
            "user": user,
            "device": device,
            "address": issued.address,
            "serial": str(issued.serial),
            "certificate": b64(issued.certificate),
            "credential": b64(issued.credential_bytes()),
        }

    def revoke(
        self, body_json: dict[str, Any], header: str | None, target: str, body: bytes
    ) -> dict[str, Any]:
        user, device = _user_device(body_json)
        if not self._is_admin(header):
            self._signed_by_user(user, header, "POST", target, body)
        serials = self.ca.revoke_device(user, device)
        if not serials:
            raise NotFound(f"{user}/{device} has no current certificate")
        return {"revoked": [str(s) for s in serials]}


__all__ = [
    "CertificateAuthority",
    "CertifiedIdentity",
    "CredentialPolicy",
    "Enrollment",
    "IssuedCredential",
    "check_name",
    "credential_address",
    "device_address",
    "mls_public_key",
    "public_key_from_mls",
    "split_address",
    "x509_credential",
]
