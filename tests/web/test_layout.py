"""Every durian page fits a phone (375 px) and a desktop (1280 px) in a real Chromium, with long data.

Long ``Like`` patterns, long URLs and long errors must wrap: the page may not be wider than the
window, and every button's text must be fully visible. ``DURIAN_LAYOUT_SHOTS=<dir>`` keeps a
screenshot of each page at each width.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from durian.models import DeadLetter, Delivery, Listener

from .test_browser import browser  # noqa: F401  (the headless Chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.urls("example_project.urls")]

WIDTHS = (375, 1280)
LONG_URL = "https://client.test/" + "/".join(f"segment{i:03d}" for i in range(150))
LONG_PATTERN = "^(" + "|".join(f"name{i:04d}" for i in range(110)) + ")$"
LONG_ERROR = "connection refused by " + "x" * 600 + " " + " ".join(["word"] * 150)

OVERFLOW = """() => {
  const width = window.innerWidth;
  const bad = [];
  if (document.documentElement.scrollWidth > width) bad.push(`page is ${document.documentElement.scrollWidth} px wide`);
  for (const el of document.querySelectorAll('button, .button, input[type=submit]')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (el.scrollWidth > el.clientWidth + 1 || r.right > width + 0.5 || r.left < -0.5)
      bad.push(`button "${el.innerText || el.value}" cut (${Math.round(r.left)}..${Math.round(r.right)} of ${width})`);
  }
  return bad;
}"""


@pytest.fixture
def data(receiver):
    staff = User.objects.create_superuser("boss", password="pw")
    long_one = Listener.objects.create(
        hook="person",
        url=LONG_URL,
        description=("A description " * 18).strip(),
        owner=staff,
        filters={"name": {"op": "like", "value": LONG_PATTERN}},
        state=Listener.State.DISABLED,
        disabled_reason=LONG_ERROR[:255],
    )
    Listener.objects.create(hook="person", url=receiver.url, owner=staff)
    Listener.objects.create(hook="dropped", url="https://client.test/old", owner=staff)
    Listener.objects.create(hook="person", url="https://client.test/b", owner=staff, filters={"name": {"op": "x"}})
    for i in range(3):
        Delivery.objects.create(
            listener=long_one, hook="person", event_id=f"e{i}", webhook_id=f"msg_{'e' * 40}{i}_{long_one.pk}",
            attempt=i + 1, ok=False, error=LONG_ERROR, duration_ms=1234,
        )  # fmt: skip
    for status in (DeadLetter.Status.DEAD, DeadLetter.Status.DELIVERED):
        DeadLetter.objects.create(
            listener=long_one, hook="person", event_id=status, webhook_id=f"msg_{'d' * 40}_{status}",
            payload={"name": "X"}, attempts=8, status=status, last_status_code=200 if status == "delivered" else 500,
            last_error=LONG_ERROR,
        )  # fmt: skip
    return staff, long_one


def pages(long_one: Listener) -> list[tuple[str, str]]:
    return [
        ("home", "/"),
        ("listeners", "/webhooks/"),
        ("select-event", "/webhooks/events/"),
        ("create", "/webhooks/events/person/listeners/new/"),
        ("edit", f"/webhooks/listeners/{long_one.pk}/edit/"),
        ("delete", f"/webhooks/listeners/{long_one.pk}/delete/"),
        ("secret", f"/webhooks/listeners/{long_one.pk}/secret/"),
        ("deliveries", f"/webhooks/listeners/{long_one.pk}/deliveries/"),
    ]


def signed_in(browser, live_server, user: User, width: int):  # noqa: F811
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 800})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(45_000)  # a shared, loaded machine: wait on conditions generously
    return page


def shoot(page, name: str) -> None:
    where = os.environ.get("DURIAN_LAYOUT_SHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}.png"), full_page=True)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_window_and_shows_every_button_whole(browser, live_server, data, width):  # noqa: F811
    staff, long_one = data
    page = signed_in(browser, live_server, staff, width)
    problems = {}
    for name, path in pages(long_one):
        page.goto(path)
        shoot(page, f"{name}-{width}")
        problems[name] = page.evaluate(OVERFLOW)
    # the result of a test event, and a form with its errors shown
    page.goto("/webhooks/")
    with page.expect_navigation():
        page.locator(f"#listener-{long_one.pk + 1}").get_by_role("button", name="Send test event").click()
    shoot(page, f"test-result-{width}")
    problems["test-result"] = page.evaluate(OVERFLOW)
    page.goto(f"/webhooks/listeners/{long_one.pk}/edit/")
    page.get_by_label("URL").fill(LONG_URL + "/\u0007")
    with page.expect_navigation():
        page.get_by_role("button", name="Save listener").click()
    shoot(page, f"edit-errors-{width}")
    problems["edit-errors"] = page.evaluate(OVERFLOW)
    # signed out: the sign-in page
    anonymous = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 800}).new_page()
    anonymous.goto("/accounts/login/")
    shoot(anonymous, f"login-{width}")
    problems["login"] = anonymous.evaluate(OVERFLOW)
    assert {k: v for k, v in problems.items() if v} == {}


@pytest.mark.parametrize("width", WIDTHS)
def test_the_example_home_and_sign_in_pages_are_made_for_phones_too(browser, live_server, data, width):  # noqa: F811
    staff, _ = data
    from example_project.people.models import Received

    Received.objects.create(webhook_id="msg_1", body={"name": "Joe", "created": True})
    page = signed_in(browser, live_server, staff, width)
    page.goto("/")
    assert page.locator('meta[name="viewport"]').count() == 1
    assert '{"name": "Joe", "created": true}' in page.content()
    page.goto("/webhooks/")
    assert page.get_by_role("button", name="Sign out").count() == 1
    assert page.get_by_role("link", name="Back to the site").count() == 1
    anonymous = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 800}).new_page()
    anonymous.goto("/accounts/login/")
    username, password = anonymous.get_by_label("Username"), anonymous.get_by_label("Password")
    assert password.bounding_box()["width"] == username.bounding_box()["width"]
    assert password.evaluate("e => getComputedStyle(e).borderRadius") == username.evaluate(
        "e => getComputedStyle(e).borderRadius"
    )
