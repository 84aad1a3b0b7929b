"""``mlswire client ...``: one device of a user, driven from the shell.

The device's state (keys, credential, KeyPackage secrets, groups) lives in ``--state``
(default ``./mlswire-client``); every command loads it, acts, and saves it, so a chat
works across invocations::

    mlswire client register --user alice --device laptop --url http://127.0.0.1:8480
    mlswire client create                       # prints the new group's id (hex)
    mlswire client invite GROUP bob
    mlswire client send GROUP "hello bob"
    mlswire client receive --wait 10            # prints what arrived, acknowledges it
    mlswire client leave GROUP

Group ids are hex. A further device of an existing user is approved by one of the
user's devices: ``register ... --approver-state DIR_OF_THAT_DEVICE``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "client",
        help="an MLS client device talking to `mlswire serve` (register, chat, ...)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--state", default="mlswire-client", help="the device's state directory")
    cmds = p.add_subparsers(dest="client_command", required=True)
    r = cmds.add_parser("register", help="create this device: AS certificate, DS registration")
    r.add_argument("--user", required=True)
    r.add_argument("--device", required=True)
    r.add_argument("--url", required=True, help="the DS (and AS) URL")
    r.add_argument("--as-url", help="the AS URL when it is not the DS's")
    r.add_argument("--suite", type=int, default=1)
    r.add_argument("--approver-state", help="state directory of a device of the same user")
    c = cmds.add_parser("create", help="create a group")
    c.add_argument("--group-id", help="hex (default: random)")
    i = cmds.add_parser("invite", help="add every device of these users")
    i.add_argument("group")
    i.add_argument("users", nargs="+")
    s = cmds.add_parser("send", help="send a text message")
    s.add_argument("group")
    s.add_argument("text")
    a = cmds.add_parser("attach", help="send a file as an encrypted attachment")
    a.add_argument("group")
    a.add_argument("file")
    v = cmds.add_parser("receive", help="process and print what arrived")
    v.add_argument("--wait", type=int, default=0, help="long-poll up to this many seconds")
    u = cmds.add_parser("update", help="commit a key update")
    u.add_argument("group")
    lv = cmds.add_parser("leave", help="leave a group")
    lv.add_argument("group")
    rj = cmds.add_parser("rejoin", help="rejoin a group by external commit")
    rj.add_argument("group")
    cmds.add_parser("groups", help="list this device's groups and their members")
    p.set_defaults(func=run)


def _gid(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise SystemExit(f"mlswire client: group id must be hex, not {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..client import MLSClient, ServiceError
    from ..errors import MLSError

    state = Path(args.state)
    try:
        if args.client_command == "register":
            approver = None
            if args.approver_state:
                other = MLSClient.load(args.approver_state)
                approver = other.service.keys
                other.close()
            c = MLSClient.register(
                state,
                args.user,
                args.device,
                args.url,
                args.as_url,
                suite=args.suite,
                approver=approver,
            )
            print(c.address)
            c.close()
            return 0
        c = MLSClient.load(state)
        try:
            return _act(c, args)
        finally:
            c.close()
    except ServiceError as e:
        print(f"mlswire client: {e}", file=sys.stderr)
        return 1
    except (MLSError, KeyError, ValueError, OSError) as e:
        print(f"mlswire client: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


def _act(c: Any, args: argparse.Namespace) -> int:
    from pathlib import Path

    cmd = args.client_command
    if cmd == "create":
        print(c.create_group(_gid(args.group_id) if args.group_id else None).hex())
    elif cmd == "invite":
        for address in c.invite(_gid(args.group), *args.users):
            print(f"added {address}")
    elif cmd == "send":
        c.send(_gid(args.group), args.text.encode())
    elif cmd == "attach":
        path = Path(args.file)
        print(c.send_attachment(_gid(args.group), path.read_bytes(), path.name))
    elif cmd == "update":
        c.update(_gid(args.group))
    elif cmd == "leave":
        c.leave(_gid(args.group))
    elif cmd == "rejoin":
        c.rejoin(_gid(args.group))
    elif cmd == "groups":
        for gid in sorted(c.groups):
            members = ", ".join(a or "?" for a in c.members(gid).values())
            print(f"{gid.hex()} epoch {c.groups[gid].epoch}: {members}")
    elif cmd == "receive":
        for e in c.receive(wait=args.wait):
            gid = e.group_id.hex()
            if e.kind == "message":
                print(f"{gid} {e.sender}: {e.data.decode('utf-8', 'replace')}")
            elif e.kind == "attachment":
                print(f"{gid} {e.sender}: [attachment {e.detail}, {len(e.data)} bytes]")
            else:
                print(f"{gid} [{e.kind}] {e.detail}".rstrip())
    return 0
