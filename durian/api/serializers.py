"""What the API reads and writes: hooks, listeners, deliveries, dead letters, test results."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..conf import settings
from ..core import headers as own_headers
from ..core import redact
from ..core.schedule import LONGEST_DELAY, MAX_RETRIES, SHORTEST_DELAY
from ..listeners import create_listener, validate_backfill, validate_listener
from ..management.timespec import WindowError, replay_window
from ..models import URL_MAX_LENGTH, Backfill, DeadLetter, Delivery, Listener
from ..web.disclosure import error_text, status_only
from ..web.replay import MOMENT_MAX_LENGTH

#: Listener fields a client may write (the web form's, and the hook); the rest is read-only.
WRITABLE = (
    "hook",
    "url",
    "description",
    "filters",
    "payload_format",
    "ordered",
    "max_in_flight",
    "rate_limit",
    "headers",
    "fields",
    "retry_schedule",
    "backfill",
)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "maxProperties": own_headers.MAX_HEADERS,
        "description": (
            "Extra HTTP headers sent with every delivery: at most 20, 4 KB in all; names are RFC 7230 tokens, "
            "not hop-by-hop, Host, Content-Length, Content-Type, User-Agent, webhook-* or durian-*. "
            "Values are answered as ***; send *** back to keep a value."
        ),
    }
)
class HeadersField(serializers.JSONField):
    """A listener's own headers: checked by the model's rules (``durian.core.headers``), answered masked."""

    def to_representation(self, value: Any) -> Any:
        return own_headers.masked(value if isinstance(value, Mapping) else {})


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string"},
        "description": "The payload fields sent (among the hook's fields). Empty: all of them.",
    }
)
class FieldsField(serializers.JSONField):
    """The payload fields a listener receives."""


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "number", "minimum": SHORTEST_DELAY, "maximum": LONGEST_DELAY},
        "minItems": 1,
        "maxItems": MAX_RETRIES,
        "nullable": True,
        "description": "Delays in seconds before each retry, 1 to 20 of them. null: the site's schedule.",
    }
)
class ScheduleField(serializers.JSONField):
    """A listener's own retry schedule."""


class HookSerializer(serializers.Serializer):
    """One event of the catalog."""

    name = serializers.CharField()
    description = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField(), help_text="Payload fields a filter may name.")
    schema = serializers.JSONField(allow_null=True, help_text="JSON Schema of the payload, where the hook has one.")


class ValidationSerializer(serializers.Serializer):
    """A listener's endpoint validation (``DURIAN_VERIFY_ENDPOINTS``), read-only."""

    required = serializers.SerializerMethodField(
        help_text="Endpoint validation is on: until its URL is validated, the listener's events are kept for it."
    )
    state = serializers.ChoiceField(
        choices=["pending", "failed", "validated"],
        source="validation_state",
        help_text="pending: not tried yet for this URL; failed: the last try failed (see error); validated.",
    )
    validated_at = serializers.DateTimeField(allow_null=True, help_text="When its current URL was validated.")
    checked_at = serializers.DateTimeField(
        source="validation_checked_at", allow_null=True, help_text="The last try for its current URL."
    )
    next_attempt_at = serializers.SerializerMethodField(help_text="The next try, while not validated.")
    attempts = serializers.IntegerField(source="validation_attempts", help_text="Tries for its current URL.")
    error = serializers.CharField(source="validation_error", help_text="Why the last try failed, or empty.")

    def get_required(self, listener: Listener) -> bool:
        return bool(settings.VERIFY_ENDPOINTS)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_attempt_at(self, listener: Listener) -> Any:
        if not settings.VERIFY_ENDPOINTS or listener.validation_next_at is None or listener.url_validated:
            return None
        return serializers.DateTimeField().to_representation(listener.validation_next_at)

    def to_representation(self, instance: Listener) -> dict[str, Any]:
        data = super().to_representation(instance)
        request = self.context.get("request")
        if data["error"] and request is not None:  # an internal receiver's answer: its status only
            data["error"] = error_text(data["error"], hidden=status_only(request.user, instance))
        return data


class BackfillSerializer(serializers.ModelSerializer):
    """A listener's backfill and how far it went (read-only)."""

    description = serializers.CharField(source="describe", read_only=True, help_text="Its progress in words.")

    class Meta:
        model = Backfill
        fields = ("state", "total", "read", "sent", "skipped", "error", "started_at", "finished_at", "description")
        read_only_fields = fields


class ListenerSerializer(serializers.ModelSerializer):
    """A listener. ``filters`` is the stored JSON form: ``{"name": {"op": "startswith", "value": "J"}}``."""

    url = serializers.URLField(
        max_length=URL_MAX_LENGTH,
        help_text="Where events are POSTed. A password in it is answered as ***; send *** back to keep it.",
    )
    filters = serializers.JSONField(required=False, help_text='{"field": {"op": "startswith", "value": "J"}}')
    headers = HeadersField(required=False)
    fields = FieldsField(required=False)
    retry_schedule = ScheduleField(required=False, allow_null=True)
    validation = ValidationSerializer(source="*", read_only=True)
    backfill = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text=(
            "On creation only, for a model's hook: first send one event for each existing row the filters match "
            "(in primary-key order, with a Durian-Backfill: 1 header), then the live events. Progress: backfill_status."
        ),
    )
    backfill_status = serializers.SerializerMethodField(help_text="The listener's backfill, or null when it has none.")

    class Meta:
        model = Listener
        fields = (
            "id",
            *WRITABLE,
            "backfill_status",
            "state",
            "owner",
            "consecutive_failures",
            "last_success_at",
            "last_failure_at",
            "failing_since",
            "disabled_reason",
            "validation",
            "created_at",
            "updated_at",
        )
        read_only_fields = tuple(f for f in fields if f not in WRITABLE)

    def to_representation(self, instance: Listener) -> dict[str, Any]:
        data = super().to_representation(instance)
        if data.get("url"):
            data["url"] = redact.mask_password(data["url"])  # never answered, not even to staff
        return data

    @extend_schema_field(BackfillSerializer(allow_null=True))
    def get_backfill_status(self, instance: Listener) -> dict[str, Any] | None:
        try:
            backfill = instance.backfill
        except Backfill.DoesNotExist:
            return None
        return BackfillSerializer(backfill).data if backfill is not None else None

    def validate_url(self, value: str) -> str:
        """A ``***`` password stands for the stored one (same host only); see ``redact.restore_password``."""
        try:
            return redact.restore_password(value, self.instance.url if self.instance is not None else "")
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def to_internal_value(self, data: Any) -> Any:
        """Refuse, by name, a field the client may not write: unknown or read-only (never silently dropped)."""
        if isinstance(data, Mapping):
            errors = {}
            for name in data:
                if name in WRITABLE:
                    continue
                known = name in self.Meta.fields or name == "secret"
                errors[str(name)[:100]] = ["This field is read-only." if known else "No such field."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def validate_headers(self, value: Any) -> Any:
        """A ``***`` value stands for the stored one of that name (``durian.core.headers.restore``)."""
        try:
            return own_headers.restore(value, self.instance.headers if self.instance is not None else {})
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The one check every way of making a listener calls: ``validate_listener``."""
        if self.instance is not None and attrs.get("hook", self.instance.hook) != self.instance.hook:
            raise serializers.ValidationError({"hook": ["A listener's hook cannot change; make a new listener."]})
        if attrs.get("backfill"):
            if self.instance is not None:
                raise serializers.ValidationError(
                    {
                        "backfill": [
                            "A backfill is asked for when a listener is made; manage.py durian_backfill runs it again."
                        ]
                    }
                )
            try:
                validate_backfill(attrs.get("hook", ""))
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from None
        candidate = copy.copy(self.instance) if self.instance is not None else Listener()
        for name, value in attrs.items():
            if name == "backfill":
                continue
            setattr(candidate, name, value)
        try:
            validate_listener(candidate, exclude=("owner",))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
            ) from None
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Listener:
        """Save the new listener, with its backfill when asked (``durian.listeners.create_listener``)."""
        backfill = bool(validated_data.pop("backfill", False))
        return create_listener(Listener(**validated_data), backfill=backfill)

    def update(self, instance: Listener, validated_data: dict[str, Any]) -> Listener:
        validated_data.pop("backfill", None)
        return super().update(instance, validated_data)


class NewListenerSerializer(ListenerSerializer):
    """A listener with its signing secret: answered once, when it is made or its secret rotated."""

    secret = serializers.CharField(read_only=True, help_text="Shown this once; store it.")

    class Meta(ListenerSerializer.Meta):
        fields = (*ListenerSerializer.Meta.fields, "secret")
        read_only_fields = (*ListenerSerializer.Meta.read_only_fields, "secret")


class StatusOnly(serializers.Serializer):
    """A serializer that shows a receiver's status only when the context says ``status_only``
    (a client, and a receiver on an allowed internal network: ``durian.web.disclosure``)."""

    #: (error field, fields emptied) of the serialized object.
    hides: tuple[str, tuple[str, ...]] = ("error", ())

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if self.context.get("status_only"):
            error, emptied = self.hides
            data[error] = error_text(data[error], hidden=True)
            for name in emptied:
                data[name] = ""
        return data


class DeliverySerializer(StatusOnly, serializers.ModelSerializer):
    """One attempt. For a client and a receiver on an allowed internal network, ``error`` is the status only."""

    class Meta:
        model = Delivery
        fields = (
            "id",
            "hook",
            "event_id",
            "webhook_id",
            "attempt",
            "ok",
            "status_code",
            "error",
            "duration_ms",
            "created_at",
        )
        read_only_fields = fields


class DeadLetterSerializer(StatusOnly, serializers.ModelSerializer):
    """A dead letter. For a client and a receiver on an allowed internal network, ``last_error`` is the
    status only and ``response_excerpt`` is empty."""

    hides = ("last_error", ("response_excerpt",))

    class Meta:
        model = DeadLetter
        fields = (
            "id",
            "hook",
            "event_id",
            "webhook_id",
            "payload",
            "attempts",
            "status",
            "last_status_code",
            "last_error",
            "response_excerpt",
            "event_created_at",
            "created_at",
            "delivered_at",
        )
        read_only_fields = fields


class TestResultSerializer(StatusOnly):
    """What happened to a test event (never recorded, never counted in health). For a client and a
    receiver on an allowed internal network, ``error`` is the status only."""

    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    elapsed_ms = serializers.IntegerField()
    webhook_id = serializers.CharField()
    payload = serializers.JSONField()


class ReplayRequestSerializer(serializers.Serializer):
    """The window to replay, by ``manage.py durian_replay``'s rules: ``since`` is required, ``until``
    defaults to now; each an ISO 8601 date/time or a duration ago (``30min``, ``12h``, ``7d``)."""

    since = serializers.CharField(
        max_length=MOMENT_MAX_LENGTH, help_text="Start: an ISO date/time, or a duration ago (12h, 7d)."
    )
    until = serializers.CharField(
        max_length=MOMENT_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="End (default: now): an ISO date/time, or a duration ago.",
    )
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="Count what would be queued; queue nothing."
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["window"] = replay_window(attrs["since"], attrs.get("until"))
        except WindowError as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        return attrs


class ReplaySerializer(serializers.Serializer):
    """What a replay queued: this listener's deliveries of the window's events, with their webhook ids."""

    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    dry_run = serializers.BooleanField()
    events = serializers.IntegerField(help_text="Events of the window found in the stream.")
    from_dead_letters = serializers.IntegerField(help_text="Events no longer in the stream, taken from dead letters.")
    deliveries = serializers.IntegerField(help_text="Deliveries queued (or, in a dry run, that would be).")
    unavailable = serializers.IntegerField(
        help_text="Delivery records of the window whose event is neither in the stream nor a dead letter."
    )
