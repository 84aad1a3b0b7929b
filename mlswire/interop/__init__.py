"""The MLS working group's interop harness, on mlswire.

Every MLS implementation that takes part runs a gRPC server for the ``MLSClient``
service of ``mls_client.proto`` (the harness's interface, kept here byte-identical to
mlswg/mls-implementations' ``interop/proto/mls_client.proto``); a runner drives several
such servers through scenario configs and compares what they answer.

* :mod:`mlswire.interop.server`: mlswire's ``MLSClient`` server (``mlswire interop serve``),
  on the engine's public API.
* :mod:`mlswire.interop.runner`: a runner for the official configs with the semantics of
  the Go test-runner (``mlswire interop run``).
* :mod:`mlswire.interop.passive`: passive-client test vectors derived from runner results.

``mls_client_pb2*.py`` are generated from the proto by ``grpcio-tools`` (see
:func:`mlswire.interop.proto.regenerate`) and checked in, so running needs only
``grpcio`` and ``protobuf`` (the ``interop`` extra); a test checks they match the proto.
"""
