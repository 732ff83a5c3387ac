"""SSRF defence: which addresses a listener URL may reach.

A listener URL comes from a client, so a webhook sender would otherwise POST wherever a client
points it: the cloud metadata service, the site's database, a router. ``vet`` parses a URL the way
``requests`` (urllib3) does, resolves its host once, and refuses it unless every address is public
or inside ``DURIAN_ALLOWED_NETWORKS``. The transport (``durian.transport.bounded``) then connects to the
address vetted here, so a second DNS answer (rebinding) cannot redirect the request.

Pure except for name resolution, which goes through ``DURIAN_RESOLVER`` (the system resolver by
default), so tests can point names at fixed answers.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url
from urllib3.util.connection import allowed_gai_family

from ..conf import settings
from ..core.redact import has_control
from ..exceptions import RefusedURL, UnresolvableHost

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}


# IPv4 special-purpose blocks (IANA registry) that are never a public webhook receiver.
_IPV4_BLOCKS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "a 'this network' address (0.0.0.0/8)"),
    ("10.0.0.0/8", "a private address (RFC 1918)"),
    ("100.64.0.0/10", "a carrier-grade NAT address (RFC 6598)"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address (cloud metadata services live there)"),
    ("172.16.0.0/12", "a private address (RFC 1918)"),
    ("192.0.0.0/24", "an IETF protocol assignment"),
    ("192.0.2.0/24", "a documentation address (TEST-NET-1)"),
    ("192.88.99.0/24", "a 6to4 relay anycast address"),
    ("192.168.0.0/16", "a private address (RFC 1918)"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address (TEST-NET-2)"),
    ("203.0.113.0/24", "a documentation address (TEST-NET-3)"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
)

# IPv6: only global unicast (2000::/3) is public, minus the blocks below. Outside 2000::/3 the
# label names the block when it is a well-known one.
_IPV6_GLOBAL = ipaddress.IPv6Network("2000::/3")
_IPV6_BLOCKS: tuple[tuple[str, str], ...] = (
    ("2001::/23", "an IETF protocol assignment (Teredo included)"),
    ("2001:db8::/32", "a documentation address"),
    ("2002::/16", "a 6to4 address (it embeds an IPv4 address)"),
    ("3fff::/20", "a documentation address"),
    ("::1/128", "a loopback address"),
    ("::/128", "the unspecified address"),
    ("::/96", "an IPv4-compatible IPv6 address"),
    ("64:ff9b::/96", "a NAT64 address (it embeds an IPv4 address)"),
    ("64:ff9b:1::/48", "a local NAT64 address"),
    ("100::/64", "a discard-only address"),
    ("fc00::/7", "a unique local address (ULA)"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
)

_V4 = tuple((ipaddress.IPv4Network(n), label) for n, label in _IPV4_BLOCKS)
_V6 = tuple((ipaddress.IPv6Network(n), label) for n, label in _IPV6_BLOCKS)


@functools.lru_cache(maxsize=8)
def _parse_networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def allowed_networks() -> tuple[Network, ...]:
    """``DURIAN_ALLOWED_NETWORKS`` as network objects (``ValueError`` for a malformed entry)."""
    value = settings.ALLOWED_NETWORKS or ()
    if isinstance(value, str):
        value = (value,)
    return _parse_networks(tuple(str(v) for v in value))


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be reached (``"a loopback address"``), or ``None`` when it may.

    Addresses inside ``DURIAN_ALLOWED_NETWORKS`` may always be reached; an IPv4-mapped IPv6
    address counts as its IPv4 address there, and is refused everywhere else.
    """
    mapped = address.ipv4_mapped if address.version == 6 else None  # type: ignore[union-attr]
    allowed = allowed_networks()
    for candidate in (address, mapped):
        if candidate is not None and any(candidate.version == n.version and candidate in n for n in allowed):
            return None
    if mapped is not None:
        return f"an IPv4-mapped IPv6 address (of {mapped})"
    if address.version == 4:
        for net, label in _V4:
            if address in net:
                return label
        return None
    for net, label in _V6:
        if address in net:
            return label
    if address not in _IPV6_GLOBAL:
        return "a reserved IPv6 address (outside global unicast 2000::/3)"
    return None


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a numeric host stands for, in every form ``inet_aton`` accepts.

    ``2130706433``, ``0x7f.1``, ``017700000001`` and ``127.1`` are all 127.0.0.1. Returns ``None``
    for a host name; raises ``RefusedURL`` for a host that ends in a number but is no address
    (such as ``1.2.3.999``), as the WHATWG URL standard does.
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not _is_number(parts[-1]):
        return None
    try:
        numbers = [_number(p) for p in parts]
    except ValueError:
        numbers = []
    if not 1 <= len(numbers) <= 4 or any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise RefusedURL(f"{host!r} is not a valid IPv4 address.")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _is_number(part: str) -> bool:
    if part[:2].lower() == "0x":
        return all(c in "0123456789abcdefABCDEF" for c in part[2:])
    return part.isascii() and part.isdigit()


def _number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part[1:], 8)
    return int(part, 10)


def ip_literal(host: str) -> IPAddress | None:
    """The address of a host written as an IP (IPv6 in brackets or not, any IPv4 form), else ``None``."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        if "%" in bare:
            raise RefusedURL(f"{host!r}: IPv6 zone identifiers are not allowed.")
        try:
            return ipaddress.IPv6Address(bare)
        except ValueError:
            raise RefusedURL(f"{host!r} is not a valid IPv6 address.") from None
    return parse_ipv4(bare)


Resolver = Callable[[str, int], Iterable[object]]


def system_resolver(host: str, port: int) -> list[str]:
    """The system's answers for ``host`` (``socket.getaddrinfo``), in its order."""
    infos = socket.getaddrinfo(host, port, family=allowed_gai_family(), type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def resolver() -> Resolver:
    """``DURIAN_RESOLVER``: a callable, its dotted path, or ``None`` for the system resolver."""
    value = settings.RESOLVER
    if value is None:
        return system_resolver
    return import_string(value) if isinstance(value, str) else value


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, without duplicates; ``UnresolvableHost`` when none."""
    try:
        answers = list(resolver()(host, port))
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHost(f"{host!r} does not resolve: {exc}") from None
    addresses: list[IPAddress] = []
    for answer in answers:
        address = answer if isinstance(answer, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else None
        if address is None:
            try:
                address = ipaddress.ip_address(str(answer))
            except ValueError:
                raise UnresolvableHost(f"{host!r} resolved to something that is no address: {answer!r}") from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvableHost(f"{host!r} does not resolve to any address.")
    return addresses


@dataclass(frozen=True)
class Target:
    """A vetted destination: connect to ``address``, but speak to ``host`` (Host header, TLS SNI)."""

    scheme: str
    host: str
    port: int
    address: IPAddress

    @property
    def host_header(self) -> str:
        """``host[:port]``, the port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def connect_host(self) -> str:
        """The vetted address as ``requests`` hands a host to urllib3's pools (IPv6 without brackets)."""
        return str(self.address)


def check_scheme(scheme: str | None) -> str:
    """The lower-cased scheme, or ``RefusedURL`` unless it is http(s) as the settings allow."""
    scheme = (scheme or "").lower()
    if scheme not in DEFAULT_PORTS:
        raise RefusedURL(f"Only http and https URLs are allowed, not {scheme or 'a URL without scheme'}.")
    if scheme == "http" and settings.HTTPS_ONLY:
        raise RefusedURL("Only https URLs are allowed.")
    return scheme


def vet_host(scheme: str, host: str | None, port: int | None, resolve_names: bool = True) -> Target | None:
    """Vet one (scheme, host, port). Returns the target to connect to, or ``None`` when the host
    is a name and ``resolve_names`` is false. Raises ``RefusedURL`` or ``UnresolvableHost``."""
    scheme = check_scheme(scheme)
    if not host:
        raise RefusedURL("The URL has no host.")
    host = host.lower()
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host.rstrip(".")
    port = port or DEFAULT_PORTS[scheme]
    literal = ip_literal(bare)
    if literal is not None:
        addresses = [literal]
    elif not resolve_names:
        return None
    else:
        addresses = resolve(bare, port)
    for address in addresses:
        why = refusal(address)
        if why is None:
            continue
        if literal is None:
            where = f"{bare} resolves to {address}, {why}"
        elif literal.version == 6 or str(literal) == bare:
            where = f"{address} is {why}"
        else:
            where = f"{bare} stands for {address}, {why}"
        raise RefusedURL(f"{where}; webhooks are only sent to public addresses.")
    return Target(scheme, bare, port, addresses[0])


def vet(url: str, resolve_names: bool = True) -> Target | None:
    """Vet a listener URL as ``requests`` will parse it; see ``vet_host``. Control characters are refused."""
    if has_control(url) or any(c.isspace() for c in url):
        raise RefusedURL("A URL cannot contain spaces or control characters.")
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise RefusedURL("This is not a valid URL.") from None
    return vet_host(parsed.scheme or "", parsed.host, parsed.port, resolve_names)


def reaches_allowed_private(url: str) -> bool:
    """True when ``url`` leads to a non-public address that ``DURIAN_ALLOWED_NETWORKS`` lets through.

    What such a receiver answers may be an internal page: clients are shown only its status.
    """
    if not allowed_networks():
        return False
    try:
        target = vet(url)
    except (RefusedURL, UnresolvableHost):
        return False
    return target is not None and not target.address.is_global


def validate_listener_url(url: str) -> None:
    """Raise ``ValidationError`` on ``url`` when durian would refuse to deliver to it.

    A name that does not resolve yet is accepted: DNS may be set up later, and every delivery
    checks again.
    """
    try:
        vet(url)
    except RefusedURL as exc:
        raise ValidationError({"url": str(exc)}) from None
    except UnresolvableHost:
        pass


__all__ = [
    "RefusedURL",
    "UnresolvableHost",
    "Target",
    "allowed_networks",
    "refusal",
    "parse_ipv4",
    "ip_literal",
    "resolve",
    "system_resolver",
    "vet",
    "vet_host",
    "validate_listener_url",
    "reaches_allowed_private",
]
