"""The receiving side: a view that reads the JSON body, checks the signature and logs it."""

import json
import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from .models import Received

logger = logging.getLogger("example_project.receiver")


@csrf_exempt
def receiver(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse("POST webhooks here.\n", content_type="text/plain")
    payload = json.loads(request.body)
    webhook_id = request.headers.get("webhook-id", "")
    Received.objects.get_or_create(webhook_id=webhook_id, defaults={"body": payload})
    logger.info("received %s: %s", webhook_id, payload)
    return HttpResponse(status=204)


def home(request: HttpRequest) -> HttpResponse:
    """A plain page: links, and the last webhooks the receiver got."""
    from django.template.response import TemplateResponse

    from durian.registry import hooks

    return TemplateResponse(request, "home.html", {"received": Received.objects.all()[:20], "hooks": list(hooks)})
