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
user's devices: ``register ... --approver-state DIR_OF_THAT_DEVICE``. ``register``
refuses a state folder that already holds a device (its private key would be lost)
unless ``--force``. ``receive`` saves attachments in ``--save-dir`` (default
STATE/attachments) and prints where.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from . import OK, CommandError, Unavailable, UsageError

# The files of a device's state folder that `register --force` replaces.
STATE_ENTRIES = ("device.json", "key_packages.json", "groups")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "client",
        help="an MLS client device talking to `mlswire serve` (register, chat, ...)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--state",
        default="mlswire-client",
        help="the device's state folder (default %(default)s)",
    )
    cmds = p.add_subparsers(dest="client_command", required=True, metavar="COMMAND")
    r = cmds.add_parser("register", help="create this device: AS certificate, DS registration")
    r.add_argument("--user", required=True)
    r.add_argument("--device", required=True)
    r.add_argument("--url", required=True, help="the DS (and AS) URL")
    r.add_argument("--as-url", help="the AS URL when it is not the DS's")
    r.add_argument("--suite", type=int, default=1, help="cipher suite (default %(default)s)")
    r.add_argument("--approver-state", help="state folder of a device of the same user")
    r.add_argument(
        "--force",
        action="store_true",
        help="replace the device already in the state folder (its keys and groups are lost)",
    )
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
    v = cmds.add_parser("receive", help="process and print what arrived; save attachments")
    v.add_argument("--wait", type=int, default=0, help="long-poll up to this many seconds")
    v.add_argument(
        "--save-dir", type=Path, help="folder for received attachments (default STATE/attachments)"
    )
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
        raise UsageError(f"group id must be hex, not {text!r}") from None


def _group(c: Any, text: str) -> bytes:
    """A group of this device, by hex id."""
    gid = _gid(text)
    if gid not in c.groups:
        raise UsageError(
            f"this device is in no group {gid.hex()} (`mlswire client groups` lists its groups)"
        )
    return gid


def _existing_device(state: Path) -> str | None:
    """The user/device held in ``state``, if any."""
    try:
        keys = json.loads((state / "device.json").read_text())["keys"]
        return f"{keys['user']}/{keys['device']}"
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return "an unreadable device"


def _load(state: Path) -> Any:
    from ..client import MLSClient

    if not (state / "device.json").is_file():
        raise UsageError(
            f"no device in {state}: run `mlswire client register` first, or give --state"
        )
    try:
        return MLSClient.load(state)
    except (ValueError, KeyError, TypeError) as e:
        raise UsageError(
            f"the device state in {state} is damaged: {type(e).__name__}: {e}"
        ) from None


def _register(state: Path, args: argparse.Namespace) -> int:
    from ..client import MLSClient

    existing = _existing_device(state)
    if existing is not None:
        if not args.force:
            raise UsageError(
                f"{state} already holds device {existing}; registering again would lose its "
                "private key: give another --state, or --force to replace it"
            )
        for name in STATE_ENTRIES:
            target = state / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    approver = None
    if args.approver_state:
        other = _load(Path(args.approver_state))
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
    return OK


def run(args: argparse.Namespace) -> int:
    import httpx

    from ..client import ServiceError

    state = Path(args.state)
    try:
        if args.client_command == "register":
            return _register(state, args)
        c = _load(state)
        try:
            return _act(c, args)
        finally:
            c.close()
    except ServiceError as e:
        raise CommandError(f"the server refused: {e}") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as e:
        raise UsageError(f"not a usable server URL: {e}") from None
    except httpx.TransportError as e:  # connection refused, DNS, timeout, ...
        where = e.request.url if _has_request(e) else "the server"
        raise Unavailable(f"cannot reach {where}: {e or type(e).__name__}") from None
    except ValueError as e:  # the SDK's refusals (not a member, ...)
        raise CommandError(str(e)) from None
    except OSError as e:  # the state folder, the attachment file, the save folder
        raise UsageError(f"{e.filename or args.state}: {e.strerror or e}") from None


def _has_request(e: Any) -> bool:
    try:
        e.request  # noqa: B018 (httpx raises RuntimeError when the error has no request)
    except RuntimeError:
        return False
    return True


def _save_attachment(folder: Path, name: str, data: bytes) -> Path:
    """Save under the sender's file name (its last component only: the name comes from
    the network), never over an existing file."""
    base = Path(name).name.strip() or "attachment"
    if base.startswith("."):
        base = "attachment" + base
    path = folder / base
    stem, suffix, n = path.stem, path.suffix, 1
    while path.exists():
        path = folder / f"{stem}-{n}{suffix}"
        n += 1
    path.write_bytes(data)
    return path


def _act(c: Any, args: argparse.Namespace) -> int:
    cmd = args.client_command
    if cmd == "create":
        print(c.create_group(_gid(args.group_id) if args.group_id else None).hex())
    elif cmd == "invite":
        gid = _group(c, args.group)
        unknown = [u for u in args.users if not c.service.user_devices(u)]
        if unknown:
            raise CommandError(f"no registered device for {', '.join(unknown)}; nothing was sent")
        added = c.invite(gid, *args.users)
        for address in added:
            print(f"added {address}")
        if not added:
            print(f"nothing to add: every device of {', '.join(args.users)} is in the group")
    elif cmd == "send":
        c.send(_group(c, args.group), args.text.encode())
    elif cmd == "attach":
        gid = _group(c, args.group)
        path = Path(args.file)
        print(c.send_attachment(gid, path.read_bytes(), path.name))
    elif cmd == "update":
        c.update(_group(c, args.group))
    elif cmd == "leave":
        c.leave(_group(c, args.group))
    elif cmd == "rejoin":
        c.rejoin(_gid(args.group))
    elif cmd == "groups":
        for gid in sorted(c.groups):
            members = ", ".join(a or "?" for a in c.members(gid).values())
            print(f"{gid.hex()} epoch {c.groups[gid].epoch}: {members}")
    elif cmd == "receive":
        # The folder exists before anything is acknowledged: a received attachment is
        # never acknowledged without a place to save it.
        save_dir: Path = args.save_dir or c.dir / "attachments"
        save_dir.mkdir(parents=True, exist_ok=True)
        for e in c.receive(wait=args.wait):
            gid = e.group_id.hex()
            if e.kind == "message":
                print(f"{gid} {e.sender}: {e.data.decode('utf-8', 'replace')}")
            elif e.kind == "attachment":
                saved = _save_attachment(save_dir, e.detail, e.data)
                print(
                    f"{gid} {e.sender}: [attachment {e.detail}, {len(e.data)} bytes, saved to {saved}]"
                )
            else:
                print(f"{gid} [{e.kind}] {e.detail}".rstrip())
    return OK
