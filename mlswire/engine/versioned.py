"""A dictionary whose copies cost O(1) (Baker's rerooting, as in RatchetTree).

Of the versions that share one dict, one (the root) holds it; the others are views:
a parent plus the entries where they differ. Any access to a view reroots it (swaps
its entries in, O(entries differing)); writes to a root first record the overwritten
entries in its direct views. The group engine stages a commit on a copy of its key
indexes and merges or drops it, so a commit costs O(entries changed), not O(members).

>>> a = VersionedDict({b"k": 1})
>>> b = a.copy(); b[b"k"] = 2; b[b"n"] = 3
>>> a.get(b"k"), b.get(b"k"), b"n" in a, b"n" in b
(1, 2, False, True)
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_MISSING: object = object()


class VersionedDict(Generic[K, V]):
    __slots__ = ("__weakref__", "_d", "_parent", "_undo", "_views")

    def __init__(self, data: dict[K, V] | None = None) -> None:
        self._d: dict[K, V] = dict(data or {})
        self._parent: VersionedDict[K, V] | None = None
        self._undo: dict[K, object] = {}
        self._views: list[weakref.ref[VersionedDict[K, V]]] = []

    def _reroot(self) -> None:
        parent = self._parent
        if parent is None:
            return
        parent._reroot()
        data = parent._d
        inverse: dict[K, object] = {}
        for k, v in self._undo.items():
            inverse[k] = data.get(k, _MISSING)
            if v is _MISSING:
                data.pop(k, None)
            else:
                data[k] = v  # type: ignore[assignment]
        self._d, self._parent, self._undo = data, None, {}
        parent._d, parent._parent, parent._undo = {}, self, inverse
        self._views = [r for r in self._views if (w := r()) is not None and w._parent is self]
        self._views.append(weakref.ref(parent))

    def _record(self, k: K) -> None:
        for ref in self._views:
            view = ref()
            if view is not None and view._parent is self and k not in view._undo:
                view._undo[k] = self._d.get(k, _MISSING)

    def copy(self) -> VersionedDict[K, V]:
        self._reroot()
        other: VersionedDict[K, V] = VersionedDict.__new__(VersionedDict)
        other._d, other._parent, other._undo = self._d, None, {}
        other._views = [weakref.ref(self)]
        self._d, self._parent, self._undo = {}, other, {}
        return other

    def _data(self) -> dict[K, V]:
        if self._parent is not None:
            self._reroot()
        return self._d

    def get(self, k: K, default: V | None = None) -> V | None:
        return self._data().get(k, default)

    def __contains__(self, k: object) -> bool:
        return k in self._data()

    def __getitem__(self, k: K) -> V:
        return self._data()[k]

    def __setitem__(self, k: K, v: V) -> None:
        data = self._data()
        if self._views:
            self._record(k)
        data[k] = v

    def __delitem__(self, k: K) -> None:
        data = self._data()
        if self._views:
            self._record(k)
        del data[k]

    def __len__(self) -> int:
        return len(self._data())

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._data()))

    def to_dict(self) -> dict[K, V]:
        return dict(self._data())


__all__ = ["VersionedDict"]
