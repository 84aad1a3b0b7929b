"""What the codecs' code generators share (TLS in ``tls``, the data-model tree in ``_tree``,
CBOR bytes in ``_cbor``): fresh names and constants in the namespace the generated code
runs in, compiling each struct's decode/encode functions into it once, and how a
``select`` arm is tested; and the lock that makes first use safe from many threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from ..schema.base import Field, Type, describe, registered

#: Held while any generator compiles. One lock for all of them: compiling a struct
#: compiles the structs it uses, and the JSON shadow walks call the tree compiler, so
#: per-compiler locks could be taken in two orders. Reentrant for the same reason.
#: Only first use takes it; a compiled type is looked up without it.
COMPILE_LOCK = threading.RLock()

E = TypeVar("E")


def compiled_once(table: MutableMapping[Any, E], key: Any, build: Callable[[], E]) -> E:
    """``table[key]``, built by ``build()`` under :data:`COMPILE_LOCK` the first time.

    The entry is published only once ``build`` has returned, so another thread either
    finds nothing (and waits for the lock) or finds finished functions, never a half
    compiled type. An unhashable ``key`` (an ad hoc annotation) is built every time."""
    try:
        return table[key]
    except (KeyError, TypeError):
        pass
    with COMPILE_LOCK:
        try:
            return table[key]  # compiled by the thread that held the lock before us
        except KeyError:
            pass
        except TypeError:
            return build()
        entry = build()
        table[key] = entry
        return entry


def external_keys() -> set[str]:
    """Discriminants written as ``Other.field`` from inside another struct: the struct
    that owns such a field publishes its value in ``env`` while being coded."""
    keys = set()
    for tp in registered().values():
        d = describe(tp)
        if d.kind == "struct":
            for f in d.fields:
                if f.case and f.case.on.split(".")[0] != d.name:
                    keys.add(f.case.on)
    return keys


def is_open(cls: Any) -> bool:
    """A registry enum (:class:`mlswire.schema.base.OpenEnum`): every value of its width
    is admitted, named or not."""
    missing = getattr(cls, "_missing_", None)
    return bool(missing and missing.__qualname__.startswith("OpenEnum"))


class StructCompiler:
    """Generates per-struct source with ``struct_decoder``/``struct_encoder`` and runs it
    in ``ns``; ``label`` names the compiled sources (``<mlswire.{label} {struct}>``)."""

    def __init__(self, label: str, ns: dict[str, Any]) -> None:
        self.label = label
        self.ns = ns
        self.done: set[str] = set()
        self._pending: set[str] = set()
        self.sources: dict[str, str] = {}
        self.counter = 0
        self._external: tuple[int, set[str]] = (-1, set())

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def const(self, stem: str, value: Any) -> str:
        name = self.fresh(stem)
        self.ns[name] = value
        return name

    def ensure(self, d: Type) -> None:
        """Compile the decode/encode functions of struct ``d`` and of every struct it uses.

        A struct being compiled is ``pending``: a struct that uses itself (directly or
        through others) refers to its functions by name, so the recursion stops there.
        The names move to ``done`` only when the outermost call has compiled them all;
        after a failure they are forgotten and compiled again on next use."""
        with COMPILE_LOCK:
            if d.name in self.done or d.name in self._pending:
                return
            assert d.name is not None
            outermost = not self._pending
            self._pending.add(d.name)
            try:
                src = self.struct_decoder(d) + "\n" + self.struct_encoder(d)
                self.sources[d.name] = src
                exec(compile(src, f"<mlswire.{self.label} {d.name}>", "exec"), self.ns)
            except BaseException:
                if outermost:
                    self._pending.clear()
                raise
            if outermost:
                self.done |= self._pending
                self._pending.clear()

    def struct_decoder(self, d: Type) -> str:
        raise NotImplementedError

    def struct_encoder(self, d: Type) -> str:
        raise NotImplementedError

    # -- selects ---------------------------------------------------------------

    @property
    def external(self) -> set[str]:
        """external_keys(), recomputed when more types have been registered since."""
        n = len(registered())
        if self._external[0] != n:
            self._external = (n, external_keys())
        return self._external[1]

    def is_external(self, d: Type, f: Field) -> bool:
        """Whether field ``f``'s discriminant lives outside struct ``d`` (in ``env``)."""
        assert f.case is not None
        return f.case.on.split(".")[0] != d.name

    def internal(self, d: Type, f: Field) -> str:
        """The discriminant of an internal select, from the already coded ``v_`` locals
        (``v_content.sender.sender_type`` for ``PublicMessage.content.sender.sender_type``)."""
        assert f.case is not None
        _, first, *attrs = f.case.on.split(".")
        return ".".join([f"v_{first}", *attrs])

    def selected(self, d: Type, f: Field, present: str, target: str = "sel") -> list[str]:
        """Lines setting ``target`` to whether field ``f``'s arm is selected.

        A discriminant outside the struct (``FramedContent.content_type`` seen from
        FramedContentAuthData) comes from ``env`` when an enclosing message or the caller
        supplied it. Without it the tree is self-describing: the arm is present iff its
        key (or its value) is, so such types can be converted on their own.
        """
        assert f.case is not None
        if not self.is_external(d, f):
            return [f"{target} = {self.test(d, f, self.internal(d, f))}"]
        return [
            f"disc = env.get({f.case.on!r}, MISSING)",
            f"{target} = ({present}) if disc is MISSING else ({self.test(d, f, 'disc')})",
        ]

    def test(self, d: Type, f: Field, disc: str) -> str:
        """Python expression: is field ``f``'s arm selected, given discriminant ``disc``."""
        assert f.case is not None
        if f.case.otherwise:
            known: set[int] = set()
            for g in d.fields:
                if g.case and g.case.on == f.case.on and not g.case.otherwise:
                    known.update(g.case.values)
            return f"{disc} not in {self.const('KNOWN', frozenset(known))}"
        if len(f.case.values) == 1:
            return f"{disc} == {f.case.values[0]}"
        return f"{disc} in {self.const('IN', frozenset(f.case.values))}"
