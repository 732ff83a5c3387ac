"""Database models: listeners, dead letters, and the transactional outbox."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.query_utils import DeferredAttribute
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .conf import settings as durian_settings
from .core import match, redact, sealing, tracing
from .core.event import Event
from .core.headers import validate_headers
from .core.payload import PAYLOAD_FORMATS
from .core.recipients import VALIDATION, awaits_validation
from .core.schedule import validate_retry_schedule
from .core.signing import generate_secret


class SealedSecret(DeferredAttribute):
    """The attribute of a ``SealedSecretField``: the instance keeps the sealed token, reading opens it.

    Assigning a plain secret seals it at once, so a loaded or assigned listener never holds its secret
    in plain text; ``listener.secret`` opens it (``durian.core.sealing.unseal``) on each read.
    """

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        return sealing.unseal(value) if value else value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = _sealed(value)

    def sealed(self, instance: Any) -> str:
        """The token as stored (loading the field first if it was deferred)."""
        return super().__get__(instance)


def _sealed(value: Any) -> Any:
    return sealing.seal(value) if isinstance(value, str) and value and not sealing.is_sealed(value) else value


class SealedSecretField(models.CharField):
    """A signing secret, sealed in the database and on the instance (``durian.core.sealing``).

    The sealed token is what is stored, cached in Redis and serialized (``dumpdata``); reading the
    attribute opens it. See ``SealedSecret``.
    """

    descriptor_class = SealedSecret

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        return self.value_from_object(model_instance)

    def value_from_object(self, obj: models.Model) -> Any:
        return self.descriptor_class(self).sealed(obj)

    def get_prep_value(self, value: Any) -> Any:
        return _sealed(super().get_prep_value(value))


class SealedURL(DeferredAttribute):
    """The attribute of a ``SealedURLField``: the instance keeps the URL with its password sealed,
    reading gives it opened (``durian.core.sealing.unseal_url``); assigning seals it at once."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        return sealing.unseal_url(value) if value else value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = _sealed_url(value)

    def sealed(self, instance: Any) -> str:
        """The URL as stored, its password sealed (loading the field first if it was deferred)."""
        return super().__get__(instance)


def _sealed_url(value: Any) -> Any:
    return sealing.seal_url(value) if isinstance(value, str) and value else value


class SealedHeaders(DeferredAttribute):
    """The attribute of a ``SealedHeadersField``: the instance keeps each header value sealed, reading
    gives them opened (a new dict each time); assigning seals them at once."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if not isinstance(value, dict):
            return value
        return {k: sealing.unseal(v) if isinstance(v, str) else v for k, v in value.items()}

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = _sealed_headers(value)

    def sealed(self, instance: Any) -> Any:
        """The headers as stored, their values sealed (loading the field first if it was deferred)."""
        return super().__get__(instance)


def _sealed_headers(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {k: _sealed(v) for k, v in value.items()}


class SealedHeadersField(models.JSONField):
    """A listener's own headers, ``{name: value}``, each value sealed in the database, in the listener
    cache and on the instance; reading the attribute opens them. Only ``request_parts`` opens them to send."""

    descriptor_class = SealedHeaders

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        return self.value_from_object(model_instance)

    def value_from_object(self, obj: models.Model) -> Any:
        return self.descriptor_class(self).sealed(obj)

    def get_prep_value(self, value: Any) -> Any:
        return super().get_prep_value(_sealed_headers(value))


#: The longest listener URL a client may give (the column is longer: a sealed password takes more room).
URL_MAX_LENGTH = 2000


class SealedURLField(models.URLField):
    """A listener URL whose password (``https://user:password@host/``) is sealed in the database, in the
    listener cache and on the instance; reading the attribute opens it. See ``SealedURL``."""

    descriptor_class = SealedURL

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        return self.value_from_object(model_instance)

    def value_from_object(self, obj: models.Model) -> Any:
        return self.descriptor_class(self).sealed(obj)

    def get_prep_value(self, value: Any) -> Any:
        return _sealed_url(super().get_prep_value(value))


class Listener(models.Model):
    """A client's subscription: deliver events of ``hook`` that pass ``filters`` to ``url``."""

    class State(models.TextChoices):
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")
        DISABLED = "disabled", _("disabled")

    hook = models.CharField(_("hook"), max_length=100, db_index=True)
    url = SealedURLField(_("URL"), max_length=3000, validators=[MaxLengthValidator(URL_MAX_LENGTH)])
    description = models.CharField(_("description"), max_length=255, blank=True)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    secret = SealedSecretField(_("signing secret"), max_length=512, default=generate_secret, editable=False)
    previous_secret = SealedSecretField(max_length=512, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.ACTIVE)
    payload_format = models.CharField(
        _("payload format"),
        max_length=11,
        choices=[(name, name) for name in PAYLOAD_FORMATS],
        default=PAYLOAD_FORMATS[0],
        help_text=_(
            "flat: the event's fields; standard: {type, timestamp, data} (Standard Webhooks); "
            "cloudevents: a CloudEvents 1.0 structured message."
        ),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="durian_listeners",
    )
    max_in_flight = models.PositiveSmallIntegerField(
        _("concurrent requests"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("Most requests in flight to this URL at once, across all workers. Empty: the site's default."),
    )
    rate_limit = models.FloatField(
        _("requests per second"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.01), MaxValueValidator(100_000)],
        help_text=_("Most requests per second to this URL. Empty: no limit."),
    )
    ordered = models.BooleanField(
        _("ordered"),
        default=False,
        help_text=_(
            "Deliver this listener's events one at a time, in commit order: a failing event holds the ones "
            "behind it until it succeeds or becomes a dead letter."
        ),
    )
    retry_schedule = models.JSONField(
        _("retry schedule"),
        null=True,
        blank=True,
        validators=[validate_retry_schedule],
        help_text=_(
            "Delays in seconds before each retry, such as [10, 60, 300]: 1 to 20 delays, each between 1 s and "
            "7 days. Empty: the site's schedule (DURIAN_RETRY_SCHEDULE)."
        ),
    )
    headers = SealedHeadersField(
        _("headers"),
        default=dict,
        blank=True,
        validators=[validate_headers],
        help_text=_(
            'Extra HTTP headers sent with every delivery, such as {"Authorization": "Bearer …"}: at most 20, '
            "4 KB in all. Values are stored sealed and shown as ***; leave *** to keep a value."
        ),
    )
    fields = models.JSONField(
        _("fields"),
        default=list,
        blank=True,
        help_text=_('The payload fields sent, such as ["name", "email"]. Empty: all of them.'),
    )
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=255, blank=True, editable=False)
    # Endpoint validation (DURIAN_VERIFY_ENDPOINTS, durian.pipeline.validation): the state below
    # describes the URL whose digest is ``validation_url``; a new URL starts it again (``save``).
    validation_url = models.CharField(max_length=64, blank=True, editable=False)
    validated_at = models.DateTimeField(_("validated"), null=True, blank=True, editable=False)
    validation_checked_at = models.DateTimeField(_("last validation attempt"), null=True, blank=True, editable=False)
    validation_error = models.CharField(_("validation error"), max_length=500, blank=True, editable=False)
    validation_attempts = models.PositiveIntegerField(_("validation attempts"), default=0, editable=False)
    validation_next_at = models.DateTimeField(
        _("next validation attempt"), null=True, blank=True, editable=False, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("listener")
        verbose_name_plural = _("listeners")
        ordering = ["hook", "id"]

    def __str__(self) -> str:
        return f"{self.hook} → {self.display_url}"

    @property
    def display_url(self) -> str:
        """The URL as it may be shown or logged: password masked, control characters escaped."""
        return redact.display_url(self.url)

    @property
    def matchers(self) -> dict[str, match.Matcher]:
        """The filters as matcher objects."""
        return match.filters_from_json(self.filters)

    def describe_filters(self) -> str:
        """The filters in words: ``name starts with 'J'``, or ``every event`` (or why they are broken)."""
        problem = self.filters_problem
        if problem:
            return f"broken filters: {problem}"
        parts = [m.describe(field) for field, m in self.matchers.items()]
        return " and ".join(parts) if parts else "every event"

    @property
    def filters_problem(self) -> str:
        """Why the stored filters cannot be used (a hand-written or outdated row), or ``""``.

        Workers skip such a listener; the pages show it as broken, still editable and deletable.
        """
        try:
            self.clean()
        except ValidationError as exc:
            return "; ".join(
                f"{field}: {m}" if field != "__all__" else m for field, ms in _error_dict(exc).items() for m in ms
            )
        return ""

    def secrets(self, now: Any = None) -> list[str]:
        """The secrets to sign with now, opened: the current one, and the previous one during its grace
        period. Only to sign a body or to show a new secret once; everything else uses ``sealed_secrets``."""
        return [sealing.unseal(s) for s in self.sealed_secrets(now)]

    def sealed_secrets(self, now: Any = None) -> list[str]:
        """The secrets to sign with now, sealed as stored: the form the listener cache and delivery carry
        until a body is signed (``durian.transport.delivery.request_parts`` opens them)."""
        now = now or timezone.now()
        out = [self._sealed("secret")]
        previous = self._sealed("previous_secret")
        if previous and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            out.append(previous)
        return out

    @property
    def sealed_headers(self) -> dict[str, str]:
        """The listener's own headers as stored and cached: each value sealed."""
        return dict(self._sealed("headers") or {})

    @property
    def masked_headers(self) -> dict[str, str]:
        """The headers as they are shown after creation: each value ``***``, by name (PostgreSQL's
        ``jsonb`` keeps no order, so every database shows the same one)."""
        return {name: "***" for name in sorted(self.sealed_headers, key=str.lower)}

    @property
    def sealed_url(self) -> str:
        """The URL as stored and cached: its password, if any, sealed."""
        return self._sealed("url")

    def _sealed(self, name: str) -> str:
        return self._meta.get_field(name).value_from_object(self)

    @property
    def masked_secret(self) -> str:
        """The current secret as staff may see it: ``whsec_…`` and its last four characters."""
        return sealing.mask(self.secret)

    def rotate_secret(self, grace: datetime.timedelta | float | None = None) -> str:
        """Sign with a new secret from now on; the old one keeps signing too for ``grace``.

        ``grace`` (a timedelta or seconds) defaults to ``DURIAN_SECRET_ROTATION_GRACE``. During
        the grace period ``webhook-signature`` carries both signatures, so a receiver can switch
        to the new secret at any moment. Saves the listener and returns the new secret, in plain
        text: show it once to its owner; the listener keeps it sealed.
        """
        if grace is None:
            grace = float(durian_settings.SECRET_ROTATION_GRACE)
        if not isinstance(grace, datetime.timedelta):
            grace = datetime.timedelta(seconds=float(grace))
        new = generate_secret()
        self.previous_secret = self._sealed("secret")  # the token moves as is: nothing is opened
        self.previous_secret_expires_at = timezone.now() + grace
        self.secret = new
        self.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
        return new

    @property
    def waits_for(self) -> tuple[str, ...]:
        """Why this active listener's events are kept, in order, rather than attempted now; empty when
        nothing holds them. Workers park them as for a paused listener (``durian.storage.parked``) and
        queue them, oldest first, once nothing holds them any more. One place names the reasons."""
        reasons = ("backfill",) if Backfill.holds(self) else ()
        if self.state == self.State.ACTIVE and awaits_validation(self.url_validated):
            reasons += (VALIDATION,)
        return reasons

    # -- endpoint validation ----------------------------------------------------------------------

    @property
    def url_validated(self) -> bool:
        """Its current URL passed the validation handshake (whether or not ``DURIAN_VERIFY_ENDPOINTS`` is on)."""
        return self.validated_at is not None and self.validation_url == endpoint_digest(self.sealed_url)

    @property
    def validation_state(self) -> str:
        """``validated``, ``failed`` (the last attempt failed: ``validation_error`` says why) or
        ``pending`` (not tried yet for this URL)."""
        if self.url_validated:
            return "validated"
        if self.validation_url == endpoint_digest(self.sealed_url) and self.validation_error:
            return "failed"
        return "pending"

    def _track_url(self, update_fields: Any) -> Any:
        """Start validation afresh when the URL is new (or changed): the fields saved with it, or ``None``."""
        if update_fields is not None and "url" not in update_fields:
            return update_fields
        digest = endpoint_digest(self.sealed_url)
        if self.validation_url == digest:
            return update_fields
        self.validation_url = digest
        self.validated_at = self.validation_checked_at = None
        self.validation_error = ""
        self.validation_attempts = 0
        self.validation_next_at = timezone.now()
        if update_fields is None:
            return None
        return {*update_fields, *VALIDATION_FIELDS}

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; a new URL is validated again (``DURIAN_VERIFY_ENDPOINTS``)."""
        kwargs["update_fields"] = self._track_url(kwargs.get("update_fields"))
        super().save(*args, **kwargs)

    def pause(self) -> None:
        """Stop delivering to this listener (it receives nothing) until ``enable()``; saves it."""
        self.state = self.State.PAUSED
        self.save(update_fields=["state", "updated_at"])

    def enable(self) -> None:
        """Make a disabled (or paused) listener active again, with a clean health record, and save it.

        Dead letters kept while it was disabled can then be re-sent from admin.
        """
        self.state = self.State.ACTIVE
        self.disabled_reason = ""
        self.consecutive_failures = 0
        self.failing_since = None
        self.save()

    def clean_fields(self, exclude: Any = None) -> None:
        """Validate the fields, except the secrets: durian makes them, and reading them would open them.

        Django skips the validators of a blank field's empty values; only ``None`` means the site's
        retry schedule, so ``[]`` (or ``{}``, ``""``) is refused here.
        """
        exclude = {*(exclude or ()), "secret", "previous_secret"}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as exc:
            errors = exc.error_dict
        else:
            errors = {}
        schedule, empty = self.retry_schedule, self._meta.get_field("retry_schedule").empty_values
        if "retry_schedule" not in exclude | errors.keys() and schedule is not None and schedule in empty:
            try:
                validate_retry_schedule(schedule)
            except ValidationError as exc:
                errors["retry_schedule"] = exc.error_list
        if errors:
            raise ValidationError(errors)

    def clean(self) -> None:
        """The listener's own invariants: its filters are stored matchers that can be used.

        What depends on the site (the hook is registered, the filters fit its fields, the URL is
        a public address) is checked by ``durian.validation.validate_listener``.
        """
        super().clean()
        if not isinstance(self.filters, dict):
            raise ValidationError({"filters": "Filters must be a JSON object: {field: {op, value}}."})
        if match.depth(self.filters, match.MAX_FILTER_DEPTH) > match.MAX_FILTER_DEPTH:
            raise ValidationError(
                {"filters": f"Filters nest deeper than {match.MAX_FILTER_DEPTH} levels: {{field: {{op, value}}}}."}
            )
        if not isinstance(self.fields, list) or not all(isinstance(f, str) for f in self.fields):
            raise ValidationError({"fields": 'Fields must be a JSON list of field names, such as ["name"].'})
        if len(set(self.fields)) != len(self.fields):
            raise ValidationError({"fields": "A field is named twice."})
        errors: dict[str, list[str]] = {}
        for field, data in self.filters.items():
            try:
                match.from_json(data).validate(field)
            except ValidationError as exc:
                errors.setdefault(field, []).extend(exc.messages)
        if errors:
            raise ValidationError(errors)


#: The fields that hold a listener's endpoint validation state.
VALIDATION_FIELDS = (
    "validation_url",
    "validated_at",
    "validation_checked_at",
    "validation_error",
    "validation_attempts",
    "validation_next_at",
)


def endpoint_digest(url: str) -> str:
    """What identifies a validated endpoint: a digest of its URL with any password masked (a sealed
    URL gives the same digest as the opened one; a new password is the same endpoint)."""
    return hashlib.sha256(redact.mask_password(url).encode()).hexdigest()


def _error_dict(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}


class DeadLetter(models.Model):
    """A delivery that failed on every attempt. Staff inspect and re-send it from admin."""

    class Status(models.TextChoices):
        DEAD = "dead", _("dead")
        DELIVERED = "delivered", _("delivered")

    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="dead_letters")
    hook = models.CharField(_("hook"), max_length=100, db_index=True)
    event_id = models.CharField(_("event id"), max_length=64, db_index=True)
    webhook_id = models.CharField(_("webhook id"), max_length=200, unique=True)
    payload = models.JSONField(_("payload"))
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DEAD)
    last_status_code = models.PositiveIntegerField(_("last status code"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_detail = models.TextField(_("technical detail"), blank=True, help_text=_("For staff."))
    response_excerpt = models.TextField(_("response excerpt"), blank=True)
    event_created_at = models.DateTimeField(_("event time"), null=True, blank=True)
    #: Sent by the listener's backfill: re-sent with ``Durian-Backfill: 1`` like the first attempts.
    backfill = models.BooleanField(_("backfilled"), default=False)
    created_at = models.DateTimeField(_("dead since"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("dead letter")
        verbose_name_plural = _("dead letters")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.webhook_id} ({self.get_status_display()})"

    @property
    def event(self) -> Event:
        """The original event (same id, so the same ``webhook-id``)."""
        created = self.event_created_at or self.created_at
        return Event(
            hook=self.hook,
            payload=self.payload,
            id=self.event_id,
            created_at=created.timestamp(),
            backfill=self.backfill,
        )


class Delivery(models.Model):
    """One delivery attempt, kept for the listener's history (successes cheaply, failures in full)."""

    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="deliveries")
    hook = models.CharField(_("hook"), max_length=100)
    event_id = models.CharField(_("event id"), max_length=64, db_index=True)
    webhook_id = models.CharField(_("webhook id"), max_length=200, db_index=True)
    attempt = models.PositiveIntegerField(_("attempt"), default=1)
    ok = models.BooleanField(_("delivered"), default=False)
    status_code = models.PositiveIntegerField(_("status code"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    error_detail = models.TextField(_("technical detail"), blank=True, help_text=_("For staff."))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["listener", "-created_at"], name="durian_delivery_listener_time")]

    def __str__(self) -> str:
        return f"{self.webhook_id} #{self.attempt} {'ok' if self.ok else 'failed'}"


class OutboxEvent(models.Model):
    """An event written in the same transaction as its change, until it reaches the stream."""

    id = models.CharField(primary_key=True, max_length=32, editable=False)
    hook = models.CharField(max_length=100)
    payload = models.JSONField()
    created_at = models.FloatField(db_index=True)
    #: The trace context the event was made in (``traceparent``, ``tracestate``), or ``{}``.
    trace = models.JSONField(default=dict, blank=True)
    #: The primary key of the row a ``ModelHook`` event is about (``Event.row``), or ``None``.
    row = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")

    @classmethod
    def of(cls, event: Event) -> OutboxEvent:
        """The (unsaved) row of ``event``."""
        return cls(
            id=event.id,
            hook=event.hook,
            payload=event.payload,
            created_at=event.created_at,
            trace=event.trace,
            row=event.row,
        )

    @property
    def event(self) -> Event:
        """The event this row holds."""
        return Event(
            hook=self.hook,
            payload=self.payload,
            id=self.id,
            created_at=self.created_at,
            trace=tracing.clean(self.trace),
            row=self.row,
        )


class Backfill(models.Model):
    """A listener's backfill: one event for each existing row of its ``ModelHook``'s model that its
    filters match, sent in primary-key order before its live events (``durian.pipeline.backfill``).

    Rows up to ``watermark`` (the highest primary key when it started) are read in chunks after
    ``position`` (the last primary key read), so a run that stopped resumes where it was. While it
    is not ``done`` (or ``failed``), the listener waits: its live events are kept (``Listener.waits_for``).
    """

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    listener = models.OneToOneField(Listener, on_delete=models.CASCADE, related_name="backfill")
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    #: Which run this is (``manage.py durian_backfill`` starts a new one): part of each event's id.
    run = models.PositiveIntegerField(_("run"), default=1)
    watermark = models.CharField(_("highest row"), max_length=255, null=True, blank=True)
    position = models.CharField(_("last row read"), max_length=255, null=True, blank=True)
    total = models.PositiveIntegerField(_("rows to read"), default=0)
    read = models.PositiveIntegerField(_("rows read"), default=0)
    sent = models.PositiveIntegerField(_("events sent"), default=0)
    skipped = models.PositiveIntegerField(
        _("rows left to live events"), default=0, help_text=_("Rows whose live event, kept meanwhile, carries them.")
    )
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("backfill")
        verbose_name_plural = _("backfills")

    def __str__(self) -> str:
        return f"backfill of listener {self.listener_id}: {self.describe()}"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    def describe(self) -> str:
        """Its progress in words: ``1,200 of 5,000 rows read, 1,100 events sent``, ``done: ...``,
        ``failed: <reason>``."""
        counts = f"{self.read:,} of {self.total:,} rows read, {self.sent:,} events sent"
        if self.state == self.State.PENDING:
            return "waiting for a worker"
        if self.state == self.State.FAILED:
            return f"failed after {counts}: {self.error}"
        if self.state == self.State.DONE:
            return f"done: {counts}"
        return counts

    @staticmethod
    def holds(listener: Listener) -> bool:
        """True while ``listener`` has a backfill that has not finished (its live events wait)."""
        if listener.pk is None:
            return False
        try:
            backfill = listener.backfill
        except Backfill.DoesNotExist:
            return False
        return backfill is not None and not backfill.finished
