"""Per-listener figures on the listener pages, and the badge that turns amber or red when deliveries fail."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from durian.models import Delivery, Listener
from durian.storage import stats

from .conftest import dead_letter

pytestmark = pytest.mark.django_db


def attempts(listener: Listener, ok: int, failed: int, age: datetime.timedelta = datetime.timedelta()) -> None:
    when = timezone.now() - age
    Delivery.objects.bulk_create(
        Delivery(listener=listener, hook="person", event_id=f"e{i}", webhook_id=f"m{i}", ok=i < ok, created_at=when)
        for i in range(ok + failed)
    )


def card(html: str, listener: Listener) -> str:
    return re.search(rf'id="listener-{listener.pk}".*?</tr>', html, re.S).group(0)


def test_a_healthy_listener_shows_its_success_rate_and_a_plain_badge(as_alice, alices_listener):
    attempts(alices_listener, ok=4, failed=0)
    html = card(as_alice.get(reverse("durian:listener-list")).content.decode(), alices_listener)
    assert '<span class="badge active health-ok">active</span>' in html
    assert "100 % of 4" in html
    assert re.search(r'class="dead-letters">0</td>', html)


def test_some_failures_turn_the_badge_amber(as_alice, alices_listener):
    attempts(alices_listener, ok=3, failed=1)
    html = card(as_alice.get(reverse("durian:listener-list")).content.decode(), alices_listener)
    assert "health-warning" in html and "75 % of 4" in html
    assert '<span class="badge active health-warning">active · some failures</span>' in html


def test_dead_letters_turn_the_badge_red_and_are_counted(as_alice, alices_listener):
    attempts(alices_listener, ok=1, failed=2)
    failed_at = timezone.now()
    Listener.objects.filter(pk=alices_listener.pk).update(last_failure_at=failed_at)
    dead_letter(alices_listener)
    html = card(as_alice.get(reverse("durian:listener-list")).content.decode(), alices_listener)
    assert '<span class="badge active health-failing">active · failing</span>' in html
    assert re.search(r'class="dead-letters"><a href="[^"]+">1</a></td>', html)
    assert timezone.localtime(failed_at).strftime("%Y-%m-%d %H:%M:%S") in html


def test_attempts_older_than_the_window_do_not_count(as_alice, alices_listener):
    attempts(alices_listener, ok=0, failed=5, age=datetime.timedelta(days=3))
    html = card(as_alice.get(reverse("durian:listener-list")).content.decode(), alices_listener)
    assert "no deliveries" in html and "health-ok" in html


def test_the_list_costs_the_same_queries_for_many_listeners(as_alice, alice, django_assert_max_num_queries):
    from example_project.people.hooks import PersonHook

    for i in range(40):
        listener = PersonHook().listener(url=f"http://127.0.0.1:9/{i}", owner=alice).save()
        attempts(listener, ok=2, failed=1)
    with django_assert_max_num_queries(12):
        assert as_alice.get(reverse("durian:listener-list")).status_code == 200


def test_the_latency_percentile_is_the_upper_bound_of_its_bucket():
    buckets = [0] * (len(stats.LATENCY_BUCKETS_MS) + 1)
    buckets[stats.LATENCY_BUCKETS_MS.index(10)] = 98
    buckets[stats.LATENCY_BUCKETS_MS.index(500)] = 2
    assert stats.percentile(buckets, 0.5) == 10
    assert stats.percentile(buckets, 0.99) == 500
    assert stats.percentile([0] * len(buckets), 0.5) is None
