"""Change tracking: the values a row had when it was loaded, for hooks with ``on_change``.

Only models whose hooks ask for it are tracked (``track``). Each instance such a model loads from
the database costs one step: a shallow copy of its ``__dict__``, taken in ``Model.from_db`` (the
hook Django documents for keeping loaded values). On save the tracked values are compared with the
saved ones (``pre_save``), and the copy is renewed after the save (``post_save``), so the next save
compares with what the last one wrote.

A field absent from the copy (deferred by ``only()``/``defer()``) counts as unchanged. An instance
built by hand for an existing row (``Order(pk=1, ...).save()``) has no copy: its save counts as a
change, with nothing known to have changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models
from django.db.models import signals

#: Where an instance keeps its values as loaded, and the changes of the save in progress.
LOADED = "_durian_loaded"
CHANGES = "_durian_changes"

#: Tracked models: how many hooks asked, and the ``from_db`` the model had of its own.
_tracked: dict[type[models.Model], tuple[int, Any]] = {}
_NONE = object()


def _tracking_from_db(original: Any) -> Any:
    def from_db(cls: type[models.Model], db: str, field_names: Any, values: Any) -> models.Model:
        instance = original(cls, db, field_names, values)
        instance.__dict__[LOADED] = instance.__dict__.copy()
        return instance

    return classmethod(from_db)


def _compare(sender: Any, instance: models.Model, **kwargs: Any) -> None:
    state = instance.__dict__
    loaded = state.get(LOADED)
    if instance._state.adding or loaded is None:
        state[CHANGES] = None
        return
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
    count, own = _tracked.get(model, (0, _NONE))
    if count == 0:
        own = model.__dict__.get("from_db", _NONE)
        model.from_db = _tracking_from_db(model.from_db.__func__)  # type: ignore[method-assign,attr-defined]
        signals.pre_save.connect(_compare, sender=model, weak=False, dispatch_uid=_uid(model, "pre"))
        signals.post_save.connect(_renew, sender=model, weak=False, dispatch_uid=_uid(model, "post"))
    _tracked[model] = (count + 1, own)


def untrack(model: type[models.Model]) -> None:
    """Undo one ``track``; the last one stops the tracking."""
    count, own = _tracked.get(model, (0, _NONE))
    if count > 1:
        _tracked[model] = (count - 1, own)
        return
    _tracked.pop(model, None)
    if own is _NONE:
        if "from_db" in model.__dict__:
            del model.from_db
    else:
        model.from_db = own  # type: ignore[method-assign]
    signals.pre_save.disconnect(sender=model, dispatch_uid=_uid(model, "pre"))
    signals.post_save.disconnect(sender=model, dispatch_uid=_uid(model, "post"))


def saved_changes(instance: models.Model) -> Mapping[str, Any] | None:
    """``{attname: value before}`` of the tracked fields the save in progress changes; ``None``
    for a create, or when nothing was remembered (then every save counts as a change)."""
    state = instance.__dict__
    if CHANGES not in state:
        return None
    return state[CHANGES]


def differences(before: Mapping[str, Any], after: Mapping[str, Any], attnames: Iterable[str]) -> dict[str, Any]:
    """``{attname: value before}`` of ``attnames`` whose value differs (absent before: unchanged)."""
    return {a: before[a] for a in attnames if a in before and a in after and before[a] != after[a]}
