"""TurboSHAKE128/256 (RFC 9861) in pure Python.

draft-ietf-hpke-pq defines HPKE KDFs 0x0012/0x0013 on TurboSHAKE, and two of its test
vectors use them. ``hashlib`` has SHAKE (24-round Keccak) but not TurboSHAKE (the
same sponge with 12 rounds), so the permutation is written out here. No MLS cipher
suite uses these KDFs; they serve the HPKE layer and its vectors only.
"""

from __future__ import annotations

_MASK = (1 << 64) - 1

_RC = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip

# Rotation offsets r[x][y] of rho (FIPS 202 §3.2.2), lane (x, y) at index x + 5y.
_ROT = (
    (0, 36, 3, 41, 18),
    (1, 44, 10, 45, 2),
    (62, 6, 43, 15, 61),
    (28, 55, 25, 21, 56),
    (27, 20, 39, 8, 14),
)


def _rol(v: int, n: int) -> int:
    return ((v << n) | (v >> (64 - n))) & _MASK if n else v


def keccak_p1600(lanes: list[int], rounds: int) -> None:
    """Keccak-p[1600, rounds] in place on 25 little-endian 64-bit lanes (the last
    ``rounds`` round constants of Keccak-f, FIPS 202 §3.3)."""
    a = lanes
    for rc in _RC[24 - rounds :]:
        c = [a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        b = [0] * 25
        for x in range(5):
            for y in range(5):
                # rho and pi: B[y, 2x+3y] = rot(A[x, y] ^ D[x], r[x, y])
                b[y + 5 * ((2 * x + 3 * y) % 5)] = _rol(a[x + 5 * y] ^ d[x], _ROT[x][y])
        for y in range(5):
            row = b[5 * y : 5 * y + 5]
            for x in range(5):
                a[x + 5 * y] = row[x] ^ ((~row[(x + 1) % 5]) & row[(x + 2) % 5])
        a[0] ^= rc


def _sponge(rate: int, message: bytes, domain: int, length: int) -> bytes:
    padded = bytearray(message)
    padded.append(domain)
    padded.extend(bytes(-len(padded) % rate))
    padded[-1] ^= 0x80
    lanes = [0] * 25
    for off in range(0, len(padded), rate):
        block = padded[off : off + rate]
        for i in range(rate // 8):
            lanes[i] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        keccak_p1600(lanes, 12)
    out = bytearray()
    while True:
        out += b"".join(lane.to_bytes(8, "little") for lane in lanes[: rate // 8])
        if len(out) >= length:
            return bytes(out[:length])
        keccak_p1600(lanes, 12)


def turboshake128(message: bytes, length: int, domain: int = 0x1F) -> bytes:
    return _sponge(168, message, domain, length)


def turboshake256(message: bytes, length: int, domain: int = 0x1F) -> bytes:
    return _sponge(136, message, domain, length)


__all__ = ["keccak_p1600", "turboshake128", "turboshake256"]
