from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rappel.clock import WallClock
from rappel.domain.errors import ValidationFailed
from rappel.integrations.http import FailureKind, GuardedHttpClient, HttpOutcome
from rappel.integrations.ssrf import (
    CheckedTarget,
    OutboundAllowlist,
    ResolutionFailed,
    TargetRefused,
    check_url,
    validate_client_url,
)
from tests.support.loopback import LoopbackServer, Reply

T = TypeVar("T")
NOTHING = OutboundAllowlist()


def resolving(table: dict[str, Sequence[str]]) -> Callable[[str, int], Sequence[str]]:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise socket.gaierror(f"{host} unknown")
        return table[host]

    return resolve


PUBLIC = resolving({"crm.example.com": ["93.184.215.14"]})


def test_public_address_passes_and_is_the_one_to_connect_to() -> None:
    target = check_url("https://crm.example.com/dip?x=1", NOTHING, PUBLIC)
    assert target == CheckedTarget(
        "https://crm.example.com/dip?x=1",
        "https",
        "crm.example.com",
        443,
        "93.184.215.14",
        "/dip?x=1",
    )
    assert target.connect_url == "https://93.184.215.14:443/dip?x=1"
    assert target.host_header == "crm.example.com"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("240.0.0.1", "reserved"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("fc00::1", "private"),
        ("192.0.2.1", "private"),
        # 6to4 (2002::/16) carries an IPv4 address in bits 16-47.
        ("2002:7f00:1::", "loopback"),
        ("2002:a9fe:a9fe::", "cloud metadata"),
        ("2002:a00:1::1", "private"),
        ("2002:6440:1::", "carrier-grade NAT"),
        # Teredo (2001:0::/32): the client's IPv4 address is the last 32 bits, inverted.
        ("2001:0:5db8:d70e::80ff:fffe", "loopback"),
        ("2001:0:5db8:d70e::5601:5601", "cloud metadata"),
    ],
)
def test_forbidden_addresses_are_refused_with_their_reason(address: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        check_url("http://crm.example.com/", NOTHING, resolving({"crm.example.com": [address]}))


def test_one_forbidden_address_among_public_ones_refuses_the_host() -> None:
    resolver = resolving({"crm.example.com": ["93.184.215.14", "10.0.0.1"]})
    with pytest.raises(TargetRefused):
        check_url("http://crm.example.com/", NOTHING, resolver)


def test_ip_literals_are_checked_without_resolving() -> None:
    with pytest.raises(TargetRefused, match="loopback"):
        check_url("http://[::1]:8080/x", NOTHING, resolving({}))
    assert check_url("http://93.184.215.14/", NOTHING, resolving({})).address == "93.184.215.14"


def test_allowlisted_host_name_opens_all_its_addresses() -> None:
    allow = OutboundAllowlist.parse("localhost, other.test")
    target = check_url("http://LOCALHOST.:9000/", allow, resolving({"localhost": ["127.0.0.1"]}))
    assert target.address == "127.0.0.1"
    assert target.host_header == "localhost:9000"


def test_allowlisted_network_opens_addresses_inside_it_only() -> None:
    allow = OutboundAllowlist.parse("127.0.0.1/32")
    assert check_url("http://127.0.0.1:1/", allow, resolving({})).port == 1
    with pytest.raises(TargetRefused):
        check_url("http://127.0.0.2/", allow, resolving({}))


def test_metadata_address_needs_an_exact_allowlist_entry() -> None:
    with pytest.raises(TargetRefused, match="metadata"):
        check_url("http://169.254.169.254/", OutboundAllowlist.parse("169.254.0.0/16"), PUBLIC)
    exact = OutboundAllowlist.parse("169.254.169.254/32")
    assert check_url("http://169.254.169.254/", exact, PUBLIC).address == "169.254.169.254"


def test_6to4_address_of_a_public_ipv4_host_passes() -> None:
    resolver = resolving({"v6.example.com": ["2002:5db8:d70e::1"]})
    assert check_url("http://v6.example.com/", NOTHING, resolver).address == "2002:5db8:d70e::1"


def test_metadata_inside_6to4_needs_an_exact_allowlist_entry() -> None:
    resolver = resolving({"v6.example.com": ["2002:a9fe:a9fe::"]})
    with pytest.raises(TargetRefused, match="metadata"):
        check_url("http://v6.example.com/", OutboundAllowlist.parse("2002::/16"), resolver)
    exact = OutboundAllowlist.parse("2002:a9fe:a9fe::/128")
    assert check_url("http://v6.example.com/", exact, resolver).address == "2002:a9fe:a9fe::"


def test_unresolvable_host_is_a_resolution_failure() -> None:
    with pytest.raises(ResolutionFailed):
        check_url("https://nowhere.invalid/", NOTHING, resolving({}))


def test_empty_resolution_is_a_resolution_failure() -> None:
    with pytest.raises(ResolutionFailed):
        check_url("https://crm.example.com/", NOTHING, resolving({"crm.example.com": []}))


def test_ipv6_address_is_bracketed_in_the_connect_url() -> None:
    resolver = resolving({"v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"]})
    target = check_url("http://v6.example.com:8443/p", NOTHING, resolver)
    assert target.connect_url == "http://[2606:2800:220:1:248:1893:25c8:1946]:8443/p"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://crm.example.com/",
        "file:///etc/passwd",
        "gopher://crm.example.com/",
        "http:///nohost",
        "https://user:secret@crm.example.com/",
        "https://crm.example.com:99999/",
        "https://crm.example.com/a b",
        "https://crm.example.com/" + "a" * 2048,
        "not a url",
        "",
    ],
)
def test_client_urls_that_are_not_plain_http_are_refused_at_intake(url: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_client_url(url, field="ctl_callbackUrl")
    assert caught.value.field == "ctl_callbackUrl"


def test_plain_client_url_passes_intake() -> None:
    url = "https://mywebporter.com/callback.php"
    assert validate_client_url(url) == url


def test_allowlist_text_is_parsed_into_hosts_and_networks() -> None:
    allow = OutboundAllowlist.parse(" 127.0.0.1/32,localhost,,10.0.0.0/8 , ::1 , Crm.Test. ")
    assert allow.hosts == {"localhost", "crm.test"}
    assert [str(n) for n in allow.networks] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]


def test_malformed_allowlist_network_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        OutboundAllowlist.parse("10.0.0.0/33")
    assert caught.value.field == "RAPPEL_OUTBOUND_ALLOW"


# The client, against a real loopback server --------------------------------


def self_signed_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A certificate for `host` that is its own CA, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsRedirector:
    """An https server on 127.0.0.1 that answers every POST with a 307 to `location`."""

    def __init__(self, cert: Path, key: Path, location: str) -> None:
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.paths.append(self.path)
                self.send_response(307)
                self.send_header("location", location)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def __enter__(self) -> TlsRedirector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def run(scenario: Callable[[GuardedHttpClient], Awaitable[T]], allow: str = "", **kw: object) -> T:
    table = resolving({"crm.test": ["127.0.0.1"], "localhost": ["127.0.0.1"]})

    async def main() -> T:
        async with httpx.AsyncClient(trust_env=False) as client:
            guarded = GuardedHttpClient(
                client,
                OutboundAllowlist.parse(allow),
                table,
                WallClock(),
                **kw,  # type: ignore[arg-type]
            )
            return await scenario(guarded)

    return asyncio.run(main())


def post(
    url: str, timeout_s: float = 5.0, headers: dict[str, str] | None = None
) -> Callable[[GuardedHttpClient], Awaitable[HttpOutcome]]:
    async def scenario(client: GuardedHttpClient) -> HttpOutcome:
        sent = {"x-trace": "1", **(headers or {})}
        return await client.post_json(url, {"a": "b"}, sent, timeout_s)

    return scenario


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def test_loopback_is_refused_when_not_allowed_and_nothing_is_sent(server: LoopbackServer) -> None:
    outcome = run(post(server.url("/hook")))
    assert outcome.failure is FailureKind.REFUSED_TARGET
    assert not outcome.retriable
    assert server.requests == []


def test_allowed_loopback_gets_the_json_post(server: LoopbackServer) -> None:
    server.reply("/hook", Reply.json({"ok": True}))
    outcome = run(post(server.url("/hook")), allow="127.0.0.1/32")
    assert outcome.ok
    assert outcome.status == 200
    assert outcome.body == b'{"ok": true}'
    [request] = server.requests_to("/hook")
    assert request.method == "POST"
    assert request.json() == {"a": "b"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-trace"] == "1"


def test_host_name_is_kept_while_the_checked_address_is_dialled(server: LoopbackServer) -> None:
    # crm.test exists only in the injected resolver: a second lookup would fail.
    outcome = run(post(f"http://crm.test:{server.port}/hook"), allow="crm.test")
    assert outcome.ok
    assert server.requests[0].headers["host"] == f"crm.test:{server.port}"


def test_redirect_to_a_private_address_is_refused(server: LoopbackServer) -> None:
    server.reply("/moved", Reply.redirect("http://10.0.0.1/steal"))
    outcome = run(post(server.url("/moved")), allow="127.0.0.1/32")
    assert outcome.failure is FailureKind.REFUSED_TARGET
    assert "10.0.0.1" in outcome.detail


def test_redirect_is_checked_again_even_to_the_same_address(server: LoopbackServer) -> None:
    server.reply("/moved", Reply.redirect(server.url("/inside"), status=307))
    outcome = run(post(f"http://crm.test:{server.port}/moved"), allow="crm.test")
    assert outcome.failure is FailureKind.REFUSED_TARGET
    assert server.requests_to("/inside") == []


def test_allowed_redirect_is_followed_with_the_body(server: LoopbackServer) -> None:
    server.reply("/old", Reply.redirect("/new", status=308))
    server.reply("/new", Reply(status=204))
    outcome = run(post(server.url("/old")), allow="127.0.0.1/32")
    assert outcome.ok
    assert outcome.status == 204
    assert server.requests_to("/new")[0].json() == {"a": "b"}


CREDENTIALS = {"authorization": "Bearer s3cr3t-0123456789", "cookie": "session=s3cr3t"}


@pytest.mark.parametrize("other_host", ["127.0.0.1", "localhost"], ids=["other-port", "other-name"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_credentials_never_follow_a_redirect_to_another_origin(
    server: LoopbackServer, other_host: str, status: int
) -> None:
    with LoopbackServer() as other:
        # Another port, or the same address and port under another host name.
        port = other.port if other_host == "127.0.0.1" else server.port
        target = other if other_host == "127.0.0.1" else server
        server.reply("/dip", Reply.redirect(f"http://{other_host}:{port}/elsewhere", status))
        target.reply("/elsewhere", Reply(status=401))
        outcome = run(post(server.url("/dip"), headers=CREDENTIALS), allow="127.0.0.1/32")

        [first] = server.requests_to("/dip")
        [second] = target.requests_to("/elsewhere")
    assert first.headers["authorization"] == CREDENTIALS["authorization"]
    assert first.headers["cookie"] == CREDENTIALS["cookie"]
    assert "authorization" not in second.headers
    assert "cookie" not in second.headers
    assert second.headers["x-trace"] == "1"
    assert second.json() == {"a": "b"}
    assert outcome.failure is FailureKind.HTTP_STATUS
    assert outcome.status == 401
    assert outcome.credentials_withheld
    assert "another origin" in outcome.detail


def test_credentials_follow_a_redirect_on_the_same_origin(server: LoopbackServer) -> None:
    server.reply("/old", Reply.redirect("/new", status=307))
    server.reply("/new", Reply(status=204))
    outcome = run(post(server.url("/old"), headers=CREDENTIALS), allow="127.0.0.1/32")
    assert outcome.ok
    assert not outcome.credentials_withheld
    [moved] = server.requests_to("/new")
    assert moved.headers["authorization"] == CREDENTIALS["authorization"]


def test_redirect_from_https_to_http_is_not_followed(
    server: LoopbackServer, tmp_path: Path
) -> None:
    server.reply("/plain", Reply(status=204))
    cert, key = self_signed_certificate(tmp_path, "crm.test")
    with TlsRedirector(cert, key, server.url("/plain")) as tls:
        table = resolving({"crm.test": ["127.0.0.1"]})

        async def main() -> HttpOutcome:
            trusted = ssl.create_default_context(cafile=str(cert))
            async with httpx.AsyncClient(trust_env=False, verify=trusted) as client:
                guarded = GuardedHttpClient(
                    client, OutboundAllowlist.parse("127.0.0.1/32"), table, WallClock()
                )
                return await guarded.post_json(
                    f"https://crm.test:{tls.port}/dip", {"a": "b"}, CREDENTIALS, 5.0
                )

        outcome = asyncio.run(main())
        assert tls.paths == ["/dip"]  # the https hop itself was reached
    assert outcome.failure is FailureKind.REFUSED_TARGET
    assert not outcome.retriable
    assert "from https to http" in outcome.detail
    assert server.requests == []


def test_header_that_is_not_ascii_is_a_permanent_failure_not_an_exception(
    server: LoopbackServer,
) -> None:
    headers = {"authorization": "Bearer t\u00f6k\u00e9n"}
    outcome = run(post(server.url("/dip"), headers=headers), allow="127.0.0.1/32")
    assert outcome.failure is FailureKind.INVALID_REQUEST
    assert not outcome.retriable
    assert "t\u00f6k\u00e9n" not in outcome.detail
    assert server.requests == []


def test_redirect_loop_stops_after_the_limit(server: LoopbackServer) -> None:
    server.reply("/loop", Reply.redirect("/loop"))
    outcome = run(post(server.url("/loop")), allow="127.0.0.1/32", max_redirects=2)
    assert outcome.failure is FailureKind.TOO_MANY_REDIRECTS
    assert len(server.requests_to("/loop")) == 3


def test_see_other_is_not_followed(server: LoopbackServer) -> None:
    server.reply("/done", Reply.redirect("/elsewhere", status=303))
    outcome = run(post(server.url("/done")), allow="127.0.0.1/32")
    assert outcome.status == 303
    assert outcome.failure is FailureKind.HTTP_STATUS
    assert server.requests_to("/elsewhere") == []


@pytest.mark.parametrize(
    ("status", "retriable"), [(500, True), (503, True), (429, True), (404, False), (400, False)]
)
def test_error_statuses_are_told_retriable_or_permanent(
    server: LoopbackServer, status: int, retriable: bool
) -> None:
    server.reply("/hook", Reply(status=status))
    outcome = run(post(server.url("/hook")), allow="127.0.0.1/32")
    assert outcome.failure is FailureKind.HTTP_STATUS
    assert outcome.status == status
    assert outcome.retriable is retriable


def test_slow_answer_is_a_retriable_timeout(server: LoopbackServer) -> None:
    server.reply("/slow", Reply(status=200, delay_s=10))
    outcome = run(post(server.url("/slow"), timeout_s=0.3), allow="127.0.0.1/32")
    assert outcome.failure is FailureKind.TIMEOUT
    assert outcome.retriable


def test_oversize_answer_is_refused(server: LoopbackServer) -> None:
    server.reply("/big", Reply(body=b"x" * 2_000_000))
    outcome = run(post(server.url("/big")), allow="127.0.0.1/32")
    assert outcome.failure is FailureKind.TOO_LARGE
    assert not outcome.retriable


def test_closed_port_is_a_retriable_connect_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = run(post(f"http://127.0.0.1:{port}/"), allow="127.0.0.1/32")
    assert outcome.failure is FailureKind.CONNECT
    assert outcome.retriable


def test_unresolvable_host_is_a_retriable_dns_failure() -> None:
    outcome = run(post("http://nowhere.invalid/"))
    assert outcome.failure is FailureKind.DNS
    assert outcome.retriable


def test_bad_scheme_is_a_permanent_invalid_url() -> None:
    outcome = run(post("ftp://crm.test/"))
    assert outcome.failure is FailureKind.INVALID_URL
    assert not outcome.retriable


@pytest.mark.parametrize(
    ("follow", "trust_env"), [(True, False), (False, True)], ids=["redirects", "env"]
)
def test_clients_that_would_bypass_the_guard_are_refused(follow: bool, trust_env: bool) -> None:
    async def build() -> None:
        async with httpx.AsyncClient(follow_redirects=follow, trust_env=trust_env) as client:
            GuardedHttpClient(client, NOTHING, PUBLIC, WallClock())

    with pytest.raises(ValueError, match="httpx client"):
        asyncio.run(build())
