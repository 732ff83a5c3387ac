"""durian: webhooks for Django.

Declare hooks (``durian.hook``), register them (``durian.registry.hooks``), let clients add
listeners with filters (``durian.match``); every matching change is POSTed to them, signed with
Standard Webhooks headers, after the transaction commits.

The public names are also available here (``from durian import ModelHook, hooks, Startswith``).
They are imported on first use, so importing ``durian`` never touches Django's app registry;
type checkers and ``dir(durian)`` see them all.
"""

from __future__ import annotations

import importlib
import typing
from typing import TYPE_CHECKING

__version__ = "0.2.0"

if TYPE_CHECKING:  # what ``__getattr__`` below imports on first use, for type checkers
    from .bulk import HookedManager as HookedManager
    from .bulk import HookedQuerySet as HookedQuerySet
    from .core.event import Event as Event
    from .core.match import Any as Any
    from .core.match import Changed as Changed
    from .core.match import Contains as Contains
    from .core.match import Endswith as Endswith
    from .core.match import Is as Is
    from .core.match import Like as Like
    from .core.match import Startswith as Startswith
    from .exceptions import DurianError as DurianError
    from .exceptions import HookError as HookError
    from .exceptions import InvalidWebhook as InvalidWebhook
    from .exceptions import PayloadError as PayloadError
    from .exceptions import RefusedURL as RefusedURL
    from .hook import Hook as Hook
    from .hook import ModelHook as ModelHook
    from .registry import hooks as hooks
    from .signals import listener_disabled as listener_disabled

_EXPORTS = {
    "Hook": "durian.hook",
    "ModelHook": "durian.hook",
    "hooks": "durian.registry",
    "Any": "durian.match",
    "Is": "durian.match",
    "Startswith": "durian.match",
    "Endswith": "durian.match",
    "Contains": "durian.match",
    "Like": "durian.match",
    "Changed": "durian.match",
    "HookedManager": "durian.bulk",
    "HookedQuerySet": "durian.bulk",
    "Event": "durian.core.event",
    "listener_disabled": "durian.signals",
    "DurianError": "durian.exceptions",
    "HookError": "durian.exceptions",
    "PayloadError": "durian.exceptions",
    "RefusedURL": "durian.exceptions",
    "InvalidWebhook": "durian.exceptions",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'durian' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
