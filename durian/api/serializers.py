"""What the API reads and writes: hooks, listeners, deliveries, dead letters, test results."""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from ..listeners import validate_listener
from ..models import DeadLetter, Delivery, Listener

#: Listener fields a client may write; the rest is read-only.
WRITABLE = ("hook", "url", "description", "filters", "ordered")


class HookSerializer(serializers.Serializer):
    """One event of the catalog."""

    name = serializers.CharField()
    description = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField(), help_text="Payload fields a filter may name.")
    schema = serializers.JSONField(allow_null=True, help_text="JSON Schema of the payload, where the hook has one.")


class ListenerSerializer(serializers.ModelSerializer):
    """A listener. ``filters`` is the stored JSON form: ``{"name": {"op": "startswith", "value": "J"}}``."""

    filters = serializers.JSONField(required=False, help_text='{"field": {"op": "startswith", "value": "J"}}')

    class Meta:
        model = Listener
        fields = (
            "id",
            *WRITABLE,
            "state",
            "owner",
            "consecutive_failures",
            "last_success_at",
            "last_failure_at",
            "failing_since",
            "disabled_reason",
            "created_at",
            "updated_at",
        )
        read_only_fields = tuple(f for f in fields if f not in WRITABLE)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The one check every way of making a listener calls: ``validate_listener``."""
        if self.instance is not None and attrs.get("hook", self.instance.hook) != self.instance.hook:
            raise serializers.ValidationError({"hook": ["A listener's hook cannot change; make a new listener."]})
        candidate = copy.copy(self.instance) if self.instance is not None else Listener()
        for name, value in attrs.items():
            setattr(candidate, name, value)
        try:
            validate_listener(candidate, exclude=("owner",))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
            ) from None
        return attrs


class NewListenerSerializer(ListenerSerializer):
    """A listener with its signing secret: answered once, when it is made or its secret rotated."""

    secret = serializers.CharField(read_only=True, help_text="Shown this once; store it.")

    class Meta(ListenerSerializer.Meta):
        fields = (*ListenerSerializer.Meta.fields, "secret")
        read_only_fields = (*ListenerSerializer.Meta.read_only_fields, "secret")


class DeliverySerializer(serializers.ModelSerializer):
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


class DeadLetterSerializer(serializers.ModelSerializer):
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


class TestResultSerializer(serializers.Serializer):
    """What happened to a test event (never recorded, never counted in health)."""

    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    elapsed_ms = serializers.IntegerField()
    webhook_id = serializers.CharField()
    payload = serializers.JSONField()
