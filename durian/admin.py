"""Django admin for listeners and dead letters."""

from __future__ import annotations

import json
from typing import Any

import django
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms.models import construct_instance
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from .conf import settings as durian_settings
from .core.headers import restore as restore_headers
from .core.redact import mask_password, restore_password
from .listeners import create_listener, validate_backfill, validate_listener
from .models import Backfill, DeadLetter, Delivery, Listener
from .pipeline.resend import queue_resend, resend
from .registry import hooks
from .storage.circuit import describe as describe_circuits
from .web import dashboard

#: The filters field's help in admin: the JSON format of ``Listener.filters``.
FILTERS_HELP = _(
    'A JSON object, one entry per payload field: {"name": {"op": "startswith", "value": "J"}}. '
    "op is one of is, startswith, endswith, contains, like (an RE2 regular expression) or any. "
    "An event is sent when every entry holds; {} sends every event."
)
#: Session key holding the ids of the listeners whose new secrets the next admin page shows, once.
ROTATED_KEY = "durian_admin_rotated_secrets"
#: Re-sending more dead letters than this at once goes through the workers, not the request.
RESEND_IN_REQUEST = 5


def _pretty_json(value: Any) -> str:
    """JSON shown escaped in a <pre>, never through mark_safe."""
    return format_html(
        "<pre style='white-space:pre-wrap;margin:0'>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False)
    )


class FiltersField(forms.JSONField):
    """The filters' JSON box: text nested too deep for Python's parser is a message, never a 500."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except RecursionError:
            raise ValidationError(_("Filters nest far too deep: write {field: {op, value}}."), code="invalid") from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)


class ListenerAdminForm(forms.ModelForm):
    """The admin's listener form: validated by ``durian.listeners.validate_listener``, like every other
    way of making a listener. Errors about one filter show on the filters field, named."""

    url = forms.URLField(
        label=_("URL"), max_length=2000, **({"assume_scheme": "https"} if django.VERSION >= (5, 0) else {})
    )
    backfill = forms.BooleanField(
        label=_("send existing rows first"),
        required=False,
        help_text=_(
            "On creation only, for a model's hook: first send one event for each existing row the filters match "
            "(marked Durian-Backfill: 1), then the live events."
        ),
    )

    class Meta:
        model = Listener
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:  # a URL's password is shown masked, and kept when left so
            self.initial["url"] = mask_password(self.instance.url)
            self.fields.pop("backfill", None)  # asked for on creation; manage.py durian_backfill runs it again
        # header values are shown masked (***), and kept when left so; never the sealed tokens
        self.initial["headers"] = self.instance.masked_headers if self.instance.pk is not None else {}

    def clean_headers(self) -> Any:
        stored = self.instance.headers if self.instance.pk is not None else {}
        value = self.cleaned_data.get("headers")
        return {} if value is None else restore_headers(value, stored)

    def clean_fields(self) -> Any:  # the form field ``fields``: an empty box sends every field
        value = self.cleaned_data.get("fields")
        return [] if value is None else value

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        return restore_password(url, self.instance.url if self.instance.pk is not None else "")

    def _post_clean(self) -> None:
        opts = self._meta
        try:
            self.instance = construct_instance(self, self.instance, opts.fields, opts.exclude)
            validate_listener(self.instance, exclude=self._get_validation_exclusions())
        except ValidationError as exc:
            self._update_errors(self._by_form_field(exc))
        if self.cleaned_data.get("backfill") and self.instance.pk is None:
            try:
                validate_backfill(self.instance.hook)
            except ValidationError as exc:
                self._update_errors(exc)
        if self._validate_unique:
            self.validate_unique()

    def _by_form_field(self, exc: ValidationError) -> ValidationError:
        """``exc`` with errors about fields the form lacks (a filter's payload field) moved to ``filters``.

        A listener whose hook the site no longer registers may still be edited (URL, state), as
        long as its hook is left as it is.
        """
        if not hasattr(exc, "error_dict"):
            return exc
        errors: dict[str, list[str]] = {}
        hook_kept = self.instance.pk is not None and "hook" not in self.changed_data
        for field, texts in exc.message_dict.items():
            if field == "hook" and hook_kept and self.instance.hook not in hooks:
                continue
            if field in self.fields or field == NON_FIELD_ERRORS:
                errors.setdefault(field, []).extend(texts)
            else:
                target = "filters" if "filters" in self.fields else NON_FIELD_ERRORS
                errors.setdefault(target, []).extend(f"{field}: {m}" for m in texts)
        return ValidationError(errors)


class ListenerIdFilter(admin.SimpleListFilter):
    """Filter by listener id, typed in a box: a list of every listener URL would not fit the page."""

    title = _("listener")
    parameter_name = "listener"
    template = "durian/admin/input_filter.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("", "")]  # Django shows a filter only when it has choices; the template shows a box

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = (self.value() or "").strip()
        return queryset.filter(listener_id=int(value)) if value.isdigit() else queryset


@admin.register(Listener)
class ListenerAdmin(admin.ModelAdmin):
    form = ListenerAdminForm
    list_display = (
        "id",
        "hook",
        "shown_url",
        "filters_in_words",
        "state_and_reason",
        "consecutive_failures",
        "circuit",
        "ordered",
        "last_success_at",
        "owner",
    )
    list_filter = ("hook", "state", "payload_format", "ordered")
    search_fields = ("url", "description", "hook")
    readonly_fields = (
        "masked_secret",
        "filters_in_words",
        "backfill_progress",
        "circuit",
        "consecutive_failures",
        "last_success_at",
        "last_failure_at",
        "failing_since",
        "disabled_reason",
        "endpoint_validation",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("owner",)
    actions = ["enable_selected", "rotate_secrets"]

    def get_urls(self) -> list[Any]:
        """The listener admin's pages, and the delivery-health dashboard (``admin:durian_health``)."""
        health = path("health/", self.admin_site.admin_view(self.health_view), name="durian_health")
        rotated = path(
            "rotated-secrets/", self.admin_site.admin_view(self.rotated_secrets_view), name="durian_rotated_secrets"
        )
        return [health, rotated, *super().get_urls()]

    def health_view(self, request: HttpRequest) -> TemplateResponse:
        """Delivery health for staff who may view listeners (``?hours=`` chooses the window)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Delivery health"),
            **dashboard.figures(dashboard.window(request.GET.get("hours"))),
        }
        return TemplateResponse(request, "admin/durian/health.html", context)

    @admin.display(description=_("endpoint validation"))
    def endpoint_validation(self, obj: Listener) -> str:
        """The validation state (DURIAN_VERIFY_ENDPOINTS), the last error and the next try."""
        if obj.pk is None:
            return "-"
        parts = [obj.validation_state]
        if not durian_settings.VERIFY_ENDPOINTS:
            parts.append("not required (DURIAN_VERIFY_ENDPOINTS is off)")
        if obj.validation_error:
            parts.append(f"last try failed: {obj.validation_error}")
        if obj.validation_next_at and not obj.url_validated and durian_settings.VERIFY_ENDPOINTS:
            parts.append(f"next try {obj.validation_next_at:%Y-%m-%d %H:%M:%S %Z}")
        return "; ".join(parts)

    @admin.display(description=_("filters"))
    def filters_in_words(self, obj: Listener) -> str:
        if obj.hook not in hooks:
            return f"hook no longer exists; {obj.describe_filters()}"
        return obj.describe_filters()

    @admin.display(description=_("backfill"))
    def backfill_progress(self, obj: Listener) -> str:
        backfill = Backfill.objects.filter(listener_id=obj.pk).first() if obj.pk else None
        return backfill.describe() if backfill is not None else "-"

    def get_fields(self, request: HttpRequest, obj: Listener | None = None) -> Any:
        fields = super().get_fields(request, obj)
        return [f for f in fields if f != "backfill"] if obj is not None else fields

    @admin.display(description=_("URL"), ordering="url")
    def shown_url(self, obj: Listener) -> str:
        return obj.display_url

    @admin.display(description=_("signing secret"))
    def masked_secret(self, obj: Listener) -> str:
        return obj.masked_secret if obj.pk else "-"

    @admin.display(description=_("circuit"))
    def circuit(self, obj: Listener) -> str:
        if obj.pk is None:
            return "-"
        return describe_circuits([obj.pk])[obj.pk]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "url" and django.VERSION >= (5, 0):
            kwargs.setdefault("assume_scheme", "https")  # Django 6's default; silences its warning
        if db_field.name == "filters":
            kwargs.setdefault("help_text", FILTERS_HELP)
            kwargs.setdefault("form_class", FiltersField)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("state"), ordering="state")
    def state_and_reason(self, obj: Listener) -> str:
        if obj.state == Listener.State.DISABLED and obj.disabled_reason:
            return f"{obj.get_state_display()}: {obj.disabled_reason}"
        return obj.get_state_display()

    def save_model(self, request: HttpRequest, obj: Listener, form: Any, change: bool) -> None:
        if change and "state" in form.changed_data and obj.state == Listener.State.ACTIVE:
            obj.enable()  # a fresh health record: the old failure streak must not disable it at once
        elif not change:
            create_listener(obj, backfill=bool(form.cleaned_data.get("backfill")))
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description=_("Enable selected listeners (then re-send their dead letters)"), permissions=["change"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[Listener]) -> None:
        listeners = list(queryset.exclude(state=Listener.State.ACTIVE))
        for listener in listeners:
            listener.enable()
        self.message_user(request, f"{len(listeners)} listener(s) enabled.", messages.SUCCESS)

    @admin.action(description=_("Rotate the signing secret of selected listeners"), permissions=["change"])
    def rotate_secrets(self, request: HttpRequest, queryset: QuerySet[Listener]) -> HttpResponse | None:
        """Rotate, then show each new secret once (``rotated_secrets_view``); the session holds only ids."""
        listeners = list(queryset)
        for listener in listeners:
            listener.rotate_secret()
        if not listeners:
            return None
        request.session[ROTATED_KEY] = [x.pk for x in listeners]
        self.message_user(
            request,
            f"{len(listeners)} secret(s) rotated; the old ones keep signing until "
            f"{listeners[0].previous_secret_expires_at:%Y-%m-%d %H:%M} UTC.",
            messages.SUCCESS,
        )
        return redirect("admin:durian_rotated_secrets")

    @method_decorator(never_cache)
    def rotated_secrets_view(self, request: HttpRequest) -> TemplateResponse:
        """The new secrets of the listeners just rotated, shown this once; masked everywhere else."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        ids = request.session.pop(ROTATED_KEY, None) or []
        listeners = list(Listener.objects.filter(pk__in=ids).order_by("hook", "id"))
        for listener in listeners:
            listener.new_secret = listener.secret  # opened: shown to staff on this page only
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("New signing secrets"),
            "listeners": listeners,
        }
        return TemplateResponse(request, "admin/durian/rotated_secrets.html", context)


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = (
        "webhook_id",
        "hook",
        "listener",
        "status",
        "attempts",
        "last_status_code",
        "short_error",
        "created_at",
    )
    list_filter = ("status", "hook", ListenerIdFilter)
    search_fields = ("webhook_id", "event_id", "last_error", "listener__url")
    change_form_template = "durian/admin/deadletter_change_form.html"
    readonly_fields = (
        "listener",
        "hook",
        "event_id",
        "webhook_id",
        "payload_json",
        "attempts",
        "status",
        "last_status_code",
        "last_error",
        "last_error_detail",
        "response_excerpt",
        "event_created_at",
        "created_at",
        "updated_at",
        "delivered_at",
    )
    exclude = ("payload",)
    actions = ["retry_selected"]
    list_select_related = ("listener",)

    @admin.display(description=_("payload"))
    def payload_json(self, obj: DeadLetter) -> str:
        return _pretty_json(obj.payload)

    @admin.display(description=_("last error"))
    def short_error(self, obj: DeadLetter) -> str:
        return obj.last_error if len(obj.last_error) <= 80 else obj.last_error[:77] + "..."

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Nothing on a dead letter is edited: its page offers Retry instead of Save."""
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def response_change(self, request: HttpRequest, obj: DeadLetter) -> HttpResponse:
        if "_retry" in request.POST:
            self.retry_selected(request, DeadLetter.objects.filter(pk=obj.pk))
            return self.response_post_save_change(request, obj)
        return super().response_change(request, obj)

    @admin.action(description=_("Retry selected dead letters"), permissions=["change"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        pending = list(queryset.exclude(status=DeadLetter.Status.DELIVERED).select_related("listener"))
        if len(pending) > RESEND_IN_REQUEST:
            count = queue_resend(pending)
            self.message_user(
                request,
                f"{count} dead letter(s) queued for the workers; their status changes as they go out.",
                messages.SUCCESS,
            )
            return
        delivered, failed = resend(pending)
        if delivered:
            self.message_user(request, f"{delivered} dead letter(s) delivered.", messages.SUCCESS)
        if failed:
            self.message_user(request, f"{failed} dead letter(s) failed again; see their last error.", messages.WARNING)
        if not delivered and not failed:
            self.message_user(request, "Nothing to retry: the selected rows were already delivered.", messages.INFO)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Every attempt, read-only: the listener's delivery history."""

    list_display = ("webhook_id", "hook", "listener", "attempt", "ok", "status_code", "duration_ms", "created_at")
    list_filter = ("ok", "hook", ListenerIdFilter)
    search_fields = ("webhook_id", "event_id", "error")
    list_select_related = ("listener",)
    date_hierarchy = "created_at"
    change_form_template = "durian/admin/delivery_change_form.html"  # long webhook ids wrap on a phone

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
