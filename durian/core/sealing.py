"""Signing secrets at rest: sealed (encrypted) with keys from settings, opened only to sign or show once.

``seal`` encrypts a ``whsec_`` secret with the first key of ``DURIAN_SECRET_KEYS`` (Fernet: AES-128-CBC
and HMAC-SHA256); ``unseal`` decrypts with any of the keys (``MultiFernet``), so keys rotate by putting
a new one first and keeping the old ones until ``manage.py durian_reseal`` has re-sealed every row.
Without ``DURIAN_SECRET_KEYS`` the key is derived from Django's ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings as django_settings

from ..conf import settings
from ..exceptions import SealError
from .signing import SECRET_PREFIX


def _fernet_key(key: str) -> bytes:
    """A Fernet key derived (HKDF-SHA256) from any key string, so settings may hold any long random text."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"durian-secrets", info=b"durian").derive(key.encode())
    return base64.urlsafe_b64encode(derived)


@functools.lru_cache(maxsize=8)
def _box(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise SealError("No key to seal secrets with: set DURIAN_SECRET_KEYS (or Django's SECRET_KEY).")
    return MultiFernet([Fernet(_fernet_key(k)) for k in keys])


def keys() -> tuple[str, ...]:
    """The sealing keys, newest first: ``DURIAN_SECRET_KEYS``, else Django's ``SECRET_KEY``."""
    configured: Sequence[str] | str | None = settings.SECRET_KEYS
    if isinstance(configured, str):
        configured = [configured]
    if configured:
        return tuple(configured)
    return (django_settings.SECRET_KEY,) if django_settings.SECRET_KEY else ()


#: Tokens opened and made in this process, both ways, per key set: loading a listener and publishing
#: it to the cache then cost no cryptography after the first time (Fernet takes ~0.1 ms a call).
_MEMO_SIZE = 65_536
_opened: dict[tuple[tuple[str, ...], str], str] = {}
_made: dict[tuple[tuple[str, ...], str], str] = {}


def _remember(token: str, secret: str, key_set: tuple[str, ...], made: bool = True) -> None:
    if len(_opened) >= _MEMO_SIZE or len(_made) >= _MEMO_SIZE:
        _opened.clear()
        _made.clear()
    _opened[(key_set, token)] = secret
    if made:
        _made[(key_set, secret)] = token


def seal(secret: str) -> str:
    """The secret encrypted with the newest key (the same token again for a secret this process saw)."""
    if not secret:
        return ""
    key_set = keys()
    token = _made.get((key_set, secret))
    if token is None:
        token = _box(key_set).encrypt(secret.encode()).decode()
        _remember(token, secret, key_set)
    return token


#: How every Fernet token starts (version byte 0x80, then a timestamp's zero high bytes).
_TOKEN_START = "gAAAAA"


def is_sealed(value: str) -> bool:
    """True for a sealed token; False for a plain secret (a row written before secrets were sealed)."""
    return value.startswith(_TOKEN_START)


def unseal(value: str) -> str:
    """The secret inside a sealed token: the one function that opens a secret.

    Called only to sign a body (``durian.transport.delivery.request_parts``) and to show a secret to
    its owner (once, or masked), through ``Listener.secret``. A plain secret (a row written before
    secrets were sealed) is returned as is.
    """
    if not is_sealed(value):
        return value
    key_set = keys()
    secret = _opened.get((key_set, value))
    if secret is None:
        token = value.encode()
        try:  # the newest key's tokens are remembered both ways: sealing the secret again gives this token
            secret, newest = _box(key_set[:1]).decrypt(token).decode(), True
        except InvalidToken:
            try:
                secret, newest = _box(key_set).decrypt(token).decode(), False
            except InvalidToken:
                raise SealError("A listener secret cannot be opened with any key in DURIAN_SECRET_KEYS.") from None
        _remember(value, secret, key_set, made=newest)  # an older key's token is never re-used to seal
    return secret


def reseal(value: str) -> str:
    """The token re-encrypted with the newest key (for key rotation)."""
    if not is_sealed(value):
        return seal(value)
    try:
        return _box(keys()).rotate(value.encode()).decode()
    except InvalidToken:
        raise SealError("A listener secret cannot be opened with any key in DURIAN_SECRET_KEYS.") from None


def mask(secret: str) -> str:
    """A plain secret as staff may see it: ``whsec_…`` and its last four characters."""
    return f"{SECRET_PREFIX}…{secret[-4:]}" if secret else ""


# -- URL passwords ---------------------------------------------------------------------------------
#
# A listener URL's password (``https://user:password@host/``) is a secret too: it is stored and cached
# with the password sealed in place (``https://user:gAAAAA...@host/``; a Fernet token is URL-safe), and
# opened only where a request is made. The rest of the URL stays readable, for search and display.


def _with_password(url: str, change: Callable[[str], str]) -> str:
    if "@" not in url:  # most URLs: no user info, nothing to parse
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not colon or not password:
        return url
    new = change(password)
    return url if new == password else urlunsplit(parts._replace(netloc=f"{user}:{new}@{hostport}"))


def seal_url(url: str) -> str:
    """``url`` with the password of its user info sealed (a URL without one, or sealed already, as is)."""
    return _with_password(url, lambda p: p if is_sealed(p) else seal(p))


def unseal_url(url: str) -> str:
    """``url`` with a sealed password opened: only to make a request to it, or to compare an edit with it."""
    return _with_password(url, unseal)


def reseal_url(url: str) -> str:
    """``url`` with its password re-sealed with the newest key (for key rotation)."""
    return _with_password(url, reseal)
