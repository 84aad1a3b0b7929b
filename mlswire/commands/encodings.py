"""``mlswire convert``, ``mlswire inspect`` and ``mlswire schema export``: any MLS
structure between the TLS, CBOR and JSON encodings (and any plugin codec)."""

from __future__ import annotations

import argparse
import base64
import binascii
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import MLSError
from . import FAILED, OK, CommandError, UsageError, one_line

FORMATS = ("raw", "hex", "base64")
_HEX_TEXT = re.compile(rb"[0-9a-fA-F\s]+")
_NOT_HEX = re.compile(rb"[^0-9a-fA-F\s]")


# -- arguments, input and output framing -------------------------------------------


def _type_name(name: str) -> str:
    """``--type``: an RFC 9420 type name mlswire knows, or a usage error listing them."""
    from ..schema.base import registered

    known = sorted(registered())
    if name in known:
        return name
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UsageError(f"unknown type {name!r}; {hint}valid types: {', '.join(known)}")


def _codec(name: str) -> Any:
    from ..codecs import get_codec

    try:
        return get_codec(name)
    except ValueError as e:  # unknown encoding, or a plugin that does not load
        raise UsageError(str(e)) from None


def _read(path: str | None) -> bytes:
    if path in (None, "-"):
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None


def _auto_format(data: bytes) -> str:
    """Hex when the input is hex text (possibly wrapped over lines), else raw bytes."""
    return "hex" if data.strip() and _HEX_TEXT.fullmatch(data) else "raw"


def _unframe(data: bytes, fmt: str) -> bytes:
    if fmt == "auto":
        fmt = _auto_format(data)
    if fmt == "raw":
        return data
    text = b"".join(data.split())  # hex and base64 may be wrapped over lines
    if fmt == "hex":
        bad = _NOT_HEX.search(text)
        if bad is not None:
            raise UsageError(
                f"input is not hex: byte {bad.group()!r} at offset {bad.start()} is not a hex "
                "digit (binary input needs --in-format raw)"
            )
        if len(text) % 2:
            raise UsageError(f"input is not hex: an odd number of hex digits ({len(text)})")
        return bytes.fromhex(text.decode("ascii"))
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as e:
        raise UsageError(f"input is not base64: {e}") from None


def _frame(data: bytes, fmt: str, text: bool) -> bytes:
    """The output framing. A text encoding (JSON) ends in a newline like hex and base64
    do; raw binary stays exactly the encoding, so that files compare byte for byte."""
    if fmt == "hex":
        return data.hex().encode() + b"\n"
    if fmt == "base64":
        return base64.b64encode(data) + b"\n"
    return data + b"\n" if text and not data.endswith(b"\n") else data


def _write(data: bytes, path: str | None) -> None:
    if path in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(path).write_bytes(data)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def _context(items: list[str] | None) -> dict[str, Any]:
    """``--context FramedContent.content_type=commit``: a select discriminant that lives
    outside the type being converted, by enum name or number."""
    from ..schema.base import describe, lookup

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        head, _, attr = key.partition(".")
        try:
            d = describe(lookup(head))
            t = next(f.type for f in d.fields if f.name == attr)
        except (KeyError, StopIteration):
            raise UsageError(f"--context {item!r}: no field {key}") from None
        if not sep or t.kind != "enum":
            raise UsageError(f"--context {item!r}: expected {key}=<{t.rfc()} name>")
        try:
            out[key] = t.cls(int(value, 0)) if value[:1].isdigit() else t.cls[value]
        except (KeyError, ValueError):
            raise UsageError(f"--context {item!r}: not a {t.rfc()}") from None
    return out


# -- convert ----------------------------------------------------------------------


def convert(args: argparse.Namespace) -> int:
    tp = _type_name(args.type)
    source, target = _codec(args.from_), _codec(args.to)
    ctx = _context(args.context)
    data = _unframe(_read(args.input), args.in_format)
    value = source.decode(data, tp, ctx)  # an MLSError: the input is rejected, exit 1
    out = target.encode(value, tp, ctx)
    _write(_frame(out, args.out_format, text=args.to in TEXT_ENCODINGS), args.output)
    return OK


# Encodings whose output is text: a newline ends it on output (their decoders accept it).
TEXT_ENCODINGS = frozenset({"json"})


# -- inspect ----------------------------------------------------------------------


def _detect(data: bytes, encoding: str, tp: str, ctx: dict[str, Any]) -> tuple[str, Any]:
    """Decode ``data`` with the named encoding, or with the first of json/tls/cbor that
    accepts it (JSON only when it looks like JSON)."""
    if encoding != "auto":
        return encoding, _codec(encoding).decode(data, tp, ctx)
    candidates = ["tls", "cbor"]
    if data.lstrip()[:1] in (b"{", b"["):
        candidates.insert(0, "json")
    errors: list[str] = []
    for name in candidates:
        try:
            return name, _codec(name).decode(data, tp, ctx)
        except MLSError as e:
            errors.append(f"as {name}: {e}")
    raise CommandError(f"not a {tp} in any encoding: " + "; ".join(errors))


SUMMARY_FIELDS = ("wire_format", "cipher_suite", "group_id", "epoch", "sender", "content_type")


def _summary(tree: Any) -> dict[str, Any]:
    """The first occurrence (breadth first) of each field users look for first."""
    found: dict[str, Any] = {}
    queue = [tree]
    while queue:
        node = queue.pop(0)
        if isinstance(node, dict):
            for k, v in node.items():
                if k in SUMMARY_FIELDS and k not in found:
                    found[k] = v
            queue.extend(node.values())
        elif isinstance(node, list):
            queue.extend(node)
    return {k: found[k] for k in SUMMARY_FIELDS if k in found}


def _short(b: bytes, limit: int = 32) -> str:
    if len(b) <= limit:
        return b.hex()
    return f"{b[:limit].hex()}... (+{len(b) - limit} bytes)"


def _render(value: Any, t: Any, label: str, indent: str, out: list[str]) -> None:
    """One line per field: name, RFC type, value; enum names with their numbers; byte
    strings with their lengths; vectors with their element counts."""
    k = t.kind
    head = f"{indent}{label}: " if label else indent
    if k == "struct":
        out.append(f"{head}{t.rfc()}")
        for f in t.fields:
            v = getattr(value, f.name)
            if f.case is not None and v is None:
                continue  # an arm of a select that is not taken
            _render(v, f.type, f.name, indent + "  ", out)
    elif k == "enum":
        out.append(f"{head}{t.rfc()} {value.name} ({int(value)})")
    elif k == "uint":
        out.append(f"{head}{t.rfc()} {value}")
    elif k in ("opaque", "fixed", "padding"):
        out.append(f"{head}{t.rfc()}[{len(value)}] {_short(bytes(value))}".rstrip())
    elif k == "optional":
        if value is None:
            out.append(f"{head}{t.rfc()} absent")
        else:
            _render(value, t.elem, label, indent, out)
    elif k == "vector":
        elem = t.elem
        n = len(value)
        out.append(f"{head}{t.elem.rfc()}<{n} item{'' if n == 1 else 's'}>")
        if elem.kind in ("uint", "enum") and value:
            names = [x.name if elem.kind == "enum" else str(x) for x in value]
            out[-1] += " " + ", ".join(names)
        else:
            for i, x in enumerate(value):
                _render(x, elem, f"[{i}]", indent + "  ", out)
    else:  # pragma: no cover
        raise AssertionError(k)


def inspect(args: argparse.Namespace) -> int:
    if not args.json:
        return _inspect(args)
    # --json: a failure is a JSON document too, {"error": ..., "exit": code}, on stdout.
    try:
        return _inspect(args)
    except (CommandError, MLSError) as e:
        code = e.code if isinstance(e, CommandError) else FAILED
        print(json.dumps({"error": one_line(str(e)), "exit": code}))
        return code


def _inspect(args: argparse.Namespace) -> int:
    from ..codecs import json as json_codec
    from ..schema.base import describe, lookup

    tp = _type_name(args.type)
    ctx = _context(args.context)
    data = _unframe(_read(args.input), args.in_format)
    encoding, value = _detect(data, args.from_, tp, ctx)
    tree = json_codec.to_tree(value, tp, ctx)
    t = describe(lookup(args.type))
    summary = _summary(tree)
    if args.json:
        doc = {
            "type": t.name or t.rfc(),
            "encoding": encoding,
            "size": len(data),
            "summary": summary,
            "value": tree,
        }
        print(json.dumps(doc, indent=2))
        return 0
    lines = [f"{t.name or t.rfc()} ({encoding}, {len(data)} bytes)"]
    if summary:
        parts = []
        for key, v in summary.items():
            if key == "sender" and isinstance(v, dict):
                v = " ".join(str(x) for x in v.values())
            parts.append(f"{key.replace('_', ' ')} {v}")
        lines.append("  " + ", ".join(parts))
    body: list[str] = []
    _render(value, t, "", "", body)
    lines += body[1:]  # the first line repeats the type name
    print("\n".join(lines))
    return 0


# -- schema export ----------------------------------------------------------------


def export(args: argparse.Namespace) -> int:
    from ..codecs.export import EXPORTS

    text = EXPORTS[args.format]()
    _write(text.encode(), args.output)
    return OK


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "convert",
        help="convert an MLS structure between encodings (tls, cbor, json, plugins)",
        description="Convert one MLS structure between encodings. Conversion is lossless: "
        "TLS -> CBOR -> JSON -> TLS gives back the same bytes.",
    )
    p.add_argument("--from", dest="from_", required=True, metavar="ENC", help="input encoding")
    p.add_argument("--to", required=True, metavar="ENC", help="output encoding")
    p.add_argument("--type", default="MLSMessage", help="RFC 9420 type name (default MLSMessage)")
    p.add_argument(
        "--in-format",
        choices=("auto", *FORMATS),
        default="auto",
        help="input framing (default: hex if the input is hex text, else raw)",
    )
    p.add_argument(
        "--out-format",
        choices=FORMATS,
        default="raw",
        help="output framing (default raw: the encoding itself; JSON ends in a newline)",
    )
    p.add_argument(
        "--context",
        action="append",
        metavar="TYPE.FIELD=VALUE",
        help="a select discriminant from an enclosing message, e.g. "
        "FramedContent.content_type=commit (repeatable)",
    )
    p.add_argument("input", nargs="?", metavar="IN", help="input file (default stdin)")
    p.add_argument("-o", "--output", metavar="OUT", help="output file (default stdout)")
    p.set_defaults(func=convert)

    p = sub.add_parser(
        "inspect",
        help="show any MLS structure, in any encoding, as a readable tree",
        description="Decode one MLS structure and print its fields with RFC types, enum "
        "names, lengths, and a summary line (wire format, group, epoch, sender, content type).",
    )
    p.add_argument("input", nargs="?", metavar="IN", help="input file (default stdin)")
    p.add_argument(
        "--from",
        dest="from_",
        default="auto",
        metavar="ENC",
        help="encoding (default: detect among json, tls, cbor)",
    )
    p.add_argument("--type", default="MLSMessage", help="RFC 9420 type name (default MLSMessage)")
    p.add_argument(
        "--in-format",
        choices=("auto", *FORMATS),
        default="auto",
        help="input framing (default: hex if the input is hex text, else raw)",
    )
    p.add_argument(
        "--context",
        action="append",
        metavar="TYPE.FIELD=VALUE",
        help="a select discriminant from an enclosing message (repeatable)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON: type, encoding, size, summary, and the value in the JSON encoding",
    )
    p.set_defaults(func=inspect)

    p = sub.add_parser("schema", help="language-neutral descriptions of the encodings")
    ssub = p.add_subparsers(dest="schema_command", required=True)
    e = ssub.add_parser(
        "export",
        help="print the schema as TLS presentation language, CDDL or JSON Schema",
        description="Generate encodings/mls.tls, mls.cddl or mls.schema.json from the schema.",
    )
    e.add_argument("format", choices=("tls", "cddl", "jsonschema"))
    e.add_argument("-o", "--output", metavar="OUT", help="output file (default stdout)")
    e.set_defaults(func=export)
