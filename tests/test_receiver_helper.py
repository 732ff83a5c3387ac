"""durian.receiver: what a receiving site uses to check Standard Webhooks signatures."""

import datetime
import json
import time

import pytest
from django.test import RequestFactory
from standardwebhooks import Webhook

from durian.core import signing
from durian.core.signing import generate_secret
from durian.receiver import InvalidWebhook, verify, webhook_view

SECRET = generate_secret()
BODY = json.dumps({"name": "Joe", "address": "1 Main St"}).encode()


def durian_headers(secrets=(SECRET,), body=BODY, timestamp=None, msg_id="msg_1_2"):
    return signing.headers(list(secrets), msg_id, int(time.time() if timestamp is None else timestamp), body)


def standardwebhooks_headers(secret=SECRET, body=BODY, msg_id="msg_sw"):
    now = datetime.datetime.now(tz=datetime.UTC)
    signature = Webhook(secret).sign(msg_id, now, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}


def test_accepts_what_durian_signs():
    assert verify(durian_headers(), BODY, SECRET) == {"name": "Joe", "address": "1 Main St"}


def test_accepts_what_the_standardwebhooks_package_signs():
    assert verify(standardwebhooks_headers(), BODY, SECRET)["name"] == "Joe"


def test_accepts_svix_header_names_and_raw_key_bytes():
    headers = {k.replace("webhook-", "svix-"): v for k, v in durian_headers().items()}
    assert verify(headers, BODY, signing.secret_key(SECRET))["name"] == "Joe"


def test_during_a_rotation_either_secret_verifies():
    old, new = generate_secret(), generate_secret()
    headers = durian_headers(secrets=(new, old))
    assert verify(headers, BODY, old) and verify(headers, BODY, new) and verify(headers, BODY, [new, old])


@pytest.mark.parametrize(
    "make_headers, body, secret, reason",
    [
        (lambda: durian_headers(), BODY.replace(b"Joe", b"Eve"), SECRET, "No signature matches"),
        (lambda: durian_headers(), BODY, generate_secret(), "No signature matches"),
        (lambda: durian_headers(timestamp=time.time() - 400), BODY, SECRET, "older than 300 s"),
        (lambda: durian_headers(timestamp=time.time() + 400), BODY, SECRET, "more than 300 s in the future"),
        (lambda: {"webhook-timestamp": "1", "webhook-signature": "v1,x"}, BODY, SECRET, "webhook-id header is missing"),
        (lambda: {**durian_headers(), "webhook-timestamp": "soon"}, BODY, SECRET, "not a number of seconds"),
        (lambda: durian_headers(), BODY, [], "No secret is configured"),
        (lambda: durian_headers(), BODY, "not base64!", "not a base64"),
        (lambda: durian_headers(body=b"<xml/>"), b"<xml/>", SECRET, "not JSON"),
    ],
    ids=[
        "tampered body",
        "wrong secret",
        "stale",
        "future",
        "no id",
        "bad timestamp",
        "no secret",
        "bad secret",
        "xml",
    ],
)
def test_rejects_with_a_reason(make_headers, body, secret, reason):
    headers = make_headers()  # made when the test runs, so "stale" and "future" stay so
    with pytest.raises(InvalidWebhook, match=reason):
        verify(headers, body, secret)


def test_a_wider_tolerance_accepts_an_older_timestamp():
    assert verify(durian_headers(timestamp=time.time() - 400), BODY, SECRET, tolerance=600)["name"] == "Joe"


# -- the Django decorator -------------------------------------------------------------------


@webhook_view(secret=SECRET)
def orders(request):
    from django.http import JsonResponse

    return JsonResponse({"got": request.webhook["name"]})


def post(view, body, headers):
    request = RequestFactory().post(
        "/hooks/", data=body, content_type="application/json", headers={k: v for k, v in headers.items()}
    )
    return view(request)


def test_the_decorated_view_gets_the_verified_payload():
    response = post(orders, BODY, durian_headers())
    assert response.status_code == 200 and json.loads(response.content) == {"got": "Joe"}
    assert orders.csrf_exempt


def test_the_decorated_view_answers_400_with_the_reason():
    response = post(orders, BODY, durian_headers(secrets=(generate_secret(),)))
    assert response.status_code == 400
    assert response.content.decode() == "No signature matches: wrong secret, or the body was changed.\n"
    assert RequestFactory().get("/hooks/") and orders(RequestFactory().get("/hooks/")).status_code == 405


@pytest.mark.django_db
def test_the_example_receiver_checks_the_sending_listeners_secret(client, redis_client):
    from django.test import override_settings

    from example_project.people.hooks import PersonHook
    from example_project.people.models import Received

    listener = PersonHook().listener(url="http://127.0.0.1:8000/receiver/").save()
    msg_id = f"msg_abc_{listener.pk}"
    with override_settings(ROOT_URLCONF="example_project.urls"):
        good = client.post(
            "/receiver/",
            BODY,
            content_type="application/json",
            headers=durian_headers((listener.secret,), msg_id=msg_id),
        )
        forged = client.post(
            "/receiver/", BODY, content_type="application/json", headers=durian_headers((SECRET,), msg_id=msg_id)
        )
        assert client.get("/receiver/").content == b"POST webhooks here.\n"
    assert good.status_code == 204
    assert forged.status_code == 400 and b"No signature matches" in forged.content
    assert list(Received.objects.values_list("webhook_id", flat=True)) == [msg_id]
