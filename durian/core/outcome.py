"""What one delivery attempt got (``Answer``) and what it means for the delivery (``Outcome``).

The transport fills in an ``Answer``; ``outcome_of`` applies the Standard Webhooks guidance to it:
2xx is delivered, 410 Gone is final, 429/502/503/504 honour ``Retry-After``, redirects and every
other status or network error are failures that follow the retry schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..conf import settings
from . import schedule

#: Statuses that ask the sender to slow down: retried, honouring ``Retry-After``.
SLOW_DOWN = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Answer:
    """What one POST got: a status (``None`` when there was no answer) or an error."""

    status: int | None = None
    reason: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    excerpt: bytes = b""
    truncated: bool = False
    error: str = ""
    refused: bool = False
    elapsed: float = 0.0
    detail: str = ""


@dataclass(frozen=True)
class Outcome:
    """What one attempt led to.

    ``final`` failures are not retried (a refused URL, 410 Gone); ``retry_after`` is the wait
    (seconds, already bounded) a receiver asked for with ``Retry-After``. ``error`` is a short
    reason a client understands ("connection refused by 127.0.0.1:9"); ``detail`` keeps the
    transport's technical text for staff.
    """

    ok: bool
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""
    elapsed: float = 0.0
    retry_after: float | None = None
    final: bool = False
    detail: str = ""

    @property
    def down(self) -> bool:
        """A connection failure or timeout: no HTTP answer, and not a refused URL (what opens a circuit)."""
        return not self.ok and self.status_code is None and not self.final

    @property
    def gone(self) -> bool:
        """The receiver answered 410 Gone: it wants no more deliveries."""
        return self.status_code == 410


def outcome_of(answer: Answer) -> Outcome:
    """The meaning of an answer: 2xx delivered; 410 final; 429/502/503/504 honour Retry-After;
    a redirect, any other status and network errors are failures that follow the schedule."""
    status = answer.status
    if status is None:
        return Outcome(False, None, answer.error, "", answer.elapsed, final=answer.refused, detail=answer.detail)
    if 200 <= status < 300:
        return Outcome(True, status, elapsed=answer.elapsed)
    excerpt = answer.excerpt.decode("utf-8", "replace")
    error = f"HTTP {status} {answer.reason}".strip()
    headers = {k.lower(): v for k, v in answer.headers.items()}
    retry_after = None
    if 300 <= status < 400:
        error += f": redirects are not followed (Location: {headers.get('location', '-')})"
    elif status == 410:
        error += ": the receiver asked for no more deliveries"
    elif status in SLOW_DOWN and headers.get("retry-after"):
        retry_after = schedule.retry_after(headers["retry-after"], float(settings.RETRY_AFTER_MAX))
    return Outcome(False, status, error, excerpt, answer.elapsed, retry_after=retry_after, final=status == 410)


def refused(reason: str) -> Outcome:
    """The outcome of a delivery that was not attempted (an inactive listener): a final failure."""
    return Outcome(False, error=reason, final=True)
