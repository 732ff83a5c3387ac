"""Matchers: the filters a listener puts on the fields of an event.

A listener's filters are a mapping of field name to matcher. All of them must hold for an event to
be delivered. A plain value stands for ``Is(value)``. Matchers are stored as JSON
(``{"op": "startswith", "value": "J"}``), never pickled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any as _T
from typing import ClassVar

from django.core.exceptions import ValidationError

#: Sentinel for a field that is absent from the payload.
MISSING: _T = object()

#: Longest pattern ``Like`` accepts.
MAX_PATTERN_LENGTH = 1000


class Matcher:
    """Base class: a predicate on one field's value."""

    op: ClassVar[str] = ""
    label: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[Matcher]]] = {}

    def __init__(self, value: _T = None) -> None:
        self.value = value

    def __init_subclass__(cls, **kwargs: _T) -> None:
        super().__init_subclass__(**kwargs)
        if cls.op:
            Matcher.registry[cls.op] = cls

    def __call__(self, value: _T) -> bool:
        """True when ``value`` (``MISSING`` for an absent field) satisfies this matcher."""
        raise NotImplementedError

    def validate(self, field: str) -> None:
        """Raise ``ValidationError`` naming ``field`` when this matcher cannot be used."""

    def to_json(self) -> dict[str, _T]:
        return {"op": self.op, "value": self.value}

    def describe(self, field: str) -> str:
        """The filter in words, e.g. ``name starts with 'J'``."""
        return f"{field} {self.label} {self.value!r}"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.value == self.value  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.op, repr(self.value)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class Any(Matcher):
    """Matches every value, and an absent field too."""

    op = "any"
    label = "is anything"

    def __call__(self, value: _T) -> bool:
        return True

    def to_json(self) -> dict[str, _T]:
        return {"op": self.op}

    def describe(self, field: str) -> str:
        return f"{field} is anything"

    def __repr__(self) -> str:
        return "Any()"


class Is(Matcher):
    """Matches a value equal to the given one."""

    op = "is"
    label = "is"

    def __call__(self, value: _T) -> bool:
        return value is not MISSING and value == self.value


class _StringMatcher(Matcher):
    """A matcher on strings: any non-string value fails."""

    def validate(self, field: str) -> None:
        if not isinstance(self.value, str):
            raise ValidationError(
                {field: f"{type(self).__name__} on field {field!r} needs a string, got {self.value!r}."}
            )

    def __call__(self, value: _T) -> bool:
        return isinstance(value, str) and self.test(value)

    def test(self, value: str) -> bool:
        raise NotImplementedError


class Startswith(_StringMatcher):
    """Matches strings that start with the given prefix."""

    op = "startswith"
    label = "starts with"

    def test(self, value: str) -> bool:
        return value.startswith(self.value)


class Endswith(_StringMatcher):
    """Matches strings that end with the given suffix."""

    op = "endswith"
    label = "ends with"

    def test(self, value: str) -> bool:
        return value.endswith(self.value)


class Contains(_StringMatcher):
    """Matches strings that contain the given text."""

    op = "contains"
    label = "contains"

    def test(self, value: str) -> bool:
        return self.value in value


class Like(_StringMatcher):
    """Matches strings in which the regular expression finds a match (``re.search``)."""

    op = "like"
    label = "is like"

    def __init__(self, value: _T = None) -> None:
        super().__init__(value)
        self._compiled: _T = None

    def validate(self, field: str) -> None:
        super().validate(field)
        self.compiled(field)

    def compiled(self, field: str = "?") -> _T:
        if self._compiled is None:
            self._compiled = compile_pattern(self.value, field)
        return self._compiled

    def test(self, value: str) -> bool:
        return self.compiled().search(value) is not None


def compile_pattern(pattern: str, field: str) -> _T:
    """Compile a client's pattern, or raise ``ValidationError`` naming ``field``."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValidationError({field: f"The pattern for {field!r} is longer than {MAX_PATTERN_LENGTH} characters."})
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValidationError({field: f"Invalid regular expression for {field!r}: {exc}."}) from None


def coerce(value: _T) -> Matcher:
    """A matcher for ``value``: matchers stay as they are, a plain value becomes ``Is(value)``."""
    return value if isinstance(value, Matcher) else Is(value)


def from_json(data: Mapping[str, _T]) -> Matcher:
    """Rebuild a matcher from its JSON form."""
    try:
        cls = Matcher.registry[data["op"]]
    except (KeyError, TypeError):
        raise ValidationError(f"Unknown matcher {data!r}.") from None
    return cls() if cls is Any else cls(data.get("value"))


def filters_to_json(filters: Mapping[str, _T]) -> dict[str, dict[str, _T]]:
    """The JSON form of a ``{field: matcher or value}`` mapping."""
    return {field: coerce(m).to_json() for field, m in filters.items()}


def filters_from_json(data: Mapping[str, _T] | None) -> dict[str, Matcher]:
    """The ``{field: matcher}`` mapping stored as JSON."""
    return {field: from_json(m) for field, m in (data or {}).items()}


def matches(filters: Mapping[str, Matcher], payload: Mapping[str, _T]) -> bool:
    """True when every filter holds on ``payload``."""
    return all(m(payload.get(field, MISSING)) for field, m in filters.items())


__all__ = [
    "Any",
    "Is",
    "Startswith",
    "Endswith",
    "Contains",
    "Like",
    "Matcher",
    "coerce",
    "from_json",
    "filters_to_json",
    "filters_from_json",
    "matches",
]
