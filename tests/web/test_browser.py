"""End to end in a real headless Chromium: a client creates a listener, sees its delivery, pauses it.

Runs against pytest-django's live server, with a real Dramatiq worker and a real HTTP receiver.
Screenshots of every page land in ``artifacts/screenshots/``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User

from durian.models import Delivery, Listener
from tests.waiting import nothing_in_flight, wait_until

# Playwright's sync API runs an event loop in this thread; the ORM calls below are plain sync code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("DURIAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
HOW_TO_INSTALL = (
    "Browser tests need Chromium and Playwright: `apt-get install -y chromium` (Debian) and "
    "`pip install playwright` (do not run `playwright install`; set DURIAN_CHROMIUM if Chromium is elsewhere)."
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser():
    """A headless Chromium driven by Playwright; skips (saying how to install one) when there is none."""
    if importlib.util.find_spec("playwright") is None or not os.path.exists(CHROMIUM):
        pytest.skip(HOW_TO_INSTALL)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def new_page(browser, base_url: str):
    page = browser.new_context(base_url=base_url, viewport={"width": 1100, "height": 760}).new_page()
    page.set_default_timeout(15_000)
    return page


def sign_in(page, path: str, username: str) -> None:
    page.goto(path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")


def deliveries_shown(page, want: int, timeout: float = 30.0) -> int:
    """Reload the deliveries page until it lists ``want`` rows (workers record them just after sending)."""
    deadline = time.monotonic() + timeout
    while True:
        page.reload()
        rows = page.locator("table.deliveries tbody tr").count()
        if rows >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def add_person(admin, name: str) -> None:
    admin.goto("/admin/people/person/add/")
    admin.get_by_label("Name").fill(name)
    admin.get_by_label("Address").fill(f"{len(name)} Main St")
    admin.get_by_role("button", name="Save", exact=True).click()
    admin.wait_for_url(re.compile(r"/admin/people/person/$"))


@pytest.mark.timeout(180)
def test_a_client_creates_a_listener_sees_one_delivery_then_pauses_it(browser, live_server, worker, receiver):
    client = User.objects.create_user("clara", password="pw")
    client.user_permissions.set(Permission.objects.filter(codename__endswith="_listener"))
    User.objects.create_superuser("editor", password="pw")
    # Another listener that takes every person event: once it has an event, that event was processed.
    Listener.objects.create(hook="person", url=receiver.url + "/all")

    page = new_page(browser, live_server.url)

    # Sign in: the pages ask for it.
    sign_in(page, "/webhooks/", "clara")
    shoot(page, "01-sign-in")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/webhooks/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "My listeners"
    shoot(page, "02-no-listeners")

    # Select the person event.
    page.get_by_role("link", name="New listener").first.click()
    assert page.get_by_role("heading", level=1).inner_text() == "Select an event"
    shoot(page, "03-select-event")
    page.get_by_role("link", name="Listen to person").click()
    create_url = page.url

    # Create a listener with a `starts with` filter; a bad regex first shows an error next to its field.
    assert page.get_by_role("heading", level=1).inner_text() == "New listener for person"
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Description").fill("People whose name starts with J")
    page.get_by_label("Matcher for address").select_option(label="like (regular expression)")
    page.get_by_label("Value for address").fill("Main(")
    page.get_by_role("button", name="Create listener").click()
    assert "Invalid regular expression for 'address'" in page.locator("#id_filter-address-value_errors").inner_text()
    shoot(page, "04-create-listener-error")
    page.goto(create_url)  # a fresh form for the real thing
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Description").fill("People whose name starts with J")
    page.get_by_label("Matcher for name").select_option(label="starts with")
    page.get_by_label("Value for name").fill("J")
    shoot(page, "05-create-listener")
    page.get_by_role("button", name="Create listener").click()

    # The secret, shown once.
    listener = Listener.objects.get(owner=client)
    assert page.get_by_label("Copy it now").input_value() == listener.secret
    shoot(page, "06-secret")
    assert listener.describe_filters() == "name starts with 'J'"

    # Two people saved through admin, by the site's staff: only Jane matches.
    admin = new_page(browser, live_server.url)
    sign_in(admin, "/admin/login/?next=/admin/", "editor")
    admin.get_by_role("button", name="Log in").click()
    admin.wait_for_url(re.compile(r"/admin/$"))
    add_person(admin, "Jane")
    add_person(admin, "Bob")
    shoot(admin, "07-admin-people")
    receiver.wait_for(3)  # Jane to the client; Jane and Bob to the catch-all listener

    # Exactly one delivery on the listener's deliveries page.
    page.goto("/webhooks/")
    page.get_by_role("link", name="Deliveries").click()
    assert deliveries_shown(page, 1) == 1
    row = page.locator("table.deliveries tbody tr").first.inner_text()
    assert "delivered" in row and "200" in row
    shoot(page, "08-deliveries")

    # The list shows the listener in words; pause it.
    page.goto("/webhooks/")
    card = page.locator(f"#listener-{listener.pk}")
    assert "name starts with 'J'" in card.inner_text()
    shoot(page, "09-listener-list")
    card.get_by_role("button", name="Pause").click()
    assert "paused" in page.locator(f"#listener-{listener.pk} .badge").inner_text()
    shoot(page, "10-listener-paused")

    # The next matching save is not delivered to the paused listener.
    add_person(admin, "Jim")
    receiver.wait_for(4)  # Jim reached the catch-all listener: the event was fanned out
    wait_until(nothing_in_flight, 30, "the event's deliveries to be done")  # none may go to the paused one
    paths = sorted(r.path for r in receiver.requests)
    assert paths == ["/hook", "/hook/all", "/hook/all", "/hook/all"]
    assert receiver.requests[[r.path for r in receiver.requests].index("/hook")].json()["name"] == "Jane"
    page.goto(f"/webhooks/listeners/{listener.pk}/deliveries/")
    assert page.locator("table.deliveries tbody tr").count() == 1
    assert Delivery.objects.filter(listener=listener).count() == 1
    shoot(page, "11-deliveries-after-pause")
