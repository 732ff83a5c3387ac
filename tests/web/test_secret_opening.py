"""Pages and API answers open a signing secret only to show it to its owner (once, or masked).

Every call of ``durian.core.sealing.unseal`` (the one function that opens a secret) is recorded.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from durian.core import sealing
from durian.models import Listener

from .api.conftest import token_client
from .conftest import client_for

API = "/api/webhooks"


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = sealing.unseal

    def recording(value: str) -> str:
        calls.append(value)
        return real(value)

    monkeypatch.setattr(sealing, "unseal", recording)
    return calls


def test_lists_edit_pages_and_api_reads_open_no_secret(alice, alices_listener, opened):
    alices_listener.rotate_secret()
    pk = alices_listener.pk
    pages = client_for(alice)
    for name in ("durian:listener-list", "durian:listener-edit", "durian:listener-deliveries"):
        response = pages.get(reverse(name, kwargs={"pk": pk} if name != "durian:listener-list" else {}))
        assert response.status_code == 200, name
    assert pages.get(reverse("durian:listener-secret", kwargs={"pk": pk})).status_code == 200  # not revealed
    api = token_client(alice)
    assert api.get(f"{API}/listeners/").status_code == 200
    assert api.get(f"{API}/listeners/{pk}/").status_code == 200
    assert api.patch(f"{API}/listeners/{pk}/", {"description": "edited"}, format="json").status_code == 200
    admin = client_for(User.objects.create_superuser("boss", "boss@example.com", "pw"))
    assert admin.get("/admin/durian/listener/").status_code == 200
    assert opened == []


def test_a_new_secret_is_opened_to_be_shown_and_the_admin_opens_one_to_mask_it(alice, alices_listener, opened):
    response = token_client(alice).post(f"{API}/listeners/{alices_listener.pk}/rotate-secret/")
    assert response.status_code == 200 and opened  # to answer it this once
    new = Listener.objects.get(pk=alices_listener.pk).secret
    assert response.json()["secret"] == new
    opened.clear()
    admin = client_for(User.objects.create_superuser("boss", "boss@example.com", "pw"))
    page = admin.get(f"/admin/durian/listener/{alices_listener.pk}/change/").content.decode()
    assert new not in page and len(opened) == 1  # the current secret only, to show its last four characters
