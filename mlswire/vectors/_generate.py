"""Generating vector files: the family-independent driver behind
``mlswire vectors generate``.

A family takes part by having a ``generate`` function in its module::

    def generate(suite: int | None, rng: Drbg, count: int | None = None,
                 *, progress: Callable[[], None] | None = None) -> list[dict] | dict

which returns the cases of one cipher suite (or a single case). Optional module
attributes tune how the driver calls it:

* ``SUITED`` (default True): False for families whose cases do not depend on a cipher
  suite (tree-math, deserialization); ``generate`` is then called once with ``None``.
* ``DEFAULT_COUNT`` (default 1): cases per suite when ``--count`` is not given; also
  the progress bar's estimate.
* ``progress``: if ``generate`` accepts it, it is called once per case, so long
  families move the bar case by case; otherwise the bar moves when ``generate`` returns.

Each (family, suite) gets its own stream forked from the seed, so the cases of one
suite are the same whichever other suites are generated with it.
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from ..crypto.suites import SUPPORTED_CIPHER_SUITES, cipher_suite
from . import UnknownFamily, families, family_module
from ._rng import Drbg

Case = dict[str, Any]


def generator_families() -> list[str]:
    """The families whose module can generate, in name order."""
    return sorted(name for name in families() if hasattr(family_module(name), "generate"))


def require_generator(name: str) -> tuple[ModuleType, Callable[..., Any]]:
    """The module and ``generate`` function of family ``name``; UnknownFamily if the
    family does not exist or cannot be generated."""
    module = family_module(name)
    gen = getattr(module, "generate", None)
    if gen is None:
        known = ", ".join(generator_families())
        raise UnknownFamily(f"vector family {name!r} cannot be generated yet; can: {known}")
    return module, gen


def is_suited(name: str) -> bool:
    return bool(getattr(family_module(name), "SUITED", True))


def expected_cases(name: str, suites: Sequence[int], count: int | None) -> int:
    """How many cases a generation will produce (the progress bar's total)."""
    module = family_module(name)
    per_call = count if count is not None else int(getattr(module, "DEFAULT_COUNT", 1))
    return per_call * (len(suites) if is_suited(name) else 1)


def check_suites(suites: Iterable[int]) -> list[int]:
    """The suites as a list, each checked to be one mlswire supports."""
    out = []
    for s in suites:
        cipher_suite(s)  # raises UnsupportedCipherSuite
        if s not in out:
            out.append(s)
    return out


def generate_family(
    name: str,
    *,
    suites: Sequence[int] | None = None,
    count: int | None = None,
    rng: Drbg | None = None,
    tick: Callable[[], None] | None = None,
) -> list[Case]:
    """The cases of family ``name`` for ``suites`` (default: all supported), ``count``
    per suite (default: the family's), from ``rng`` (default: fresh randomness)."""
    _, gen = require_generator(name)
    chosen = check_suites(suites) if suites else list(SUPPORTED_CIPHER_SUITES)
    root = (rng or Drbg()).fork(name)
    takes_progress = "progress" in inspect.signature(gen).parameters
    out: list[Case] = []
    for suite in chosen if is_suited(name) else [None]:
        kwargs: dict[str, Any] = {"count": count}
        if takes_progress and tick is not None:
            kwargs["progress"] = tick
        cases = gen(suite, root.fork("suite", suite), **kwargs)
        batch = [cases] if isinstance(cases, dict) else list(cases)
        if tick is not None and not takes_progress:
            for _ in batch:
                tick()
        out.extend(batch)
    return out


def dumps(cases: Any) -> str:
    """The JSON text of a vector file: stable key order (as generated), two-space
    indentation, ASCII only, final newline, so equal inputs give equal bytes."""
    return json.dumps(cases, indent=2) + "\n"


class Progress:
    """A one-line progress bar on a terminal; silent when ``stream`` is not a TTY, so
    piped or redirected runs (and tests) print nothing extra."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = max(total, 1)
        self.done = 0
        self.label = ""
        self._last = 0.0

    def set_label(self, label: str) -> None:
        self.label = label
        self._draw(force=True)

    def tick(self) -> None:
        self.done += 1
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        # Redraw at most 20 times a second: terminals are slow, cases can be fast.
        if not force and now - self._last < 0.05 and self.done < self.total:
            return
        self._last = now
        shown = min(self.done, self.total)
        filled = self.WIDTH * shown // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label:<28.28} [{bar}] {shown}/{self.total}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()


def generate_files(
    names: Sequence[str],
    *,
    suites: Sequence[int] | None,
    count: int | None,
    seed: str | None,
    progress: Progress | None = None,
) -> dict[str, str]:
    """family -> file text, for each family in ``names``, under one seed."""
    rng = Drbg(seed)
    chosen = check_suites(suites) if suites else list(SUPPORTED_CIPHER_SUITES)
    out: dict[str, str] = {}
    for name in names:
        if progress is not None:
            progress.set_label(name)
        cases = generate_family(
            name,
            suites=chosen,
            count=count,
            rng=rng,
            tick=progress.tick if progress is not None else None,
        )
        out[name] = dumps(cases)
    return out


def write_all(directory: Path, texts: dict[str, str]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in texts.items():
        path = directory / f"{name}.json"
        path.write_text(text)
        paths.append(path)
    return paths


__all__ = [
    "SUPPORTED_CIPHER_SUITES",
    "Progress",
    "check_suites",
    "dumps",
    "expected_cases",
    "generate_family",
    "generate_files",
    "generator_families",
    "is_suited",
    "require_generator",
    "write_all",
]
