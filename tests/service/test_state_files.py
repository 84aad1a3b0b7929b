"""State on disk is private: every file of a client's state directory (device keys,
KeyPackage private keys, group secrets, pending commits) and of the AS (root key,
registry) is 0600 in a 0700 folder, whatever the umask, and written atomically."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlswire.client import MLSClient
from mlswire.service.files import write_private

from .conftest import Net, Server


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: the modes must come from the code, not the umask."""
    old = os.umask(0)
    yield
    os.umask(old)


def modes(root: Path) -> dict[str, int]:
    """Mode of the root and of every file and folder under it, by relative path."""
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for p in root.rglob("*"):
        out[str(p.relative_to(root))] = stat.S_IMODE(p.stat().st_mode)
    return out


def assert_private(root: Path) -> None:
    found = modes(root)
    wrong = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert not wrong, f"not private under {root}: {wrong}"


def test_client_state_is_private(net: Net, open_umask: None) -> None:
    alice, bob = net.new("alice"), net.new("bob")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"))
    bob.receive()
    alice.send(gid, b"hi")
    bob.receive()
    # A commit left pending (as by a crash before it was sent) writes its roster file.
    group = alice.groups[gid]
    group.update()
    alice._pending_roster[gid] = {"add": [], "remove": []}
    alice._save_group(gid)
    for c in (alice, bob):
        names = set(modes(c.dir))
        assert {"device.json", "key_packages.json", f"groups/{gid.hex()}.bin"} <= names
        assert_private(c.dir)
    assert f"groups/{gid.hex()}.pending.json" in modes(alice.dir)


def test_state_of_an_older_version_is_made_private_on_load(net: Net, open_umask: None) -> None:
    alice = net.new("alice")
    gid = alice.create_group()
    for p in [alice.dir, *alice.dir.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    alice = net.reload(alice)
    for d in (alice.dir, alice.dir / "groups"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    alice.send(gid, b"rewritten")  # saves the group again
    assert stat.S_IMODE((alice.dir / "groups" / f"{gid.hex()}.bin").stat().st_mode) == 0o600


def test_as_state_is_private(server: Server) -> None:
    # The session's server created its AS directory (root key, registry) at start.
    assert_private(server.workdir / "as")


def test_write_private_is_atomic_and_leaves_no_temporary(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "new" / "deeper" / "state.bin"
    write_private(target, b"one")
    write_private(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["state.bin"]
    assert_private(tmp_path / "new")

    # A failure while writing (here: the disk refuses the flush) keeps the old content
    # and removes the temporary file.
    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space"):
        write_private(target, b"three")
    monkeypatch.undo()
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["state.bin"]


def test_loaders_ignore_a_stray_temporary(net: Net) -> None:
    alice = net.new("alice")
    gid = alice.create_group()
    stray = alice.dir / "groups" / f"{gid.hex()}.bin.abc123"
    stray.write_bytes(b"half a write")
    again = MLSClient.load(alice.dir)
    try:
        assert list(again.groups) == [gid]
    finally:
        again.close()
