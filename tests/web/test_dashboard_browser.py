"""The delivery-health dashboard in a real headless Chromium, with deliveries made by a real worker.

Its screenshot (``artifacts/screenshots/dashboard.png``) is the one in the README (docs/images/).
"""

from __future__ import annotations

import datetime
import random
import re
import time

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from durian.match import Startswith
from durian.models import DeadLetter, Delivery
from durian.testing import Receiver
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .test_browser import browser, new_page, shoot, sign_in  # noqa: F401  (the browser fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def history(listener, hours: int, rng: random.Random) -> None:
    """Earlier attempts of ``listener``, some each hour, so that the charts have a day to show."""
    now = timezone.now()
    rows = []
    for hour in range(1, hours):
        for i in range(rng.randint(20, 60)):
            ok = rng.random() > (0.3 if 6 <= hour <= 9 else 0.02)
            rows.append(
                Delivery(
                    listener=listener, hook="person", event_id=f"h{hour}-{i}", webhook_id=f"msg_h{hour}-{i}_{listener.pk}",
                    ok=ok, status_code=200 if ok else 503, duration_ms=int(rng.lognormvariate(3.5 + hour % 5 / 5, 0.6)),
                    created_at=now - datetime.timedelta(hours=hour, minutes=rng.randint(0, 59)),
                )
            )  # fmt: skip
    Delivery.objects.bulk_create(rows)


@pytest.mark.timeout(180)
def test_the_dashboard_renders_its_charts_from_real_deliveries(browser, live_server, worker, receiver):  # noqa: F811
    User.objects.create_superuser("admin", password="pw")
    healthy = PersonHook().listener(url=receiver.url, description="CRM").save()
    with Receiver() as broken:
        broken.always(500)
        failing = PersonHook().listener(url=broken.url).match(name=Startswith("A")).save()
        for name in ("Ann", "Bea", "Abe", "Cid", "Amy"):
            Person.objects.create(name=name, address="1 Main St", secret="s")
        receiver.wait_for(5, timeout=30)
        deadline = timezone.now() + datetime.timedelta(seconds=30)
        while DeadLetter.objects.filter(listener=failing).count() < 3 and timezone.now() < deadline:
            time.sleep(0.1)
    assert DeadLetter.objects.filter(listener=failing).count() == 3
    history(healthy, 24, random.Random(7))

    page = new_page(browser, live_server.url)
    sign_in(page, "/admin/login/?next=/admin/durian/", "admin")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/durian/$"))
    page.get_by_role("link", name="Delivery health").first.click()
    page.wait_for_url(re.compile(r"/admin/durian/listener/health/$"))

    charts = page.locator("svg.durian-chart.wide")  # at 1100 px; phones see the narrow ones
    assert charts.count() == 2
    for i in range(2):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100
        assert charts.nth(i).locator("polyline").count() >= 1
    assert page.locator("svg.durian-chart.wide >> nth=1").get_attribute("aria-label") == "Attempt latency per hour (ms)"
    rows = page.locator("#failing-listeners tbody tr")
    assert rows.count() == 2
    failing_row = rows.filter(has_text=broken.url)
    failed, attempts = re.search(r"(\d+) / (\d+)", failing_row.inner_text()).groups()
    assert failed == attempts and int(attempts) >= 9  # 3 events, 3 attempts each (or more), all failed
    assert failing_row.locator(".level.failing").count() == 1  # dead letters: red
    assert rows.filter(has_text=receiver.url).locator(".level.warning").count() == 1  # a few failures: amber
    assert page.locator("#dead-letters").inner_text() == "3"
    assert page.locator("#stream-lag").inner_text() == "0"
    shoot(page, "dashboard")
