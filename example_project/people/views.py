"""The receiving side: a view that checks the Standard Webhooks signature, stores and logs the payload."""

import json
import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from durian.models import Listener
from durian.receiver import webhook_view

from .models import Received

logger = logging.getLogger("example_project.receiver")


def sender_secrets(request: HttpRequest) -> list[str]:
    """The secrets of the listener that sent this webhook.

    A site receiving from another sender configures that sender's secret instead; this example
    receives its own webhooks, so it finds the listener by the id at the end of ``webhook-id``
    (``msg_<event>_<listener>``). No listener, no secret: the request is refused.
    """
    listener_id = request.headers.get("webhook-id", "").rpartition("_")[2]
    listener = Listener.objects.filter(pk=listener_id).first() if listener_id.isdigit() else None
    return listener.secrets() if listener else []


@webhook_view(secret=sender_secrets)
def receive(request: HttpRequest) -> HttpResponse:
    webhook_id = request.headers["webhook-id"]
    Received.objects.get_or_create(webhook_id=webhook_id, defaults={"body": request.webhook})
    logger.info("received %s: %s", webhook_id, request.webhook)
    return HttpResponse(status=204)


@csrf_exempt
def receiver(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse("POST webhooks here.\n", content_type="text/plain")
    return receive(request)


def home(request: HttpRequest) -> HttpResponse:
    """A plain page: links, and the last webhooks the receiver got."""
    from django.template.response import TemplateResponse

    from durian.registry import hooks

    received = list(Received.objects.all()[:20])
    for r in received:
        r.body_json = json.dumps(r.body, ensure_ascii=False)  # shown as JSON, as the receiver got it
    return TemplateResponse(request, "home.html", {"received": received, "hooks": list(hooks)})
