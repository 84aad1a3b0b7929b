"""``mlswire convert``, ``mlswire inspect`` and ``mlswire schema export``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlswire import cli
from mlswire.codecs import cbor
from mlswire.codecs import json as jsonc
from mlswire.vectors.messages import TYPES

from .conftest import require, vectors_dir


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mlswire", *args], input=stdin, capture_output=True, check=False
    )


def messages() -> list[dict[str, str]]:
    return list(json.loads(require(vectors_dir() / "messages.json").read_text()))


def test_convert_round_trips_every_messages_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """TLS (hex) -> CBOR -> JSON -> TLS (hex) through the convert command, for every
    value of messages.json: the same hex comes out. In process, stdin to stdout (a
    subprocess per conversion would take minutes)."""
    parser = cli.build_parser()

    def convert(data: bytes, *argv: str) -> bytes:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        out = io.TextIOWrapper(io.BytesIO())
        monkeypatch.setattr(sys, "stdout", out)
        args = parser.parse_args(["convert", *argv])
        assert args.func(args) == 0, argv
        return out.buffer.getvalue()  # type: ignore[attr-defined, no-any-return]

    for case in messages():
        for field, type_name in TYPES.items():
            t = ("--type", type_name)
            a = convert(
                case[field].encode(), "--from", "tls", "--to", "cbor", *t, "--in-format", "hex"
            )
            b = convert(a, "--from", "cbor", "--to", "json", *t)
            back = convert(b, "--from", "json", "--to", "tls", *t, "--out-format", "hex")
            assert back.decode() == case[field] + "\n", field


def test_convert_pipes_stdin_to_stdout() -> None:
    hex_msg = messages()[0]["public_message_commit"]
    as_cbor = run(
        "convert", "--from", "tls", "--to", "cbor", "--in-format", "hex", stdin=hex_msg.encode()
    )
    assert as_cbor.returncode == 0, as_cbor.stderr
    as_json = run("convert", "--from", "cbor", "--to", "json", stdin=as_cbor.stdout)
    assert json.loads(as_json.stdout)["wire_format"] == "mls_public_message"
    as_b64 = run(
        "convert", "--from", "json", "--to", "tls", "--out-format", "base64", stdin=as_json.stdout
    )
    back = run(
        "convert",
        "--from",
        "tls",
        "--to",
        "tls",
        "--in-format",
        "base64",
        "--out-format",
        "hex",
        stdin=as_b64.stdout,
    )
    assert back.stdout.decode() == hex_msg + "\n"


def test_convert_with_context_for_types_decoded_alone() -> None:
    doc = b'{"signature":"00","confirmation_tag":"01"}'
    out = run(
        "convert",
        "--from",
        "json",
        "--to",
        "tls",
        "--type",
        "FramedContentAuthData",
        "--context",
        "FramedContent.content_type=commit",
        "--out-format",
        "hex",
        stdin=doc,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"01000101\n"
    bad = run(
        "convert",
        "--from",
        "json",
        "--to",
        "tls",
        "--type",
        "FramedContentAuthData",
        "--context",
        "FramedContent.content_type=application",
        stdin=doc,
    )
    assert bad.returncode == 1
    assert b"unexpected key 'confirmation_tag'" in bad.stderr


def test_convert_errors_are_one_line_with_the_field_path() -> None:
    out = run(
        "convert",
        "--from",
        "json",
        "--to",
        "tls",
        "--type",
        "Sender",
        stdin=b'{"sender_type":"member","leaf_index":"x"}',
    )
    assert out.returncode == 1
    assert out.stderr.decode().strip() == (
        "mlswire convert: error: Sender.leaf_index: expected an integer 0..4294967295 "
        "(uint32), not a text string"
    )
    out = run("convert", "--from", "tls", "--to", "cbor", "--in-format", "hex", stdin=b"zz")
    assert out.returncode == 2 and b"input is not hex" in out.stderr
    out = run("convert", "--from", "tls", "--to", "yaml", stdin=b"")
    assert out.returncode == 2 and b"unknown encoding 'yaml'" in out.stderr


@pytest.mark.parametrize("enc", ["tls", "cbor", "json"])
def test_inspect_detects_the_encoding(tmp_path: Path, enc: str) -> None:
    hex_msg = messages()[3]["public_message_commit"]
    from mlswire.codecs import tls

    value = tls.decode(bytes.fromhex(hex_msg), "MLSMessage")
    data = {"tls": tls, "cbor": cbor, "json": jsonc}[enc].encode(value, "MLSMessage")
    f = tmp_path / "msg"
    f.write_bytes(data)
    out = run("inspect", str(f))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    assert lines[0] == f"MLSMessage ({enc}, {len(data)} bytes)"
    assert lines[1].startswith("  wire format mls_public_message, group id ")
    assert "epoch 0, sender member 0, content type commit" in lines[1]
    text = out.stdout.decode()
    assert "  wire_format: WireFormat mls_public_message (1)\n" in text
    assert "        sender_type: SenderType member (1)\n" in text
    assert "      group_id: opaque[16] " in text
    assert "versions: ProtocolVersion<1 item> mls10" in text
    machine = run("inspect", "--json", str(f))
    doc = json.loads(machine.stdout)
    assert doc["encoding"] == enc and doc["type"] == "MLSMessage" and doc["size"] == len(data)
    assert doc["summary"]["content_type"] == "commit"
    assert jsonc.decode(json.dumps(doc["value"]).encode(), "MLSMessage") == value


def test_inspect_hex_input_and_other_types() -> None:
    case = messages()[0]
    out = run("inspect", "--type", "RatchetTree", stdin=case["ratchet_tree"].encode())
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().startswith("RatchetTree (tls, ")
    assert "  [0]: Node\n" in out.stdout.decode()
    bad = run("inspect", stdin=b"\x05\x06")
    assert bad.returncode == 1  # rejected input, as in convert
    assert b"not a MLSMessage in any encoding" in bad.stderr and b"as cbor" in bad.stderr


def test_schema_export_prints_the_committed_files() -> None:
    root = Path(__file__).resolve().parents[1] / "encodings"
    for fmt, name in (("tls", "mls.tls"), ("cddl", "mls.cddl"), ("jsonschema", "mls.schema.json")):
        out = run("schema", "export", fmt)
        assert out.returncode == 0
        assert out.stdout.decode() == (root / name).read_text()
