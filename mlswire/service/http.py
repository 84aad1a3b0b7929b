"""The HTTP API of the Authentication Service and the Delivery Service (ASGI, Starlette).

``create_app(ds=..., ca=...)`` serves either or both, on any ASGI server; ``mlswire
serve`` runs it in its own server (:mod:`.server`), which takes sends and push
connections off the ASGI stack (:class:`HotPaths`, the code both use). The OpenAPI document is at ``/openapi.json``; ``docs/SERVICE.md`` explains
the model. In short:

* authentication: every DS request and every AS request that needs authority is
  signed with a device's MLS signature key (:mod:`.signing`); AS registration of a
  user's first device is open (or needs the admin token when enrolment is closed),
  further devices of the user need a request signed by one of the user's current
  devices, or the admin token;
* a device reads and acknowledges only its own queue (403 otherwise);
* push: ``GET .../push?after=N`` upgraded to a WebSocket (authenticated like ``GET
  .../queue``) carries ``{"messages": [...]}`` frames as entries arrive, and takes
  ``{"ack": up_to}`` frames (cumulative, unanswered unless refused); the
  fallback, ``GET .../queue?wait=N``, long-polls up to N seconds (at most 30). Both
  are woken at once by sends in this process, and by sends through another DS
  process sharing the database within ``poll_interval`` (at once on PostgreSQL,
  which notifies: :meth:`~.store.SqlStore.listen`);
* limits: bodies over ``max_body`` bytes get 413 before anything is parsed; malformed
  JSON, base64 or MLS bytes get 400 naming the field (and for MLS the field path and
  byte offset); every refusal happens before any state change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import ValidationError
from .auth_service import CertificateAuthority, Enrollment, check_name
from .contract import (  # REGISTER_LABEL, registration_content: re-exported, were here
    REGISTER_LABEL,
    BadRequest,
    DSError,
    PayloadTooLarge,
    b64,
    compact_json,
    error_body,
    registration_content,
    unb64,
)
from .delivery_service import DeliveryService, entry_text, messages_text
from .push import AckBatch, Notifier, PushSession, PushSocket, lost_fields
from .store import Device, SendResult

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: a Welcome for a few thousand members fits
DEFAULT_MAX_BLOB = 16 << 20  # attachments (already encrypted by the client)
MAX_WAIT = 30.0
# With store notifications (PostgreSQL LISTEN/NOTIFY) the periodic re-read of a waiting
# queue is only a safety net: this often.
NOTIFIED_POLL_INTERVAL = 5.0
# Request bodies up to this size are verified and decoded on the event loop (a send
# of an application message: well under a millisecond); larger ones (a commit with a
# Welcome for a big group) in a thread.
INLINE_BODY = 64 << 10


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status)


def _target(request: HTTPConnection) -> str:
    """The request target exactly as the client sent (and signed) it."""
    path = request.scope.get("raw_path") or request.url.path.encode()
    qs = request.scope.get("query_string", b"")
    return path.decode("latin-1") + (("?" + qs.decode("latin-1")) if qs else "")


def check_length(declared: str | None, limit: int) -> None:
    """Refuse (413) a body whose Content-Length is over ``limit``, before reading it."""
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        if n > limit:
            raise PayloadTooLarge(f"request body of {n} bytes exceeds the limit of {limit} bytes")


def too_large(limit: int) -> PayloadTooLarge:
    # Chunked bodies have no Content-Length: their size is counted while reading.
    return PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")


async def _body(request: Request, limit: int) -> bytes:
    check_length(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"body is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise BadRequest("body must be a JSON object")
    return value


def _int_param(request: HTTPConnection, name: str, default: int) -> int:
    return int_param(request.query_params.get(name), name, default)


def int_param(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name} must be an integer") from None


async def _deny(ws: WebSocket, status: int, message: str) -> None:
    """Refuse a WebSocket upgrade with the HTTP status and error body of a refusal
    (the ASGI denial-response extension); a server without it closes instead."""
    try:
        await ws.send_denial_response(_error(status, message))
    except RuntimeError:
        await ws.close(code=1008, reason=message[:120])


T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]


def refusal(e: DSError | ValidationError) -> tuple[int, str]:
    """The HTTP status and message of a refused request."""
    if isinstance(e, DSError):
        return e.status, e.message
    return 400, str(e)


def _guard(fn: Handler) -> Handler:
    """Map refusals to their status with a JSON ``{"error": ...}`` body."""

    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except (DSError, ValidationError) as e:
            return _error(*refusal(e))

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


class _StarletteSocket:
    """A Starlette WebSocket as the :class:`.push.PushSocket` a push session uses."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    async def receive(self) -> str | bytes | None:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        return text if text is not None else bytes(message.get("bytes") or b"")

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError) as e:  # closed meanwhile
            raise ConnectionError(f"push connection closed: {e}") from None

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)


class HotPaths:
    """The requests a DS serves most, whatever HTTP server carries them: sends
    (``POST /v1/messages``, with the signed-request machinery every DS route uses) and
    push connections. The Starlette routes of :func:`create_app` call these, and so
    does ``mlswire serve``'s own server (:mod:`.server`), which takes these two paths
    off the ASGI stack."""

    SEND_PATH = "/v1/messages"

    def __init__(self, ds: DeliveryService, notifier: Notifier, max_body: int) -> None:
        self.ds = ds
        self.notifier = notifier
        self.acks = AckBatch(ds)
        self.max_body = max_body
        # Sends and acks are checked on the event loop when the store has threads of
        # its own to hand the transaction to (DeliveryService.serve_async).
        self.inline = ds.store.background_writer

    async def signed(
        self,
        method: str,
        target: str,
        header: str | None,
        body: bytes,
        prepare: Callable[[Device, bytes], Callable[[], T]],
        inline: bool = False,
    ) -> T:
        """Serve one signed request in one store transaction: the signature is
        verified and ``prepare(device, body)`` decodes and checks the body before
        it, then the operation it returns runs in the transaction that spends the
        request's nonce (:meth:`DeliveryService.serve`)."""
        d = self.ds
        if len(body) <= INLINE_BODY and inline and self.inline:
            # Small and cheap to check: on the event loop, the transaction handed to
            # the store's threads (no hop through the thread pool), unless checking
            # it needs a read of the store (then it goes to a thread, below).
            req = d.verify_cached(method, target, body, header)
            if req is not None:
                try:
                    operation = prepare(req.device, body)
                except (DSError, ValidationError):
                    await d.serve_async(req, lambda: None, run_in_threadpool)
                    raise
                return await d.serve_async(req, operation, run_in_threadpool)

        def work() -> T:
            req = d.verify(method, target, body, header)
            try:
                operation = prepare(req.device, body)
            except (DSError, ValidationError):
                d.serve(req, lambda: None)  # refused, but the nonce is spent
                raise
            return d.serve(req, operation)

        return await run_in_threadpool(work)

    async def send(self, target: str, header: str | None, body: bytes) -> bytes:
        """``POST /v1/messages``: the JSON answer, or the refusal raised."""
        d = self.ds

        def prepare(dev: Device, body: bytes) -> Callable[[], SendResult]:
            sub = d.submission(dev, _json(body))
            return lambda: d.store.submit(sub)

        result = await self.signed("POST", target, header, body, prepare, inline=True)
        self.notifier.deliver(result.queued)
        return compact_json(result.to_json()).encode()

    async def push_device(
        self, address: str, target: str, header: str | None, after: str | None
    ) -> tuple[Device, int]:
        """The device opening ``address``'s push connection (authenticated like ``GET
        .../queue``, its own queue only) and where its stream starts, or the refusal
        raised, before the connection is accepted."""
        start = int_param(after, "after", 0)
        device = await run_in_threadpool(self.ds.authenticate, "GET", target, b"", header)
        self.ds.require_own(device, address, "read the queue")
        return device, start

    async def push(self, sock: PushSocket, device: Device, after: int) -> None:
        """Run an accepted push connection until it closes."""
        await PushSession(sock, self.ds, device, after, self.notifier, self.acks).run()


def create_app(
    ds: DeliveryService | None = None,
    ca: CertificateAuthority | None = None,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    max_blob: int = DEFAULT_MAX_BLOB,
    admin_token: str | None = None,
    open_enrollment: bool = True,
    poll_interval: float = 0.5,
) -> Starlette:
    """The ASGI app serving the DS API (``/v1``) and/or the AS API (``/as``)."""
    if ds is None and ca is None:
        raise ValueError("serve at least one of the DS and the AS")
    notifier = Notifier(poll_interval)
    hot = None if ds is None else HotPaths(ds, notifier, max_body)
    routes: list[BaseRoute] = []

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(ds is not None, ca is not None))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "ds": ds is not None, "as": ca is not None})

    routes += [Route("/openapi.json", openapi), Route("/healthz", healthz)]

    if ds is not None and hot is not None:
        d, h = ds, hot

        async def call(
            request: Request,
            prepare: Callable[[Device, bytes], Callable[[], T]],
            limit: int = max_body,
            inline: bool = False,
        ) -> T:
            body = await _body(request, limit)
            header = request.headers.get("authorization")
            return await h.signed(request.method, _target(request), header, body, prepare, inline)

        def address(request: HTTPConnection) -> str:
            return f"{request.path_params['user']}/{request.path_params['device']}"

        def group_id(request: Request) -> bytes:
            try:
                return bytes.fromhex(request.path_params["group_id"])
            except ValueError:
                raise BadRequest("group id in the path must be hex") from None

        @_guard
        async def register_device(request: Request) -> Response:
            body = await _body(request, max_body)
            payload = _json(body)
            dev = await run_in_threadpool(
                d.register,
                address(request),
                payload.get("credential"),
                request.method,
                _target(request),
                body,
                request.headers.get("authorization"),
            )
            return JSONResponse({"address": dev.address, "suite": dev.suite})

        @_guard
        async def user_devices(request: Request) -> Response:
            user = request.path_params["user"]
            devs = await call(request, lambda dev, body: lambda: d.user_devices(user))
            return JSONResponse({"devices": devs})

        @_guard
        async def publish(request: Request) -> Response:
            a = address(request)
            n = await call(
                request, lambda dev, body: lambda: d.publish_key_packages(dev, a, _json(body))
            )
            return JSONResponse({"available": n})

        @_guard
        async def count(request: Request) -> Response:
            a = address(request)

            def prepare(dev: Device, body: bytes) -> Callable[[], int]:
                d.require_own(dev, a, "count the KeyPackages")
                return lambda: d.store.key_package_count(a)

            return JSONResponse({"available": await call(request, prepare)})

        @_guard
        async def claim(request: Request) -> Response:
            a = address(request)
            data, last = await call(request, lambda dev, body: lambda: d.claim_key_package(dev, a))
            return JSONResponse({"key_package": b64(data), "last_resort": last})

        @_guard
        async def create_group(request: Request) -> Response:
            gid = await call(request, lambda dev, body: d.prepare_group(dev, _json(body)))
            return JSONResponse(
                {"group_id": b64(gid), "path": f"/v1/groups/{gid.hex()}"}, status_code=201
            )

        @_guard
        async def get_group(request: Request) -> Response:
            gid = group_id(request)
            return JSONResponse(await call(request, lambda dev, body: lambda: d.group(dev, gid)))

        @_guard
        async def get_group_info(request: Request) -> Response:
            gid = group_id(request)
            data = await call(request, lambda dev, body: lambda: d.group_info(dev, gid))
            return JSONResponse({"group_info": b64(data)})

        @_guard
        async def put_group_info(request: Request) -> Response:
            gid = group_id(request)

            def prepare(dev: Device, body: bytes) -> Callable[[], None]:
                data = unb64(_json(body).get("group_info"), "group_info")
                return lambda: d.put_group_info(dev, gid, data)

            await call(request, prepare)
            return JSONResponse({"ok": True})

        @_guard
        async def put_blob(request: Request) -> Response:
            gid = group_id(request)

            def prepare(dev: Device, body: bytes) -> Callable[[], str]:
                if not body:
                    raise BadRequest("empty attachment")
                return lambda: d.store.put_blob(gid, dev.address, body)

            blob_id = await call(request, prepare, max_blob)
            return JSONResponse({"id": blob_id}, status_code=201)

        @_guard
        async def get_blob(request: Request) -> Response:
            gid, blob = group_id(request), request.path_params["blob_id"]
            data = await call(
                request, lambda dev, body: lambda: d.store.get_blob(gid, dev.address, blob)
            )
            return Response(data, media_type="application/octet-stream")

        @_guard
        async def send(request: Request) -> Response:
            body = await _body(request, max_body)
            answer = await h.send(_target(request), request.headers.get("authorization"), body)
            return Response(answer, media_type="application/json")

        @_guard
        async def queue(request: Request) -> Response:
            a = address(request)
            after = _int_param(request, "after", 0)
            limit = _int_param(request, "limit", 100)
            wait = min(max(float(_int_param(request, "wait", 0)), 0.0), MAX_WAIT)
            deadline = time.monotonic() + wait
            device: Device | None = None

            def read(dev: Device, body: bytes) -> Callable[[], Any]:
                nonlocal device
                device = dev
                return lambda: d.fetch_with_lost(dev, a, after, limit)

            with notifier.waiter(a) as waiter:
                # The first read is in the request's transaction (with its nonce).
                msgs, lost = await call(request, read)
                assert device is not None
                while not msgs and (remaining := deadline - time.monotonic()) > 0:
                    # Woken at once by a send in this process or a notification of the
                    # store; otherwise the store is read again every poll_interval. (A
                    # wake-up during a read is kept: the next wait returns at once.)
                    await waiter.wait(min(remaining, notifier.poll_interval))
                    msgs, lost = await run_in_threadpool(d.fetch_with_lost, device, a, after, limit)
            text = messages_text((entry_text(m) for m in msgs), lost_fields(lost))
            return Response(text, media_type="application/json")

        async def push(ws: WebSocket) -> None:
            """The queue pushed over a WebSocket (:mod:`.push`). The upgrade request
            is authenticated like ``GET .../queue``; a refusal is the same HTTP
            answer, before the connection is accepted."""
            try:
                device, after = await h.push_device(
                    address(ws), _target(ws), ws.headers.get("authorization"),
                    ws.query_params.get("after"),
                )  # fmt: skip
            except (DSError, ValidationError) as e:
                await _deny(ws, *refusal(e))
                return
            await ws.accept()
            await h.push(_StarletteSocket(ws), device, after)

        @_guard
        async def ack(request: Request) -> Response:
            a = address(request)
            n = await call(
                request,
                lambda dev, body: lambda: d.ack(dev, a, _json(body).get("up_to")),
                inline=True,
            )
            return JSONResponse({"deleted": n})

        dev = "/v1/devices/{user}/{device}"
        routes += [
            Route(dev, register_device, methods=["PUT"]),
            Route("/v1/users/{user}/devices", user_devices, methods=["GET"]),
            Route(dev + "/key-packages", publish, methods=["POST"]),
            Route(dev + "/key-packages", count, methods=["GET"]),
            Route(dev + "/key-packages/claim", claim, methods=["POST"]),
            Route("/v1/groups", create_group, methods=["POST"]),
            Route("/v1/groups/{group_id}", get_group, methods=["GET"]),
            Route("/v1/groups/{group_id}/group-info", get_group_info, methods=["GET"]),
            Route("/v1/groups/{group_id}/group-info", put_group_info, methods=["PUT"]),
            Route(HotPaths.SEND_PATH, send, methods=["POST"]),
            Route("/v1/groups/{group_id}/blobs", put_blob, methods=["POST"]),
            Route("/v1/groups/{group_id}/blobs/{blob_id}", get_blob, methods=["GET"]),
            Route(dev + "/queue", queue, methods=["GET"]),
            Route(dev + "/queue/ack", ack, methods=["POST"]),
            WebSocketRoute(dev + "/push", push),
        ]

    if ca is not None:
        authority = Enrollment(ca, admin_token, open_enrollment)

        async def root(request: Request) -> Response:
            return Response(authority.ca.root_pem, media_type="application/x-pem-file")

        async def crl(request: Request) -> Response:
            der = await run_in_threadpool(authority.ca.crl_der)
            return Response(der, media_type="application/pkix-crl")

        async def as_call(request: Request, action: Callable[..., Any]) -> Any:
            """``action`` of the authority on the request's JSON body and authorization."""
            body = await _body(request, max_body)
            return await run_in_threadpool(
                action, _json(body), request.headers.get("authorization"), _target(request), body
            )

        @_guard
        async def as_register(request: Request) -> Response:
            return JSONResponse(await as_call(request, authority.register), status_code=201)

        @_guard
        async def as_revoke(request: Request) -> Response:
            return JSONResponse(await as_call(request, authority.revoke))

        @_guard
        async def as_devices(request: Request) -> Response:
            user = request.path_params["user"]
            try:
                check_name("user", user)
            except ValidationError as e:
                raise BadRequest(str(e)) from None
            return JSONResponse({"user": user, "devices": authority.ca.devices(user)})

        routes += [
            Route("/as/root", root, methods=["GET"]),
            Route("/as/crl", crl, methods=["GET"]),
            Route("/as/register", as_register, methods=["POST"]),
            Route("/as/revoke", as_revoke, methods=["POST"]),
            Route("/as/users/{user}/devices", as_devices, methods=["GET"]),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        notifier.bind(asyncio.get_running_loop())
        stop_listening = None
        if ds is not None:
            # Sends through other DS processes sharing the database (PostgreSQL).
            stop_listening = ds.store.listen(notifier.notify_threadsafe)
            if stop_listening is not None:
                notifier.poll_interval = max(poll_interval, NOTIFIED_POLL_INTERVAL)
        yield
        if stop_listening is not None:
            await run_in_threadpool(stop_listening)
        if ds is not None:
            await run_in_threadpool(ds.store.close)

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hot_paths = hot  # for mlswire serve's own server (.server)
    return app


# --- the OpenAPI document ------------------------------------------------------------------

_B64 = {"type": "string", "format": "byte"}
_ERR = {
    "description": "refused; nothing changed",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
            }
        }
    },
}


def _op(
    summary: str,
    *,
    body: dict[str, Any] | None = None,
    ok: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (400, 401, 403, 413),
    params: list[dict[str, Any]] | None = None,
    auth: bool = True,
    ok_status: str = "200",
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {}}
    if auth:
        op["security"] = [{"MLSSignature": []}]
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "properties": body}}},
        }
    op["responses"][ok_status] = {
        "description": "OK",
        "content": {"application/json": {"schema": {"type": "object", "properties": ok or {}}}},
    }
    for status in errors:
        op["responses"][str(status)] = _ERR
    return op


def _path_params(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


def openapi_document(with_ds: bool = True, with_as: bool = True) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the routes this app serves."""
    paths: dict[str, Any] = {}
    dev = _path_params("user", "device")
    if with_ds:
        queued = {
            "type": "object",
            "properties": {
                "seq": {"type": "integer"},
                "kind": {"enum": ["message", "welcome"]},
                "group_id": _B64,
                "sender": {"type": "string"},
                "epoch": {"type": "integer"},
                "content_type": {"type": "integer"},
                "data": _B64,
                "received_at": {"type": "number"},
            },
        }
        paths["/v1/devices/{user}/{device}"] = {
            "put": _op(
                "Register this device's AS credential with the DS (signed with the certified key)",
                body={"credential": _B64},
                ok={"address": {"type": "string"}},
                params=dev,
            )
        }
        paths["/v1/users/{user}/devices"] = {
            "get": _op(
                "List a user's devices registered with the DS",
                ok={"devices": {"type": "array", "items": {"type": "string"}}},
                params=_path_params("user"),
            )
        }
        paths["/v1/devices/{user}/{device}/key-packages"] = {
            "post": _op(
                "Publish KeyPackages (MLSMessage) of this device, and optionally a last-resort one",
                body={"key_packages": {"type": "array", "items": _B64}, "last_resort": _B64},
                ok={"available": {"type": "integer"}},
                params=dev,
            ),
            "get": _op(
                "Count this device's unclaimed KeyPackages",
                ok={"available": {"type": "integer"}},
                params=dev,
            ),
        }
        paths["/v1/devices/{user}/{device}/key-packages/claim"] = {
            "post": _op(
                "Claim (consume) one KeyPackage of a device; the last-resort one is returned"
                " but not consumed",
                ok={"key_package": _B64, "last_resort": {"type": "boolean"}},
                errors=(401, 404),
                params=dev,
            )
        }
        paths["/v1/groups"] = {
            "post": _op(
                "Register a new group from its signed GroupInfo and ratchet tree (in the"
                " GroupInfo, or as ratchet_tree), which the DS verifies and follows; the"
                " roster is the tree's devices, the caller among them",
                body={
                    "group_id": _B64,
                    "epoch": {"type": "integer"},
                    "group_info": _B64,
                    "ratchet_tree": _B64,
                },
                ok={"group_id": _B64},
                errors=(400, 401, 409, 413),
                ok_status="201",
            )
        }
        gid = _path_params("group_id")
        paths["/v1/groups/{group_id}"] = {
            "get": _op(
                "A group's epoch and member devices (members only)",
                ok={
                    "epoch": {"type": "integer"},
                    "members": {"type": "array", "items": {"type": "string"}},
                },
                errors=(401, 403, 404),
                params=gid,
            )
        }
        paths["/v1/groups/{group_id}/group-info"] = {
            "get": _op(
                "The latest GroupInfo (for external joins; members only)",
                ok={"group_info": _B64},
                errors=(401, 403, 404),
                params=gid,
            ),
            "put": _op(
                "Publish the GroupInfo of the current epoch",
                body={"group_info": _B64},
                errors=(400, 401, 403, 409, 413),
                params=gid,
            ),
        }
        paths["/v1/messages"] = {
            "post": _op(
                "Send an MLSMessage (PublicMessage or PrivateMessage) to its group: fan-out to"
                " every member device's queue. Proposals and commits are verified against"
                " the DS's view of the group (400/403 otherwise); a commit is accepted only"
                " for the group's current epoch (409 otherwise) and may carry a Welcome for"
                " the devices it adds and the new epoch's GroupInfo (checked against the"
                " view). add/remove are read only for header-only groups (--unverified-groups)",
                body={
                    "message": _B64,
                    "welcome": _B64,
                    "group_info": _B64,
                    "add": {"type": "array", "items": {"type": "string"}},
                    "remove": {"type": "array", "items": {"type": "string"}},
                },
                ok={
                    "epoch": {"type": "integer"},
                    "recipients": {"type": "integer"},
                    "duplicate": {"type": "boolean"},
                },
                errors=(400, 401, 403, 404, 409, 413),
            )
        }
        paths["/v1/groups/{group_id}/blobs"] = {
            "post": {
                "summary": "Store an encrypted attachment for the group's members (raw body);"
                " the id is its SHA-256",
                "security": [{"MLSSignature": []}],
                "parameters": gid,
                "requestBody": {"content": {"application/octet-stream": {}}},
                "responses": {
                    "201": {
                        "description": "stored",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"id": {"type": "string"}},
                                }
                            }
                        },
                    },
                    **{str(c): _ERR for c in (400, 401, 403, 404, 413)},
                },
            }
        }
        paths["/v1/groups/{group_id}/blobs/{blob_id}"] = {
            "get": {
                "summary": "Fetch an attachment (members only)",
                "security": [{"MLSSignature": []}],
                "parameters": _path_params("group_id", "blob_id"),
                "responses": {
                    "200": {
                        "description": "the stored bytes",
                        "content": {"application/octet-stream": {}},
                    },
                    **{str(c): _ERR for c in (401, 403, 404)},
                },
            }
        }
        paths["/v1/devices/{user}/{device}/queue"] = {
            "get": _op(
                "Read this device's queue in order (unacknowledged messages are delivered"
                " again); wait=N long-polls up to N seconds",
                ok={
                    "messages": {"type": "array", "items": queued},
                    "lost": {"type": "integer", "description": "messages expired unread"},
                    "warning": {"type": "string"},
                },
                errors=(400, 401, 403),
                params=dev
                + [
                    {"name": n, "in": "query", "required": False, "schema": {"type": "integer"}}
                    for n in ("after", "limit", "wait")
                ],
            )
        }
        paths["/v1/devices/{user}/{device}/push"] = {
            "get": _op(
                "Upgrade to a WebSocket pushing this device's queue (signed like GET"
                ' .../queue): {"messages": [...]} frames with the entries after'
                ' `after` as they are committed; {"ack": up_to} frames acknowledge'
                " (cumulative, unanswered unless refused)",
                ok={},
                errors=(400, 401, 403),
                params=[
                    *dev,
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer"},
                    },
                ],
            )
        }
        paths["/v1/devices/{user}/{device}/queue/ack"] = {
            "post": _op(
                "Acknowledge (delete) every queued message up to seq",
                body={"up_to": {"type": "integer"}},
                ok={"deleted": {"type": "integer"}},
                params=dev,
            )
        }
    if with_as:
        paths["/as/root"] = {
            "get": {
                "summary": "The AS root certificate (PEM)",
                "responses": {
                    "200": {"description": "OK", "content": {"application/x-pem-file": {}}}
                },
            }
        }
        paths["/as/crl"] = {
            "get": {
                "summary": "The AS certificate revocation list (DER)",
                "responses": {
                    "200": {"description": "OK", "content": {"application/pkix-crl": {}}}
                },
            }
        }
        paths["/as/register"] = {
            "post": _op(
                "Certify a device's MLS signature key. proof = SignWithLabel(key, 'mlswire AS"
                " registration', user||0||device||0||key). A user's further devices need a"
                " request signed by a current device of the user (or the admin token)",
                body={
                    "user": {"type": "string"},
                    "device": {"type": "string"},
                    "suite": {"type": "integer"},
                    "signature_key": _B64,
                    "proof": _B64,
                },
                ok={"credential": _B64, "certificate": _B64, "serial": {"type": "string"}},
                ok_status="201",
            )
        }
        paths["/as/revoke"] = {
            "post": _op(
                "Revoke a device's certificates (signed by a device of the same user,"
                " or the admin token)",
                body={"user": {"type": "string"}, "device": {"type": "string"}},
                ok={"revoked": {"type": "array", "items": {"type": "string"}}},
                errors=(400, 401, 403, 404),
            )
        }
        paths["/as/users/{user}/devices"] = {
            "get": _op(
                "A user's devices holding a current certificate",
                ok={"devices": {"type": "array", "items": {"type": "string"}}},
                auth=False,
                errors=(400,),
                params=_path_params("user"),
            )
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mlswire Authentication Service and Delivery Service",
            "version": "1",
            "description": "RFC 9750 AS and DS for MLS (RFC 9420) clients. Byte strings are"
            " base64; group ids in paths are hex.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "MLSSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": 'MLS-Signature device="user/device", ts="<unix s>",'
                    ' nonce="<hex>", sig="<base64 SignWithLabel(key, \\"mlswire request\\",'
                    ' METHOD\\npath?query\\nts\\nnonce\\nhex(sha256(body)))>"',
                }
            }
        },
    }


__all__ = [
    "DEFAULT_MAX_BLOB",
    "DEFAULT_MAX_BODY",
    "REGISTER_LABEL",
    "create_app",
    "openapi_document",
    "registration_content",
]
