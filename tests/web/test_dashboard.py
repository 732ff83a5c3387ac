"""The delivery-health dashboard in admin: figures, charts, the listeners that fail most, the backlog."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from durian.models import Delivery, Listener, OutboxEvent
from example_project.people.hooks import PersonHook

from .conftest import client_for, dead_letter

pytestmark = pytest.mark.django_db
HEALTH = "/admin/durian/listener/health/"


@pytest.fixture
def staff(make_user) -> Client:
    return client_for(make_user("sam", "view", staff=True))


def records(listener: Listener, ok: int, failed: int, age_hours: float = 0, duration_ms: int = 40) -> None:
    when = timezone.now() - datetime.timedelta(hours=age_hours)
    Delivery.objects.bulk_create(
        Delivery(listener=listener, hook="person", event_id=f"e{age_hours}-{i}", webhook_id=f"m{age_hours}-{i}",
                 ok=i < ok, status_code=200 if i < ok else 500, duration_ms=duration_ms, created_at=when)
        for i in range(ok + failed)
    )  # fmt: skip


def test_the_dashboard_shows_rate_latency_charts_failing_listeners_and_backlog(staff, redis_client):
    good = PersonHook().listener(url="http://127.0.0.1:9/good").save()
    bad = PersonHook().listener(url="http://127.0.0.1:9/bad").save()
    records(good, ok=9, failed=0, age_hours=2)
    records(bad, ok=1, failed=10, age_hours=1, duration_ms=900)
    records(bad, ok=0, failed=50, age_hours=48)  # outside the window
    dead_letter(bad)
    OutboxEvent.objects.create(id="x1", hook="person", payload={}, created_at=0)
    Listener.objects.filter(pk=bad.pk).update(consecutive_failures=10)
    html = staff.get(HEALTH).content.decode()
    assert '<strong id="attempts">20</strong>' in html
    assert '<strong id="success-rate">50.0 %</strong>' in html
    assert '<strong id="outbox">1</strong>' in html and '<strong id="dead-letters">1</strong>' in html
    charts = html.split('<div class="charts">')[1].split("</div>")[0]
    assert charts.count('<svg class="durian-chart wide"') == 2 and charts.count('<svg class="durian-chart narrow"') == 2
    assert charts.count("<polyline") == 2 * 3  # the success rate, p50 and p99 of the two hours with attempts
    failing = html[html.index('id="failing-listeners"') :]
    assert f"#{bad.pk}" in failing and f"#{good.pk}" not in failing
    assert "10 / 11" in failing and 'class="level failing"' in failing
    assert "<script" not in html.split('id="content-main"')[1]


def test_a_wider_window_takes_older_records(staff):
    bad = PersonHook().listener(url="http://127.0.0.1:9/bad").save()
    records(bad, ok=0, failed=5, age_hours=48)
    assert '<strong id="attempts">0</strong>' in staff.get(HEALTH).content.decode()
    assert '<strong id="attempts">5</strong>' in staff.get(HEALTH + "?hours=72").content.decode()
    assert staff.get(HEALTH + "?hours=nonsense").status_code == 200


def test_the_query_count_does_not_grow_with_the_records(staff, django_assert_max_num_queries):
    listeners = [PersonHook().listener(url=f"http://127.0.0.1:9/{i}").save() for i in range(12)]
    for hour, listener in enumerate(listeners):
        records(listener, ok=5, failed=hour + 1, age_hours=hour)
    with django_assert_max_num_queries(12) as few:
        staff.get(HEALTH)
    for listener in listeners:
        records(listener, ok=50, failed=20, age_hours=0.5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        staff.get(HEALTH)


def test_only_staff_with_the_view_permission_see_it(make_user, db):
    assert client_for(make_user("nina", "view")).get(HEALTH).status_code == 302  # not staff: admin login
    assert client_for(make_user("otto", staff=True)).get(HEALTH).status_code == 403


def test_the_durian_section_of_admin_links_to_it(db):
    client = client_for(User.objects.create_superuser("root", password="pw"))
    assert HEALTH in client.get(reverse("admin:app_list", kwargs={"app_label": "durian"})).content.decode()
    assert HEALTH in client.get(reverse("admin:durian_listener_changelist")).content.decode()
