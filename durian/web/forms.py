"""The listener form: URL, description and one filter row per field the hook provides.

Every message about a listener comes from one place: each filter row is checked with
``Hook.validate_filters`` and the whole listener with ``durian.listeners.validate_listener``
(the model's invariants, then the hook, its fields and the URL), and each error is shown next to
the field it is about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import django
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import URLValidator

from ..conf import settings as durian_settings
from ..core import match, redact
from ..core.headers import restore as restore_headers
from ..core.payload import PAYLOAD_FORMATS
from ..hook import Hook
from ..listeners import check_quota, create_listener, validate_backfill, validate_listener
from ..models import Listener
from .hookfields import format_value, is_text, parse_value

#: The matchers offered in a filter row, in order, with the words shown for them.
MATCHERS: list[tuple[type[match.Matcher], str]] = [
    (match.Any, "any"),
    (match.Is, "is"),
    (match.Startswith, "starts with"),
    (match.Endswith, "ends with"),
    (match.Contains, "contains"),
    (match.Like, "like (regular expression)"),
]
_BY_OP = {cls.op: cls for cls, _ in MATCHERS}
#: The matcher offered on fields of hooks that report changes (``on_change``): "changed to" a
#: value, or changed at all when the value is left empty.
CHANGED = (match.Changed, "changed to")
_FORMAT_WORDS = (
    "the event's fields",
    "{type, timestamp, data} (Standard Webhooks)",
    "a CloudEvents 1.0 structured message (application/cloudevents+json)",
)
#: The matchers that fit a field whose values are not text (numbers, booleans, dates...).
_NOT_TEXT = (match.Any.op, match.Is.op)
_URL_OPTIONS: dict[str, Any] = {"assume_scheme": "https"} if django.VERSION >= (5, 0) else {}


@dataclass(frozen=True)
class FilterRow:
    """One filter row as a template shows it: the payload field, its matcher and its value."""

    field: str
    matcher: forms.BoundField
    value: forms.BoundField


class _ListenerURLField(forms.URLField):
    """A URL field accepting http and https only, with one message for a bad URL."""

    default_validators = [URLValidator(schemes=["http", "https"])]


class ListenerForm(forms.Form):
    """Create (``instance=None``) or edit a listener of ``hook``.

    ``hook`` is ``None`` for a listener whose hook the site no longer registers: only its URL and
    description can be edited then, and its stored filters are kept. ``owner`` (on create) is
    checked against ``DURIAN_MAX_LISTENERS_PER_USER``.
    """

    url = _ListenerURLField(
        label="URL",
        max_length=2000,
        help_text="Where events are POSTed, e.g. https://example.com/webhooks/.",
        widget=forms.URLInput(attrs={"autocomplete": "url", "size": 60}),
        **_URL_OPTIONS,
    )
    description = forms.CharField(
        label="Description",
        max_length=255,
        required=False,
        help_text="Optional: a note for yourself.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    payload_format = forms.ChoiceField(
        label="Payload format",
        choices=[(name, f"{name}: {words}") for name, words in zip(PAYLOAD_FORMATS, _FORMAT_WORDS, strict=True)],
        initial=PAYLOAD_FORMATS[0],
        required=False,
        help_text="How the body is laid out. All are signed the same way (Standard Webhooks headers).",
    )

    fields = forms.MultipleChoiceField(
        label="Fields sent",
        required=False,
        choices=[],
        widget=forms.CheckboxSelectMultiple,
        help_text="Optional: send only these fields of each event. None ticked: all of them. Filters still see every field.",
    )
    headers = forms.CharField(
        label="Headers",
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "spellcheck": "false", "autocomplete": "off"}),
        help_text=(
            "Optional: extra HTTP headers sent with every delivery, one “Name: value” a line (at most 20, 4 KB in "
            "all). Values are stored sealed and shown as ***; leave *** to keep a value."
        ),
    )
    retry_schedule = forms.CharField(
        label="Retry schedule",
        required=False,
        help_text=(
            "Optional: seconds to wait before each retry, such as “10, 60, 300”: 1 to 20 delays, each between 1 s "
            "and 7 days. Empty: the site's schedule."
        ),
        widget=forms.TextInput(attrs={"size": 60, "inputmode": "decimal"}),
    )

    max_in_flight = forms.IntegerField(
        label="Concurrent requests",
        required=False,
        min_value=1,
        max_value=1000,
        help_text="Optional: most requests in flight to this URL at once. Empty: the site's default.",
    )
    rate_limit = forms.FloatField(
        label="Requests per second",
        required=False,
        min_value=0.01,
        help_text="Optional: most requests per second to this URL. Empty: no limit.",
    )

    ordered = forms.BooleanField(
        label="Ordered",
        required=False,
        help_text=(
            "Deliver events one at a time, in the order they were saved: a failing event holds the ones "
            "behind it until it succeeds or becomes a dead letter. Slower: one request at a time."
        ),
    )

    backfill = forms.BooleanField(
        label="Send existing rows first",
        required=False,
        help_text=(
            "On creation only: first send one event for each existing row these filters match (in primary-key "
            "order, marked with a Durian-Backfill: 1 header), then the live events, none lost and none twice."
        ),
    )

    #: The listener's own fields this form edits (the filters aside).
    EDITS = (
        "url",
        "description",
        "payload_format",
        "max_in_flight",
        "rate_limit",
        "ordered",
        "fields",
        "headers",
        "retry_schedule",
    )

    def __init__(
        self,
        *args: Any,
        hook: Hook | None,
        instance: Listener | None = None,
        owner: Any = None,
        **kwargs: Any,
    ) -> None:
        self.hook = hook
        self.owner = owner
        self.instance = instance or Listener(hook=hook.name if hook else "")
        initial = kwargs.setdefault("initial", {})
        if instance is not None:
            for name in self.EDITS:
                initial.setdefault(name, getattr(instance, name))
            initial["url"] = redact.mask_password(instance.url)  # the password stays on the server
            initial["headers"] = "\n".join(f"{name}: {value}" for name, value in instance.masked_headers.items())
            initial["retry_schedule"] = ", ".join(_number(d) for d in instance.retry_schedule or ())
        broken = instance is None or bool(self.instance.filters_problem)
        current = {} if broken else self.instance.matchers
        super().__init__(*args, **kwargs)
        if instance is not None or not _backfills(hook):  # offered on creation, for a model hook's rows
            del self.fields["backfill"]
        if hook is None:  # the hook is gone: its fields are unknown, the stored choice is kept
            del self.fields["fields"]
        else:
            self.fields["fields"].choices = [(name, name) for name in hook.fields]
        for name in ("url", "description"):  # too long is refused with a message, never cut by the browser
            self.fields[name].widget.attrs.pop("maxlength", None)
        for name in self.field_names:
            fitting = [(cls, words) for cls, words in MATCHERS if is_text(hook, name) or cls.op in _NOT_TEXT]
            if hook.reports_changes and name in hook.provides_args:
                fitting.append(CHANGED)
            offered = [(cls.op, words) for cls, words in fitting]
            matcher = current.get(name, match.Any())
            if matcher.op not in {op for op, _ in offered}:  # stored before the rules held (e.g. through the
                # API): shown as it is, never as "any"; saving it unchanged says what is wrong with it
                offered.append(
                    (matcher.op, next((w for c, w in [*MATCHERS, CHANGED] if c.op == matcher.op), matcher.op))
                )
            shown = matcher.value.get("to", "") if isinstance(matcher, match.Changed) else matcher.value
            self.fields[self._op(name)] = forms.ChoiceField(
                label=f"Matcher for {name}", choices=offered, initial=matcher.op
            )
            self.fields[self._value(name)] = forms.CharField(
                label=f"Value for {name}",
                required=False,
                strip=False,
                max_length=int(durian_settings.LIKE_MAX_LENGTH),
                initial="" if isinstance(matcher, match.Any) or shown == "" else format_value(shown),
            )
            self.fields[self._value(name)].widget.attrs.pop("maxlength", None)

    @property
    def field_names(self) -> list[str]:
        """The payload fields offered as filter rows (none when the hook no longer exists)."""
        return list(self.hook.fields) if self.hook is not None else []

    @staticmethod
    def _op(name: str) -> str:
        return f"filter-{name}-op"

    @staticmethod
    def _value(name: str) -> str:
        return f"filter-{name}-value"

    def rows(self) -> list[FilterRow]:
        """The filter rows, one per field the hook provides."""
        return [FilterRow(name, self[self._op(name)], self[self._value(name)]) for name in self.field_names]

    # -- validation -------------------------------------------------------------------------------

    def _filters(self) -> dict[str, match.Matcher]:
        """The matchers of the rows that hold one; a row's error goes next to its value."""
        filters: dict[str, match.Matcher] = {}
        assert self.hook is not None
        for name in self.field_names:
            op = self.cleaned_data.get(self._op(name))
            text = self.cleaned_data.get(self._value(name), "")
            if op is None or self._value(name) in self.errors:
                continue
            if op == match.Any.op:
                if text:
                    self.add_error(self._value(name), "Choose a matcher for this value, or clear it.")
                continue
            if text == "" and op not in (match.Is.op, match.Changed.op):
                self.add_error(self._value(name), "Enter a value for this matcher, or choose “any”.")
                continue
            try:
                if op == match.Changed.op:
                    matcher: match.Matcher = (
                        match.Changed(to=parse_value(self.hook, name, text)) if text else match.Changed()
                    )
                else:
                    value = parse_value(self.hook, name, text) if op == match.Is.op else text
                    matcher = _BY_OP[op](value)
                self.hook.validate_filters({name: matcher})
            except ValidationError as exc:
                self.add_error(self._value(name), _messages(exc))
                continue
            filters[name] = matcher
        return filters

    def clean_payload_format(self) -> str:
        return self.cleaned_data.get("payload_format") or PAYLOAD_FORMATS[0]

    def clean_headers(self) -> dict[str, str]:
        """``Name: value`` lines as a dict; ``***`` keeps a stored value (``durian.core.headers.restore``)."""
        out: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data.get("headers", "").split("\n"), start=1):
            line = line.removesuffix("\r")
            if not line.strip():
                continue
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise ValidationError(f"Line {number} is not “Name: value”.")
            if name.strip() in out:
                raise ValidationError(f"The header {name.strip()} is given twice.")
            out[name.strip()] = value.strip()
        stored = self.instance.headers if self.instance.pk is not None else {}
        return restore_headers(out, stored)

    def clean_retry_schedule(self) -> list[float] | None:
        """``10, 60, 300`` as ``[10, 60, 300]``; empty: ``None`` (the site's schedule)."""
        text = self.cleaned_data.get("retry_schedule", "").strip()
        if not text:
            return None
        delays: list[float] = []
        for part in text.replace(";", ",").split(","):
            try:
                number = float(part.strip())
            except ValueError:
                raise ValidationError(
                    f"“{part.strip()[:40]}” is not a number of seconds; write “10, 60, 300”."
                ) from None
            delays.append(int(number) if number.is_integer() else number)
        return delays

    def _post_clean(self) -> None:
        listener = self.instance
        if "url" in self.cleaned_data:
            try:
                self.cleaned_data["url"] = redact.restore_password(
                    self.cleaned_data["url"], listener.url if listener.pk is not None else ""
                )
            except ValidationError as exc:
                self.add_error("url", exc)  # also drops "url" from cleaned_data: the stored URL stays
        for name in self.EDITS:
            if name in self.cleaned_data:
                setattr(listener, name, self.cleaned_data[name])
        if self.hook is not None:
            listener.filters = match.filters_to_json(self._filters())
        if listener.pk is None:
            try:
                check_quota(self.owner)
            except ValidationError as exc:
                self.add_error(None, exc)
        try:
            validate_listener(listener, exclude=["owner"] if self.hook else ["owner", "filters"])
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                if key in self.EDITS:
                    if key not in self.errors:
                        self.add_error(key, messages)
                elif self.hook is None:
                    continue  # the hook (and so its filters) is gone: only URL and description are edited
                elif key in self.field_names:
                    if self._value(key) not in self.errors:
                        self.add_error(self._value(key), messages)
                else:
                    self.add_error(None, messages if key == NON_FIELD_ERRORS else [f"{key}: {m}" for m in messages])

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:  # point assistive technology at each field's errors
            if name in self.fields:
                field = self.fields[name]
                ids = [f"id_{name}_errors"] + ([f"id_{name}_helptext"] if field.help_text else [])
                field.widget.attrs["aria-describedby"] = " ".join(ids)

    # -- saving -----------------------------------------------------------------------------------

    def save(self, owner: Any = None) -> Listener:
        """Save the listener: a new one for ``owner``, or only the form's fields of an existing one."""
        listener = self.instance
        if listener.pk is None:
            listener.owner = owner
            create_listener(listener, backfill=bool(self.cleaned_data.get("backfill")))
        else:  # never overwrite state or health that workers update meanwhile
            listener.save(update_fields=[*(n for n in self.EDITS if n in self.fields), "filters", "updated_at"])
        return listener


def _backfills(hook: Hook | None) -> bool:
    """True when listeners of ``hook`` may ask for a backfill (``validate_backfill``)."""
    if hook is None:
        return False
    try:
        validate_backfill(hook.name)
    except ValidationError:
        return False
    return True


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [m for messages in exc.message_dict.values() for m in messages]
    return list(exc.messages)
