"""SSRF defence: listener URLs reach public addresses only, unless the allowlist names a network.

No test here sends anything off loopback: refusals happen before any connection (the session-wide
``loopback_only`` guard would turn a connection elsewhere into an error), and names resolve
through ``FixedResolver`` instead of DNS.
"""

import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from durian.models import DeadLetter, Delivery
from durian.testing import FixedResolver, Receiver
from durian.transport import bounded as transport
from durian.transport import delivery, ssrf
from example_project.people.hooks import PersonHook
from example_project.people.models import Person
from tests.waiting import wait_until

NAMES = FixedResolver(
    {
        "metadata.test": ["169.254.169.254"],
        "intranet.test": ["10.1.2.3"],
        "mixed.test": ["93.184.216.34", "10.0.0.1"],
        "six.test": ["::1"],
        "mapped.test": ["::ffff:10.0.0.1"],
        "public.test": ["93.184.216.34"],
    }
)


@pytest.fixture
def public_only(settings):
    """The production default: no allowlist; names answer from ``NAMES``."""
    settings.DURIAN_ALLOWED_NETWORKS = []
    settings.DURIAN_RESOLVER = NAMES


# url, a fragment of the reason it is refused
VECTORS = [
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://127.1/", "127.1 stands for 127.0.0.1, a loopback address"),
    ("http://2130706433/", "2130706433 stands for 127.0.0.1, a loopback"),
    ("http://0x7f.1/", "0x7f.1 stands for 127.0.0.1, a loopback"),
    ("http://0x7f000001/", "stands for 127.0.0.1, a loopback"),
    ("http://017700000001/", "017700000001 stands for 127.0.0.1, a loopback"),
    ("http://0177.0.0.01/", "stands for 127.0.0.1, a loopback"),
    ("http://127.0.0.1./", "a loopback address"),
    ("http://user:pw@127.0.0.1:8000/", "a loopback address"),
    ("http://public.test@10.0.0.1/", "10.0.0.1 is a private address (RFC 1918)"),
    ("http://[::1]/", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/", "an IPv4-mapped IPv6 address (of 127.0.0.1)"),
    ("http://[::ffff:7f00:1]/", "an IPv4-mapped IPv6 address"),
    ("http://[0:0:0:0:0:ffff:169.254.169.254]/", "IPv4-mapped IPv6 address (of 169.254.169.254)"),
    ("http://[::127.0.0.1]/", "an IPv4-compatible IPv6 address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "a NAT64 address"),
    ("http://[2002:7f00:1::]/", "a 6to4 address"),
    ("http://10.0.0.1/", "a private address (RFC 1918)"),
    ("http://172.16.5.4/", "a private address (RFC 1918)"),
    ("http://192.168.1.1/", "a private address (RFC 1918)"),
    ("http://169.254.169.254/latest/meta-data/", "a link-local address (cloud metadata"),
    ("http://0xa9fea9fe/", "stands for 169.254.169.254, a link-local address"),
    ("http://2852039166/", "stands for 169.254.169.254, a link-local address"),
    ("http://100.64.0.1/", "a carrier-grade NAT address"),
    ("http://0.0.0.0/", "a 'this network' address"),
    ("http://0/", "0 stands for 0.0.0.0"),
    ("http://224.0.0.1/", "a multicast address"),
    ("http://255.255.255.255/", "a reserved address"),
    ("http://240.0.0.1/", "a reserved address"),
    ("http://198.18.0.1/", "a benchmarking address"),
    ("http://192.0.0.170/", "an IETF protocol assignment"),
    ("http://[fc00::1]/", "a unique local address"),
    ("http://[fd00:ec2::254]/", "a unique local address"),
    ("http://[fe80::1]/", "a link-local address"),
    ("http://[ff02::1]/", "a multicast address"),
    ("http://[::]/", "the unspecified address"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "an IETF protocol assignment (Teredo included)"),
    ("http://[2001:1ff::1]/", "an IETF protocol assignment"),
    ("http://[2001:db8::1]/", "a documentation address"),
    ("http://[3fff::1]/", "a documentation address"),
    ("http://[64:ff9b:1::a00:1]/", "a local NAT64 address"),
    ("http://[100::1]/", "a discard-only address"),
    ("http://[fec0::1]/", "a site-local address"),
    ("http://[4000::1]/", "a reserved IPv6 address (outside global unicast 2000::/3)"),
    ("http://[1::1]/", "a reserved IPv6 address (outside global unicast 2000::/3)"),
    ("http://[fe80::1%25eth0]/", "zone identifiers are not allowed"),
    ("http://1.2.3.999/", "is not a valid IPv4 address"),
    ("http://metadata.test/", "metadata.test resolves to 169.254.169.254, a link-local address"),
    ("http://intranet.test:8080/", "intranet.test resolves to 10.1.2.3, a private address"),
    ("http://mixed.test/", "mixed.test resolves to 10.0.0.1"),
    ("http://six.test/", "six.test resolves to ::1, a loopback address"),
    ("http://mapped.test/", "IPv4-mapped IPv6 address (of 10.0.0.1)"),
    ("ftp://public.test/", "Only http and https URLs are allowed"),
    ("file:///etc/passwd", "Only http and https URLs are allowed"),
    ("gopher://127.0.0.1:6379/_FLUSHALL", "Only http and https URLs are allowed"),
]


@pytest.mark.parametrize("url, reason", VECTORS, ids=[v[0] for v in VECTORS])
def test_every_non_public_address_form_is_refused_with_a_reason(public_only, url, reason):
    with pytest.raises(ssrf.RefusedURL) as refused:
        ssrf.vet(url)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    "url, address",
    [
        ("http://93.184.216.34/hook", "93.184.216.34"),
        ("https://public.test/hook", "93.184.216.34"),
        ("https://[2606:4700:4700::1111]:8443/x", "2606:4700:4700::1111"),
        ("https://[2001:200::1]/x", "2001:200::1"),  # just above 2001::/23
        ("https://[2001:db9::1]/x", "2001:db9::1"),  # just above the documentation block
        ("HTTP://PUBLIC.TEST./", "93.184.216.34"),
    ],
)
def test_public_addresses_are_accepted_without_connecting(public_only, url, address):
    assert str(ssrf.vet(url).address) == address


def test_the_allowlist_opens_exactly_the_networks_it_names(settings):
    settings.DURIAN_RESOLVER = NAMES
    settings.DURIAN_ALLOWED_NETWORKS = ["10.1.0.0/16", "169.254.169.254/32"]
    assert str(ssrf.vet("http://intranet.test/").address) == "10.1.2.3"
    assert str(ssrf.vet("http://169.254.169.254/").address) == "169.254.169.254"
    with pytest.raises(ssrf.RefusedURL):
        ssrf.vet("http://10.2.0.1/")
    with pytest.raises(ssrf.RefusedURL):
        ssrf.vet("http://mixed.test/")  # one of its answers is outside the allowlist


def test_https_only_refuses_plain_http(public_only, settings):
    settings.DURIAN_HTTPS_ONLY = True
    with pytest.raises(ssrf.RefusedURL, match="Only https URLs are allowed"):
        ssrf.vet("http://public.test/")
    assert ssrf.vet("https://public.test/").scheme == "https"


@given(st.lists(st.integers(0, 255), min_size=4, max_size=4), st.integers(1, 4), st.sampled_from(["dec", "oct", "hex"]))
def test_numeric_hosts_mean_what_inet_aton_says(octets, parts, base):
    """Every dotted form with 1 to 4 parts, in decimal, octal or hex, parses like the C library."""
    value = int.from_bytes(bytes(octets), "big")
    fields = octets[: parts - 1] + [value & ((1 << (8 * (5 - parts))) - 1)]
    fmt = {"dec": str, "oct": lambda n: "0" + format(n, "o"), "hex": hex}[base]
    host = ".".join(fmt(f) for f in fields)
    assert ssrf.parse_ipv4(host).packed == socket.inet_aton(host)


@pytest.mark.django_db
def test_a_listener_with_a_refused_url_is_not_saved_and_the_client_is_told_why(public_only):
    with pytest.raises(ValidationError) as refused:
        PersonHook().listener(url="http://169.254.169.254/latest/meta-data/").save()
    assert refused.value.message_dict == {
        "url": [
            "169.254.169.254 is a link-local address (cloud metadata services live there); "
            "webhooks are only sent to public addresses."
        ]
    }
    with pytest.raises(ValidationError, match="an IPv4-mapped IPv6 address"):
        PersonHook().listener(url="http://[::ffff:127.0.0.1]:8000/hook").save()
    with pytest.raises(ValidationError, match="metadata.test resolves to 169.254.169.254"):
        PersonHook().listener(url="http://metadata.test/").save()
    # A name that does not resolve yet is accepted: every delivery checks again.
    assert PersonHook().listener(url="https://not-yet.test/hook").save().pk


@pytest.fixture
def quiet_port():
    """A listening socket nobody accepts on: a connection attempt would queue up there."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.setblocking(False)
        yield s


def nothing_connected(listening):
    try:
        conn, _ = listening.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


LOOPBACK_FORMS = ["127.0.0.1", "127.1", "2130706433", "0x7f.1", "017700000001", "0x7f000001", "localhost"]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_loopback_in_any_form_is_refused_before_connecting(settings, quiet_port, host):
    settings.DURIAN_ALLOWED_NETWORKS = []
    settings.DURIAN_RESOLVER = None  # the system resolver: localhost comes from /etc/hosts
    port = quiet_port.getsockname()[1]
    outcome = delivery.post(f"http://{host}:{port}/hook", b"{}", {"Content-Type": "application/json"})
    assert not outcome.ok and outcome.final and outcome.status_code is None
    assert outcome.error.startswith("Refused: ") and "a loopback address" in outcome.error
    assert nothing_connected(quiet_port)


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_loopback_in_any_form_is_reached_when_the_allowlist_names_it(settings, receiver, host):
    settings.DURIAN_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.DURIAN_RESOLVER = None
    port = receiver.server.server_address[1]
    outcome = delivery.post(f"http://{host}:{port}/hook", b"{}", {"Content-Type": "application/json"})
    assert outcome.ok
    (request,) = receiver.wait_for(1)
    assert request.headers["host"] == f"{host}:{port}"  # the Host header keeps the name as written


@pytest.fixture
def ipv6_receiver():
    """A receiver on ``::1`` (skipped where the machine has no IPv6 loopback)."""
    try:
        r = Receiver("::1").start()
    except OSError:
        pytest.skip("::1 is not usable here")
    yield r
    r.stop()


@pytest.mark.parametrize(
    "host, host_header",
    [("[::1]", "[::1]"), ("six.test", "six.test")],
    ids=["an IPv6 literal, its Host header in brackets", "a name that resolves to ::1 keeps its name"],
)
def test_an_allowed_ipv6_address_is_reached_with_the_host_header_as_written(settings, ipv6_receiver, host, host_header):
    settings.DURIAN_ALLOWED_NETWORKS = ["::1/128"]
    settings.DURIAN_RESOLVER = FixedResolver({"six.test": ["::1"]})
    port = ipv6_receiver.server.server_address[1]
    outcome = delivery.post(f"http://{host}:{port}/hook", b"{}", {"Content-Type": "application/json"})
    assert outcome.ok, outcome.error
    (request,) = ipv6_receiver.wait_for(1)
    assert request.headers["host"] == f"{host_header}:{port}"


def test_ipv6_loopback_is_refused_without_the_allowlist_entry(settings, ipv6_receiver):
    settings.DURIAN_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    port = ipv6_receiver.server.server_address[1]
    outcome = delivery.post(f"http://[::1]:{port}/hook", b"{}", {})
    assert not outcome.ok and outcome.final and "::1 is a loopback address" in outcome.error
    assert ipv6_receiver.requests == []


def test_an_ipv4_mapped_address_is_refused_even_when_it_points_at_an_allowed_network(settings, quiet_port):
    settings.DURIAN_ALLOWED_NETWORKS = []
    port = quiet_port.getsockname()[1]
    outcome = delivery.post(f"http://[::ffff:127.0.0.1]:{port}/", b"{}", {})
    assert "IPv4-mapped" in outcome.error and outcome.final
    assert nothing_connected(quiet_port)


def test_a_name_that_resolves_again_differently_cannot_switch_the_connection(settings):
    """DNS rebinding: each attempt resolves once and connects to exactly the address it vetted."""
    with Receiver("127.0.0.1") as allowed:
        port = allowed.server.server_address[1]
        try:
            internal = Receiver("127.0.0.2", port).start()
        except OSError:
            pytest.skip("127.0.0.2 is not usable here")
        try:
            names = FixedResolver({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})
            settings.DURIAN_RESOLVER = names
            settings.DURIAN_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # 127.0.0.2 plays an internal service

            first = delivery.post(f"http://rebind.test:{port}/hook", b"{}", {})
            assert first.ok and len(allowed.wait_for(1)) == 1
            assert names.calls == ["rebind.test"]  # one lookup per attempt, none inside requests

            second = delivery.post(f"http://rebind.test:{port}/hook", b"{}", {})
            assert not second.ok and second.final
            assert "rebind.test resolves to 127.0.0.2, a loopback address" in second.error
            assert internal.requests == [] and len(allowed.requests) == 1
        finally:
            internal.stop()


def test_a_redirect_to_the_metadata_address_is_never_followed(receiver, loopback_only):
    receiver.respond(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    outcome = delivery.post(receiver.url, b"{}", {})
    assert not outcome.ok and not outcome.final
    assert outcome.status_code == 302
    assert "redirects are not followed (Location: http://169.254.169.254/latest/meta-data/)" in outcome.error
    assert len(receiver.wait_for(1, delivered=False)) == 1
    assert not any("169.254" in str(b) for b in loopback_only)


@pytest.mark.django_db(transaction=True)
def test_a_redirect_counts_as_a_failed_attempt_and_ends_as_a_dead_letter(worker, receiver):
    receiver.always(302)
    receiver.default.headers = {"Location": "http://169.254.169.254/"}
    PersonHook().listener(url=receiver.url).save()
    Person.objects.create(name="Joe")
    receiver.wait_for(3, delivered=False)
    wait_until(lambda: DeadLetter.objects.exists())
    letter = DeadLetter.objects.get()
    assert letter.attempts == 3 and letter.last_status_code == 302
    assert "redirects are not followed" in letter.last_error
    assert list(Delivery.objects.values_list("ok", flat=True)) == [False, False, False]
    assert len(receiver.requests) == 3


@pytest.mark.django_db(transaction=True)
def test_a_url_refused_at_delivery_becomes_a_dead_letter_that_says_why(worker, receiver, settings):
    PersonHook().listener(url=receiver.url).save()  # allowed when saved (loopback allowlisted)...
    settings.DURIAN_ALLOWED_NETWORKS = []  # ...then the site withdraws the allowlist
    Person.objects.create(name="Joe")
    wait_until(lambda: DeadLetter.objects.exists())
    letter = DeadLetter.objects.get()
    assert letter.attempts == 1  # refused: no retries
    assert letter.last_error == "Refused: 127.0.0.1 is a loopback address; webhooks are only sent to public addresses."
    assert receiver.requests == []


# -- TLS: the connection goes to the vetted address, SNI and the certificate check keep the name --


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hooks.example.test",
         "-addext", "subjectAltName=DNS:hooks.example.test", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return d / "cert.pem", d / "key.pem"


def test_https_connects_to_the_vetted_address_with_sni_and_host_of_the_name(settings, certificate):
    cert, key = certificate
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            seen["host"] = self.headers["Host"]
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen.update(sni=name)  # returns None: go on
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        settings.DURIAN_RESOLVER = FixedResolver({"hooks.example.test": ["127.0.0.1"]})
        session = transport.new_session()
        session.verify = str(cert)  # the certificate is checked against the name, not the address
        response = session.post(f"https://hooks.example.test:{port}/hook", data=b"{}", timeout=5)
        assert response.status_code == 204
        assert seen == {"sni": "hooks.example.test", "host": f"hooks.example.test:{port}"}
    finally:
        server.shutdown()
        server.server_close()


# -- every way a listener is created shows the refusal next to the URL ----------------------


def test_the_listener_web_form_shows_the_refusal_next_to_the_url(public_only):
    from durian.web.forms import ListenerForm

    rows = {"filter-name-op": "any", "filter-address-op": "any", "filter-created-op": "any"}
    form = ListenerForm({"url": "http://metadata.test/hook", **rows}, hook=PersonHook())
    assert not form.is_valid()
    assert form.errors == {
        "url": [
            "metadata.test resolves to 169.254.169.254, a link-local address (cloud metadata services live there); "
            "webhooks are only sent to public addresses."
        ]
    }


@pytest.mark.django_db
def test_the_admin_form_shows_the_refusal_next_to_the_url(public_only, client, redis_client):
    from django.contrib.auth.models import User

    User.objects.create_superuser("staff", "staff@example.com", "pw")
    client.login(username="staff", password="pw")
    response = client.post(
        "/admin/durian/listener/add/",
        {"hook": "person", "url": "http://10.0.0.7/hook", "filters": "{}", "state": "active", "description": ""},
    )
    assert response.status_code == 200  # the form again, not a redirect
    assert "10.0.0.7 is a private address (RFC 1918); webhooks are only sent to public addresses." in (
        response.content.decode()
    )
    from durian.models import Listener

    assert not Listener.objects.exists()
