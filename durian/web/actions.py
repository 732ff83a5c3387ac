"""One-click actions on a listener (POST only): pause, resume, rotate the secret, send a test event,
validate its endpoint."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from ..conf import settings
from ..core.recipients import awaits_validation
from ..models import Listener
from ..pipeline import validation
from ..registry import hooks
from ..storage.connection import get_redis
from . import access, disclosure, throttle
from .feedback import tell
from .listeners import reveal_secret_once
from .listing import back_to_list
from .sample import send_test_event


@login_required
@require_POST
def pause(request: HttpRequest, pk: int) -> HttpResponse:
    listener = access.listener(request.user, pk, "change")
    listener.pause()
    tell(request, f"Listener {listener.pk} paused: it receives nothing until you resume it.")
    return redirect(back_to_list(request, listener))


@login_required
@require_POST
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    listener = access.listener(request.user, pk, "change")
    listener.enable()
    tell(request, f"Listener {listener.pk} is active again.")
    return redirect(back_to_list(request, listener))


@login_required
@require_POST
def rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    listener = access.listener(request.user, pk, "change")
    listener.rotate_secret()
    return reveal_secret_once(request, listener)


@login_required
@require_POST
def send_test(request: HttpRequest, pk: int) -> HttpResponse:
    listener = access.listener(request.user, pk, "change")
    if listener.hook not in hooks:
        tell(
            request, f"Listener {listener.pk}'s event no longer exists on this site: nothing was sent.", messages.ERROR
        )
        return redirect("durian:listener-list")
    if awaits_validation(listener.url_validated):
        tell(request, unvalidated(listener), messages.ERROR)
        return redirect("durian:listener-list")
    if not throttle.allow(request.user):
        tell(request, throttle.TOO_MANY, messages.ERROR)
        return redirect("durian:listener-list")
    event, outcome = send_test_event(listener)
    # Inside DURIAN_ALLOWED_NETWORKS a receiver may be an internal page: clients see only its status.
    internal = disclosure.status_only(request.user, listener)
    context = {
        "listener": listener,
        "outcome": outcome,
        "show_detail": not internal,
        "elapsed_ms": round(outcome.elapsed * 1000),
        "webhook_id": event.webhook_id(listener.pk),
        "payload_json": json.dumps(event.payload, indent=2, ensure_ascii=False),
    }
    return TemplateResponse(request, "durian/test_result.html", context)


#: What the pages and the API answer when endpoint validation is off.
VALIDATION_OFF = "Endpoint validation is off on this site (DURIAN_VERIFY_ENDPOINTS): every listener gets its events."


def unvalidated(listener: Listener) -> str:
    """Why nothing is sent to ``listener``'s endpoint now: no test event, no re-sent dead letter."""
    return (
        f"Listener {listener.pk}'s endpoint is not validated yet: nothing is sent to it (no test event, "
        "no re-sent dead letter) until it answers the validation request. Validate it first."
    )


def validate_now(listener: Listener) -> Listener:
    """Make the validation handshake with ``listener``'s URL now, bounded by ``DURIAN_TEST_SEND_TIMEOUT``
    (the request waits for it); returns the listener as saved after it. Pages and API share it."""
    validation.run(listener.pk, force=True, total=float(settings.TEST_SEND_TIMEOUT), client=get_redis("request"))
    listener.refresh_from_db()
    return listener


@login_required
@require_POST
def validate(request: HttpRequest, pk: int) -> HttpResponse:
    listener = access.listener(request.user, pk, "change")
    if not settings.VERIFY_ENDPOINTS:
        tell(request, VALIDATION_OFF, messages.ERROR)
        return redirect(back_to_list(request, listener))
    if not throttle.allow(request.user):
        tell(request, throttle.TOO_MANY, messages.ERROR)
        return redirect(back_to_list(request, listener))
    listener = validate_now(listener)
    if listener.validation_state == "validated" and not listener.validation_error:
        tell(request, f"Listener {listener.pk}'s endpoint is validated: it gets its events.")
    else:
        error = disclosure.error_text(listener.validation_error, hidden=disclosure.status_only(request.user, listener))
        tell(request, f"Listener {listener.pk}'s endpoint did not agree: {error}.", messages.ERROR)
    return redirect(back_to_list(request, listener))
