"""The API's views: the hook catalog, listeners and their actions, deliveries and dead letters.

Who may do what is ``durian.web.access``, the web pages' rules: the model permission of the
action (403 without it), and a listener outside the user's reach is a 404 on every route.
"""

from __future__ import annotations

from typing import Any

import redis
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..conf import settings
from ..core import match
from ..core.recipients import awaits_validation
from ..core.schema import body_schema as schema_of_body
from ..models import DeadLetter, Listener
from ..pipeline.resend import resend
from ..registry import hooks
from ..storage import metrics
from ..storage.connection import get_redis
from ..web import access, disclosure, throttle
from ..web.actions import VALIDATION_OFF, unvalidated, validate_now
from ..web.replay import replay_listener
from ..web.sample import send_test_event
from .schema import documented
from .serializers import (
    DeadLetterSerializer,
    DeliverySerializer,
    HookSerializer,
    ListenerSerializer,
    NewListenerSerializer,
    ReplayRequestSerializer,
    ReplaySerializer,
    TestResultSerializer,
)


class Page(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200


#: How deep a request body may nest; listeners need a handful of levels.
MAX_BODY_DEPTH = 32


class BoundedJSONParser(JSONParser):
    """JSON in, nested at most ``MAX_BODY_DEPTH`` deep: a deeper body is a 400, never a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
        else:
            if match.depth(data, MAX_BODY_DEPTH) <= MAX_BODY_DEPTH:
                return data
        raise exceptions.ParseError(f"JSON parse error - the body nests deeper than {MAX_BODY_DEPTH} levels.")


class DurianAPIView(APIView):
    """What every API view shares: token or session authentication, JSON in, its schema."""

    authentication_classes = (TokenAuthentication, SessionAuthentication)
    permission_classes = (IsAuthenticated,)
    parser_classes = (BoundedJSONParser,)


class HookList(DurianAPIView):
    """The event catalog: each hook's fields, and its JSON Schema where one exists."""

    @documented({200: HookSerializer(many=True)})
    def get(self, request: Request) -> Response:
        access.require(request.user, "view")
        catalog = [
            {
                "name": hook.name,
                "description": hook.get_description(),
                "fields": hook.fields,
                "schema": hook.schema(),
            }
            for hook in hooks
        ]
        return Response(HookSerializer(catalog, many=True).data)


#: The ``durian.web.access`` action each route needs.
ACTIONS: dict[str, access.Action] = {
    "list": "view",
    "retrieve": "view",
    "deliveries": "view",
    "dead_letters": "view",
    "body_schema": "view",
    "create": "add",
    "destroy": "delete",
}

#: The 400 of a request that would send to an endpoint not validated yet.
UNVALIDATED = "The listener's endpoint is not validated yet (DURIAN_VERIFY_ENDPOINTS): nothing is sent to it."
LISTENER_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The listener's id.")
LETTER_ID = OpenApiParameter("letter_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The dead letter's id.")


@extend_schema_view(
    list=documented({200: ListenerSerializer(many=True)}),
    create=documented({201: NewListenerSerializer}, invalid=True),
    retrieve=documented({200: ListenerSerializer}, parameters=[LISTENER_ID]),
    update=documented({200: ListenerSerializer}, invalid=True, parameters=[LISTENER_ID]),
    partial_update=documented({200: ListenerSerializer}, invalid=True, parameters=[LISTENER_ID]),
    destroy=documented({204: None}, parameters=[LISTENER_ID]),
)
class ListenerViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
    DurianAPIView,
):
    """Listeners: the user's own, or every one for staff holding the permission."""

    serializer_class = ListenerSerializer
    pagination_class = Page
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Listener]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspecting the view
            return Listener.objects.none()
        listeners = access.listeners(self.request.user, ACTIONS.get(self.action, "change"))
        return listeners.select_related("backfill").order_by("hook", "id")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        access.require(request.user, "add")
        serializer = ListenerSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        listener = serializer.save(owner=request.user)
        return Response(NewListenerSerializer(listener).data, status=status.HTTP_201_CREATED)

    @documented({200: NewListenerSerializer}, request=None, parameters=[LISTENER_ID])
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        """Sign with a new secret (answered this once); the old one keeps signing for a grace period."""
        listener = self.get_object()
        listener.rotate_secret()
        return Response(NewListenerSerializer(listener).data)

    @documented({200: ListenerSerializer}, request=None, parameters=[LISTENER_ID])
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        """Deliver nothing to this listener until it is resumed."""
        listener = self.get_object()
        listener.pause()
        return Response(ListenerSerializer(listener).data)

    @documented({200: ListenerSerializer}, request=None, parameters=[LISTENER_ID])
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        """Make the listener active again, with a clean health record."""
        listener = self.get_object()
        listener.enable()
        return Response(ListenerSerializer(listener).data)

    def _throttle(self, request: Request) -> None:
        """One budget per user for test events and retries, shared with the pages (``DURIAN_TEST_SEND_RATE``)."""
        if not throttle.allow(request.user):
            raise exceptions.Throttled(wait=throttle.WINDOW_S, detail=throttle.TOO_MANY)

    def _shown(self, listener: Listener) -> dict[str, Any]:
        """The serializer context: ``status_only`` for a client and a receiver on an allowed internal network."""
        return {**self.get_serializer_context(), "status_only": disclosure.status_only(self.request.user, listener)}

    @documented(
        {200: OpenApiResponse(OpenApiTypes.OBJECT, description="A JSON Schema (draft 2020-12).")},
        request=None,
        parameters=[LISTENER_ID],
    )
    @action(detail=True, methods=["get"], url_path="schema")
    def body_schema(self, request: Request, pk: str) -> Response:
        """The JSON Schema of the body this listener receives: its fields only, in its payload format."""
        listener = self.get_object()
        hook = hooks.get(listener.hook)
        if hook is None:
            raise Http404("This listener's event is no longer offered.")
        return Response(schema_of_body(hook.schema(), listener.payload_format, listener.fields))

    @documented(
        {200: TestResultSerializer},
        throttled=True,
        refused=UNVALIDATED,
        request=None,
        parameters=[LISTENER_ID],
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        """POST a signed sample event now; neither recorded nor counted in health."""
        listener = self.get_object()
        if listener.hook not in hooks:
            raise Http404("This listener's event is no longer offered.")
        if awaits_validation(listener.url_validated):
            return Response({"detail": unvalidated(listener)}, status=status.HTTP_400_BAD_REQUEST)
        self._throttle(request)
        event, outcome = send_test_event(listener)
        result = {
            "ok": outcome.ok,
            "status_code": outcome.status_code,
            "error": outcome.error,
            "elapsed_ms": round(outcome.elapsed * 1000),
            "webhook_id": event.webhook_id(listener.pk),
            "payload": event.payload,
        }
        return Response(TestResultSerializer(result, context=self._shown(listener)).data)

    @documented(
        {200: ListenerSerializer},
        throttled=True,
        refused="Endpoint validation is off on this site (DURIAN_VERIFY_ENDPOINTS).",
        request=None,
        parameters=[LISTENER_ID],
    )
    @action(detail=True, methods=["post"], url_path="validate")
    def validate_endpoint(self, request: Request, pk: str) -> Response:
        """Validate the listener's endpoint now (the CloudEvents handshake: ``OPTIONS`` with
        ``WebHook-Request-Origin``); answers the listener, whose ``validation`` says how it went."""
        listener = self.get_object()
        if not settings.VERIFY_ENDPOINTS:
            return Response({"detail": VALIDATION_OFF}, status=status.HTTP_400_BAD_REQUEST)
        self._throttle(request)
        listener = validate_now(listener)
        return Response(ListenerSerializer(listener, context=self.get_serializer_context()).data)

    @documented({200: DeliverySerializer(many=True)}, parameters=[LISTENER_ID])
    @action(detail=True, methods=["get"], pagination_class=Page)
    def deliveries(self, request: Request, pk: str) -> Response:
        """The listener's delivery attempts, newest first."""
        listener = self.get_object()
        page = self.paginate_queryset(listener.deliveries.order_by("-created_at", "-id"))
        return self.get_paginated_response(DeliverySerializer(page, many=True, context=self._shown(listener)).data)

    @documented({200: DeadLetterSerializer(many=True)}, parameters=[LISTENER_ID])
    @action(detail=True, methods=["get"], url_path="dead-letters")
    def dead_letters(self, request: Request, pk: str) -> Response:
        """The listener's dead letters, newest first."""
        listener = self.get_object()
        page = self.paginate_queryset(listener.dead_letters.order_by("-created_at", "-id"))
        return self.get_paginated_response(DeadLetterSerializer(page, many=True, context=self._shown(listener)).data)

    @documented(
        {200: DeadLetterSerializer},
        conflict=True,
        throttled=True,
        refused=UNVALIDATED,
        request=None,
        parameters=[LISTENER_ID, LETTER_ID],
    )
    @action(detail=True, methods=["post"], url_path=r"dead-letters/(?P<letter_id>[0-9]+)/retry")
    def retry(self, request: Request, pk: str, letter_id: str) -> Response:
        """Re-send a dead letter now (same ``webhook-id``); answers it, delivered or with its new error."""
        listener = self.get_object()
        letter = get_object_or_404(listener.dead_letters.select_related("listener"), pk=letter_id)
        if letter.status == DeadLetter.Status.DELIVERED:
            return Response({"detail": "That dead letter was delivered already."}, status=status.HTTP_409_CONFLICT)
        if awaits_validation(listener.url_validated):
            return Response({"detail": unvalidated(listener)}, status=status.HTTP_400_BAD_REQUEST)
        self._throttle(request)
        resend([letter])
        return Response(DeadLetterSerializer(letter, context=self._shown(listener)).data)

    @documented(
        {202: ReplaySerializer},
        invalid=True,
        throttled=True,
        unavailable=True,
        request=ReplayRequestSerializer,
        parameters=[LISTENER_ID],
    )
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str) -> Response:
        """Deliver again the events of a time window that this listener matches now (same ``webhook-id``),
        by ``manage.py durian_replay``'s rules: from the stream, or from dead letters for older ones."""
        listener = self.get_object()
        form = ReplayRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        self._throttle(request)
        since, until = form.validated_data["window"]
        dry_run = form.validated_data["dry_run"]
        try:
            summary = replay_listener(listener, since, until, dry_run=dry_run)
        except redis.RedisError:
            return Response(
                {"detail": "The event stream cannot be reached now; nothing was replayed. Try again later."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        result = {
            "since": since,
            "until": until,
            "dry_run": dry_run,
            "events": summary.events,
            "from_dead_letters": summary.from_dead_letters,
            "deliveries": summary.deliveries,
            "unavailable": summary.unavailable,
        }
        return Response(ReplaySerializer(result).data, status=status.HTTP_202_ACCEPTED)


class Metrics(DurianAPIView):
    """Prometheus exposition of this process's metrics, for staff (``Authorization: Token <key>``)."""

    schema = None  # not part of the OpenAPI document: it answers text, not JSON

    def get(self, request: Request) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied
        metrics.refresh(get_redis("request"))
        body, content_type = metrics.exposition()
        return HttpResponse(body, content_type=content_type)
