"""The listener list's search, state filter and pages, and coming back to them after pausing or resuming."""

from __future__ import annotations

import pytest
from django.urls import reverse

from durian.models import Listener

pytestmark = pytest.mark.django_db


def shown(response) -> list[str]:
    return [x.url for x in response.context["listeners"]]


def test_search_matches_the_url_the_event_and_the_description(as_alice, alice):
    Listener.objects.create(hook="person", url="https://crm.test/in", owner=alice, description="the CRM")
    Listener.objects.create(hook="person", url="https://billing.test/in", owner=alice, description="invoices")
    url = reverse("durian:listener-list")
    assert shown(as_alice.get(url, {"q": "BILLING"})) == ["https://billing.test/in"]
    assert shown(as_alice.get(url, {"q": "crm"})) == ["https://crm.test/in"]
    assert len(shown(as_alice.get(url, {"q": "person"}))) == 2
    assert "No listener matches." in as_alice.get(url, {"q": "nothing"}).content.decode()


def test_the_state_filter_keeps_one_state_and_ignores_unknown_ones(as_alice, alice):
    Listener.objects.create(hook="person", url="https://a.test/", owner=alice)
    Listener.objects.create(hook="person", url="https://p.test/", owner=alice, state=Listener.State.PAUSED)
    url = reverse("durian:listener-list")
    assert shown(as_alice.get(url, {"state": "paused"})) == ["https://p.test/"]
    assert len(shown(as_alice.get(url, {"state": "nonsense"}))) == 2


def test_page_links_keep_the_search_and_the_filter(as_alice, alice):
    for i in range(25):
        Listener.objects.create(hook="person", url=f"https://c{i}.test/", owner=alice)
    html = as_alice.get(reverse("durian:listener-list"), {"q": "test", "state": "active"}).content.decode()
    assert "Page 1 of 2" in html
    assert 'href="?page=2&amp;q=test&amp;state=active" rel="next">Next</a>' in html


def test_pause_and_resume_return_to_the_same_page_and_filter_at_the_listener(as_alice, alices_listener):
    back = "q=127&state=active&page=2&next=https://evil.test/"
    response = as_alice.post(reverse("durian:listener-pause", kwargs={"pk": alices_listener.pk}), {"back": back})
    assert response["Location"] == f"/webhooks/?q=127&state=active&page=2#listener-{alices_listener.pk}"
    response = as_alice.post(reverse("durian:listener-resume", kwargs={"pk": alices_listener.pk}))
    assert response["Location"] == f"/webhooks/#listener-{alices_listener.pk}"
