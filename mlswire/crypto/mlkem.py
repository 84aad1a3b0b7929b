"""ML-KEM (FIPS 203) in pure Python: key generation from the 64-byte seed, encapsulation
with caller-given randomness, decapsulation with implicit rejection.

Why this exists next to ``cryptography``'s ML-KEM (used for every live ML-KEM-768/1024
operation, see :mod:`mlswire.crypto.pq_kem`):

* ``cryptography`` has no ML-KEM-512 (KEM 0x0040, in the hpke-pq vectors and ts-mls
  1.x suites 77/78), so that parameter set runs here;
* its ``encapsulate()`` draws the message ``m`` itself. FIPS 203 §6.2
  ``ML-KEM.Encaps_internal(ek, m)`` is the derandomized form the test vectors are made
  with; mlswire's seeded vector generator needs it to make byte-identical vectors.
  Live traffic never reaches it with a chosen ``m``: see ``pq_kem`` and
  :class:`mlswire.crypto.primitives.SeededRng`.

This is the straightforward algorithm of the standard (not constant time): it is for
test-vector generation and for the one parameter set ``cryptography`` lacks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mlswire.errors import CryptoError

Q = 3329
N = 256


def _bitrev7(i: int) -> int:
    return int(f"{i:07b}"[::-1], 2)


_ZETAS = [pow(17, _bitrev7(i), Q) for i in range(128)]
_GAMMAS = [pow(17, 2 * _bitrev7(i) + 1, Q) for i in range(128)]
_N_INV = 3303  # 128^-1 mod q (FIPS 203 Algorithm 10)

Poly = list[int]


@dataclass(frozen=True)
class MlKemParams:
    """One parameter set of FIPS 203 Table 2."""

    name: str
    k: int
    eta1: int
    eta2: int
    du: int
    dv: int

    @property
    def ek_len(self) -> int:
        return 384 * self.k + 32

    @property
    def dk_len(self) -> int:
        return 768 * self.k + 96

    @property
    def ct_len(self) -> int:
        return 32 * (self.du * self.k + self.dv)


ML_KEM_512 = MlKemParams("ML-KEM-512", 2, 3, 2, 10, 4)
ML_KEM_768 = MlKemParams("ML-KEM-768", 3, 2, 2, 10, 4)
ML_KEM_1024 = MlKemParams("ML-KEM-1024", 4, 2, 2, 11, 5)


# --- NTT arithmetic (FIPS 203 §4.3) ------------------------------------------------------
def ntt(f: Poly) -> Poly:
    f = list(f)
    i = 1
    length = 128
    while length >= 2:
        for start in range(0, N, 2 * length):
            z = _ZETAS[i]
            i += 1
            for j in range(start, start + length):
                t = z * f[j + length] % Q
                f[j + length] = (f[j] - t) % Q
                f[j] = (f[j] + t) % Q
        length //= 2
    return f


def ntt_inv(f: Poly) -> Poly:
    f = list(f)
    i = 127
    length = 2
    while length <= 128:
        for start in range(0, N, 2 * length):
            z = _ZETAS[i]
            i -= 1
            for j in range(start, start + length):
                t = f[j]
                f[j] = (t + f[j + length]) % Q
                f[j + length] = z * (f[j + length] - t) % Q
        length *= 2
    return [x * _N_INV % Q for x in f]


def _mul_ntt(f: Poly, g: Poly) -> Poly:
    out = [0] * N
    for i in range(128):
        a0, a1, b0, b1 = f[2 * i], f[2 * i + 1], g[2 * i], g[2 * i + 1]
        out[2 * i] = (a0 * b0 + a1 * b1 * _GAMMAS[i]) % Q
        out[2 * i + 1] = (a0 * b1 + a1 * b0) % Q
    return out


def _add(f: Poly, g: Poly) -> Poly:
    return [(a + b) % Q for a, b in zip(f, g, strict=True)]


def _dot(fs: list[Poly], gs: list[Poly]) -> Poly:
    acc = [0] * N
    for f, g in zip(fs, gs, strict=True):
        acc = _add(acc, _mul_ntt(f, g))
    return acc


# --- encodings (FIPS 203 §4.2.1) -----------------------------------------------------------
def byte_encode(f: Poly, d: int) -> bytes:
    value = 0
    for i, c in enumerate(f):
        value |= c << (d * i)
    return value.to_bytes(32 * d, "little")


def byte_decode(b: bytes, d: int) -> Poly:
    value = int.from_bytes(b, "little")
    mask = (1 << d) - 1
    return [(value >> (d * i)) & mask for i in range(N)]


def _compress(f: Poly, d: int) -> Poly:
    return [((x << d) + Q // 2) // Q % (1 << d) for x in f]


def _decompress(f: Poly, d: int) -> Poly:
    return [(y * Q + (1 << (d - 1))) >> d for y in f]


# --- sampling (FIPS 203 §4.2.2) ---------------------------------------------------------------
def _sample_ntt(seed: bytes) -> Poly:
    out: Poly = []
    length = 840  # enough for almost every seed; extended when not
    while True:
        stream = hashlib.shake_128(seed).digest(length)
        out = []
        for pos in range(0, length - 2, 3):
            c0, c1, c2 = stream[pos], stream[pos + 1], stream[pos + 2]
            d1 = c0 + 256 * (c1 & 15)
            d2 = (c1 >> 4) + 16 * c2
            if d1 < Q:
                out.append(d1)
                if len(out) == N:
                    return out
            if d2 < Q:
                out.append(d2)
                if len(out) == N:
                    return out
        length *= 2


def _cbd(b: bytes, eta: int) -> Poly:
    bits = int.from_bytes(b, "little")
    out = []
    mask = (1 << eta) - 1
    for i in range(N):
        word = bits >> (2 * eta * i)
        x = (word & mask).bit_count()
        y = ((word >> eta) & mask).bit_count()
        out.append((x - y) % Q)
    return out


def _prf(eta: int, s: bytes, n: int) -> bytes:
    return hashlib.shake_256(s + bytes((n,))).digest(64 * eta)


def _matrix(p: MlKemParams, rho: bytes) -> list[list[Poly]]:
    # Â[i][j] = SampleNTT(rho || j || i)
    return [[_sample_ntt(rho + bytes((j, i))) for j in range(p.k)] for i in range(p.k)]


# --- K-PKE (FIPS 203 §5) ------------------------------------------------------------------
def _pke_keygen(p: MlKemParams, d: bytes) -> tuple[bytes, bytes]:
    g = hashlib.sha3_512(d + bytes((p.k,))).digest()
    rho, sigma = g[:32], g[32:]
    a = _matrix(p, rho)
    s = [ntt(_cbd(_prf(p.eta1, sigma, i), p.eta1)) for i in range(p.k)]
    e = [ntt(_cbd(_prf(p.eta1, sigma, p.k + i), p.eta1)) for i in range(p.k)]
    t = [_add(_dot(a[i], s), e[i]) for i in range(p.k)]
    ek = b"".join(byte_encode(x, 12) for x in t) + rho
    dk = b"".join(byte_encode(x, 12) for x in s)
    return ek, dk


def _pke_encrypt(p: MlKemParams, ek: bytes, m: bytes, r: bytes) -> bytes:
    k = p.k
    t = [byte_decode(ek[384 * i : 384 * (i + 1)], 12) for i in range(k)]
    rho = ek[384 * k :]
    a = _matrix(p, rho)
    y = [ntt(_cbd(_prf(p.eta1, r, i), p.eta1)) for i in range(k)]
    e1 = [_cbd(_prf(p.eta2, r, k + i), p.eta2) for i in range(k)]
    e2 = _cbd(_prf(p.eta2, r, 2 * k), p.eta2)
    u = [_add(ntt_inv(_dot([a[j][i] for j in range(k)], y)), e1[i]) for i in range(k)]
    mu = _decompress(byte_decode(m, 1), 1)
    v = _add(_add(ntt_inv(_dot(t, y)), e2), mu)
    c1 = b"".join(byte_encode(_compress(x, p.du), p.du) for x in u)
    return c1 + byte_encode(_compress(v, p.dv), p.dv)


def _pke_decrypt(p: MlKemParams, dk: bytes, c: bytes) -> bytes:
    k = p.k
    step = 32 * p.du
    u = [_decompress(byte_decode(c[step * i : step * (i + 1)], p.du), p.du) for i in range(k)]
    v = _decompress(byte_decode(c[step * k :], p.dv), p.dv)
    s = [byte_decode(dk[384 * i : 384 * (i + 1)], 12) for i in range(k)]
    w = [(a - b) % Q for a, b in zip(v, ntt_inv(_dot(s, [ntt(x) for x in u])), strict=True)]
    return byte_encode(_compress(w, 1), 1)


# --- ML-KEM (FIPS 203 §6, §7) ---------------------------------------------------------------
def keygen(p: MlKemParams, seed: bytes) -> tuple[bytes, bytes]:
    """KeyGen_internal(d, z) for the 64-byte seed d || z -> (ek, expanded dk)."""
    if len(seed) != 64:
        raise CryptoError(f"{p.name} seed must be 64 bytes, not {len(seed)}")
    d, z = seed[:32], seed[32:]
    ek, dk_pke = _pke_keygen(p, d)
    return ek, dk_pke + ek + hashlib.sha3_256(ek).digest() + z


def check_encapsulation_key(p: MlKemParams, ek: bytes) -> None:
    """FIPS 203 §7.2 input checks: length, and every coefficient reduced mod q."""
    if len(ek) != p.ek_len:
        raise CryptoError(f"{p.name} encapsulation key must be {p.ek_len} bytes, not {len(ek)}")
    for i in range(p.k):
        chunk = ek[384 * i : 384 * (i + 1)]
        if any(c >= Q for c in byte_decode(chunk, 12)):
            raise CryptoError(f"{p.name} encapsulation key has an unreduced coefficient")


def encaps_internal(p: MlKemParams, ek: bytes, m: bytes) -> tuple[bytes, bytes]:
    """Encaps_internal(ek, m) -> (shared secret, ciphertext); ``m`` is 32 bytes."""
    check_encapsulation_key(p, ek)
    if len(m) != 32:
        raise CryptoError(f"{p.name} encapsulation randomness must be 32 bytes")
    g = hashlib.sha3_512(m + hashlib.sha3_256(ek).digest()).digest()
    return g[:32], _pke_encrypt(p, ek, m, g[32:])


def decaps(p: MlKemParams, dk: bytes, c: bytes) -> bytes:
    """Decaps_internal(dk, c) with the FIPS 203 §7.3 input checks -> shared secret."""
    if len(c) != p.ct_len:
        raise CryptoError(f"{p.name} ciphertext must be {p.ct_len} bytes, not {len(c)}")
    if len(dk) != p.dk_len:
        raise CryptoError(f"{p.name} decapsulation key must be {p.dk_len} bytes")
    k = p.k
    dk_pke, ek = dk[: 384 * k], dk[384 * k : 768 * k + 32]
    h, z = dk[768 * k + 32 : 768 * k + 64], dk[768 * k + 64 :]
    m = _pke_decrypt(p, dk_pke, c)
    g = hashlib.sha3_512(m + h).digest()
    rejected = hashlib.shake_256(z + c).digest(32)
    return g[:32] if _pke_encrypt(p, ek, m, g[32:]) == c else rejected


__all__ = [
    "ML_KEM_512",
    "ML_KEM_768",
    "ML_KEM_1024",
    "MlKemParams",
    "check_encapsulation_key",
    "decaps",
    "encaps_internal",
    "keygen",
]
