"""The hook registry: ``durian.registry.hooks``.

The registry knows hooks only by what it calls on them (``HookLike``), so it sits below the
declarations in ``durian.hook`` and everything can look hooks up without importing them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable

from .exceptions import HookError

if TYPE_CHECKING:
    from .hook import Hook


@runtime_checkable
class HookLike(Protocol):
    """What the registry needs of a hook (``durian.hook.Hook`` provides it)."""

    name: str
    provides_args: Sequence[str]

    def validate(self) -> None: ...
    def validate_filters(self, filters: Any) -> None: ...
    def connect(self) -> None: ...
    def disconnect(self) -> None: ...


H = TypeVar("H")  # a hook class or instance: ``register`` returns what it was given


class HookRegistry:
    """Registered hooks by name. ``hooks["person"]``, ``"person" in hooks`` and iteration work."""

    def __init__(self) -> None:
        self._hooks: dict[str, Hook] = {}

    def register(self, hook: H) -> H:
        """Register a hook class or instance; returns it, so it also works as a class decorator."""
        instance = hook() if isinstance(hook, type) else hook
        if not isinstance(instance, HookLike):
            raise HookError(f"{hook!r} is not a durian Hook.")
        instance.validate()
        existing = self._hooks.get(instance.name)
        if existing is not None:
            raise HookError(
                f"Hook {instance.name!r} ({type(instance).__name__}) is already registered "
                f"by {type(existing).__module__}.{type(existing).__name__}."
            )
        self._hooks[instance.name] = cast("Hook", instance)
        instance.connect()
        return hook

    def unregister(self, hook: Hook | type[Hook] | str) -> None:
        """Remove a hook (given by name, class or instance) and disconnect its signal."""
        name = hook if isinstance(hook, str) else hook.name
        instance = self._hooks.pop(name, None)
        if instance is None:
            raise HookError(f"No hook named {name!r} is registered.")
        instance.disconnect()

    def get(self, name: str) -> Hook | None:
        """The hook named ``name``, or ``None``."""
        return self._hooks.get(name)

    def __getitem__(self, name: str) -> Hook:
        try:
            return self._hooks[name]
        except KeyError:
            raise KeyError(f"No hook named {name!r} is registered.") from None

    def __contains__(self, name: object) -> bool:
        return name in self._hooks

    def __iter__(self) -> Iterator[Hook]:
        return iter(sorted(self._hooks.values(), key=lambda h: h.name))

    def __len__(self) -> int:
        return len(self._hooks)


hooks = HookRegistry()
