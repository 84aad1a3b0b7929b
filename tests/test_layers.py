"""The schema and codecs stand alone: a delivery service or a converter can import
them without the protocol engine or the cryptography."""

from __future__ import annotations

import subprocess
import sys


def test_codecs_import_without_engine_or_crypto() -> None:
    code = (
        "import sys, mlswire, mlswire.codecs, mlswire.schema\n"
        "mlswire.decode(bytes.fromhex('0100000007'), 'Sender')\n"
        "heavy = [m for m in sys.modules if m.startswith(('mlswire.engine', 'mlswire.crypto', "
        "'mlswire.vectors', 'cryptography'))]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
