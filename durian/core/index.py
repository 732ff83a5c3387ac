"""The fan-out index: which listeners of a hook can match an event, without testing every one.

Most filters are ``Is`` (a value) and ``Startswith`` (a prefix). The index files each listener
under one such filter: under its value in a hash map for ``Is``, under its prefix in a
hash map per field for ``Startswith``. An event then looks up its field values (and, per field,
each indexed prefix length of its value) and tests only the listeners found there, plus those
with neither kind of filter. Every candidate is still tested on all its filters, so the result is
exactly what testing every listener gives, in the same order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from . import match


class Indexable(Protocol):
    """What the index needs of a listener."""

    @property
    def filters(self) -> Mapping[str, match.Matcher]: ...


def _hashable(value: Any) -> bool:
    if not isinstance(value, Hashable):
        return False
    try:
        hash(value)
    except TypeError:
        return False
    return True


class ListenerIndex:
    """Listeners (of one hook) indexed by their ``Is`` and ``Startswith`` filters."""

    def __init__(self, listeners: Iterable[Indexable]) -> None:
        # Each entry is (position, listener): the position restores the input order of a result.
        self._equal: dict[str, dict[Any, list[tuple[int, Any]]]] = defaultdict(lambda: defaultdict(list))
        self._prefix: dict[str, dict[str, list[tuple[int, Any]]]] = defaultdict(lambda: defaultdict(list))
        self._prefix_lengths: dict[str, list[int]] = {}
        self._scan: list[tuple[int, Any]] = []
        for position, listener in enumerate(listeners):
            self._add(position, listener)
        for field, prefixes in self._prefix.items():
            self._prefix_lengths[field] = sorted({len(p) for p in prefixes})
        # Plain dicts from here on: a lookup must never insert.
        self._equal = {f: dict(v) for f, v in self._equal.items()}
        self._prefix = {f: dict(v) for f, v in self._prefix.items()}

    def _add(self, position: int, listener: Any) -> None:
        entry = (position, listener)
        filters = listener.filters
        for field, matcher in filters.items():
            if type(matcher) is match.Is and _hashable(matcher.value):
                self._equal[field][matcher.value].append(entry)
                return
        for field, matcher in filters.items():
            if type(matcher) is match.Startswith and isinstance(matcher.value, str):
                self._prefix[field][matcher.value].append(entry)
                return
        self._scan.append(entry)

    def __len__(self) -> int:
        return (
            len(self._scan)
            + sum(len(x) for by_value in self._equal.values() for x in by_value.values())
            + sum(len(x) for by_prefix in self._prefix.values() for x in by_prefix.values())
        )

    def candidates(self, payload: Mapping[str, Any]) -> list[tuple[int, Any]]:
        """Listeners that may match ``payload``: a superset of the matching ones."""
        found: list[tuple[int, Any]] = list(self._scan)
        for field, by_value in self._equal.items():
            value = payload.get(field, match.MISSING)
            if value is match.MISSING:
                continue
            try:
                hit = by_value.get(value)
            except TypeError:  # an unhashable value (list, dict) equals no indexed value
                continue
            if hit:
                found.extend(hit)
        for field, by_prefix in self._prefix.items():
            value = payload.get(field)
            if not isinstance(value, str):
                continue
            size = len(value)
            for length in self._prefix_lengths[field]:
                if length > size:
                    break
                hit = by_prefix.get(value[:length])
                if hit:
                    found.extend(hit)
        return found

    def matching(self, payload: Mapping[str, Any]) -> list[Any]:
        """The listeners whose filters all hold on ``payload``, in their original order."""
        found = [entry for entry in self.candidates(payload) if match.matches(entry[1].filters, payload)]
        found.sort(key=_position)
        return [listener for _, listener in found]


def _position(entry: tuple[int, Any]) -> int:
    return entry[0]


def scan(listeners: Sequence[Indexable], payload: Mapping[str, Any]) -> list[Any]:
    """The reference: test every listener. ``ListenerIndex.matching`` returns the same."""
    return [x for x in listeners if match.matches(x.filters, payload)]
