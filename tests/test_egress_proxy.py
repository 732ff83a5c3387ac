"""Egress through a forward proxy (``DURIAN_PROXY``): every outbound request goes through it.

A real proxy on loopback (``tests.proxy.ForwardProxy``) carries the webhooks: ``http://`` targets
in absolute form, ``https://`` ones through a ``CONNECT`` tunnel to a TLS receiver. It answers
DNS too: durian vets URLs when listeners are made, and makes no lookup of its own when delivering.
"""

import pytest
from django.core.exceptions import ValidationError

from durian.checks import check_security_settings
from durian.core.event import Event
from durian.core.sealing import seal
from durian.models import DeadLetter, Delivery
from durian.testing import FixedResolver
from durian.transport import delivery
from durian.transport.ssrf import validate_listener_url
from durian.web.sample import send_test_event
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .proxy import ForwardProxy, free_port, make_ca_and_cert, port_of, tls_receiver
from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

CREDENTIALS = "egress:s3cret-pw"


@pytest.fixture
def names(settings):
    """Listener URLs name ``plain.test`` and ``secure.test``: durian's resolver knows them (for the
    checks made when a listener is saved), and so does the proxy (for delivery)."""
    resolver = FixedResolver({"plain.test": ["127.0.0.1"], "secure.test": ["127.0.0.1"]})
    settings.DURIAN_RESOLVER = resolver
    return resolver


def test_http_and_https_receivers_get_their_deliveries_through_the_proxy(worker, receiver, settings, names, tmp_path):
    ca, cert, key = make_ca_and_cert(tmp_path, ["secure.test"])
    secure = tls_receiver(cert, key)
    proxy = ForwardProxy(names={"plain.test": "127.0.0.1", "secure.test": "127.0.0.1"}, credentials=CREDENTIALS)
    with proxy, secure:
        settings.DURIAN_PROXY = proxy.url(CREDENTIALS)
        settings.DURIAN_CA_BUNDLE = str(ca)
        PersonHook().listener(url=f"http://plain.test:{port_of(receiver)}/hook").save()
        PersonHook().listener(url=f"https://secure.test:{port_of(secure)}/hook").save()
        lookups = len(names.calls)

        Person.objects.create(name="Joe")

        (plain,) = receiver.wait_for(1)
        (tls,) = secure.wait_for(1)
        assert plain.headers["host"] == f"plain.test:{port_of(receiver)}"
        assert tls.headers["host"] == f"secure.test:{port_of(secure)}"
        assert plain.headers["webhook-id"] != tls.headers["webhook-id"]
        assert sorted(proxy.seen) == [
            ("CONNECT", f"secure.test:{port_of(secure)}"),
            ("POST", f"http://plain.test:{port_of(receiver)}/hook"),
        ]
        assert "proxy-authorization" not in plain.headers  # the proxy's credentials stay with the proxy
        assert len(names.calls) == lookups, "durian resolved a name at delivery time: the proxy does that"
        wait_until(lambda: Delivery.objects.filter(ok=True).count() == 2)


def test_a_test_send_goes_through_the_proxy(receiver, settings, names):
    with ForwardProxy(names={"plain.test": "127.0.0.1"}) as proxy:
        settings.DURIAN_PROXY = proxy.url()
        listener = PersonHook().listener(url=f"http://plain.test:{port_of(receiver)}/hook").save()
        event, outcome = send_test_event(listener)
        assert outcome.ok and outcome.status_code == 200
        assert proxy.seen == [("POST", f"http://plain.test:{port_of(receiver)}/hook")]
        assert receiver.requests[0].headers["webhook-id"] == event.webhook_id(listener.pk)


def test_with_a_proxy_durian_still_refuses_non_public_addresses(receiver, settings):
    settings.DURIAN_ALLOWED_NETWORKS = []
    settings.DURIAN_RESOLVER = FixedResolver({"internal.test": ["10.1.2.3"]})
    with ForwardProxy() as proxy:
        settings.DURIAN_PROXY = proxy.url()
        # when a listener is made: literal addresses and names that resolve to non-public ones
        for url in ("http://169.254.169.254/latest", "http://internal.test/hook"):
            with pytest.raises(ValidationError):
                validate_listener_url(url)
        # at delivery time: a literal non-public address never reaches the proxy
        outcome = delivery.attempt(Event("person", {"name": "Joe"}), 1, receiver.url, [seal("whsec_" + "A" * 32)])
        assert not outcome.ok and outcome.final
        assert outcome.error.startswith("Refused: 127.0.0.1 is a loopback address")
        assert proxy.seen == [] and receiver.requests == []


def test_a_proxy_that_refuses_is_a_failed_attempt_with_its_reason(receiver, settings, names, tmp_path):
    ca, cert, key = make_ca_and_cert(tmp_path, ["secure.test"])
    event, secrets = Event("person", {"name": "Joe"}), [seal("whsec_" + "A" * 32)]
    with ForwardProxy(names={"plain.test": "127.0.0.1", "secure.test": "127.0.0.1"}, credentials=CREDENTIALS) as proxy:
        settings.DURIAN_PROXY = proxy.url("egress:wrong-password")
        settings.DURIAN_CA_BUNDLE = str(ca)
        with tls_receiver(cert, key) as secure:
            plain = delivery.attempt(event, 1, f"http://plain.test:{port_of(receiver)}/hook", secrets)
            tls = delivery.attempt(event, 1, f"https://secure.test:{port_of(secure)}/hook", secrets)
        assert not plain.ok and not plain.final and plain.status_code is None
        assert plain.error == "proxy refused: HTTP 407 Proxy Authentication Required"
        assert not tls.ok and not tls.final
        assert (
            tls.error
            == f"proxy refused: CONNECT secure.test:{port_of(secure)} answered 407 Proxy Authentication Required"
        )
        for outcome in (plain, tls):
            assert "wrong-password" not in outcome.error + outcome.detail
        assert receiver.requests == [] and secure.requests == []


def test_while_the_proxy_is_down_attempts_fail_and_are_retried_until_it_is_back(worker, receiver, settings, names):
    port = free_port()
    settings.DURIAN_PROXY = f"http://{CREDENTIALS}@127.0.0.1:{port}"
    settings.DURIAN_RETRY_SCHEDULE = [0.3] * 40
    PersonHook().listener(url=f"http://plain.test:{port_of(receiver)}/hook").save()

    Person.objects.create(name="Joe")
    wait_until(lambda: Delivery.objects.filter(ok=False).count() >= 2, what="two failed attempts")
    failed = Delivery.objects.filter(ok=False).first()
    assert failed.error == f"proxy refused: no proxy listening at 127.0.0.1:{port} (connection refused)"
    assert "s3cret-pw" not in failed.error + failed.error_detail
    assert receiver.requests == []

    with ForwardProxy(port=port, names={"plain.test": "127.0.0.1"}, credentials=CREDENTIALS) as proxy:
        (delivered,) = receiver.wait_for(1)
        assert proxy.seen == [("POST", f"http://plain.test:{port_of(receiver)}/hook")]
        wait_until(lambda: Delivery.objects.filter(ok=True).exists())
    attempts = list(Delivery.objects.order_by("attempt").values_list("attempt", "ok"))
    assert attempts[-1][1] is True and all(not ok for _, ok in attempts[:-1])
    assert not DeadLetter.objects.exists()


def test_manage_py_check_reports_a_malformed_proxy_without_showing_its_password(settings):
    settings.DURIAN_PROXY = "socks5://egress:s3cret-pw@egress.internal:1080"
    settings.DURIAN_CA_BUNDLE = "/nowhere/ca.pem"
    errors = {e.id: e.msg for e in check_security_settings()}
    assert errors.keys() == {"durian.E020", "durian.E021"}
    assert "egress.internal" in errors["durian.E020"] and "s3cret-pw" not in errors["durian.E020"]
    settings.DURIAN_PROXY = "http://egress:s3cret-pw@egress.internal:4750"
    settings.DURIAN_CA_BUNDLE = None
    assert check_security_settings() == []
