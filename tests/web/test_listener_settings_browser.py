"""In a real headless Chromium (issue 20): a client creates a listener with headers, chosen fields and
the CloudEvents format from the web form; a real worker delivers to a real receiver exactly that."""

from __future__ import annotations

import re

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from django.contrib.auth.models import Permission, User
from standardwebhooks import Webhook

from durian.models import Listener
from example_project.people.models import Person
from tests.web.test_browser import browser, new_page, shoot, sign_in  # noqa: F401 (``browser`` is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.timeout(180)
def test_a_client_creates_a_listener_with_headers_fields_and_cloudevents_from_the_form(
    browser,  # noqa: F811
    live_server,
    worker,
    receiver,
):
    client = User.objects.create_user("clara", password="pw")
    client.user_permissions.set(Permission.objects.filter(codename__endswith="_listener"))
    page = new_page(browser, live_server.url)
    sign_in(page, "/webhooks/", "clara")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/webhooks/$"))

    page.goto("/webhooks/events/person/listeners/new/")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Payload format").select_option("cloudevents")
    page.get_by_label("Headers").fill("Authorization: Bearer t0ken\nX-Tenant: acme")
    page.locator("input[name=fields][value=name]").check()
    page.get_by_label("Retry schedule").fill("10, 60")
    shoot(page, "20-create-listener-with-settings")
    page.get_by_role("button", name="Create listener").click()
    page.get_by_label("Copy it now").wait_for()

    listener = Listener.objects.get(owner=client)
    assert listener.payload_format == "cloudevents" and listener.fields == ["name"]
    assert listener.headers == {"Authorization": "Bearer t0ken", "X-Tenant": "acme"}
    assert listener.retry_schedule == [10, 60]

    Person.objects.create(name="Jane", address="1 Main St")
    (request,) = receiver.wait_for(1)
    assert request.headers["authorization"] == "Bearer t0ken" and request.headers["x-tenant"] == "acme"
    Webhook(listener.secret).verify(request.body, request.headers)
    event = from_http_event(HTTPMessage(headers=request.headers, body=request.body))
    assert event.get_type() == "person" and event.get_data() == {"name": "Jane"}

    # The edit page shows the header values masked, never the token.
    page.goto(f"/webhooks/listeners/{listener.pk}/edit/")
    assert page.get_by_label("Headers").input_value() == "Authorization: ***\nX-Tenant: ***"
    assert "t0ken" not in page.content()
    assert page.locator("input[name=fields][value=name]").is_checked()
    shoot(page, "21-edit-listener-settings-masked")
    page.get_by_role("button", name="Save listener").click()
    page.wait_for_url(re.compile(r"/webhooks/"))
    listener.refresh_from_db()
    assert listener.headers == {"Authorization": "Bearer t0ken", "X-Tenant": "acme"}
