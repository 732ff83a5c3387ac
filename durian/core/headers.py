"""A listener's own HTTP headers (``Listener.headers``): the rules they follow, and how an edit keeps
the values it was shown masked. Pure helpers, no I/O; the values are sealed at rest (``durian.core.sealing``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

#: At most this many headers, and this many bytes of names and values together.
MAX_HEADERS = 20
MAX_TOTAL_BYTES = 4096
#: What a stored value is shown as; sent back in an edit, it keeps the stored value.
MASK = "***"

#: An RFC 7230 token (``field-name``).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A field value: visible ASCII and Latin-1, spaces inside (no control characters, tabs and line breaks included).
_VALUE = re.compile(r"[\x21-\x7e\xa0-\xff]([\x20-\x7e\xa0-\xff]*[\x21-\x7e\xa0-\xff])?")
#: Names durian sets or the HTTP connection owns (compared lower-case).
REFUSED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-type",
        "user-agent",
    }
)
REFUSED_PREFIXES = ("webhook-", "durian-")


def refused(name: str) -> bool:
    """True for a name a listener may not set: hop-by-hop, ``Host``, ``Content-*`` durian sets, ``User-Agent``,
    ``webhook-*`` (Standard Webhooks) and ``durian-*``."""
    lower = name.lower()
    return lower in REFUSED or lower.startswith(REFUSED_PREFIXES)


def validate_headers(value: Any) -> None:
    """Raise ``ValidationError`` unless ``value`` is a JSON object of at most 20 headers, 4 KB in all,
    each name an RFC 7230 token that is not refused (``refused``) and each value a non-empty string."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValidationError(
            'Headers must be a JSON object of names and values, such as {"Authorization": "Bearer …"}.',
            code="not_an_object",
        )
    if len(value) > MAX_HEADERS:
        raise ValidationError(
            "A listener may have at most %(most)d headers; these are %(count)d.",
            code="too_many",
            params={"most": MAX_HEADERS, "count": len(value)},
        )
    errors = []
    seen: set[str] = set()
    total = 0
    for name, text in value.items():
        shown = str(name)[:40]
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            errors.append(
                ValidationError(
                    "%(name)s is not a header name: use letters, digits and !#$%%&'*+-.^_`|~ only.",
                    code="bad_name",
                    params={"name": repr(shown)},
                )
            )
            continue
        if refused(name):
            errors.append(
                ValidationError(
                    "The header %(name)s is set by durian or the connection; choose another name.",
                    code="refused",
                    params={"name": shown},
                )
            )
            continue
        if name.lower() in seen:
            errors.append(ValidationError("The header %(name)s is given twice.", code="twice", params={"name": shown}))
            continue
        seen.add(name.lower())
        if not isinstance(text, str) or not _VALUE.fullmatch(text):
            errors.append(
                ValidationError(
                    "The value of %(name)s must be text on one line, without control characters.",
                    code="bad_value",
                    params={"name": shown},
                )
            )
            continue
        total += len(name.encode()) + len(text.encode())
    if total > MAX_TOTAL_BYTES:
        errors.append(
            ValidationError(
                "The headers take %(total)d bytes; at most %(most)d are allowed.",
                code="too_long",
                params={"total": total, "most": MAX_TOTAL_BYTES},
            )
        )
    if errors:
        raise ValidationError(errors)


def masked(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The headers as shown after creation: each value ``***``."""
    return {name: MASK for name in (headers or {})}


def restore(new: Any, stored: Mapping[str, str] | None) -> Any:
    """``new`` with each ``***`` value replaced by the stored value of the same name (names compared
    case-insensitively). A ``***`` for a header that has no stored value is refused."""
    if not isinstance(new, Mapping):
        return new
    by_lower = {name.lower(): text for name, text in (stored or {}).items()}
    out = {}
    for name, text in new.items():
        if text == MASK:
            if not isinstance(name, str) or name.lower() not in by_lower:
                raise ValidationError(
                    "%(name)s has no stored value for *** to keep; give its value.",
                    code="nothing_to_keep",
                    params={"name": str(name)[:40]},
                )
            text = by_lower[name.lower()]
        out[name] = text
    return out
