"""Matchers: the filters a listener puts on the fields of an event.

A listener's filters are a mapping of field name to matcher. All of them must hold for an event to
be delivered. A plain value stands for ``Is(value)``. ``Changed`` looks at the whole payload: the
field's change in the save that fired the event (``changed`` and ``previous``). Matchers are stored as JSON
(``{"op": "startswith", "value": "J"}``), never pickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any as _T
from typing import ClassVar

import re2
from django.core.exceptions import ValidationError

#: Sentinel for a field that is absent from the payload.
MISSING: _T = object()


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

    def holds(self, field: str, payload: Mapping[str, _T]) -> bool:
        """True when this matcher, put on ``field``, holds on ``payload``."""
        return self(payload.get(field, MISSING))

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


def _longest() -> int:
    from ..conf import settings

    return int(settings.LIKE_MAX_LENGTH)


def _check_plain(field: str, what: str, value: _T) -> None:
    """Raise ``ValidationError`` unless ``value`` is a plain JSON value (text, number, true/false or
    null) of at most ``DURIAN_LIKE_MAX_LENGTH`` characters: what a filter row of the form can hold."""
    if isinstance(value, (dict, list, tuple, set)):
        kind = "a JSON object" if isinstance(value, dict) else "a list"
        raise ValidationError(
            {field: f"{what} on {field!r} needs a plain value (text, number, true or false), got {kind}."}
        )
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise ValidationError({field: f"{what} on {field!r} needs a plain value, got {type(value).__name__}."})
    if isinstance(value, str) and len(value) > _longest():
        raise ValidationError({field: f"The value for {field!r} is longer than {_longest()} characters."})


class Is(Matcher):
    """Matches a value equal to the given one (a plain value: text, number, true/false or null)."""

    op = "is"
    label = "is"

    def __call__(self, value: _T) -> bool:
        return value is not MISSING and value == self.value

    def validate(self, field: str) -> None:
        _check_plain(field, "Is", self.value)


class _StringMatcher(Matcher):
    """A matcher on strings: any non-string value fails."""

    def validate(self, field: str) -> None:
        if not isinstance(self.value, str):
            raise ValidationError(
                {field: f"{type(self).__name__} on field {field!r} needs a string, got {self.value!r}."}
            )
        if self.value == "":
            raise ValidationError(
                {field: f"{type(self).__name__} on field {field!r} needs a value: it cannot be empty."}
            )
        _check_plain(field, type(self).__name__, self.value)

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
    """Matches strings in which the regular expression finds a match (search, not full match).

    Patterns use RE2 syntax and run on ``google-re2``, in time linear in the value's length.
    See ``compile_pattern`` for what is refused.
    """

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


class Changed(Matcher):
    """Matches when the field changed in the save that fired the event: ``Changed()``,
    ``Changed(to="paid")`` or ``Changed(from_="new", to="paid")``.

    It reads the payload's ``changed`` and ``previous``, which hooks with ``on_change`` send;
    stored as ``{"op": "changed", "value": {"from": ..., "to": ...}}`` (both keys optional).
    """

    op = "changed"
    label = "changed"

    def __init__(self, value: _T = None, *, to: _T = MISSING, from_: _T = MISSING) -> None:
        value = dict(value) if isinstance(value, Mapping) else ({} if value is None else value)
        if isinstance(value, dict):
            if from_ is not MISSING:
                value["from"] = from_
            if to is not MISSING:
                value["to"] = to
        super().__init__(value)

    def __call__(self, value: _T) -> bool:
        return False  # a change is seen on the whole payload only (``holds``)

    def holds(self, field: str, payload: Mapping[str, _T]) -> bool:
        if field not in (payload.get("changed") or ()):
            return False
        if "to" in self.value and payload.get(field, MISSING) != self.value["to"]:
            return False
        previous = payload.get("previous") or {}
        return "from" not in self.value or previous.get(field, MISSING) == self.value["from"]

    def validate(self, field: str) -> None:
        value = self.value
        if not isinstance(value, dict) or set(value) - {"from", "to"}:
            raise ValidationError({field: f"Changed on {field!r} takes only 'from' and 'to', got {value!r}."})
        for key, item in value.items():
            if isinstance(item, (dict, list, tuple, set)):
                kind = "a JSON object" if isinstance(item, dict) else "a list"
                raise ValidationError({field: f"Changed on {field!r}: {key!r} must be a plain value, got {kind}."})
            _check_plain(field, "Changed", item)

    def describe(self, field: str) -> str:
        words = f"{field} changed"
        if "from" in self.value:
            words += f" from {self.value['from']!r}"
        if "to" in self.value:
            words += f" to {self.value['to']!r}"
        return words

    def __repr__(self) -> str:
        args = ", ".join(f"{'from_' if k == 'from' else k}={v!r}" for k, v in self.value.items())
        return f"Changed({args})"


#: Bytes of memory RE2 may use for one pattern.
MAX_MEMORY = 1 << 20


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the client's error, not a log line
    # Memory per pattern (RE2's default is 8 MiB): patterns that need more are refused as too
    # large, and a DFA that would outgrow it falls back to RE2's NFA, still in linear time.
    options.max_mem = MAX_MEMORY
    return options


_OPTIONS = _re2_options()


def compile_pattern(pattern: str, field: str) -> _T:
    """Compile a client's pattern with RE2, or raise ``ValidationError`` naming ``field``.

    Refused: patterns longer than ``DURIAN_LIKE_MAX_LENGTH``; what RE2 cannot run
    (backreferences, lookaround) or finds too large; and repeated groups that can match the same
    text in many ways, such as ``(a|aa)+`` or ``(a+)*`` (see ``nested_repetition``), which
    backtracking engines (Python's ``re``, JavaScript) take exponential time on. RE2 itself
    would run those in linear time; refusing them keeps every accepted filter safe wherever
    else a client or the site evaluates it.
    """
    from ..conf import settings

    limit = int(settings.LIKE_MAX_LENGTH)
    if len(pattern) > limit:
        raise ValidationError({field: f"The pattern for {field!r} is longer than {limit} characters."})
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        hint = ""
        if any(word in reason for word in ("perl operator", "escape sequence", "repetition operator", "too large")):
            hint = (
                " Patterns run on RE2, in linear time: no backreferences, lookaround or possessive"
                " quantifiers, and a size limit."
            )
        raise ValidationError({field: f"Invalid regular expression for {field!r}: {reason}.{hint}"}) from None
    nested = nested_repetition(pattern)
    if nested:
        raise ValidationError(
            {
                field: f"The pattern for {field!r} repeats a group that can match the same text in many ways "
                f"({nested}); such patterns take exponential time in backtracking engines. Write it without "
                "nesting repetitions or overlapping alternatives, e.g. a+ for (a|aa)+ or (a+)+."
            }
        )
    return compiled


class _Group:
    """A group being scanned by ``nested_repetition``."""

    __slots__ = ("start", "risky", "firsts", "expecting", "alternates")

    def __init__(self, start: int) -> None:
        self.start = start
        self.risky = False  # holds a repetition, or alternatives that can start alike
        self.firsts: list[frozenset[str] | None] = []  # first characters of each branch; None: any
        self.expecting = True  # the next atom starts a branch
        self.alternates = False

    def first(self, chars: frozenset[str] | None) -> None:
        if self.expecting:
            self.firsts.append(chars)
            self.expecting = False

    def ambiguous(self) -> bool:
        """True when two alternatives may start with the same character (``(a|aa)``, ``(\\w|\\d)``)."""
        if not self.alternates:
            return False
        firsts = self.firsts + ([None] if self.expecting else [])  # an empty last branch
        if any(f is None for f in firsts):
            return True
        seen: set[str] = set()
        for chars in firsts:
            if seen & chars:  # type: ignore[operator]
                return True
            seen |= chars  # type: ignore[arg-type]
        return False


def nested_repetition(pattern: str) -> str | None:
    r"""The first repeated group that can match the same text in many ways, or ``None``.

    That is a group repeated with ``*``, ``+``, ``{n,}`` or ``{n,m}`` (m > 1) that itself holds a
    repetition, or alternatives that may start with the same character: ``(a+)+``, ``(a|aa)+``,
    ``(\w|\d)*``. Backtracking engines take exponential time on them. ``(foo|bar)+`` is fine.
    A structural scan, conservative where it cannot tell (a class or ``\w`` may start with
    anything); escapes and classes are skipped, so ``\(a+\)+`` and ``[(+]`` are no groups.
    """
    stack: list[_Group] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "(":
            if stack:
                stack[-1].first(None)
            prefix_end = _group_prefix_end(pattern, i)
            if prefix_end is None:  # a flags-only group such as (?i): no group at all
                i = pattern.find(")", i) + 1 or n
                continue
            stack.append(_Group(i))
            i = prefix_end
            continue
        if c == "|":
            if stack:
                group = stack[-1]
                if group.expecting:
                    group.firsts.append(None)  # an empty alternative
                group.alternates = group.expecting = True
            i += 1
            continue
        if c == ")":
            if not stack:
                i += 1
                continue
            group = stack.pop()
            risky = group.risky or group.ambiguous()
            end, repeats, _ = _quantifier(pattern, i + 1)
            if repeats and risky:
                return pattern[group.start : end]
            if stack and (risky or repeats):
                stack[-1].risky = True
            i = end
            continue
        atom_end = _atom_end(pattern, i)
        end, repeats, optional = _quantifier(pattern, atom_end)
        if stack:
            stack[-1].first(None if optional else _first_chars(pattern[i:atom_end]))
            if repeats:
                stack[-1].risky = True
        i = end
    return None


def _group_prefix_end(pattern: str, i: int) -> int | None:
    """Index of a group's first atom: past ``(``, ``(?:``, ``(?P<name>`` or ``(?i:``; ``None`` for ``(?i)``."""
    if pattern[i + 1 : i + 2] != "?":
        return i + 1
    j = i + 2
    if pattern[j : j + 2] == "P<" or pattern[j : j + 1] == "<":
        close = pattern.find(">", j)
        return close + 1 if close != -1 else len(pattern)
    while j < len(pattern) and (pattern[j].isalpha() or pattern[j] == "-"):
        j += 1
    if pattern[j : j + 1] == ")":
        return None
    return j + 1


def _first_chars(atom: str) -> frozenset[str] | None:
    """The characters an atom can start with, lower-cased; ``None`` when it could be many."""
    if atom.startswith("\\"):
        escaped = atom[1:2]
        return None if not escaped or escaped.isalnum() else frozenset(escaped)
    if len(atom) == 1 and atom not in ".^$":
        return frozenset(atom.lower())
    return None


def _atom_end(pattern: str, i: int) -> int:
    """Index just past the atom at ``i``: an escape (``\\w``, ``\\p{Greek}``), a class, or a character."""
    c = pattern[i]
    if c == "\\":
        if pattern[i + 1 : i + 2] in ("p", "P", "x") and pattern[i + 2 : i + 3] == "{":
            close = pattern.find("}", i + 3)
            return close + 1 if close != -1 else len(pattern)
        return min(i + 2, len(pattern))
    if c == "[":
        return _class_end(pattern, i)
    return i + 1


def _class_end(pattern: str, i: int) -> int:
    """Index just past the character class opening at ``i``."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        if pattern[j] == "[" and pattern[j + 1 : j + 2] == ":":  # [:alpha:]
            close = pattern.find(":]", j + 2)
            j = close + 2 if close != -1 else j + 1
            continue
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _quantifier(pattern: str, i: int) -> tuple[int, bool, bool]:
    """``(end, repeats, optional)`` of the quantifier at ``i`` (``end == i`` when there is none).

    ``repeats``: it allows more than one repetition; ``optional``: it allows none.
    """
    if i >= len(pattern):
        return i, False, False
    c = pattern[i]
    if c in "*+?":
        end = i + 1
        if end < len(pattern) and pattern[end] in "?+":  # lazy or possessive suffix
            end += 1
        return end, c != "?", c != "+"
    if c == "{":
        close = pattern.find("}", i)
        body = pattern[i + 1 : close] if close != -1 else ""
        low, comma, high = body.partition(",")
        if close != -1 and low.isdigit() and (not high or high.isdigit()):
            end = close + 1
            if end < len(pattern) and pattern[end] == "?":
                end += 1
            most = int(high) if high else (None if comma else int(low))
            return end, most is None or most > 1, int(low) == 0
    return i, False, False


def is_text_matcher(matcher: Matcher) -> bool:
    """True for the matchers on text (starts with, ends with, contains, like): they fit text fields only."""
    return isinstance(matcher, _StringMatcher)


#: How deep a listener's stored filters may nest: ``{field: {"op": ..., "value": {"from": ...}}}``.
MAX_FILTER_DEPTH = 4


def depth(value: _T, limit: int) -> int:
    """How deep ``value`` (JSON) nests, counted without recursion and only up to ``limit + 1``."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            level += 1
            deepest = max(deepest, level)
            if level > limit:
                return level
            stack.extend((child, level) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


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
    return all(m.holds(field, payload) for field, m in filters.items())


__all__ = [
    "Any",
    "Is",
    "Startswith",
    "Endswith",
    "Contains",
    "Like",
    "Changed",
    "Matcher",
    "coerce",
    "from_json",
    "filters_to_json",
    "filters_from_json",
    "matches",
    "is_text_matcher",
    "depth",
    "MAX_FILTER_DEPTH",
]
