"""Select an event: every registered hook with its description and the fields it provides."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from ..registry import hooks
from . import access


@login_required
def select_event(request: HttpRequest) -> HttpResponse:
    access.require(request.user, "add")
    return TemplateResponse(request, "durian/hook_list.html", {"hooks": list(hooks)})
