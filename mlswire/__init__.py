"""mlswire: Messaging Layer Security (RFC 9420) with schemas defined once and
interchangeable wire encodings.

>>> import mlswire
>>> from mlswire.schema import Sender, SenderType
>>> data = mlswire.encode(Sender(sender_type=SenderType.member, leaf_index=7))
>>> data.hex()
'0100000007'
>>> mlswire.decode(data, "Sender")
Sender(sender_type=SenderType.member, leaf_index=7, sender_index=None)
"""

from .codecs import decode, encode
from .errors import (
    CryptoError,
    DecodeError,
    EncodeError,
    MLSError,
    StaleMessageError,
    StateError,
    UnsupportedCipherSuite,
    UsageError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "CryptoError",
    "DecodeError",
    "EncodeError",
    "MLSError",
    "StaleMessageError",
    "StateError",
    "UnsupportedCipherSuite",
    "UsageError",
    "ValidationError",
    "__version__",
    "decode",
    "encode",
]
