"""The delivery-health dashboard's figures and charts (shown in admin: ``durian.admin``).

For a window of hours (24 by default): success rate and p50/p99 attempt latency per hour, drawn
as SVG on the server; the listeners that fail most; the backlog now. About six queries, whatever
the number of delivery records (``durian.storage.stats``).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from ..storage import stats
from ..storage.connection import get_redis
from .charts import Series, responsive_chart

DEFAULT_HOURS = 24
MAX_HOURS = 24 * 31


def window(raw: str | None) -> int:
    """The window asked for (``?hours=``), within 1 hour and 31 days; 24 when absent or wrong."""
    try:
        hours = int(raw or DEFAULT_HOURS)
    except ValueError:
        return DEFAULT_HOURS
    return min(max(hours, 1), MAX_HOURS)


def figures(hours: int) -> dict[str, Any]:
    """Everything the dashboard shows, for the last ``hours`` hours."""
    now = timezone.now()
    since = now - datetime.timedelta(hours=hours)
    per_hour = stats.hourly(since, now)
    labels = [timezone.localtime(h.start).strftime("%d %H:00" if hours > 24 else "%H:00") for h in per_hour]
    rates = [None if h.success_rate is None else round(100 * h.success_rate, 1) for h in per_hour]
    attempts = sum(h.attempts for h in per_hour)
    delivered = sum(h.delivered for h in per_hour)
    merged = [sum(col) for col in zip(*(h.buckets for h in per_hour), strict=True)] if per_hour else []
    try:
        backlog: stats.Backlog | None = stats.backlog(get_redis("request"))
    except Exception:  # Redis down: the page still shows the database's figures
        backlog = None
    return {
        "hours": hours,
        "since": since,
        "attempts": attempts,
        "success_rate": round(100 * delivered / attempts, 1) if attempts else None,
        "p50": stats.percentile(merged, 0.5) if merged else None,
        "p99": stats.percentile(merged, 0.99) if merged else None,
        "success_chart": responsive_chart(
            "Success rate per hour (%)", labels, [Series("delivered", rates, "#2e7d32")], unit="%", top=100
        ),
        "latency_chart": responsive_chart(
            "Attempt latency per hour (ms)",
            labels,
            [
                Series("p50", [h.percentile(0.5) for h in per_hour], "#1565c0"),
                Series("p99", [h.percentile(0.99) for h in per_hour], "#c62828"),
            ],
            unit=" ms",
        ),
        "failing": stats.failing_most(since),
        "backlog": backlog,
        "windows": (1, 6, 24, 24 * 7, 24 * 30),
    }
