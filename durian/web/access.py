"""Who may see and touch which listeners, for the web pages.

The model permissions gate each action: ``view`` (or ``change``, as in Django's admin), ``add``,
``change`` and ``delete`` of ``durian.listener``. A user works on the listeners they own. Staff
(``is_staff``) who hold the permission work on every listener. A listener outside a user's reach
does not exist for them: lookups answer 404, whether the id exists or not.
"""

from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from ..models import Listener

Action = Literal["view", "add", "change", "delete"]


def can(user: Any, action: Action) -> bool:
    """True when ``user`` holds the model permission for ``action`` (``change`` implies ``view``)."""
    if not (user.is_authenticated and user.is_active):
        return False
    if action == "view":
        return user.has_perm("durian.view_listener") or user.has_perm("durian.change_listener")
    return user.has_perm(f"durian.{action}_listener")


def sees_all(user: Any, action: Action) -> bool:
    """True when ``user`` may act on every listener: staff holding the permission."""
    return bool(user.is_staff) and can(user, action)


def require(user: Any, action: Action) -> None:
    """Raise ``PermissionDenied`` (403, no details) unless ``user`` holds the permission."""
    if not can(user, action):
        raise PermissionDenied


def listeners(user: Any, action: Action) -> QuerySet[Listener]:
    """The listeners ``user`` may act on: their own, or every one for staff with the permission."""
    require(user, action)
    queryset = Listener.objects.select_related("owner")
    return queryset if sees_all(user, action) else queryset.filter(owner=user)


def listener(user: Any, pk: int, action: Action) -> Listener:
    """The listener ``pk`` if ``user`` may act on it; 404 otherwise (403 without the permission)."""
    return get_object_or_404(listeners(user, action), pk=pk)
