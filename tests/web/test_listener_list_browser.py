"""The listener list in a real Chromium, with 25 listeners: searched, filtered, paged; a compact table
from 900 px, a card per listener on a phone; the same badge on every page (issue 22, points 10 and 14)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from durian.models import Listener

from .conftest import dead_letter
from .test_browser import browser  # noqa: F401  (the headless Chromium fixture)
from .test_layout import LONG_PATTERN, LONG_URL, OVERFLOW, WIDTHS, shoot, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.urls("example_project.urls")]

COLUMNS = ["URL", "Hook", "Filters", "State", "Success rate (24 h)", "Dead letters", "Actions"]


@pytest.fixture
def many():
    """25 listeners of one staff user (ordered by hook, then id), among them a long one and a failing one."""
    staff = User.objects.create_superuser("boss", password="pw")
    listeners = [
        Listener.objects.create(hook="person", url=f"https://client{i:02d}.test/hooks/person", owner=staff)
        for i in range(25)
    ]
    Listener.objects.filter(pk=listeners[0].pk).update(
        url=LONG_URL, filters={"name": {"op": "like", "value": LONG_PATTERN}}, description="A long one " * 12
    )
    dead_letter(listeners[1])  # active, with a dead letter waiting: failing
    Listener.objects.filter(pk__in=[x.pk for x in listeners[2:5]]).update(state=Listener.State.PAUSED)
    return staff, listeners


def badge(page, where: str) -> dict:
    return (
        page.locator(where)
        .locator(".badge")
        .evaluate(
            "e => ({text: e.innerText, color: getComputedStyle(e).color, background: getComputedStyle(e).backgroundColor})"
        )
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_a_listener_with_a_dead_letter_waiting_has_the_same_red_badge_and_stripe_everywhere(
    browser,  # noqa: F811
    live_server,
    many,
    width,
):
    staff, listeners = many
    failing = listeners[1]
    page = signed_in(browser, live_server, staff, width)
    page.goto("/webhooks/")
    on_list = badge(page, f"#listener-{failing.pk}")
    healthy = badge(page, f"#listener-{listeners[5].pk}")
    page.goto(f"/webhooks/listeners/{failing.pk}/deliveries/")
    shoot(page, f"deliveries-failing-{width}")
    on_deliveries = badge(page, ".lead")
    assert on_list == on_deliveries
    assert on_list["text"] == "active · failing"
    assert on_list["color"] != healthy["color"]  # red, not the healthy listener's green
    if width < 900:  # a card: its stripe has the badge's colour, not the green of a healthy listener
        page.goto("/webhooks/")
        stripe = page.locator(f"#listener-{failing.pk}").evaluate("e => getComputedStyle(e).borderLeftColor")
        healthy_stripe = page.locator(f"#listener-{listeners[5].pk}").evaluate(
            "e => getComputedStyle(e).borderLeftColor"
        )
        assert stripe == on_list["color"] and stripe != healthy_stripe


@pytest.mark.parametrize("width", [900, 1280])
def test_from_900_px_the_list_is_a_compact_table_of_twenty_listeners_a_page(browser, live_server, many, width):  # noqa: F811
    staff, listeners = many
    page = signed_in(browser, live_server, staff, width)
    page.goto("/webhooks/")
    shoot(page, f"listener-table-{width}")
    assert page.evaluate(OVERFLOW) == []
    headers = page.locator("table.listener-table thead th").evaluate_all(
        "ths => ths.filter(th => th.offsetParent !== null).map(th => th.innerText.trim())"
    )
    assert [h.upper() for h in headers] == [c.upper() for c in COLUMNS]
    rows = page.locator("table.listener-table tbody tr")
    assert rows.count() == 20
    second = rows.nth(2)  # a short URL: a line or two of text, two or three of buttons (a card is over 300 px)
    assert second.bounding_box()["height"] < (90 if width >= 1280 else 120)
    assert "https://client01.test/hooks/person" in rows.nth(1).inner_text()
    assert "every event" in second.inner_text()
    assert page.locator("#listener-count").inner_text() == "1–20 of 25 listeners."
    assert page.get_by_role("navigation", name="Listener pages").inner_text().startswith("Page 1 of 2")
    page.get_by_role("link", name="Next").click()
    assert page.locator("table.listener-table tbody tr").count() == 5


def test_on_a_phone_each_listener_is_a_card_with_its_details(browser, live_server, many):  # noqa: F811
    staff, listeners = many
    page = signed_in(browser, live_server, staff, 375)
    page.goto("/webhooks/")
    shoot(page, "listener-cards-375")
    assert page.evaluate(OVERFLOW) == []
    card = page.locator(f"#listener-{listeners[1].pk}")
    labels = card.locator("td").evaluate_all(
        "tds => tds.map(td => getComputedStyle(td, '::before').content).filter(c => c !== 'none')"
    )
    assert labels == [f'"{column}: "' for column in COLUMNS[1:-1]]  # each value is labelled
    assert "Failures in a row" in card.inner_text() and "Last success" in card.inner_text()
    assert card.bounding_box()["height"] > 200  # a card, not a table row
    assert page.locator("table.listener-table thead").bounding_box()["height"] <= 1  # no table header on a phone


def test_search_and_state_filter_narrow_the_list(browser, live_server, many):  # noqa: F811
    staff, listeners = many
    page = signed_in(browser, live_server, staff, 1280)
    page.goto("/webhooks/")
    page.get_by_label("Search").fill("client07")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("table.listener-table tbody tr")
    assert rows.count() == 1 and "client07.test" in rows.first.inner_text()
    page.get_by_label("Search").fill("")
    page.get_by_label("State").select_option(label="paused")
    page.get_by_role("button", name="Show").click()
    assert sorted(page.locator("table.listener-table tbody tr").evaluate_all("rs => rs.map(r => r.id)")) == sorted(
        f"listener-{x.pk}" for x in listeners[2:5]
    )
    page.get_by_label("Search").fill("nothing-like-this")
    page.get_by_role("button", name="Show").click()
    assert "No listener matches." in page.locator("main").inner_text()


@pytest.mark.parametrize("width", WIDTHS)
def test_pausing_the_twentieth_listener_returns_to_it_not_to_the_top(browser, live_server, many, width):  # noqa: F811
    staff, listeners = many
    twentieth = listeners[19]
    page = signed_in(browser, live_server, staff, width)
    page.goto("/webhooks/")
    with page.expect_navigation():
        page.locator(f"#listener-{twentieth.pk}").get_by_role("button", name="Pause").click()
    row = page.locator(f"#listener-{twentieth.pk}")
    assert "paused" in row.locator(".badge").inner_text()
    assert page.evaluate("window.scrollY") > 0
    box = row.bounding_box()
    assert 0 <= box["y"] < 800  # in view, where the user was
    # on the second page, searched: the user comes back to the second page, still searched
    page.goto("/webhooks/?q=client&page=2")
    with page.expect_navigation():
        page.locator(f"#listener-{listeners[22].pk}").get_by_role("button", name="Pause").click()
    assert page.url.endswith(f"/webhooks/?q=client&page=2#listener-{listeners[22].pk}")
    assert page.locator("table.listener-table tbody tr").count() == 5
