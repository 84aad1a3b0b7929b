"""The DS's in-process cache of verified group views (``group_view.ViewCache``): used
only for exactly the stored bytes, taken out while in use, and giving the same
verdicts as a view decoded from the bytes."""

from __future__ import annotations

from mlswire.crypto import cipher_suite
from mlswire.engine.group import Client, GroupConfig, PublicGroup
from mlswire.schema import Credential, CredentialType
from mlswire.service.group_view import HandshakeCheck, ViewCache


def client(name: str) -> Client:
    sk, pk = cipher_suite(1).signature_key_pair()
    cred = Credential(credential_type=CredentialType.basic, identity=name.encode())
    return Client(cred, 1, sk, pk)


def test_the_cache_serves_exactly_the_stored_state_and_only_once() -> None:
    alice = client("alice")
    group = alice.create_group(config=GroupConfig(handshake_wire_format="public"))
    group.add_members([client(f"m{i}").key_package() for i in range(3)])
    group.merge_pending_commit()
    view = PublicGroup.from_group_info(group.group_info(ratchet_tree=True))
    state = view.to_bytes()
    cache = ViewCache()
    cache.put(b"g", state, view)
    assert cache.take(b"g", state, None) is view and cache.hits == 1
    # Taken out while in use: a second take of the same bytes decodes them.
    again = cache.take(b"g", state, None)
    assert again is not view and again.to_bytes() == state and cache.misses == 1
    # Other bytes (a change through another process, a rolled-back commit): a miss.
    cache.put(b"g", b"not these bytes", view)
    assert cache.take(b"g", state, None) is not view and cache.misses == 2


def test_a_cached_view_verifies_a_commit_as_the_stored_bytes_do() -> None:
    alice = client("alice")
    group = alice.create_group(config=GroupConfig(handshake_wire_format="public"))
    group.add_members([client(f"m{i}").key_package() for i in range(3)])
    group.merge_pending_commit()
    view = PublicGroup.from_group_info(group.group_info(ratchet_tree=True))
    state = view.to_bytes()
    commit = group.update().commit
    cache = ViewCache()
    cache.put(b"g", state, view)

    def check(cache: ViewCache | None) -> bytes:
        # Signed by leaf 0, whose basic credential names no device: refused the same
        # way by both, after the view verified the commit's signature and path.
        hc = HandshakeCheck("alice/phone", commit, None, lambda m: "", None, b"g", cache)
        try:
            return hc(state, ("alice/phone",)).public_state
        except Exception as e:  # the verdict is the refusal
            return repr(e).encode()

    assert check(cache) == check(None)
    assert cache.hits == 1
