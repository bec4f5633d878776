"""The SSRF guard for URLs given by clients (webhooks, data dips), DESIGN.md section 7.

A URL may be reached only when its scheme is http or https and **every**
address its host resolves to is a public unicast address. Refused targets:
private (RFC 1918, fc00::/7), loopback, link-local (which holds the cloud
metadata address 169.254.169.254), unspecified, multicast, reserved,
carrier-grade NAT (100.64.0.0/10), anything else Python's `ipaddress` does
not call global, IPv4 written inside IPv6 when the IPv4 address is refused
(IPv4-mapped `::ffff:10.0.0.1`, NAT64 `64:ff9b::a00:1`, 6to4 `2002:7f00:1::`
for 127.0.0.1, Teredo `2001:0::/32` whose client address is the last 32 bits
inverted), and the metadata addresses 169.254.169.254 and fd00:ec2::254.

The operator's allowlist (`RAPPEL_OUTBOUND_ALLOW`: comma-separated host names
and CIDR networks, e.g. `127.0.0.1/32,localhost`) lifts the refusal for a
host name (all its addresses) or for addresses inside a listed network. A
metadata address (also when written inside IPv6) is lifted only by a network
listing it exactly (/32, /128), so a broad `169.254.0.0/16` or `2002::/16`
does not open it by accident.

The host is resolved once; the caller connects to `CheckedTarget.address`,
never resolving again, so DNS rebinding between check and connect is moot.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from rappel.domain.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Resolves (host, port) to IP address strings; raises OSError when it cannot.
Resolver = Callable[[str, int], Sequence[str]]

MAX_URL_LENGTH = 2048
SCHEMES = {"http": 80, "https": 443}
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(ValidationFailed):
    """An outbound URL points where Rappel must not go."""

    def __init__(self, message: str, field: str = "url") -> None:
        super().__init__(field, message)


class ResolutionFailed(ValidationFailed):
    """The URL's host name does not resolve (now); worth trying again later."""

    def __init__(self, message: str, field: str = "url") -> None:
        super().__init__(field, message)


@dataclass(frozen=True)
class OutboundAllowlist:
    """Host names and networks the guard lets through anyway."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> OutboundAllowlist:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            if "/" in item or _is_ip(item):
                try:
                    networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError as exc:
                    raise ValidationFailed(
                        "RAPPEL_OUTBOUND_ALLOW", f"{item!r} is not a CIDR network"
                    ) from exc
            else:
                hosts.add(_host_key(item))
        return cls(frozenset(hosts), tuple(networks))

    def permits_host(self, host: str) -> bool:
        return _host_key(host) in self.hosts

    def permits_address(self, address: IPAddress) -> bool:
        if address in METADATA_ADDRESSES or embedded_ipv4(address) in METADATA_ADDRESSES:
            return any(n.num_addresses == 1 and address in n for n in self.networks)
        return any(address in network for network in self.networks)


@dataclass(frozen=True)
class CheckedTarget:
    """A URL that passed the guard, with the one address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def host_header(self) -> str:
        default = SCHEMES[self.scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def origin(self) -> tuple[str, str, int]:
        """Scheme, host and port: what credentials are scoped to (RFC 6454)."""
        return self.scheme, self.host.lower(), self.port

    @property
    def connect_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.path}"


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def validate_client_url(url: str, field: str = "url") -> str:
    """Intake-time check (no DNS): http(s), a host, no credentials, bounded length."""
    _split(url, field)
    return url


def _split(url: str, field: str) -> tuple[SplitResult, str, int]:
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed(field, f"{field} is longer than {MAX_URL_LENGTH} characters")
    if any(ord(char) < 33 or ord(char) == 127 for char in url):
        raise ValidationFailed(field, f"{field} contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed(field, f"{field} is not a valid URL") from exc
    if parts.scheme.lower() not in SCHEMES:
        raise ValidationFailed(field, f"{field} must be an http or https URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationFailed(field, f"{field} has no host")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(field, f"{field} must not carry credentials")
    return parts, host, port or SCHEMES[parts.scheme.lower()]


def check_url(
    url: str, allowlist: OutboundAllowlist, resolver: Resolver, field: str = "url"
) -> CheckedTarget:
    """Resolve once and refuse forbidden targets; raise TargetRefused or ResolutionFailed."""
    parts, host, port = _split(url, field)
    addresses = _resolve(host, port, resolver, field)
    host_allowed = allowlist.permits_host(host)
    for address in addresses:
        reason = refusal_reason(address)
        if reason and not host_allowed and not allowlist.permits_address(address):
            raise TargetRefused(f"{field} host {host} resolves to a {reason} address", field)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return CheckedTarget(url, parts.scheme.lower(), host, port, str(addresses[0]), path)


def _resolve(host: str, port: int, resolver: Resolver, field: str) -> list[IPAddress]:
    if _is_ip(host):
        return [ipaddress.ip_address(host)]
    try:
        found = [ipaddress.ip_address(text.split("%")[0]) for text in resolver(host, port)]
    except (OSError, UnicodeError) as exc:
        raise ResolutionFailed(f"{field} host {host} does not resolve", field) from exc
    except ValueError as exc:
        raise ResolutionFailed(f"{field} host {host} resolved to a non-address", field) from exc
    if not found:
        raise ResolutionFailed(f"{field} host {host} has no address", field)
    return found


def refusal_reason(address: IPAddress) -> str | None:
    """Why the guard refuses an address (before the allowlist), or None."""
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    embedded = embedded_ipv4(address)
    if embedded is not None:
        reason = refusal_reason(embedded)
        # Mapped and NAT64 addresses are the IPv4 host itself: its verdict is final.
        # 6to4 and Teredo are IPv6 addresses of their own as well: both must pass.
        if reason or _is_translated(address):
            return reason
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("carrier-grade NAT", address in _CGNAT),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-global", not address.is_global),
    )
    return next((name for name, refused in checks if refused), None)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: mapped, NAT64, 6to4 or Teredo client."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if _is_translated(address):
        return address.ipv4_mapped or ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    # Teredo (2001:0::/32): the client's address is the last 32 bits, inverted.
    return address.teredo[1] if address.teredo is not None else None


def _is_translated(address: IPAddress) -> bool:
    return isinstance(address, ipaddress.IPv6Address) and (
        address.ipv4_mapped is not None or address in _NAT64
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _host_key(host: str) -> str:
    return host.strip().lower().rstrip(".")
