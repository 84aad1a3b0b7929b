"""`mlswire client ...`: two devices chat from the shell, state kept on disk between
commands (each command is a new process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import ROOT, Devices, Server


def mlswire(state: Path, *args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "mlswire", "client", "--state", str(state), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_two_devices_chat_from_the_shell(server: Server, devices: Devices, tmp_path: Path) -> None:
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    a_user, b_user = devices.user("alice"), devices.user("bob")
    assert (
        mlswire(
            alice, "register", "--user", a_user, "--device", "laptop", "--url", server.url
        ).strip()
        == f"{a_user}/laptop"
    )
    mlswire(bob, "register", "--user", b_user, "--device", "phone", "--url", server.url)
    gid = mlswire(alice, "create").strip()
    assert mlswire(alice, "invite", gid, b_user).strip() == f"added {b_user}/phone"
    assert "[joined]" in mlswire(bob, "receive")
    mlswire(alice, "send", gid, "hello from the shell")
    assert mlswire(bob, "receive", "--wait", "5").strip() == (
        f"{gid} {a_user}/laptop: hello from the shell"
    )
    mlswire(bob, "send", gid, "hi alice")
    assert mlswire(alice, "receive").strip() == f"{gid} {b_user}/phone: hi alice"
    assert mlswire(bob, "groups").startswith(f"{gid} epoch 1: ")
    # Errors are reported, not raised: an unknown group id.
    r = subprocess.run(
        [sys.executable, "-m", "mlswire", "client", "--state", str(bob), "send", "00ff", "x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2  # a usage error: see mlswire/commands/__init__.py
    assert r.stderr.startswith("mlswire client send: error: this device is in no group 00ff")
