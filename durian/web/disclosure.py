"""What a client may learn of a receiver's answer.

A receiver inside ``DURIAN_ALLOWED_NETWORKS`` (a non-public network a site lets listeners reach) may
be an internal page: a client who is not staff sees only its status code, or "no answer", never its
body, reason phrase, headers or network error. Every page and API route that shows an outcome goes
through here.
"""

from __future__ import annotations

import re
from typing import Any

from ..models import Listener
from ..transport.ssrf import reaches_allowed_private

#: What a client is told when an internal receiver did not answer with a status.
NO_ANSWER = "no answer"
_STATUS = re.compile(r"HTTP (\d{3})\b")


def status_only(user: Any, listener: Listener) -> bool:
    """True when ``user`` may see only the status code of what ``listener``'s receiver answered."""
    return not getattr(user, "is_staff", False) and reaches_allowed_private(listener.url)


def error_text(error: str, hidden: bool) -> str:
    """``error`` as shown: when ``hidden``, only its ``HTTP <status>``, or "no answer" (or nothing when
    there is no error)."""
    if not hidden or not error:
        return error
    status = _STATUS.match(error)
    return f"HTTP {status.group(1)}" if status else NO_ANSWER
