"""Bulk writes that fire hooks: ``HookedManager`` and ``HookedQuerySet``.

Django sends no signal for ``QuerySet.update()``, ``bulk_create()`` and ``bulk_update()``, so
plain managers fire no hook for them. With ``objects = HookedManager()`` (or
``HookedQuerySet.as_manager()``, or a custom manager built on ``HookedQuerySet``):

- ``update()`` and ``bulk_update()`` fire the model's ``post_save`` hooks as saves of existing
  rows (``created: false``, honouring ``on_change``);
- ``bulk_create()`` fires them as creates;
- ``delete()`` fires the ``post_delete`` hooks, with each deleted row's payload.

Each call writes its events to the outbox once and reaches Redis in the transaction's one
pipelined round trip at commit, whatever the number of rows. ``update()`` reads the affected
rows twice (before, for ``on_change``, and after); with no hook on the model every method is
Django's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import models, transaction
from django.db.models import signals

from .core import changes
from .hook import ModelHook, hooks_of
from .pipeline import dispatch


def _attnames(hooks: Sequence[ModelHook]) -> list[str]:
    """Every attname a hook reads or watches."""
    names: dict[str, None] = {}
    for hook in hooks:
        names.update((field.attname, None) for field in hook.model_fields().values())
        names.update((attname, None) for attname in hook.watched_attnames)
    return list(names)


def _fire(
    hooks: Sequence[ModelHook],
    rows: Iterable[models.Model],
    using: str,
    created: bool,
    before: Mapping[Any, Mapping[str, Any]] | None = None,
) -> None:
    """Emit each hook's event for each row (``before``: old values by primary key)."""
    attnames = _attnames(hooks)
    for row in rows:
        old = None if before is None else changes.differences(before.get(row.pk, {}), row.__dict__, attnames)
        for hook in hooks:
            data = hook.build_payload(row, created=created, before=old)
            if data is not None:
                hook.emit(data, using=using, row=row.pk)


class HookedQuerySet(models.QuerySet):
    """A queryset whose bulk writes fire the model's hooks (see the module docstring)."""

    def _hooks(self, signal: Any) -> list[ModelHook]:
        return hooks_of(self.model, signal)

    def _by_pk(self, pks: list[Any]) -> dict[Any, models.Model]:
        return self.model._base_manager.using(self.db).in_bulk(pks)

    def update(self, **kwargs: Any) -> int:
        """``QuerySet.update``, firing ``post_save`` hooks for every updated row."""
        hooks = self._hooks(signals.post_save)
        if not hooks:
            return super().update(**kwargs)
        watch = any(hook.reports_changes for hook in hooks)
        with transaction.atomic(using=self.db, savepoint=False), dispatch.collecting():
            if watch:
                before: dict[Any, Any] | None = {row["pk"]: row for row in self.values("pk", *_attnames(hooks))}
                pks = list(before or ())
            else:
                before, pks = None, list(self.values_list("pk", flat=True))
            count = super().update(**kwargs)
            _fire(hooks, self._by_pk(pks).values(), self.db, created=False, before=before)
        return count

    def bulk_update(self, objs: Iterable[models.Model], fields: Sequence[str], batch_size: int | None = None) -> int:
        """``QuerySet.bulk_update``, firing ``post_save`` hooks for every object."""
        hooks = self._hooks(signals.post_save)
        if not hooks:
            return super().bulk_update(objs, fields, batch_size=batch_size)
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False), dispatch.collecting():
            before = None
            if any(hook.reports_changes for hook in hooks):
                before = {pk: row.__dict__ for pk, row in self._by_pk([o.pk for o in objs]).items()}
            # Django's bulk_update runs ``update()`` on batches: a plain queryset, not to fire twice.
            count = models.QuerySet(self.model, using=self.db).bulk_update(objs, fields, batch_size=batch_size)
            _fire(hooks, objs, self.db, created=False, before=before)
        return count

    def bulk_create(self, objs: Iterable[models.Model], *args: Any, **kwargs: Any) -> list[models.Model]:
        """``QuerySet.bulk_create``, firing ``post_save`` hooks for every object, as creates."""
        hooks = self._hooks(signals.post_save)
        if not hooks:
            return super().bulk_create(objs, *args, **kwargs)
        with transaction.atomic(using=self.db, savepoint=False), dispatch.collecting():
            created = super().bulk_create(objs, *args, **kwargs)
            _fire(hooks, created, self.db, created=True)
        return created

    def delete(self) -> tuple[int, dict[str, int]]:
        """``QuerySet.delete``: Django sends ``post_delete`` for each row to the hooks; their
        events leave in one outbox write and one round trip."""
        if not self._hooks(signals.post_delete):
            return super().delete()
        with transaction.atomic(using=self.db, savepoint=False), dispatch.collecting():
            return super().delete()

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class HookedManager(models.Manager.from_queryset(HookedQuerySet)):  # type: ignore[misc]
    """A manager whose bulk writes fire the model's hooks: ``objects = HookedManager()``."""
