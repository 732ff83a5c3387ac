"""Change tracking: the values a row had when it was loaded, for hooks with ``on_change``.

Only models whose hooks ask for it are tracked (``track``). Each instance of such a model costs
one step when it is built (``post_init``): a shallow copy of its ``__dict__``. On save the tracked
values are compared with the saved ones (``pre_save``), and the copy is renewed after the save
(``post_save``), so the next save compares with what the last one wrote.

A field absent from the copy (deferred by ``only()``/``defer()``) counts as unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models
from django.db.models import signals

#: Where an instance keeps its values as loaded, and the changes of the save in progress.
LOADED = "_durian_loaded"
CHANGES = "_durian_changes"

_tracked: dict[type[models.Model], int] = {}


def _remember(sender: Any, instance: models.Model, **kwargs: Any) -> None:
    instance.__dict__[LOADED] = instance.__dict__.copy()


def _compare(sender: Any, instance: models.Model, **kwargs: Any) -> None:
    state = instance.__dict__
    if instance._state.adding:
        state[CHANGES] = None
        return
    loaded = state.get(LOADED) or {}
    state[CHANGES] = differences(loaded, state, [name for name in loaded if not name.startswith("_")])


def _renew(sender: Any, instance: models.Model, **kwargs: Any) -> None:
    state = instance.__dict__
    loaded = state.copy()
    loaded.pop(LOADED, None)
    loaded.pop(CHANGES, None)
    state[LOADED] = loaded


def _uid(model: type[models.Model], what: str) -> str:
    return f"durian:changes:{what}:{model._meta.label}"


def track(model: type[models.Model]) -> None:
    """Start remembering loaded values of ``model`` (counted: one per hook that asks)."""
    _tracked[model] = _tracked.get(model, 0) + 1
    if _tracked[model] == 1:
        signals.post_init.connect(_remember, sender=model, weak=False, dispatch_uid=_uid(model, "init"))
        signals.pre_save.connect(_compare, sender=model, weak=False, dispatch_uid=_uid(model, "pre"))
        signals.post_save.connect(_renew, sender=model, weak=False, dispatch_uid=_uid(model, "post"))


def untrack(model: type[models.Model]) -> None:
    """Undo one ``track``; the last one stops the tracking."""
    count = _tracked.get(model, 0) - 1
    if count > 0:
        _tracked[model] = count
        return
    _tracked.pop(model, None)
    signals.post_init.disconnect(sender=model, dispatch_uid=_uid(model, "init"))
    signals.pre_save.disconnect(sender=model, dispatch_uid=_uid(model, "pre"))
    signals.post_save.disconnect(sender=model, dispatch_uid=_uid(model, "post"))


def saved_changes(instance: models.Model) -> Mapping[str, Any] | None:
    """``{attname: value before}`` of the tracked fields the save in progress changes; ``None``
    for a create, or when the instance was not tracked (then every save counts as a change)."""
    state = instance.__dict__
    if CHANGES not in state:
        return None
    return state[CHANGES]


def differences(before: Mapping[str, Any], after: Mapping[str, Any], attnames: Iterable[str]) -> dict[str, Any]:
    """``{attname: value before}`` of ``attnames`` whose value differs (absent before: unchanged)."""
    return {a: before[a] for a in attnames if a in before and a in after and before[a] != after[a]}
