"""Checking (and, per family, generating) the official MLS interop test vectors.

One module per vector family; each declares ``FAMILY`` (the stem of the official file
name, ``tree-math``), the ``KEYS`` that identify its cases, and a ``check(case)`` that
raises :class:`Mismatch` (or any :class:`mlswire.MLSError`) when mlswire disagrees with
the vector. Modules are found by scanning this package, so adding a family is adding a
module. Format of the files: the mlswg/mls-implementations
repository's ``test-vectors.md``.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import MLSError


def _discover() -> dict[str, str]:
    """family name (as the official file names spell it) -> module name"""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        family = getattr(module, "FAMILY", None)
        if family:
            found[family] = info.name
    return found


class Mismatch(AssertionError):
    """A computed value differs from the vector's."""


class UnknownFamily(MLSError):
    pass


def expect(what: str, got: Any, want: Any) -> None:
    if got != want:
        g = got.hex() if isinstance(got, bytes | bytearray) else repr(got)
        w = want.hex() if isinstance(want, bytes | bytearray) else repr(want)
        raise Mismatch(f"{what}: got {g}, expected {w}")


def unhex(value: str) -> bytes:
    return bytes.fromhex(value)


_families: dict[str, str] | None = None


def families() -> dict[str, str]:
    global _families
    if _families is None:
        _families = _discover()
    return _families


def official_families() -> list[str]:
    """The families the MLS working group publishes files for (modules may set
    ``OFFICIAL = False`` for mlswire's own families, such as cross-encoding)."""
    return sorted(f for f in families() if getattr(family_module(f), "OFFICIAL", True))


def family_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(f"{__name__}.{families()[name]}")
    except KeyError:
        known = ", ".join(sorted(families()))
        raise UnknownFamily(f"unknown vector family {name!r}; known: {known}") from None


def detect_family(path: Path, doc: Any) -> str:
    """The family of a vector file: from its name, else from the keys of its first case."""
    if path.stem in families():
        return path.stem
    first = doc[0] if isinstance(doc, list) and doc else {}
    if isinstance(first, dict):
        for name in families():
            if first.keys() >= family_module(name).KEYS:
                return name
    raise UnknownFamily(f"{path}: cannot tell which vector family this file holds (use --family)")


@dataclass
class CaseResult:
    index: int
    label: str
    error: str | None  # None when the case passed


def case_label(index: int, case: Any) -> str:
    if isinstance(case, dict) and "rule" in case and "cipher_suite" in case:
        return f"case {index} (rule {case['rule']}, cipher suite {case['cipher_suite']})"
    if isinstance(case, dict) and "cipher_suite" in case:
        return f"case {index} (cipher suite {case['cipher_suite']})"
    return f"case {index}"


def run_cases(doc: Any, check: Callable[[dict[str, Any]], None]) -> Iterator[CaseResult]:
    if not isinstance(doc, list):
        raise UnknownFamily("a vector file holds a JSON array of cases")
    for i, case in enumerate(doc):
        label = case_label(i, case)
        try:
            check(case)
        except (Mismatch, MLSError, KeyError, ValueError, TypeError) as e:
            # KeyError/ValueError/TypeError here mean a malformed vector file (missing
            # field, bad hex), which is reported as that case failing, not as a crash.
            yield CaseResult(i, label, f"{type(e).__name__}: {e}")
        else:
            yield CaseResult(i, label, None)


def verify_file(path: Path, family: str | None = None) -> tuple[str, Iterator[CaseResult]]:
    doc = json.loads(path.read_bytes())
    name = family or detect_family(path, doc)
    module = family_module(name)
    return name, run_cases(doc, module.check)


# The official files travel with mlswire (provenance in official/SOURCE.md).
BUNDLED_VECTORS = Path(__file__).resolve().parent / "official"


def default_vectors_dir() -> Path:
    """``$MLSWIRE_VECTORS`` when set, else the official set bundled with mlswire."""
    env = os.environ.get("MLSWIRE_VECTORS")
    return Path(env) if env else BUNDLED_VECTORS
