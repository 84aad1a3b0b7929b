"""The client SDK, at its historical address: it lives in :mod:`mlswire.service.client`.

Importing it loads no server code (no Starlette, uvicorn, DS or store)."""

from __future__ import annotations

from .service.client import (
    ATTACHMENT_LABEL,
    ATTACHMENT_PREFIX,
    Delivered,
    DeviceKeys,
    Event,
    Invited,
    MLSClient,
    ServiceClient,
    ServiceError,
)

__all__ = [
    "ATTACHMENT_LABEL",
    "ATTACHMENT_PREFIX",
    "Delivered",
    "DeviceKeys",
    "Event",
    "Invited",
    "MLSClient",
    "ServiceClient",
    "ServiceError",
]
