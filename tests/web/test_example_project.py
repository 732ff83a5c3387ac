"""The example project links the pages from its home page, and its demo users can use them."""

from __future__ import annotations

import copy

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from durian.models import Listener
from example_project import settings as example_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def example_site(settings):
    settings.ROOT_URLCONF = "example_project.urls"
    settings.TEMPLATES = copy.deepcopy(example_settings.TEMPLATES)
    settings.LOGIN_URL = example_settings.LOGIN_URL
    settings.LOGIN_REDIRECT_URL = example_settings.LOGIN_REDIRECT_URL
    call_command("demo_user")
    return django_settings


def sign_in(username: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": username, "next": "/webhooks/"})
    assert response.status_code == 302 and response["Location"] == "/webhooks/", response.content[:500]
    return client


def test_the_home_page_links_the_webhook_pages(example_site):
    html = Client().get("/").content.decode()
    assert 'href="/webhooks/"' in html and 'href="/webhooks/events/"' in html
    assert 'href="/accounts/login/?next=/webhooks/"' in html


@pytest.mark.parametrize("username", ["demo", "client"])
def test_the_demo_users_sign_in_and_create_a_listener(example_site, username):
    client = sign_in(username)
    assert "Select an event" in client.get("/webhooks/events/").content.decode()
    response = client.post(
        "/webhooks/events/person/listeners/new/",
        {
            "url": "https://client.test/hooks",
            "filter-name-op": "is",
            "filter-name-value": "Joe",
            "filter-address-op": "any",
            "filter-created-op": "any",
        },
    )
    assert response.status_code == 302
    assert Listener.objects.get(owner__username=username).describe_filters() == "name is 'Joe'"


def test_the_client_user_is_not_staff_and_sees_only_their_own_listeners(example_site):
    user = User.objects.get(username="client")
    assert not user.is_staff and not user.is_superuser
    Listener.objects.create(hook="person", url="https://client.test/someone-elses")
    client = sign_in("client")
    admin = client.get("/admin/")  # the admin sends a signed-in user who is not staff to its login page
    assert admin.status_code == 302 and admin["Location"].startswith("/admin/login/"), admin.status_code
    html = client.get("/webhooks/").content.decode()
    assert "<h1>My listeners</h1>" in html and "someone-elses" not in html
    assert "someone-elses" in sign_in("demo").get("/webhooks/").content.decode()


def test_the_example_workers_serve_prometheus_metrics_on_a_port_the_launcher_names():
    from durian.conf import PROMETHEUS_MIDDLEWARE
    from example_project.launch import next_steps

    assert PROMETHEUS_MIDDLEWARE in example_settings.DRAMATIQ_BROKER["MIDDLEWARE"]
    said = "\n".join(next_steps("redis://127.0.0.1:7777/0", port=8000, metrics_port=9191))
    assert "http://127.0.0.1:9191/metrics" in said and "Prometheus" in said


def test_the_example_says_to_export_redis_url_before_running_commands_in_another_terminal():
    from example_project.launch import next_steps

    said = "\n".join(next_steps("redis://127.0.0.1:7777/0", port=8000, metrics_port=9191))
    assert "export REDIS_URL=redis://127.0.0.1:7777/0" in said
    assert "manage.py durian_status" in said
