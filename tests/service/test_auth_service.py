"""The Authentication Service: certificates for every MLS signature key type, the
credential policy clients plug into the engine, revocation, and its HTTP API."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest

from mlswire import ValidationError
from mlswire.client import DeviceKeys, ServiceClient, ServiceError
from mlswire.codecs import tls
from mlswire.crypto import SUPPORTED_CIPHER_SUITES, cipher_suite
from mlswire.engine.group import Client
from mlswire.schema import Credential, CredentialType
from mlswire.service.auth_service import CertificateAuthority, CredentialPolicy

from .conftest import Devices, Server


def keys(suite: int = 1) -> tuple[bytes, bytes]:
    return cipher_suite(suite).signature_key_pair()


@pytest.mark.parametrize("suite", SUPPORTED_CIPHER_SUITES)
def test_issues_credentials_for_every_suite_key_type(suite: int) -> None:
    ca = CertificateAuthority.create()
    _, pk = keys(suite)
    issued = ca.issue("alice", "phone", pk, suite)
    ident = ca.policy()(issued.credential, pk)
    assert (ident.user, ident.device, ident.serial) == ("alice", "phone", issued.serial)
    assert issued.credential.credential_type == CredentialType.x509


def test_policy_refuses_what_the_as_did_not_issue() -> None:
    ca, other = CertificateAuthority.create(), CertificateAuthority.create()
    policy = ca.policy()
    _, pk = keys()
    _, pk2 = keys()
    with pytest.raises(ValidationError, match="only x509"):
        policy(Credential(credential_type=CredentialType.basic, identity=b"alice"), pk)
    with pytest.raises(ValidationError, match="not issued by this AS"):
        policy(other.issue("alice", "phone", pk, 1).credential, pk)
    issued = ca.issue("alice", "phone", pk, 1)
    with pytest.raises(ValidationError, match="certifies another key"):
        policy(issued.credential, pk2)
    with pytest.raises(ValidationError, match="not a DER certificate"):
        policy(
            Credential(
                credential_type=CredentialType.x509,
                certificates=(tls.decode(b"\x03abc", "Certificate"),),
            ),
            pk,
        )
    assert ca.revoke_device("alice", "phone") == [issued.serial]
    with pytest.raises(ValidationError, match="revoked"):
        policy(issued.credential, pk)


def test_policy_refuses_expired_credentials() -> None:
    now = [time.time()]
    ca = CertificateAuthority.create(clock=lambda: now[0])
    _, pk = keys()
    issued = ca.issue("alice", "phone", pk, 1, validity=dt.timedelta(days=1))
    ca.policy()(issued.credential, pk)
    now[0] += 2 * 86400
    with pytest.raises(ValidationError, match="not valid now"):
        ca.policy()(issued.credential, pk)


def test_published_root_and_crl_give_the_same_answers(tmp_path: object) -> None:
    ca = CertificateAuthority.create()
    _, pk = keys()
    issued = ca.issue("bob", "laptop", pk, 1)
    remote = CredentialPolicy.from_published(ca.root_pem, ca.crl_der())
    remote(issued.credential, pk)
    ca.revoke_device("bob", "laptop")
    remote(issued.credential, pk)  # not seen until the new CRL is fetched
    remote.update_crl(ca.crl_der())
    with pytest.raises(ValidationError, match="revoked"):
        remote(issued.credential, pk)
    with pytest.raises(ValidationError, match="signed by the AS root"):
        remote.update_crl(CertificateAuthority.create().crl_der())


def test_state_persists_across_restarts(tmp_path: object) -> None:
    from pathlib import Path

    d = Path(str(tmp_path)) / "as"
    ca = CertificateAuthority.open(d)
    _, pk = keys()
    issued = ca.issue("carol", "phone", pk, 1)
    ca.revoke_device("carol", "phone")
    again = CertificateAuthority.open(d)
    assert again.root_pem == ca.root_pem
    with pytest.raises(ValidationError, match="revoked"):
        again.policy()(issued.credential, pk)


def test_engine_refuses_a_key_package_not_certified_by_the_as() -> None:
    """Unauthorized device additions (RFC 9750): with the AS policy plugged in, the
    engine refuses to add a member whose credential the AS did not issue."""
    ca = CertificateAuthority.create()
    policy = ca.policy().engine_policy()

    def member(user: str, authority: CertificateAuthority) -> Client:
        sk, pk = keys()
        cred = authority.issue(user, "phone", pk, 1).credential
        return Client(cred, 1, sk, pk, policy=policy)

    alice, bob = member("alice", ca), member("bob", ca)
    group = alice.create_group(b"g")
    group.add_members([bob.key_package()])  # certified: accepted
    group.clear_pending_commit()
    rogue = member("eve", CertificateAuthority.create())
    with pytest.raises(ValidationError, match="not issued by this AS"):
        group.add_members([rogue.key_package()])
    basic = Client.generate(b"mallory")
    with pytest.raises(ValidationError, match="only x509"):
        group.add_members([basic.key_package()])


def test_http_registration_needs_an_existing_device_for_more_devices(
    devices: Devices, server: Server
) -> None:
    phone = devices.new("dora", "phone")
    laptop = ServiceClient(DeviceKeys.generate(phone.keys.user, "laptop"), server.url)
    with pytest.raises(ServiceError) as e:
        laptop.as_register()  # self-signed: not an approval
    assert e.value.status == 401 and "already has devices" in e.value.message
    outsider = devices.new("eve")
    with pytest.raises(ServiceError) as e:
        laptop.as_register(approver=outsider.keys)
    assert e.value.status == 403
    laptop.as_register(approver=phone.keys)
    laptop.register()
    listed = httpx.get(f"{server.url}/as/users/{phone.keys.user}/devices").json()["devices"]
    assert listed == ["laptop", "phone"]
    # Proof of possession: a registration for a key whose owner did not sign it fails.
    stolen = ServiceClient(DeviceKeys.generate(devices.user("frank"), "x"), server.url)
    stolen.keys.signature_public_key = phone.keys.signature_public_key
    with pytest.raises(ServiceError) as e:
        stolen.as_register()
    assert e.value.status == 401 and "proof" in e.value.message
    laptop.close()
    stolen.close()


def test_http_root_and_crl_and_revocation(devices: Devices, server: Server) -> None:
    phone = devices.new("gus", "phone")
    tablet = devices.new("gus", "tablet", approver=phone)
    policy = CredentialPolicy.from_published(phone.as_root(), phone.as_crl())
    assert tablet.keys.credential is not None
    cred = tls.decode(tablet.keys.credential, Credential)
    policy(cred, tablet.keys.signature_public_key)
    with pytest.raises(ServiceError) as e:
        devices.new("eve").as_revoke(phone.keys.user, "tablet")
    assert e.value.status == 403
    phone.as_revoke(phone.keys.user, "tablet")
    policy.update_crl(phone.as_crl())
    with pytest.raises(ValidationError, match="revoked"):
        policy(cred, tablet.keys.signature_public_key)
