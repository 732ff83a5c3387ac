"""A listener's deliveries and dead letters, and retrying a dead letter."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from ..core.recipients import awaits_validation
from ..models import DeadLetter
from ..pipeline.resend import resend
from . import access, disclosure, throttle
from .actions import unvalidated
from .feedback import tell
from .listeners import HEALTH_WINDOW_HOURS, with_health
from .replay import ReplayForm

PER_PAGE = 25


@login_required
def delivery_list(request: HttpRequest, pk: int) -> HttpResponse:
    listener = access.listener(request.user, pk, "view")
    with_health([listener], request.user)  # the same badge and figures as on the list
    deliveries = Paginator(listener.deliveries.order_by("-created_at", "-id"), PER_PAGE)
    letters = Paginator(listener.dead_letters.order_by("-created_at", "-id"), PER_PAGE)
    delivery_page = deliveries.get_page(request.GET.get("page"))
    letter_page = letters.get_page(request.GET.get("dead_page"))
    if disclosure.status_only(request.user, listener):  # an internal receiver: its status only
        for d in delivery_page:
            d.error = disclosure.error_text(d.error, hidden=True)
        for letter in letter_page:
            letter.last_error = disclosure.error_text(letter.last_error, hidden=True)
            letter.response_excerpt = ""
    context = {
        "listener": listener,
        "health_window_hours": HEALTH_WINDOW_HOURS,
        "deliveries": delivery_page,
        "dead_letters": letter_page,
        "keep_dead_page": f"&dead_page={letter_page.number}",
        "keep_page": f"&page={delivery_page.number}",
        "can_retry": access.can(request.user, "change"),
        "replay_form": ReplayForm(),
        "show_owner": access.sees_all(request.user, "view"),
    }
    return TemplateResponse(request, "durian/delivery_list.html", context)


@login_required
@require_POST
def retry_dead_letter(request: HttpRequest, pk: int, letter_pk: int) -> HttpResponse:
    listener = access.listener(request.user, pk, "change")
    letter = get_object_or_404(listener.dead_letters.select_related("listener"), pk=letter_pk)
    if letter.status == DeadLetter.Status.DELIVERED:
        tell(request, "That dead letter was already delivered.", messages.INFO)
    elif awaits_validation(listener.url_validated):
        tell(request, unvalidated(listener), messages.ERROR)
    elif not throttle.allow(request.user):
        tell(request, throttle.TOO_MANY, messages.ERROR)
    else:
        delivered, _ = resend([letter])
        if delivered:
            tell(request, f"Dead letter {letter.webhook_id} delivered (HTTP {letter.last_status_code}).")
        else:
            hidden = disclosure.status_only(request.user, listener)
            error = disclosure.error_text(letter.last_error, hidden)
            tell(request, f"Dead letter {letter.webhook_id} failed again: {error}", messages.ERROR)
    return redirect("durian:listener-deliveries", pk=listener.pk)
