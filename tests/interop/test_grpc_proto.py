"""The harness's interface: the proto is upstream's, and the checked-in generated
modules are what grpcio-tools makes of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlswire.interop import proto

from ..conftest import SHARED, require

SHARED_PROTO = SHARED / "spec" / "mls_client.proto"


def test_generated_modules_match_the_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (dev extra) regenerates the code")
    generated = proto.generate(tmp_path)
    assert sorted(generated) == sorted(proto.GENERATED)
    for name, data in generated.items():
        checked_in = (proto.HERE / name).read_bytes()
        assert checked_in == data, f"{name} is stale: run python -m mlswire.interop.proto"


def test_proto_is_the_working_groups() -> None:
    assert proto.PROTO.read_bytes() == require(SHARED_PROTO).read_bytes()


def test_every_rpc_of_the_proto_is_served() -> None:
    from mlswire.interop.server import MlswireServicer

    pb2, _ = proto.modules()
    service = pb2.DESCRIPTOR.services_by_name["MLSClient"]
    names = [m.name for m in service.methods]
    assert len(names) == 34
    for name in names:
        # Overridden here, not the generated base's UNIMPLEMENTED stub.
        assert name in vars(MlswireServicer), name
