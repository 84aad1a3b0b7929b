"""Revocation done right (issue 15 item 6): a revoked device does not block inviting its
user, is not offered by the DS, cannot be claimed, is not added by a client whose
revocation list is old, and revoking every device of a user does not free the name."""

from __future__ import annotations

import pytest

from mlswire.client import DeviceKeys, MLSClient, ServiceClient, ServiceError

from .conftest import Net


def eve_with_tablet_revoked(net: Net) -> tuple[MLSClient, MLSClient]:
    phone = net.new("eve")
    tablet = net.new("eve", "tablet", approver=phone)
    phone.service.as_revoke(net.user("eve"), "tablet")
    return phone, tablet


def test_invite_adds_the_current_devices_of_a_user_with_a_revoked_one(net: Net) -> None:
    alice = net.new("alice")
    phone, _ = eve_with_tablet_revoked(net)
    gid = alice.create_group()
    added = alice.invite(gid, net.user("eve"))
    assert added == [phone.address] and added.skipped == {}
    assert [e.kind for e in phone.receive()] == ["joined"]
    assert sorted(a for a in alice.members(gid).values() if a) == [alice.address, phone.address]


def test_the_ds_hides_revoked_devices_and_refuses_their_key_packages(net: Net) -> None:
    alice = net.new("alice")
    phone, tablet = eve_with_tablet_revoked(net)
    assert alice.service.user_devices(net.user("eve")) == [phone.address]
    with pytest.raises(ServiceError) as e:
        alice.service.claim_key_package(tablet.address)
    assert e.value.status == 410 and "revoked" in e.value.message


def test_invite_skips_a_revoked_device_a_stale_directory_still_lists(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory read before the revocation (or an older DS) still lists the tablet:
    the DS refuses its KeyPackage and invite says so, adding the other devices."""
    alice = net.new("alice")
    phone, tablet = eve_with_tablet_revoked(net)
    listed = [phone.address, tablet.address]
    monkeypatch.setattr(alice.service, "user_devices", lambda user: listed)
    gid = alice.create_group()
    added = alice.invite(gid, net.user("eve"))
    assert added == [phone.address]
    assert list(added.skipped) == [tablet.address] and "revoked" in added.skipped[tablet.address]


def test_invite_refreshes_the_revocation_list_before_adding(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inviter's revocation list predates the revocation, and the DS it talks to
    still hands out the revoked device's KeyPackage (claimed before the revocation):
    the SDK fetches the AS's list first and does not add the device."""
    alice = net.new("alice")
    phone = net.new("eve")
    tablet = net.new("eve", "tablet", approver=phone)
    kp, _ = alice.service.claim_key_package(tablet.address)  # before the revocation
    phone.service.as_revoke(net.user("eve"), "tablet")
    monkeypatch.setattr(alice.service, "user_devices", lambda user: [tablet.address])
    monkeypatch.setattr(alice.service, "claim_key_package", lambda address: (kp, False))
    gid = alice.create_group()
    added = alice.invite(gid, net.user("eve"))
    assert added == [] and "revoked" in added.skipped[tablet.address]
    assert list(alice.members(gid).values()) == [alice.address]


def test_a_user_name_stays_bound_after_all_its_devices_are_revoked(net: Net) -> None:
    phone = net.new("eve")
    phone.service.as_revoke(net.user("eve"), "phone")
    stranger = ServiceClient(DeviceKeys.generate(net.user("eve"), "laptop"), net.server.url)
    try:
        with pytest.raises(ServiceError) as e:
            stranger.as_register()
        assert e.value.status == 401 and "admin token" in e.value.message
        assert stranger.keys.credential is None
    finally:
        stranger.close()
    # A user name never seen before still registers freely.
    net.new("frank")
