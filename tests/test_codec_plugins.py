"""Third-party codecs: a distribution that declares an entry point in the group
``mlswire.codecs`` is usable by name, through the real importlib.metadata lookup."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mlswire
from mlswire import codecs
from mlswire.codecs import json as jsonc
from mlswire.schema import Sender, SenderType

PLUGIN = '''
"""A tiny third-party codec: the TLS encoding, as hex text."""
from mlswire import DecodeError
from mlswire.codecs import tls


class HexTLS:
    def encode(self, value, tp, context=None):
        return tls.encode(value, tp, context).hex().encode()

    def decode(self, data, tp, context=None):
        try:
            raw = bytes.fromhex(bytes(data).decode("ascii"))
        except (UnicodeDecodeError, ValueError) as e:
            raise DecodeError(f"not hex: {e}") from None
        return tls.decode(raw, tp, context)
'''


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install the plugin the way pip would leave it: a module and a .dist-info folder
    with entry_points.txt, in a directory on sys.path."""
    (tmp_path / "mlswire_hex_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "mlswire_hex_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mlswire-hex-plugin\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[mlswire.codecs]\n"
        "tlshex = mlswire_hex_plugin:HexTLS\n"
        "json = mlswire_hex_plugin:HexTLS\n"  # must not take over the built-in
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    # Forget what this process registered, before and after.
    monkeypatch.setattr(codecs, "_CODECS", dict(codecs._CODECS))
    codecs._CODECS.pop("tlshex", None)
    return tmp_path


def test_plugin_codec_is_used_by_name(installed: Path) -> None:
    sender = Sender(sender_type=SenderType.member, leaf_index=7)
    assert "tlshex" in codecs.available()
    assert mlswire.encode(sender, "tlshex") == b"0100000007"
    assert mlswire.decode(b"0100000007", "Sender", encoding="tlshex") == sender
    with pytest.raises(mlswire.DecodeError, match="not hex"):
        mlswire.decode(b"zz", "Sender", encoding="tlshex")


def test_builtin_names_cannot_be_taken_over(installed: Path) -> None:
    assert codecs.get_codec("json") is jsonc
    with pytest.raises(ValueError, match="built-in"):
        codecs.register_codec("cbor", jsonc)


def test_a_broken_plugin_is_reported_by_name(installed: Path) -> None:
    info = installed / "mlswire_hex_plugin-1.0.dist-info" / "entry_points.txt"
    info.write_text(info.read_text() + "broken = mlswire_no_such_module:Codec\n")
    with pytest.raises(
        ValueError, match="encoding 'broken': plugin 'mlswire_no_such_module:Codec' failed to load"
    ):
        mlswire.encode(Sender(sender_type=SenderType.reserved), "broken")


def test_register_codec_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codecs, "_CODECS", dict(codecs._CODECS))
    codecs.register_codec("json2", jsonc)
    assert (
        mlswire.encode(Sender(sender_type=SenderType.reserved), "json2")
        == b'{"sender_type":"reserved"}'
    )


def test_plugin_codec_in_the_cli(installed: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), *sys.path])}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlswire",
            "convert",
            "--from",
            "json",
            "--to",
            "tlshex",
            "--type",
            "Sender",
        ],
        input=b'{"sender_type":"member","leaf_index":7}',
        capture_output=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"0100000007"
