"""A listener's own retry schedule (``Listener.retry_schedule``): made from code and admin, validated
the same way everywhere, and carried to the workers in the listener cache. ``None`` means the site's
``DURIAN_RETRY_SCHEDULE``. (The workers' use of it is ``durian.pipeline.policy``'s.)"""

from __future__ import annotations

import html
import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from durian.models import Listener
from durian.storage import listener_cache
from example_project.people.hooks import PersonHook

URL = "https://client.test/hook"


# -- the builder ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_builder_saves_a_listener_s_own_retry_schedule(redis_client):
    listener = PersonHook().listener(url=URL, retry_schedule=[10, 60]).save()
    assert Listener.objects.get(pk=listener.pk).retry_schedule == [10, 60]


@pytest.mark.django_db
def test_without_a_retry_schedule_a_listener_follows_the_site_s(redis_client):
    listener = PersonHook().listener(url=URL).save()
    assert Listener.objects.get(pk=listener.pk).retry_schedule is None
    assert listener_cache.view(listener).retry_schedule is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ([10, 0.5], "Each delay must be between 1 s and 7 days; 0.5 is not."),
        ([10, 8 * 24 * 3600], "Each delay must be between 1 s and 7 days; 691200 is not."),
        ([True], "Each delay must be a number of seconds; true is not."),
        (["10"], 'Each delay must be a number of seconds; "10" is not.'),
        ([], "The retry schedule needs 1 to 20 delays; it has 0."),
        ([5] * 21, "The retry schedule needs 1 to 20 delays; it has 21."),
        ({}, "The retry schedule must be a list of delays in seconds, such as [10, 60, 300]; {} is not."),
        ("10, 60", 'The retry schedule must be a list of delays in seconds, such as [10, 60, 300]; "10, 60" is not.'),
        (60, "The retry schedule must be a list of delays in seconds"),
    ],
)
def test_the_builder_refuses_a_bad_retry_schedule_naming_the_field(schedule, message):
    with pytest.raises(ValidationError) as info:
        PersonHook().listener(url=URL, retry_schedule=schedule).save()
    assert list(info.value.message_dict) == ["retry_schedule"]
    assert any(m.startswith(message) for m in info.value.message_dict["retry_schedule"])
    assert not Listener.objects.exists()


# -- the workers' listener cache ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_listener_s_own_retry_schedule_reaches_the_workers_listener_cache(
    redis_client, django_capture_on_commit_callbacks
):
    holder = listener_cache.SnapshotHolder()  # a worker's, loaded before the listener exists
    assert not holder.get(redis_client).by_id
    with django_capture_on_commit_callbacks(execute=True):
        listener = PersonHook().listener(url=URL, retry_schedule=[10, 60, 3600]).save()
    data, _ = listener_cache._keys()
    assert json.loads(redis_client.hget(data, str(listener.pk)))["retry_schedule"] == [10, 60, 3600]
    assert holder.get(redis_client).by_id[listener.pk].retry_schedule == (10, 60, 3600)

    with django_capture_on_commit_callbacks(execute=True):
        listener.retry_schedule = None  # back to the site's schedule
        listener.save()
    assert holder.get(redis_client).by_id[listener.pk].retry_schedule is None


# -- admin ---------------------------------------------------------------------------------------


def admin_data(**changes):
    data = {"hook": "person", "url": URL, "description": "", "filters": "{}", "state": "active"}
    return {**data, "payload_format": "flat", **changes}


@pytest.mark.django_db
def test_admin_edits_a_listener_s_retry_schedule(admin_client, redis_client):
    listener = PersonHook().listener(url=URL).save()
    change = f"/admin/durian/listener/{listener.pk}/change/"
    page = html.unescape(admin_client.get(change).content.decode())
    assert 'name="retry_schedule"' in page
    assert "Empty: the site's schedule (DURIAN_RETRY_SCHEDULE)" in page

    response = admin_client.post(change, admin_data(retry_schedule="[10, 60]"))
    assert response.status_code == 302, response.content.decode()[:3000]
    listener.refresh_from_db()
    assert listener.retry_schedule == [10, 60]
    assert "[10, 60]" in admin_client.get(change).content.decode()

    response = admin_client.post(change, admin_data(retry_schedule=""))
    assert response.status_code == 302
    listener.refresh_from_db()
    assert listener.retry_schedule is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("[10, 0.5]", "Each delay must be between 1 s and 7 days; 0.5 is not."),
        ("[10, 700000]", "Each delay must be between 1 s and 7 days; 700000 is not."),
        ('[10, "60"]', 'Each delay must be a number of seconds; "60" is not.'),
        ("[]", "The retry schedule needs 1 to 20 delays; it has 0."),
        ("60", "The retry schedule must be a list of delays in seconds"),
        ("[10, 60", "Enter a valid JSON."),
    ],
)
def test_admin_shows_a_bad_retry_schedule_as_an_error_on_the_form(admin_client, redis_client, typed, message):
    listener = PersonHook().listener(url=URL, retry_schedule=[30]).save()
    for page in ("/admin/durian/listener/add/", f"/admin/durian/listener/{listener.pk}/change/"):
        response = admin_client.post(page, admin_data(retry_schedule=typed))
        assert response.status_code == 200
        assert message in html.unescape(response.content.decode())
    assert list(Listener.objects.values_list("retry_schedule", flat=True)) == [[30]]


# -- the migration ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_adds_the_retry_schedule_and_existing_listeners_follow_the_site_s():
    before, after = ("durian", "0006_ordered_listeners"), ("durian", "0007_listener_retry_schedule")
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([before])
        old = MigrationExecutor(connection).loader.project_state([before]).apps.get_model("durian", "Listener")
        assert "retry_schedule" not in {f.name for f in old._meta.get_fields()}
        pk = old.objects.create(hook="person", url=URL, secret="whsec_c2VjcmV0").pk

        executor = MigrationExecutor(connection)
        executor.migrate([after])
        new = executor.loader.project_state([after]).apps.get_model("durian", "Listener")
        assert new.objects.get(pk=pk).retry_schedule is None
        new.objects.filter(pk=pk).update(retry_schedule=[10, 60])
        assert new.objects.get(pk=pk).retry_schedule == [10, 60]
    finally:
        MigrationExecutor(connection).migrate(leaves)
