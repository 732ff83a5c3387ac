"""Replaying a listener's past events from its page (the API's ``replay`` action uses the same rules).

The window follows ``manage.py durian_replay`` (``durian.management.timespec.replay_window``):
``since`` is required, ``until`` defaults to now, each an ISO date/time or a duration ago (``2h``),
and the start may not be in the future nor after the end. Only this listener's deliveries are
queued, to the events it matches now; they keep their ``webhook-id``. A replay counts against the
user's budget of test events and retries (``durian.web.throttle``): it reaches out to the receiver.
"""

from __future__ import annotations

import datetime

import redis
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from ..management.timespec import WindowError, replay_window
from ..models import Listener
from ..pipeline.replay import ReplaySummary, replay
from ..storage.connection import get_redis
from . import access, throttle
from .feedback import tell

#: The longest ``since`` or ``until`` accepted (characters).
MOMENT_MAX_LENGTH = 64
WINDOW_HELP = "An ISO date/time (2026-11-24T08:00) or a duration ago: 30min, 12h, 7d."


class ReplayForm(forms.Form):
    """The window to replay; ``cleaned_data["window"]`` is ``(since, until)`` once valid."""

    since = forms.CharField(max_length=MOMENT_MAX_LENGTH, help_text=WINDOW_HELP, initial="1h")
    until = forms.CharField(max_length=MOMENT_MAX_LENGTH, required=False, help_text="The same; empty: now.")

    def clean(self) -> dict:
        data = super().clean()
        if "since" in data and "until" in data:
            try:
                data["window"] = replay_window(data["since"], data["until"])
            except WindowError as exc:
                self.add_error(exc.field, str(exc))
        return data


def replay_listener(
    listener: Listener, since: datetime.datetime, until: datetime.datetime, dry_run: bool = False
) -> ReplaySummary:
    """Queue again ``listener``'s deliveries of the events between ``since`` and ``until``.

    Raises ``redis.RedisError`` when Redis cannot be reached.
    """
    return replay(get_redis("request"), since, until, hook=listener.hook, listener_id=listener.pk, dry_run=dry_run)


@login_required
@require_POST
def replay_view(request: HttpRequest, pk: int) -> HttpResponse:
    listener = access.listener(request.user, pk, "change")
    form = ReplayForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        tell(request, f"Nothing replayed. {problems}", messages.ERROR)
    elif not throttle.allow(request.user):
        tell(request, throttle.TOO_MANY, messages.ERROR)
    else:
        since, until = form.cleaned_data["window"]
        try:
            summary = replay_listener(listener, since, until)
        except redis.RedisError:
            tell(request, "Nothing replayed: the event stream cannot be reached now. Try again later.", messages.ERROR)
        else:
            tell(request, f"Replay of listener {listener.pk}: " + "; ".join(summary.lines()) + ".")
    return redirect("durian:listener-deliveries", pk=listener.pk)
