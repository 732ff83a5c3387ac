"""What may be shown or logged of a URL or of text a receiver or client controls.

``display_url`` is the one way a listener URL is shown or logged: its password is masked (it is kept,
and sent as Basic auth, only for delivery) and control characters are escaped. ``printable`` escapes
control characters (ESC, BEL, CR, ...) in any text bound for a log line or a terminal.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError

#: Shown instead of a URL's password.
MASK = "***"

# C0 controls, DEL and C1 controls; also the Unicode line/paragraph separators and bidi overrides.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def has_control(text: str) -> bool:
    """True when ``text`` holds a control character (see ``printable``)."""
    return _CONTROL.search(text) is not None


def printable(text: object) -> str:
    """``text`` with every control character written as an escape (``\\x1b``), safe for logs and terminals."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def mask_password(url: str) -> str:
    """``url`` with the password of its user info replaced by ``***`` (the user name is kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hostport}"))


def restore_password(url: str, stored: str) -> str:
    """``url`` as edited where ``stored`` was shown masked: a ``***`` password stands for the stored one.

    The stored password is put back whatever else changed in the user info, port or path, as long as
    the host is the same: a ``***`` is never saved as a password, and the old password is never sent to
    another host. Raises ``ValidationError`` when ``***`` cannot stand for a stored password.
    """
    try:
        new, old = urlsplit(url), urlsplit(stored)
        if new.password != MASK:
            return url
        if old.password is None:
            raise ValidationError(f"{MASK} stands for a stored password, and there is none: type the password.")
        if (new.hostname or "") != (old.hostname or ""):
            raise ValidationError(
                f"The host changed: type the password again ({MASK} stands for the password stored for "
                f"{old.hostname}, which is never sent to another host)."
            )
    except ValueError:
        return url
    user = new.netloc.rpartition("@")[0].partition(":")[0]
    password = old.netloc.rpartition("@")[0].partition(":")[2]
    hostport = new.netloc.rpartition("@")[2]
    return urlunsplit(new._replace(netloc=f"{user}:{password}@{hostport}"))


def display_url(url: str) -> str:
    """A listener URL as it may be shown or logged: password masked, control characters escaped."""
    return printable(mask_password(url))
