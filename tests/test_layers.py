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


def test_the_client_sdk_loads_no_server_code() -> None:
    """An application embedding the SDK (at either address) loads neither the HTTP
    framework nor the DS or its store (issue 14 item 5)."""
    code = (
        "import sys, mlswire.client, mlswire.service.client\n"
        "server = [m for m in sys.modules if m.startswith(('starlette', 'uvicorn', 'psycopg', "
        "'mlswire.service.http', 'mlswire.service.delivery_service', 'mlswire.service.store'))]\n"
        "assert not server, server\n"
        "assert mlswire.client.MLSClient is mlswire.service.client.MLSClient\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_store_interface_imports_no_concrete_store() -> None:
    code = (
        "import sys, mlswire.service.store\n"
        "concrete = [m for m in sys.modules if m.startswith(('mlswire.service.store_', "
        "'mlswire.service.stores', 'psycopg', 'sqlite3'))]\n"
        "assert not concrete, concrete\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_engine_exports_resolve_and_load_lazily() -> None:
    """``mlswire.engine`` offers the application-facing names in one import; importing
    one engine module does not load the group engine."""
    code = (
        "import sys, mlswire.engine.tree_math\n"
        "assert not [m for m in sys.modules if m.startswith('mlswire.engine.group')]\n"
        "import mlswire.engine as engine\n"
        "missing = [n for n in engine.__all__ if getattr(engine, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert engine.Client is __import__('mlswire.engine.group', fromlist=['Client']).Client\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
