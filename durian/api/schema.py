"""How the API documents its responses: every status code an operation can answer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers

from .. import __version__
from ..models import Listener

#: What the OpenAPI document says about itself (drf-spectacular's ``TITLE``, ``VERSION``, ``DESCRIPTION``).
DOCUMENT: dict[str, Any] = {
    "TITLE": "durian webhooks API",
    "VERSION": __version__,
    "DESCRIPTION": (
        "Webhooks for Django (django-durian): the event catalog, listeners with filters, their "
        "deliveries and dead letters. Authenticate with `Authorization: Token <key>`."
    ),
    # Two fields are named ``state`` (a listener's, and its endpoint validation's): name both enums.
    "ENUM_NAME_OVERRIDES": {
        "StateEnum": Listener.State.values,
        "ValidationStateEnum": ["pending", "failed", "validated"],
    },
}


class Detail(serializers.Serializer):
    """An error with a message: ``{"detail": "Not found."}``."""

    detail = serializers.CharField()


INVALID = OpenApiResponse(OpenApiTypes.OBJECT, description="Bad input: field name → list of messages.")


def documented(
    ok: dict[int, Any],
    *,
    invalid: bool = False,
    conflict: bool = False,
    throttled: bool = False,
    unavailable: bool = False,
    refused: str = "",
    **options: Any,
) -> Any:
    """``extend_schema`` with the successful responses ``ok`` and every error the API answers
    (``refused``: why a 400 with a ``detail`` is answered)."""
    errors: dict[int, Any] = {
        401: OpenApiResponse(Detail, description="No credentials, or a wrong token."),
        403: OpenApiResponse(Detail, description="The user lacks the listener permission."),
        404: OpenApiResponse(Detail, description="No such listener for this user, or no such page."),
    }
    if invalid:
        errors[400] = INVALID
    if refused:
        errors[400] = OpenApiResponse(Detail, description=refused)
    if throttled:
        errors[429] = OpenApiResponse(
            Detail,
            description="Too many test events, retries and replays this minute (DURIAN_TEST_SEND_RATE, per user).",
        )
    if unavailable:
        errors[503] = OpenApiResponse(Detail, description="Redis (the event stream) cannot be reached now.")
    if conflict:
        errors[409] = OpenApiResponse(Detail, description="The dead letter was delivered already.")
    return extend_schema(responses={**ok, **errors}, **options)
