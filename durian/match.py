"""Matchers for listener filters: ``Any``, ``Is``, ``Startswith``, ``Endswith``, ``Contains``, ``Like``.

The public home of the matchers; they are defined in ``durian.core.match`` (the pure core), so
that every layer can use them.
"""

from __future__ import annotations

from .core.match import *  # noqa: F403
from .core.match import __all__ as __all__
