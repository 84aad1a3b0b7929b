"""Reading the official interop scenario configs (mlswg/mls-implementations
``interop/configs/*.json``) the way the Go test-runner does.

A config is ``{"scripts": {"<name>": [step, ...], ...}}``; every step needs an
``"action"``. Besides the parsed step, each keeps its raw JSON text, byte-for-byte as in
the file: the runner reports it as ``failed_step_json``. Parameters are looked up as Go's
``encoding/json`` matches struct fields: an exact key first, else a case-insensitive one
(underscores count), so reinit's ``"changeCiphersuite"`` is ``changeCipherSuite``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DecodeError

_decoder = json.JSONDecoder()
_WS = " \t\r\n"


class ConfigError(DecodeError):
    """A config file that the runner cannot use."""


class StepError(Exception):
    """A step failed: the message is the case's ``error``."""


@dataclass(frozen=True)
class Step:
    index: int
    data: dict[str, Any]
    raw: str

    @property
    def action(self) -> str:
        return str(self.data["action"])

    @property
    def actor(self) -> str:
        actor = self.data.get("actor", "")
        if not isinstance(actor, str):
            raise StepError(f"step {self.index}: actor is not a string")
        return actor

    def _get(self, key: str) -> Any:
        if key in self.data:
            return self.data[key]
        folded = key.casefold()
        for k, v in self.data.items():
            if k.casefold() == folded:
                return v
        return None

    def _typed(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = self._get(key)
        if value is None:
            return default
        # JSON true/false are ints to Python; the Go runner refuses them as numbers.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise StepError(f"step {self.index}: {key} has the wrong JSON type")
        return value

    def num(self, key: str) -> int:
        value: int = self._typed(key, int, 0)
        return value

    def flag(self, key: str) -> bool:
        value: bool = self._typed(key, bool, False)
        return value

    def text(self, key: str) -> str:
        value: str = self._typed(key, str, "")
        return value

    def items(self, key: str) -> list[Any]:
        value: list[Any] = self._typed(key, list, [])
        return value

    def obj(self, key: str) -> dict[str, Any]:
        value: dict[str, Any] = self._typed(key, dict, {})
        return value

    def names(self, key: str) -> list[str]:
        values = self.items(key)
        if not all(isinstance(v, str) for v in values):
            raise StepError(f"step {self.index}: {key} must list actor names")
        return values

    def indices(self, key: str) -> list[int]:
        values = self.items(key)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise StepError(f"step {self.index}: {key} must list step indices")
        return values


def sub_step(data: dict[str, Any], index: int) -> Step:
    """A nested object (a ProposalDescription) read with the same key rules."""
    return Step(index, data, json.dumps(data))


@dataclass(frozen=True)
class Config:
    path: Path
    scripts: dict[str, list[Step]]

    @property
    def name(self) -> str:
        return self.path.stem


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _expect(text: str, pos: int, char: str, path: Path) -> int:
    pos = _skip(text, pos)
    if not text.startswith(char, pos):
        raise ConfigError(f"{path}: expected {char!r} at offset {pos}")
    return pos + 1


def _members(text: str, pos: int, path: Path) -> tuple[list[tuple[str, int, int]], int]:
    """The (key, start, end) of each member of the object at ``pos``; its end."""
    pos = _expect(text, pos, "{", path)
    out: list[tuple[str, int, int]] = []
    pos = _skip(text, pos)
    if text.startswith("}", pos):
        return out, pos + 1
    while True:
        key, pos = _decoder.raw_decode(text, _skip(text, pos))
        if not isinstance(key, str):
            raise ConfigError(f"{path}: object key expected at offset {pos}")
        pos = _skip(text, _expect(text, pos, ":", path))
        _, end = _decoder.raw_decode(text, pos)
        out.append((key, pos, end))
        pos = _skip(text, end)
        if text.startswith("}", pos):
            return out, pos + 1
        pos = _expect(text, pos, ",", path)


def _elements(text: str, pos: int, path: Path) -> list[tuple[int, int]]:
    """The (start, end) of each element of the array at ``pos``."""
    pos = _expect(text, pos, "[", path)
    out: list[tuple[int, int]] = []
    pos = _skip(text, pos)
    if text.startswith("]", pos):
        return out
    while True:
        pos = _skip(text, pos)
        _, end = _decoder.raw_decode(text, pos)
        out.append((pos, end))
        pos = _skip(text, end)
        if text.startswith("]", pos):
            return out
        pos = _expect(text, pos, ",", path)


BUNDLED = Path(__file__).resolve().parent / "configs"


def bundled() -> list[str]:
    """The names of the official configs that ship with mlswire."""
    return sorted(p.stem for p in BUNDLED.glob("*.json"))


def resolve(name: str) -> Path:
    """A config path, or the name of a bundled one (``commit``, ``reinit.json``)."""
    path = Path(name)
    if path.exists() or path.parent != Path("."):
        return path
    bundled_path = BUNDLED / (path.stem + ".json")
    return bundled_path if bundled_path.exists() else path


def load(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config: {e}") from e
    try:
        top, end = _members(text, 0, path)
        if _skip(text, end) != len(text):
            raise ConfigError(f"{path}: trailing data at offset {_skip(text, end)}")
        scripts: dict[str, list[Step]] = {}
        for key, start, _ in top:
            if key != "scripts":
                continue  # "mode" and anything else: parsed, then ignored (as in Go)
            for name, s_start, _ in _members(text, start, path)[0]:
                steps = []
                for i, (a, b) in enumerate(_elements(text, s_start, path)):
                    data = json.loads(text[a:b])
                    if not isinstance(data, dict) or not isinstance(data.get("action"), str):
                        raise ConfigError(f"{path}: scripts.{name}[{i}] has no string action")
                    steps.append(Step(i, data, text[a:b]))
                scripts[name] = steps
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not JSON: {e}") from e
    return Config(path, scripts)


def actors(steps: list[Step]) -> list[str]:
    """The script's actors (RUNNER.md §2.3), in order of first appearance: every
    ``actor``, ``createGroup.members``, ``externalJoin.joiner``,
    ``newMemberAddProposal.joiner`` and ``addExternalSigner.signer``."""
    found: dict[str, None] = {}
    for step in steps:
        names = [step.actor]
        if step.action == "createGroup":
            names += step.names("members")
        elif step.action in ("externalJoin", "newMemberAddProposal"):
            names.append(step.text("joiner"))
        elif step.action == "addExternalSigner":
            names.append(step.text("signer"))
        for n in names:
            if n:
                found.setdefault(n, None)
    return list(found)
