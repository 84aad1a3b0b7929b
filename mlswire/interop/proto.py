"""The harness's protobuf interface: the checked-in generated modules, how they are
made, and a clear error when the ``interop`` extra is not installed."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
PROTO = HERE / "mls_client.proto"
# What ``grpcio-tools`` makes from the proto; all three are checked in.
GENERATED = ("mls_client_pb2.py", "mls_client_pb2.pyi", "mls_client_pb2_grpc.py")
# The proto's place relative to the include root: it fixes the generated imports
# (``from mlswire.interop import mls_client_pb2``) and the descriptor's file name.
PROTO_PATH = "mlswire/interop/mls_client.proto"

SERVICE = "mls_client.MLSClient"


class InteropUnavailable(RuntimeError):
    """grpcio/protobuf are missing (the ``interop`` extra)."""


def modules() -> tuple[ModuleType, ModuleType]:
    """``(mls_client_pb2, mls_client_pb2_grpc)``."""
    try:
        from . import mls_client_pb2, mls_client_pb2_grpc
    except ImportError as e:  # grpcio or protobuf missing, or too old for the gencode
        raise InteropUnavailable(
            f"the interop harness needs grpcio and protobuf: pip install 'mlswire[interop]' ({e})"
        ) from e
    return mls_client_pb2, mls_client_pb2_grpc


def generate(out_dir: Path) -> dict[str, bytes]:
    """Run ``grpcio-tools`` on the proto into ``out_dir``; the generated files by name.
    Needs ``grpcio-tools`` (a development dependency)."""
    from grpc_tools import protoc  # type: ignore[import-untyped]  # no stubs

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / PROTO_PATH
        src.parent.mkdir(parents=True)
        shutil.copyfile(PROTO, src)
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{tmp}",
                f"--python_out={out_dir}",
                f"--pyi_out={out_dir}",
                f"--grpc_python_out={out_dir}",
                str(src),
            ]
        )
    if code != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit {code})")
    generated = out_dir / Path(PROTO_PATH).parent
    return {name: (generated / name).read_bytes() for name in GENERATED}


def regenerate() -> None:
    """Rewrite the checked-in modules from the proto (after the proto changed)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in generate(Path(tmp)).items():
            (HERE / name).write_bytes(data)


if __name__ == "__main__":
    regenerate()
