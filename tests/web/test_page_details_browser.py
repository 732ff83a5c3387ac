"""Details users see in a real Chromium at 375 px and 1280 px, with long content (issue 22, points 9, 11,
12 and 13): the delivery-health dashboard fits a phone and its charts stay readable; table headers and
short cells keep their words whole; form controls look alike and sit where they belong; the admin's
delivery and dead-letter pages fit a phone despite their long webhook ids."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from durian.models import DeadLetter, Delivery, Listener

from .test_browser import browser  # noqa: F401  (the headless Chromium fixture)
from .test_layout import LONG_ERROR, LONG_URL, OVERFLOW, WIDTHS, data, shoot, signed_in  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.urls("example_project.urls")]

#: Words of ``selector``'s visible elements that the layout split over two lines ("ATTEM / PT").
BROKEN_WORDS = """(selector) => {
  const broken = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.getClientRects().length || el.getBoundingClientRect().width < 2) continue;
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""

#: Each visible axis label of the charts: its text, its rendered height, whether its chart shows it whole,
#: and whether it overlaps another label.
AXIS_LABELS = """() => [...document.querySelectorAll('svg.durian-chart')].filter(svg => svg.getClientRects().length
    && getComputedStyle(svg).display !== 'none').flatMap(svg => {
  const chart = svg.getBoundingClientRect();
  const boxes = [...svg.querySelectorAll('text.axis')].map(t => [t, t.getBoundingClientRect()]);
  return boxes.map(([t, r]) => ({
    text: t.textContent,
    height: r.height,
    whole: r.left >= chart.left - 0.5 && r.right <= chart.right + 0.5 && r.top >= chart.top - 0.5 && r.bottom <= chart.bottom + 0.5,
    overlaps: boxes.some(([o, q]) => o !== t && q.left < r.right && r.left < q.right && q.top < r.bottom && r.top < q.bottom),
  }));
})"""

SHORT_CELLS = ", ".join(
    f'td[data-label="{label}"]'
    for label in ("Time", "Attempt", "Result", "Status code", "Duration", "Dead since", "Attempts", "Status")
)


def gap(a: dict, b: dict) -> float:
    """The distance between two boxes (0 or less when they touch or overlap)."""
    return max(
        b["x"] - (a["x"] + a["width"]),
        a["x"] - (b["x"] + b["width"]),
        b["y"] - (a["y"] + a["height"]),
        a["y"] - (b["y"] + b["height"]),
    )


@pytest.fixture
def history():
    """A day of attempts of two listeners, one with a long URL, failing often: the dashboard's charts and table."""
    staff = User.objects.filter(username="boss").first() or User.objects.create_superuser("boss", password="pw")
    long_one = Listener.objects.create(hook="person", url=LONG_URL, owner=staff)
    other = Listener.objects.create(hook="person", url="https://client.test/hooks/person", owner=staff)
    now = timezone.now()
    rows = []
    for hour in range(24):
        for i, listener in enumerate((long_one, other)):
            for n in range(4):
                ok = (n + hour + i) % 3 != 0
                rows.append(
                    Delivery(
                        listener=listener, hook="person", event_id=f"h{hour}-{n}", webhook_id=f"msg_h{hour}-{n}_{listener.pk}",
                        ok=ok, status_code=200 if ok else 503, duration_ms=40 + 300 * n + hour,
                        created_at=now - datetime.timedelta(hours=hour, minutes=5),
                    )
                )  # fmt: skip
    Delivery.objects.bulk_create(rows)
    DeadLetter.objects.create(
        listener=long_one, hook="person", event_id="e1", webhook_id=f"msg_e1_{long_one.pk}", payload={"name": "X"},
        attempts=3, last_status_code=503, last_error=LONG_ERROR,
    )  # fmt: skip
    return staff


# -- point 9: the delivery-health dashboard --------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_the_delivery_health_dashboard_fits_the_window_and_its_charts_stay_readable(
    browser,  # noqa: F811
    live_server,
    history,
    width,
):
    page = signed_in(browser, live_server, history, width)
    for hours in (24, 6, 720):
        page.goto(f"/admin/durian/listener/health/?hours={hours}")
        labels = page.evaluate(AXIS_LABELS)
        assert len(labels) >= 2 * (5 + 4)  # two charts, five y labels and a few hours each
        assert [x["text"] for x in labels if x["height"] < 9] == []  # readable: no label shrunk to a few pixels
        assert [x["text"] for x in labels if not x["whole"]] == []  # the last hour's label is not clipped
        assert [x["text"] for x in labels if x["overlaps"]] == []
    page.goto("/admin/durian/listener/health/")
    shoot(page, f"health-{width}")
    assert page.evaluate(OVERFLOW) == []
    table = page.locator("#failing-listeners").bounding_box()
    assert table["x"] >= 0 and table["x"] + table["width"] <= width


# -- point 11: table headers ----------------------------------------------------------------------


def test_table_headers_and_short_cells_keep_their_words_whole_at_1280_px(browser, live_server, data, history):  # noqa: F811
    staff, long_one = data
    page = signed_in(browser, live_server, staff, 1280)
    for path in (f"/webhooks/listeners/{long_one.pk}/deliveries/", "/webhooks/", "/admin/durian/listener/health/"):
        page.goto(path)
        shoot(page, f"headers-{path.strip('/').replace('/', '-')}")
        assert page.evaluate(BROKEN_WORDS, f"thead th, {SHORT_CELLS}") == [], path


# -- point 12: form controls ----------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_number_inputs_look_like_the_other_inputs(browser, live_server, data, width):  # noqa: F811
    staff, _ = data
    page = signed_in(browser, live_server, staff, width)
    page.goto("/webhooks/events/person/listeners/new/")
    look = "e => ['borderTopLeftRadius', 'borderTopColor', 'paddingLeft', 'fontSize', 'height'].map(p => getComputedStyle(e)[p])"
    url = page.get_by_label("URL").evaluate(look)
    for label in ("Concurrent requests", "Requests per second"):
        assert page.get_by_label(label).evaluate(look) == url, label


@pytest.mark.parametrize("width", WIDTHS)
def test_the_ordered_checkbox_sits_beside_its_label(browser, live_server, data, width):  # noqa: F811
    staff, _ = data
    page = signed_in(browser, live_server, staff, width)
    page.goto("/webhooks/events/person/listeners/new/")
    box = page.get_by_label("Ordered").bounding_box()
    label = page.locator('label[for="id_ordered"]').bounding_box()
    middle = box["y"] + box["height"] / 2
    assert label["y"] <= middle <= label["y"] + label["height"]  # on the label's line, not under it
    assert 0 < gap(box, label) <= 16  # just beside it


@pytest.mark.parametrize("width", WIDTHS)
def test_the_matcher_select_shows_like_regular_expression_whole(browser, live_server, data, width):  # noqa: F811
    staff, _ = data
    page = signed_in(browser, live_server, staff, width)
    page.goto("/webhooks/events/person/listeners/new/")
    select = page.get_by_label("Matcher for name")
    select.select_option(label="like (regular expression)")
    shoot(page, f"matcher-{width}")
    room = select.evaluate(
        """sel => {
          const cs = getComputedStyle(sel);
          const ctx = document.createElement('canvas').getContext('2d');
          ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
          const text = ctx.measureText(sel.options[sel.selectedIndex].text).width;
          const arrow = 20;  // Chromium draws the drop-down arrow inside the box
          return sel.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - arrow - text;
        }"""
    )
    assert room >= 0
    assert page.evaluate(OVERFLOW) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_catalog_button_does_not_touch_the_json_schema_link(browser, live_server, data, width):  # noqa: F811
    staff, _ = data
    page = signed_in(browser, live_server, staff, width)
    page.goto("/webhooks/events/")
    button = page.get_by_role("link", name="Listen to person").bounding_box()
    schema = page.locator("#hook-person").locator("xpath=..").get_by_role("link", name="JSON Schema").bounding_box()
    assert gap(button, schema) >= 8


# -- point 13: long admin titles ------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_the_admin_delivery_and_dead_letter_pages_fit_despite_a_long_webhook_id(
    browser,  # noqa: F811
    live_server,
    data,  # noqa: F811
    width,
):
    staff, long_one = data
    webhook_id = f"msg_{uuid.uuid4().hex}_{long_one.pk}"
    delivery = Delivery.objects.create(
        listener=long_one, hook="person", event_id="e-long", webhook_id=webhook_id, attempt=1, ok=False,
        error=LONG_ERROR, duration_ms=15000,
    )  # fmt: skip
    letter = DeadLetter.objects.create(
        listener=long_one, hook="person", event_id="e-long", webhook_id=webhook_id, payload={"name": "X" * 300},
        attempts=8, last_status_code=500, last_error=LONG_ERROR, response_excerpt="<html>" + "y" * 400,
    )  # fmt: skip
    page = signed_in(browser, live_server, staff, width)
    for name, path in (
        ("delivery", f"/admin/durian/delivery/{delivery.pk}/change/"),
        ("dead-letter", f"/admin/durian/deadletter/{letter.pk}/change/"),
    ):
        page.goto(path)
        shoot(page, f"admin-{name}-{width}")
        assert webhook_id in page.locator("#content").inner_text()
        assert page.evaluate(OVERFLOW) == [], name
