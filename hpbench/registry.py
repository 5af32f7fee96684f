"""Name → object registries (converters, models, metrics, conventions…) with "did you mean" errors.

A registry may own a package: on first lookup it imports every module of that package, so that
adding an entry (a converter, a model family, a synthetic writer) is adding one file with its
``register`` call — no import line elsewhere.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Callable, Generic, Iterator, TypeVar

from hpbench.errors import HpbenchError

T = TypeVar("T")


class UnknownName(HpbenchError, KeyError):
    """A name that no registry entry has."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """A named collection filled by the ``register`` decorator (or by ``register(name)(obj)``)."""

    def __init__(self, kind: str, package: str | None = None):
        self.kind = kind
        self.package = package
        self._entries: dict[str, T] = {}
        self._discovered = package is None

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def discover(self) -> None:
        """Import every module of the package (again: modules added since are picked up too)."""
        self._discovered = True
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{self.package}.{module.name}")

    def _all(self) -> dict[str, T]:
        if not self._discovered:
            self.discover()
        return self._entries

    def get(self, name: str) -> T:
        entries = self._all()
        try:
            return entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, entries, n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownName(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(entries))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._all())

    def items(self) -> list[tuple[str, T]]:
        return [(name, self._all()[name]) for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def names_registry(kind: str, names) -> Registry[str]:
    """A registry of plain names (files found on disk), for the same "did you mean" errors."""
    registry: Registry[str] = Registry(kind)
    for name in names:
        registry.register(name)(name)
    return registry


def check_known_keys(keys, known, where: str) -> None:
    """An unknown key of a user's file is an error naming the nearest known one (a typo must not pass
    as a default)."""
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise HpbenchError(f"{where}: unknown key {key!r}{hint} (known: {', '.join(sorted(known))})")
