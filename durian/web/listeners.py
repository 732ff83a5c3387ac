"""Listeners: the list, create, edit, delete, and showing a new signing secret once."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from ..conf import settings
from ..models import Backfill, Listener
from ..registry import hooks
from ..storage import circuit, ordered, stats
from ..transport.handshake import webhook_origin
from . import access, disclosure
from .feedback import tell
from .forms import ListenerForm
from .listing import ListQuery

#: Session key holding the id of the listener whose secret the next page may show, once.
REVEAL_KEY = "durian_reveal_secret"
PER_PAGE = 20
#: The listener cards' success rate covers this many hours.
HEALTH_WINDOW_HOURS = 24


def reveal_secret_once(request: HttpRequest, listener: Listener) -> HttpResponse:
    """Redirect to the page that shows ``listener``'s secret; it shows it this one time only."""
    request.session[REVEAL_KEY] = listener.pk
    return redirect("durian:listener-secret", pk=listener.pk)


@login_required
def listener_list(request: HttpRequest) -> HttpResponse:
    """The user's listeners: a compact table on wide screens, cards on phones; searched, filtered, paged."""
    user = request.user
    query = ListQuery.of(request.GET)
    queryset = query.apply(access.listeners(user, "view")).order_by("hook", "id")
    page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))
    listeners = with_health(list(page.object_list), user)
    context = {
        "page": page,
        "listeners": listeners,
        "query": query,
        "states": Listener.State.choices,
        "keep": query.keep(),
        "back": request.GET.urlencode(),  # posted back by pause and resume: the user returns here
        "health_window_hours": HEALTH_WINDOW_HOURS,
        "show_owner": access.sees_all(user, "view"),
        "can_add": access.can(user, "add"),
        "can_change": access.can(user, "change"),
        "can_delete": access.can(user, "delete"),
    }
    return TemplateResponse(request, "durian/listener_list.html", context)


def with_health(listeners: list[Listener], user: Any = None) -> list[Listener]:
    """``listeners``, each given what the pages show of its health (the same badge on every page) and,
    with ``DURIAN_VERIFY_ENDPOINTS`` on, of its endpoint validation (the error as ``user`` may see it)."""
    verifying = bool(settings.VERIFY_ENDPOINTS)
    circuits = circuit.describe(x.pk for x in listeners)
    backlogs = ordered.waiting_many([x.pk for x in listeners if x.ordered])
    since = timezone.now() - datetime.timedelta(hours=HEALTH_WINDOW_HOURS)
    figures = stats.for_listeners(listeners, since)
    backfills = {b.listener_id: b for b in Backfill.objects.filter(listener__in=[x.pk for x in listeners])}
    for x in listeners:
        x.backfill_text = backfills[x.pk].describe() if x.pk in backfills else ""  # its progress
        x.circuit_text = circuits.get(x.pk, "")
        x.backlog = backlogs.get(x.pk)  # an ordered listener's deliveries waiting their turn
        x.health = figures[x.pk]  # the success rate, dead letters and badge
        x.hook_gone = x.hook not in hooks
        x.verifying = verifying
        if verifying and x.validation_error:  # an internal receiver's answer: its status only
            x.validation_error_shown = disclosure.error_text(
                x.validation_error, hidden=user is not None and disclosure.status_only(user, x)
            )
    return listeners


@login_required
@require_http_methods(["GET", "POST"])
def listener_create(request: HttpRequest, hook: str) -> HttpResponse:
    access.require(request.user, "add")
    the_hook = hooks.get(hook)
    if the_hook is None:
        raise Http404("No such event.")
    form = ListenerForm(request.POST if request.method == "POST" else None, hook=the_hook, owner=request.user)
    if request.method == "POST" and form.is_valid():
        listener = form.save(owner=request.user)
        return reveal_secret_once(request, listener)
    return TemplateResponse(request, "durian/listener_form.html", {"form": form, "hook": the_hook, "listener": None})


@login_required
@require_http_methods(["GET", "POST"])
def listener_edit(request: HttpRequest, pk: int) -> HttpResponse:
    listener = access.listener(request.user, pk, "change")
    the_hook = hooks.get(listener.hook)  # None: the hook is gone; its URL and description stay editable
    form = ListenerForm(request.POST if request.method == "POST" else None, hook=the_hook, instance=listener)
    if request.method == "POST" and form.is_valid():
        form.save()
        tell(request, f"Listener {listener.pk} saved.")
        return redirect("durian:listener-list")
    return TemplateResponse(
        request, "durian/listener_form.html", {"form": form, "hook": the_hook, "listener": listener}
    )


@never_cache
@login_required
def listener_secret(request: HttpRequest, pk: int) -> HttpResponse:
    listener = access.listener(request.user, pk, "view")
    shown = request.session.get(REVEAL_KEY) == listener.pk
    context = {"listener": listener, "shown": shown}
    if shown:
        del request.session[REVEAL_KEY]
        context["secret"] = listener.secret  # opened: shown to its owner this once
        sealed = listener.sealed_secrets()
        context["previous_until"] = listener.previous_secret_expires_at if len(sealed) > 1 else None
        context["verifying"] = bool(settings.VERIFY_ENDPOINTS) and not listener.url_validated
        context["origin"] = webhook_origin() if context["verifying"] else ""
    return TemplateResponse(request, "durian/listener_secret.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def listener_delete(request: HttpRequest, pk: int) -> HttpResponse:
    listener = access.listener(request.user, pk, "delete")
    if request.method == "POST":
        text = f"Listener {listener.pk} ({listener.display_url}) deleted."
        listener.delete()
        tell(request, text)
        return redirect("durian:listener-list")
    return TemplateResponse(request, "durian/listener_confirm_delete.html", {"listener": listener})
