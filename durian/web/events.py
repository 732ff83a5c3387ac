"""The event catalog: every registered hook with its description, its fields and their types
(the select-event page), and each hook's JSON Schema (``events/<hook>/schema.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from ..core.schema import body_schema, type_label
from ..hook import Hook
from ..registry import hooks
from . import access


@dataclass(frozen=True)
class CatalogEntry:
    """A hook as the select-event page shows it: its fields with their types."""

    hook: Hook
    fields: list[tuple[str, str]]


def catalog_entry(hook: Hook) -> CatalogEntry:
    """The fields of ``hook``'s payload schema, with a short word for each type."""
    properties: dict[str, Any] = hook.schema().get("properties", {})
    return CatalogEntry(hook, [(name, type_label(prop)) for name, prop in properties.items()])


@login_required
def select_event(request: HttpRequest) -> HttpResponse:
    access.require(request.user, "add")
    return TemplateResponse(request, "durian/hook_list.html", {"entries": [catalog_entry(h) for h in hooks]})


@login_required
def event_schema(request: HttpRequest, hook: str) -> HttpResponse:
    """The JSON Schema (draft 2020-12) of one hook's payload; with ``?listener=<id>``, of the body that
    listener receives (its fields only, in its payload format)."""
    found = hooks.get(hook)
    if found is None:
        raise Http404(f"No hook named {hook!r}.")
    schema = found.schema()
    wanted = request.GET.get("listener")
    if wanted is not None:
        if not wanted.isdigit():
            raise Http404("No such listener.")
        listener = access.listener(request.user, int(wanted), "view")
        if listener.hook != found.name:
            raise Http404("That listener is not one of this event's.")
        schema = body_schema(schema, listener.payload_format, listener.fields)
    return JsonResponse(schema, json_dumps_params={"indent": 2})
