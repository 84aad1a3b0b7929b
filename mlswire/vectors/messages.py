"""messages.json: every value decodes as its RFC 9420 type and re-encodes byte-identically."""

from __future__ import annotations

from typing import Any

from ..codecs import tls
from ..schema import lookup
from . import Mismatch, unhex

# vector field -> RFC 9420 type
TYPES: dict[str, str] = {
    "mls_welcome": "MLSMessage",
    "mls_group_info": "MLSMessage",
    "mls_key_package": "MLSMessage",
    "ratchet_tree": "RatchetTree",
    "group_secrets": "GroupSecrets",
    "add_proposal": "Add",
    "update_proposal": "Update",
    "remove_proposal": "Remove",
    "pre_shared_key_proposal": "PreSharedKey",
    "re_init_proposal": "ReInit",
    "external_init_proposal": "ExternalInit",
    "group_context_extensions_proposal": "GroupContextExtensions",
    "commit": "Commit",
    "public_message_application": "MLSMessage",
    "public_message_proposal": "MLSMessage",
    "public_message_commit": "MLSMessage",
    "private_message": "MLSMessage",
}

# The wire format each MLSMessage field must carry.
WIRE_FORMATS: dict[str, str] = {
    "mls_welcome": "mls_welcome",
    "mls_group_info": "mls_group_info",
    "mls_key_package": "mls_key_package",
    "public_message_application": "mls_public_message",
    "public_message_proposal": "mls_public_message",
    "public_message_commit": "mls_public_message",
    "private_message": "mls_private_message",
}

FAMILY = "messages"
KEYS = frozenset({"mls_welcome", "commit", "ratchet_tree"})


def check(case: dict[str, Any]) -> None:
    missing = set(TYPES) - case.keys()
    if missing:
        raise Mismatch(f"case lacks {', '.join(sorted(missing))}")
    for field, type_name in TYPES.items():
        data = unhex(case[field])
        tp = lookup(type_name)
        value = tls.decode(data, tp)
        if field in WIRE_FORMATS and value.wire_format.name != WIRE_FORMATS[field]:
            raise Mismatch(f"{field}: wire format is {value.wire_format.name}")
        again = tls.encode(value, tp)
        if again != data:
            raise Mismatch(f"{field}: re-encoding differs from the vector")
