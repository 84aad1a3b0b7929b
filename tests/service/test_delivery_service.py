"""The Delivery Service over real HTTP on loopback, against SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import httpx
import pytest

from mlswire.client import ServiceClient, ServiceError
from mlswire.service.signing import sign_request

from . import _mls
from .conftest import Devices, Server, dump_store, race_sends


def group_of(devices: Devices, owner: ServiceClient, members: list[ServiceClient]) -> bytes:
    """A group at the DS with ``owner`` and ``members`` (epoch 0 -> 1 by one commit)."""
    gid = ("g-" + devices.prefix + "-" + str(len(devices.clients))).encode()
    owner.create_group(gid)
    if members:
        owner.send(
            _mls.commit(gid, 0), welcome=_mls.welcome(), add=[m.keys.address for m in members]
        )
    return gid


def drain(c: ServiceClient) -> list[bytes]:
    """Everything queued for ``c``, acknowledged; bounded."""
    out: list[bytes] = []
    for _ in range(100):
        msgs = c.fetch(limit=200)
        if not msgs:
            return out
        out += [m.data for m in msgs]
        c.ack(msgs[-1].seq)
    raise AssertionError("queue did not drain")


def test_openapi_document(server: Server) -> None:
    doc = httpx.get(server.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/v1/messages" in doc["paths"] and "/as/register" in doc["paths"]
    assert "MLSSignature" in doc["components"]["securitySchemes"]


def test_key_packages_publish_claim_last_resort(devices: Devices) -> None:
    alice, bob = devices.new("alice"), devices.new("bob")
    kps = [_mls.key_package(bob.keys) for _ in range(3)]
    last = _mls.key_package(bob.keys)
    assert bob.publish_key_packages(kps, last) == 3
    # Each claim consumes one, oldest first; then the last-resort one, never consumed.
    got = [alice.claim_key_package(bob.keys.address) for _ in range(5)]
    assert got[:3] == [(k, False) for k in kps]
    assert got[3:] == [(last, True), (last, True)]
    assert bob.key_package_count() == 0
    # Nobody publishes KeyPackages for another device, or with another device's key.
    with pytest.raises(ServiceError) as e:
        alice.request(
            "POST",
            f"/v1/devices/{bob.keys.address}/key-packages",
            {"key_packages": [base64.b64encode(_mls.key_package(alice.keys)).decode()]},
        )
    assert e.value.status == 403
    with pytest.raises(ServiceError) as e:
        bob.publish_key_packages([_mls.key_package(alice.keys)])
    assert e.value.status == 403 and "not signed by" in e.value.message
    with pytest.raises(ServiceError) as e:
        alice.claim_key_package(devices.user("nobody") + "/x")
    assert e.value.status == 404


def test_claims_are_atomic_under_concurrency(devices: Devices) -> None:
    bob = devices.new("bob")
    claimers = [devices.new(f"c{i}") for i in range(4)]
    kps = [_mls.key_package(bob.keys) for _ in range(12)]
    bob.publish_key_packages(kps)
    results: list[bytes] = []
    lock = threading.Lock()

    def claim(c: ServiceClient) -> None:
        for _ in range(3):
            kp, last = c.claim_key_package(bob.keys.address)
            assert not last
            with lock:
                results.append(kp)

    threads = [threading.Thread(target=claim, args=(c,)) for c in claimers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == sorted(kps)  # each KeyPackage handed out exactly once


def test_fan_out_to_every_member_device(devices: Devices) -> None:
    alice = devices.new("alice")
    bob_phone = devices.new("bob", "phone")
    bob_laptop = devices.new("bob", "laptop", approver=bob_phone)
    carol = devices.new("carol")
    assert alice.user_devices(devices.user("bob")) == [
        bob_laptop.keys.address,
        bob_phone.keys.address,
    ]
    members = [bob_phone, bob_laptop, carol]
    gid = group_of(devices, alice, members)
    msg = _mls.private_message(gid, 1)
    assert alice.send(msg)["recipients"] == 3  # one send, every other member's queue
    for m in members:
        assert drain(m)[-1:] == [msg]
    assert drain(alice) == []  # the sender gets no copy
    assert alice.group(gid)["members"] == sorted(
        [alice.keys.address] + [m.keys.address for m in members]
    )


def test_offline_device_catches_up_in_order(devices: Devices) -> None:
    alice, bob = devices.new("alice"), devices.new("bob")
    gid = group_of(devices, alice, [bob])
    # Bob is offline while the group moves through several epochs.
    sent = []
    for epoch in range(1, 6):
        for _ in range(3):
            sent.append(_mls.private_message(gid, epoch))
            alice.send(sent[-1])
        sent.append(_mls.commit(gid, epoch))
        assert alice.send(sent[-1])["epoch"] == epoch + 1
    got = bob.fetch(limit=500)
    assert [m.kind for m in got] == ["welcome"] + ["message"] * len(sent)
    assert [m.data for m in got[1:]] == sent  # exactly the sent order, after the add commit
    assert [m.seq for m in got] == sorted(m.seq for m in got)
    # Paging with `after` returns the same order.
    paged: list[bytes] = []
    after = 0
    for _ in range(50):
        page = bob.fetch(after=after, limit=4)
        if not page:
            break
        paged += [m.data for m in page]
        after = page[-1].seq
    assert paged == [m.data for m in got]


def test_ack_deletes_and_unacked_is_redelivered(devices: Devices) -> None:
    alice, bob = devices.new("alice"), devices.new("bob")
    gid = group_of(devices, alice, [bob])
    msgs = [_mls.private_message(gid, 1) for _ in range(4)]
    for m in msgs:
        alice.send(m)
    first = bob.fetch()
    again = bob.fetch()  # nothing acknowledged: delivered again, same order, same seqs
    assert first == again and [m.data for m in first[1:]] == msgs
    assert bob.ack(first[2].seq) == 3
    rest = bob.fetch()
    assert rest == first[3:]
    assert bob.ack(rest[-1].seq) == 2
    assert bob.fetch() == []


def test_long_poll_wakes_on_send(devices: Devices) -> None:
    alice, bob = devices.new("alice"), devices.new("bob")
    gid = group_of(devices, alice, [bob])
    bob.ack(bob.fetch()[-1].seq)
    msg = _mls.private_message(gid, 1)
    timer = threading.Timer(0.5, lambda: alice.send(msg))
    start = time.monotonic()
    timer.start()
    got = bob.fetch(wait=10)
    timer.join()
    assert [m.data for m in got] == [msg]
    assert time.monotonic() - start < 8  # returned on the message, not at the timeout


def test_commit_sequencing_one_commit_per_epoch(devices: Devices) -> None:
    alice, bob, carol = devices.new("alice"), devices.new("bob"), devices.new("carol")
    gid = group_of(devices, alice, [bob, carol])
    c1, c2 = _mls.commit(gid, 1), _mls.commit(gid, 1)
    assert bob.send(c1)["epoch"] == 2
    with pytest.raises(ServiceError) as e:
        carol.send(c2)
    assert e.value.status == 409
    assert "epoch 1" in e.value.message and "already accepted" in e.value.message
    with pytest.raises(ServiceError) as e:
        carol.send(_mls.commit(gid, 7))  # from the future
    assert e.value.status == 409 and "at epoch 2" in e.value.message
    # The same commit sent again (a retry after a lost response) is not a conflict and
    # is not delivered twice.
    assert bob.send(c1)["duplicate"] is True
    assert drain(alice) == [c1]
    assert drain(carol)[-1:] == [c1]
    # A stale proposal is refused too; an application message of the previous epoch
    # is still delivered (members keep past epochs' keys for late messages).
    with pytest.raises(ServiceError) as e:
        carol.send(_mls.proposal(gid, 1))
    assert e.value.status == 409
    late = _mls.private_message(gid, 1)
    carol.send(late)
    assert drain(alice) == [late]


def test_concurrent_commits_exactly_one_wins(devices: Devices) -> None:
    members = [devices.new(f"m{i}") for i in range(6)]
    gid = group_of(devices, members[0], members[1:])
    winners: list[tuple[str, bytes]] = []
    for epoch in range(1, 4):
        outcomes = race_sends(members, [_mls.commit(gid, epoch) for _ in members])
        assert sorted(o[0] for o in outcomes) == [200] + [409] * (len(members) - 1)
        winners += [(a, m) for status, a, m in outcomes if status == 200]
    assert members[0].group(gid)["epoch"] == 4
    # Every member got every winning commit but its own, in the same order.
    for c in members:
        seen = [m.data for m in c.fetch(limit=500) if m.kind == "message"]
        assert seen == [m for a, m in winners if a != c.keys.address]


def test_auth_failures_change_nothing(devices: Devices, server: Server) -> None:
    alice, bob, mallory = devices.new("alice"), devices.new("bob"), devices.new("mallory")
    gid = group_of(devices, alice, [bob])
    alice.send(_mls.private_message(gid, 1))
    before = bob.fetch()
    queue = f"/v1/devices/{bob.keys.address}/queue"
    http = httpx.Client(base_url=server.url)

    def status(
        method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, str]:
        r = http.request(method, target, headers=headers, content=body)
        return r.status_code, r.json().get("error", "")

    k = bob.keys
    ok = sign_request(k.suite, k.signature_private_key, k.address, "GET", queue)
    # No header, wrong scheme, forged signature, stale timestamp, replay, unknown device.
    assert status("GET", queue, {})[0] == 401
    assert status("GET", queue, {"authorization": "Bearer x"})[0] == 401
    forged = sign_request(k.suite, mallory.keys.signature_private_key, k.address, "GET", queue)
    code, err = status("GET", queue, {"authorization": forged})
    assert code == 401 and "does not verify" in err
    stale = sign_request(
        k.suite, k.signature_private_key, k.address, "GET", queue, now=time.time() - 3600
    )
    code, err = status("GET", queue, {"authorization": stale})
    assert code == 401 and "timestamp" in err
    assert status("GET", queue, {"authorization": ok})[0] == 200
    code, err = status("GET", queue, {"authorization": ok})
    assert code == 401 and "replayed" in err
    # A signature over another path or body does not carry over.
    other = sign_request(k.suite, k.signature_private_key, k.address, "GET", queue + "?limit=1")
    assert status("GET", queue, {"authorization": other})[0] == 401
    ack = f"/v1/devices/{bob.keys.address}/queue/ack"
    signed_body = json.dumps({"up_to": 1}).encode()
    h = sign_request(k.suite, k.signature_private_key, k.address, "POST", ack, signed_body)
    assert status("POST", ack, {"authorization": h}, b'{"up_to": 99}')[0] == 401
    # Mallory, properly authenticated, cannot read or acknowledge Bob's queue.
    with pytest.raises(ServiceError) as e:
        mallory.request("GET", queue)
    assert e.value.status == 403
    with pytest.raises(ServiceError) as e:
        mallory.request("POST", ack, {"up_to": 10**6})
    assert e.value.status == 403
    # Bob's own ack must name a seq: JSON true is refused like over push.
    for bad in (True, -1, "1"):
        with pytest.raises(ServiceError) as e:
            bob.request("POST", ack, {"up_to": bad})
        assert e.value.status == 400, bad
    # ... nor send to a group she is not in, nor read its GroupInfo.
    with pytest.raises(ServiceError) as e:
        mallory.send(_mls.private_message(gid, 1))
    assert e.value.status == 403
    with pytest.raises(ServiceError) as e:
        mallory.group_info(gid)
    assert e.value.status == 403
    assert bob.fetch() == before  # nothing changed
    http.close()


def test_revoked_device_is_refused(devices: Devices) -> None:
    alice_phone = devices.new("alice", "phone")
    alice_laptop = devices.new("alice", "laptop", approver=alice_phone)
    alice_laptop.fetch()
    alice_phone.as_revoke(alice_laptop.keys.user, "laptop")
    with pytest.raises(ServiceError) as e:
        alice_laptop.fetch()
    assert e.value.status == 401 and "revoked" in e.value.message


def test_malformed_mls_is_refused_with_the_reason(devices: Devices) -> None:
    alice, bob = devices.new("alice"), devices.new("bob")
    gid = group_of(devices, alice, [bob])
    before = bob.fetch()
    good = _mls.private_message(gid, 1)
    cases = {
        "truncated": good[:-5],
        "garbage": b"\x00\x01\xff\xff" + b"x" * 20,
        "trailing": good + b"\x00",
    }
    for name, data in cases.items():
        with pytest.raises(ServiceError) as e:
            alice.send(data)
        assert e.value.status == 400, name
        assert "malformed MLSMessage" in e.value.message, (name, e.value.message)
    with pytest.raises(ServiceError) as e:
        alice.send(_mls.key_package(alice.keys))
    assert e.value.status == 400 and "wire format" in e.value.message
    with pytest.raises(ServiceError) as e:
        alice.request("POST", "/v1/messages", {"message": "not base64!"})
    assert e.value.status == 400 and "message" in e.value.message
    with pytest.raises(ServiceError) as e:
        alice.publish_key_packages([b"\x00\x01\x00\x05"])
    assert e.value.status == 400 and "key_packages[0]" in e.value.message
    with pytest.raises(ServiceError) as e:
        alice.send(_mls.commit(gid, 1), welcome=good, add=[bob.keys.address])
    assert e.value.status == 400 and "welcome" in e.value.message
    assert bob.fetch() == before
    assert alice.group(gid)["epoch"] == 1


def test_oversized_body_is_413(devices: Devices, server: Server) -> None:
    alice, bob = devices.new("alice"), devices.new("bob")
    gid = group_of(devices, alice, [bob])
    before = bob.fetch()
    big = _mls.private_message(gid, 1, ciphertext=b"\x00" * (2 << 20))
    with pytest.raises(ServiceError) as e:
        alice.send(big)
    assert e.value.status == 413 and "limit" in e.value.message
    # Without Content-Length (chunked), the limit holds while reading.
    k = alice.keys

    def chunks() -> object:
        for _ in range(40):
            yield b"x" * 65536

    r = httpx.post(
        server.url + "/v1/messages",
        content=chunks(),  # type: ignore[arg-type]
        headers={
            "authorization": sign_request(
                k.suite, k.signature_private_key, k.address, "POST", "/v1/messages", b""
            )
        },
    )
    assert r.status_code == 413
    assert bob.fetch() == before


def test_external_commit_adds_the_joiner(devices: Devices) -> None:
    """A header-only group (created without a GroupInfo, ``--unverified-groups``): the
    DS reads only the leaf key. In a group the DS follows the commit is verified; see
    test_hostile_clients.py::test_a_valid_external_commit_still_adds_the_joiner."""
    alice, bob, dave = devices.new("alice"), devices.new("bob"), devices.new("dave")
    gid = group_of(devices, alice, [bob])
    # An external commit must carry the sender's own key in its leaf.
    with pytest.raises(ServiceError) as e:
        dave.send(_mls.external_commit(gid, 1, bob.keys))
    assert e.value.status == 403
    assert dave.send(_mls.external_commit(gid, 1, dave.keys))["epoch"] == 2
    assert dave.keys.address in alice.group(gid)["members"]


def test_store_holds_no_application_plaintext(devices: Devices, server: Server) -> None:
    """Real MLS (the engine) through the DS; the stored bytes never contain the text."""
    from mlswire.codecs import tls
    from mlswire.engine.group import Client, GroupConfig
    from mlswire.schema import Credential

    def engine(c: ServiceClient) -> Client:
        k = c.keys
        assert k.credential is not None
        return Client(
            tls.decode(k.credential, Credential),
            k.suite,
            k.signature_private_key,
            k.signature_public_key,
        )

    alice, bob = devices.new("alice"), devices.new("bob")
    ae, be = engine(alice), engine(bob)
    bob.publish_key_packages([be.key_package()])
    gid = ("secret-" + devices.prefix).encode()
    group = ae.create_group(gid, config=GroupConfig(handshake_wire_format="public"))
    alice.create_group(gid)
    out = group.add_members([alice.claim_key_package(bob.keys.address)[0]])
    alice.send(out.commit, welcome=out.welcome, add=[bob.keys.address])
    group.merge_pending_commit()
    bob_group = be.join_group(bob.fetch()[0].data)
    marker = b"PLAINTEXT-MARKER-" + devices.prefix.encode()
    ciphertext = group.encrypt(marker + b" meet at noon")
    alice.send(ciphertext)
    # A PublicMessage cannot carry application data through the DS at all.
    msgs = bob.fetch()
    assert bob_group.process(msgs[-1].data).data.startswith(marker)  # type: ignore[union-attr]
    dump = dump_store(server.db)
    assert ciphertext[-64:] in dump  # the scan does see the stored message...
    assert marker not in dump  # ...and no plaintext


def test_a_database_from_before_the_group_view_is_migrated(tmp_path: Any) -> None:
    """An SQLite store created before ``ds_groups.public_state`` gains the column; its
    old groups keep a NULL view (header-only) and their data."""
    import sqlite3

    from mlswire.service.store_sqlite import SqliteStore

    db = str(tmp_path / "old.sqlite3")
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE ds_groups (group_id BLOB PRIMARY KEY, epoch BIGINT NOT NULL,"
        " created_by TEXT NOT NULL, group_info BLOB)"
    )
    conn.execute("INSERT INTO ds_groups VALUES (x'01', 7, 'a/b', NULL)")
    conn.commit()
    conn.close()
    store = SqliteStore(db)
    try:
        record = store.group(b"\x01")
        assert record is not None and record.epoch == 7
        conn = sqlite3.connect(db)
        row = conn.execute("SELECT public_state FROM ds_groups").fetchone()
        conn.close()
        assert row == (None,)
    finally:
        store.close()
