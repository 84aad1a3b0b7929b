"""What the codecs' code generators share (the TLS one in ``tls`` and the tree one in
``_tree``): fresh names and constants in the namespace the generated code runs in, and
compiling each struct's decode/encode functions into it once."""

from __future__ import annotations

from typing import Any

from ..schema.base import Type


class StructCompiler:
    """Generates per-struct source with ``struct_decoder``/``struct_encoder`` and runs it
    in ``ns``; ``label`` names the compiled sources (``<mlswire.{label} {struct}>``)."""

    def __init__(self, label: str, ns: dict[str, Any]) -> None:
        self.label = label
        self.ns = ns
        self.done: set[str] = set()
        self.sources: dict[str, str] = {}
        self.counter = 0

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def const(self, stem: str, value: Any) -> str:
        name = self.fresh(stem)
        self.ns[name] = value
        return name

    def ensure(self, d: Type) -> None:
        """Compile the decode/encode functions of struct ``d`` and of every struct it uses."""
        if d.name in self.done:
            return
        assert d.name is not None
        self.done.add(d.name)
        src = self.struct_decoder(d) + "\n" + self.struct_encoder(d)
        self.sources[d.name] = src
        exec(compile(src, f"<mlswire.{self.label} {d.name}>", "exec"), self.ns)

    def struct_decoder(self, d: Type) -> str:
        raise NotImplementedError

    def struct_encoder(self, d: Type) -> str:
        raise NotImplementedError
