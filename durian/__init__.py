"""durian: webhooks for Django.

Declare hooks (``durian.hook``), register them (``durian.registry.hooks``), let clients add
listeners with filters (``durian.match``); every matching change is POSTed to them, signed with
Standard Webhooks headers, after the transaction commits.

The public names are also available here (``from durian import ModelHook, hooks, Startswith``);
they are imported on first use, so importing ``durian`` never touches Django's app registry.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

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
    "Event": "durian.event",
    "DurianError": "durian.exceptions",
    "HookError": "durian.exceptions",
    "PayloadError": "durian.exceptions",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'durian' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
