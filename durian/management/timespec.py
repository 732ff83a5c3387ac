"""Points in time and durations as operators type them: ``7d``, ``12h``, ``30min``, ``90s``, ISO 8601.

Minutes are written ``min``: a bare ``m`` (minute or month?) is refused, since a reader who took
``--older-than 1m`` for a month would wipe history by mistake.
"""

from __future__ import annotations

import datetime
import re

from django.utils import timezone

from ..exceptions import AmbiguousDuration

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "min": 60, "s": 1}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(min|w|d|h|s)")
_AMBIGUOUS = re.compile(r"\d(m|mo|mon|month|months)(\d|$)")
#: The longest duration a timedelta holds.
MAX_DAYS = datetime.timedelta.max.days


class DurationTooLong(ValueError):
    """A well-formed duration longer than a ``timedelta`` holds."""


def parse_duration(text: str) -> datetime.timedelta:
    """``"7d"``, ``"12h"``, ``"1h30min"``, ``"45s"``, ``"2w"`` as a timedelta; ``ValueError`` otherwise."""
    cleaned = text.strip().lower().replace(" ", "")
    if _AMBIGUOUS.search(cleaned):
        raise AmbiguousDuration(
            f"ambiguous duration: {text!r}; write minutes as 'min' (30min); months are not accepted (use 30d)"
        )
    parts = _DURATION.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"not a duration: {text!r} (use e.g. 7d, 12h, 30min, 1h30min)")
    try:
        return datetime.timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    except OverflowError:
        raise DurationTooLong(f"duration too long: {text!r} (at most {MAX_DAYS:,} days)") from None


def parse_moment(text: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """A point in time: an ISO 8601 date or datetime (naive means the current time zone), or a
    duration meaning that long ago (``"2h"`` is two hours before ``now``)."""
    now = now or timezone.now()
    try:
        ago = parse_duration(text)
    except (AmbiguousDuration, DurationTooLong):
        raise
    except ValueError:
        pass
    else:
        try:
            return now - ago
        except OverflowError:
            raise ValueError(
                f"too far back: {text!r} before now is before year 1; use a shorter duration or a date"
            ) from None
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use an ISO date/time such as 2026-11-24T08:00, or 12h for 12 hours ago)"
        ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class WindowError(ValueError):
    """A replay window that cannot be: ``field`` (``since`` or ``until``) says which end is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def replay_window(
    since: str, until: str | None = None, now: datetime.datetime | None = None
) -> tuple[datetime.datetime, datetime.datetime]:
    """The window ``durian_replay``, the pages and the API replay: ``since`` (required) and ``until``
    (default: now), each an ISO date/time or a duration ago. ``since`` may not be in the future nor
    after ``until``. Raises ``WindowError`` naming the field at fault."""
    now = now or timezone.now()
    if not (since or "").strip():
        raise WindowError("since", "a start is required: an ISO date/time, or a duration ago (12h, 7d)")
    try:
        start = _in_utc(parse_moment(since, now), since)
    except ValueError as exc:
        raise WindowError("since", str(exc)) from None
    try:
        end = _in_utc(parse_moment(until, now), until) if (until or "").strip() else now
    except ValueError as exc:
        raise WindowError("until", str(exc)) from None
    if start > now:
        raise WindowError("since", f"{since} is in the future: there is nothing to replay yet")
    if start > end:
        raise WindowError("until", "the end is before the start (since)")
    return start, end


def _in_utc(moment: datetime.datetime, text: str) -> datetime.datetime:
    """``moment`` in UTC, as the database stores it; ``ValueError`` when that is outside years 1-9999."""
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:
        raise ValueError(f"out of range: {text!r} is outside the years 1 to 9999 in UTC") from None
