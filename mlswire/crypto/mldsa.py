"""Deterministic ML-DSA signing (FIPS 204) in pure Python, for reproducible test vectors.

``cryptography`` (OpenSSL) signs ML-DSA in the hedged variant only: fresh randomness
goes into every signature, so two runs of the seeded vector generator would differ.
FIPS 204 §3.4 also defines the deterministic variant (``rnd`` = 32 zero bytes in
``ML-DSA.Sign_internal``); it is what this module computes, from the 32-byte seed
``xi`` of ``ML-DSA.KeyGen_internal``. Its signatures are ordinary ML-DSA signatures:
the tests have ``cryptography`` verify them. Live signing never runs here (see
:class:`mlswire.crypto.primitives.SeededRng`); nor is this constant time.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

Q = 8380417
N = 256
D = 13


def _bitrev8(i: int) -> int:
    return int(f"{i:08b}"[::-1], 2)


_ZETAS = [pow(1753, _bitrev8(i), Q) for i in range(256)]
_N_INV = pow(256, -1, Q)

Poly = list[int]


@dataclass(frozen=True)
class MlDsaParams:
    """One parameter set of FIPS 204 Table 1."""

    name: str
    k: int
    l: int  # noqa: E741 - the standard's name
    eta: int
    tau: int
    lam: int
    gamma1: int
    gamma2: int
    omega: int

    @property
    def beta(self) -> int:
        return self.tau * self.eta

    @property
    def sig_len(self) -> int:
        z_bits = 1 + (self.gamma1 - 1).bit_length()
        return self.lam // 4 + self.l * 32 * z_bits + self.omega + self.k


ML_DSA_44 = MlDsaParams("ML-DSA-44", 4, 4, 2, 39, 128, 1 << 17, (Q - 1) // 88, 80)
ML_DSA_65 = MlDsaParams("ML-DSA-65", 6, 5, 4, 49, 192, 1 << 19, (Q - 1) // 32, 55)
ML_DSA_87 = MlDsaParams("ML-DSA-87", 8, 7, 2, 60, 256, 1 << 19, (Q - 1) // 32, 75)


def _h(data: bytes, n: int) -> bytes:
    return hashlib.shake_256(data).digest(n)


# --- NTT (FIPS 204 Algorithms 41, 42) -------------------------------------------------------
def ntt(w: Poly) -> Poly:
    a = list(w)
    m = 0
    length = 128
    while length >= 1:
        for start in range(0, N, 2 * length):
            m += 1
            z = _ZETAS[m]
            for j in range(start, start + length):
                t = z * a[j + length] % Q
                a[j + length] = (a[j] - t) % Q
                a[j] = (a[j] + t) % Q
        length //= 2
    return a


def ntt_inv(w: Poly) -> Poly:
    a = list(w)
    m = 256
    length = 1
    while length < N:
        for start in range(0, N, 2 * length):
            m -= 1
            z = Q - _ZETAS[m]
            for j in range(start, start + length):
                t = a[j]
                a[j] = (t + a[j + length]) % Q
                a[j + length] = z * (t - a[j + length]) % Q
        length *= 2
    return [x * _N_INV % Q for x in a]


def _pmul(f: Poly, g: Poly) -> Poly:
    return [a * b % Q for a, b in zip(f, g, strict=True)]


def _padd(f: Poly, g: Poly) -> Poly:
    return [(a + b) % Q for a, b in zip(f, g, strict=True)]


def _psub(f: Poly, g: Poly) -> Poly:
    return [(a - b) % Q for a, b in zip(f, g, strict=True)]


def _centered(x: int, m: int) -> int:
    """x mod± m: the representative in (-m/2, m/2]."""
    r = x % m
    return r - m if r > m // 2 else r


def _norm(f: Poly) -> int:
    return max(abs(_centered(x, Q)) for x in f)


# --- sampling (FIPS 204 §7.3) ----------------------------------------------------------------
def _rej_ntt_poly(seed: bytes) -> Poly:
    length = 960
    while True:
        stream = hashlib.shake_128(seed).digest(length)
        out: Poly = []
        for pos in range(0, length - 2, 3):
            z = stream[pos] | (stream[pos + 1] << 8) | ((stream[pos + 2] & 0x7F) << 16)
            if z < Q:
                out.append(z)
                if len(out) == N:
                    return out
        length *= 2


def _rej_bounded_poly(seed: bytes, eta: int) -> Poly:
    length = 512
    while True:
        stream = hashlib.shake_256(seed).digest(length)
        out: Poly = []
        for byte in stream:
            for b in (byte & 15, byte >> 4):
                if eta == 2 and b < 15:
                    out.append((2 - b % 5) % Q)
                elif eta == 4 and b < 9:
                    out.append((4 - b) % Q)
                if len(out) == N:
                    return out
        length *= 2


def _sample_in_ball(p: MlDsaParams, seed: bytes) -> Poly:
    stream = hashlib.shake_256(seed).digest(8 + 1024)
    signs = int.from_bytes(stream[:8], "little")
    c = [0] * N
    pos = 8
    for i in range(N - p.tau, N):
        while True:
            j = stream[pos]
            pos += 1
            if j <= i:
                break
        c[i] = c[j]
        c[j] = Q - 1 if (signs >> (i + p.tau - N)) & 1 else 1
    return c


def _expand_mask(p: MlDsaParams, rho: bytes, mu: int) -> list[Poly]:
    bits = 1 + (p.gamma1 - 1).bit_length()
    out = []
    mask = (1 << bits) - 1
    for r in range(p.l):
        v = int.from_bytes(_h(rho + (mu + r).to_bytes(2, "little"), 32 * bits), "little")
        out.append([(p.gamma1 - ((v >> (bits * i)) & mask)) % Q for i in range(N)])
    return out


# --- rounding (FIPS 204 §7.4) ------------------------------------------------------------------
def _decompose(p: MlDsaParams, r: int) -> tuple[int, int]:
    r = r % Q
    r0 = _centered(r, 2 * p.gamma2)
    if r - r0 == Q - 1:
        return 0, r0 - 1
    return (r - r0) // (2 * p.gamma2), r0


def _high_bits(p: MlDsaParams, f: Poly) -> Poly:
    return [_decompose(p, x)[0] for x in f]


def _low_bits(p: MlDsaParams, f: Poly) -> Poly:
    return [_decompose(p, x)[1] % Q for x in f]


# --- encodings (FIPS 204 §7.1) -----------------------------------------------------------------
def _pack(values: list[int], bits: int) -> bytes:
    acc = 0
    for i, v in enumerate(values):
        acc |= v << (bits * i)
    return acc.to_bytes(bits * len(values) // 8, "little")


@dataclass(frozen=True)
class _Expanded:
    """What signing needs from the seed (KeyGen_internal, FIPS 204 Algorithm 6)."""

    public_key: bytes
    a_hat: list[list[Poly]]
    s1_hat: list[Poly]
    s2_hat: list[Poly]
    t0_hat: list[Poly]
    key: bytes
    tr: bytes


@functools.lru_cache(maxsize=16)
def _expand(p: MlDsaParams, xi: bytes) -> _Expanded:
    seed = _h(xi + bytes((p.k, p.l)), 128)
    rho, rho_prime, key = seed[:32], seed[32:96], seed[96:]
    a_hat = [[_rej_ntt_poly(rho + bytes((s, r))) for s in range(p.l)] for r in range(p.k)]
    s1 = [_rej_bounded_poly(rho_prime + r.to_bytes(2, "little"), p.eta) for r in range(p.l)]
    s2 = [_rej_bounded_poly(rho_prime + (r + p.l).to_bytes(2, "little"), p.eta) for r in range(p.k)]
    s1_hat = [ntt(s) for s in s1]
    t1: list[Poly] = []
    t0: list[Poly] = []
    for r in range(p.k):
        acc = [0] * N
        for s in range(p.l):
            acc = _padd(acc, _pmul(a_hat[r][s], s1_hat[s]))
        t = _padd(ntt_inv(acc), s2[r])
        high, low = [], []
        for x in t:  # Power2Round
            x0 = _centered(x, 1 << D)
            high.append((x - x0) >> D)
            low.append(x0 % Q)
        t1.append(high)
        t0.append(low)
    pk = rho + b"".join(_pack(t, 10) for t in t1)
    return _Expanded(
        pk,
        a_hat,
        s1_hat,
        [ntt(s) for s in s2],
        [ntt(t) for t in t0],
        key,
        _h(pk, 64),
    )


def public_key(p: MlDsaParams, xi: bytes) -> bytes:
    """pk of ML-DSA.KeyGen_internal(xi)."""
    return _expand(p, xi).public_key


def sign_deterministic(p: MlDsaParams, xi: bytes, message: bytes, context: bytes = b"") -> bytes:
    """ML-DSA.Sign (pure, FIPS 204 Algorithm 2) in its deterministic variant (rnd = 0^32)
    with the private key given as the KeyGen seed ``xi``."""
    if len(xi) != 32 or len(context) > 255:
        raise ValueError("ML-DSA seed must be 32 bytes and the context at most 255")
    e = _expand(p, xi)
    m_prime = bytes((0, len(context))) + context + message
    mu = _h(e.tr + m_prime, 64)
    rho_pp = _h(e.key + bytes(32) + mu, 64)
    w1_bits = (((Q - 1) // (2 * p.gamma2)) - 1).bit_length()
    z_bits = 1 + (p.gamma1 - 1).bit_length()
    kappa = 0
    while True:
        y = _expand_mask(p, rho_pp, kappa)
        kappa += p.l
        y_hat = [ntt(v) for v in y]
        w = []
        for r in range(p.k):
            acc = [0] * N
            for s in range(p.l):
                acc = _padd(acc, _pmul(e.a_hat[r][s], y_hat[s]))
            w.append(ntt_inv(acc))
        w1 = [_high_bits(p, v) for v in w]
        c_tilde = _h(mu + b"".join(_pack(v, w1_bits) for v in w1), p.lam // 4)
        c_hat = ntt(_sample_in_ball(p, c_tilde))
        z = [_padd(y[s], ntt_inv(_pmul(c_hat, e.s1_hat[s]))) for s in range(p.l)]
        w_cs2 = [_psub(w[r], ntt_inv(_pmul(c_hat, e.s2_hat[r]))) for r in range(p.k)]
        if max(_norm(v) for v in z) >= p.gamma1 - p.beta:
            continue
        if max(_norm(_low_bits(p, v)) for v in w_cs2) >= p.gamma2 - p.beta:
            continue
        ct0 = [ntt_inv(_pmul(c_hat, e.t0_hat[r])) for r in range(p.k)]
        if max(_norm(v) for v in ct0) >= p.gamma2:
            continue
        hints: list[list[int]] = []
        for r in range(p.k):
            # MakeHint(-ct0, w - cs2 + ct0): do the high bits of w - cs2 and w - cs2 + ct0 differ
            base = _padd(w_cs2[r], ct0[r])
            hints.append(
                [j for j in range(N) if _decompose(p, base[j])[0] != _decompose(p, w_cs2[r][j])[0]]
            )
        if sum(len(h) for h in hints) > p.omega:
            continue
        packed_z = b"".join(_pack([p.gamma1 - _centered(x, Q) for x in v], z_bits) for v in z)
        hint = bytearray(p.omega + p.k)
        index = 0
        for r, positions in enumerate(hints):
            for j in positions:
                hint[index] = j
                index += 1
            hint[p.omega + r] = index
        return c_tilde + packed_z + bytes(hint)


__all__ = [
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
    "MlDsaParams",
    "public_key",
    "sign_deterministic",
]
