"""Secret rotation: the old secret keeps verifying during the grace period, then only the new one."""

import datetime

import pytest
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def deliver_one(receiver, name):
    Person.objects.create(name=name)
    return receiver.wait_for(len(receiver.delivered) + 1)[-1]


def verifies(secret, request):
    try:
        Webhook(secret).verify(request.body, request.headers)
        return True
    except WebhookVerificationError:
        return False


def test_signatures_verify_with_standardwebhooks_before_during_and_after_a_rotation(worker, receiver):
    listener = PersonHook().listener(url=receiver.url).save()
    old = listener.secret

    before = deliver_one(receiver, "Before")
    assert verifies(old, before) and len(before.headers["webhook-signature"].split()) == 1

    new = listener.rotate_secret(grace=600)
    assert (listener.secret, listener.previous_secret) == (new, old) and new != old
    during = deliver_one(receiver, "During")
    assert len(during.headers["webhook-signature"].split()) == 2  # one per secret, as the spec describes
    assert verifies(old, during) and verifies(new, during)

    listener.previous_secret_expires_at = timezone.now() + datetime.timedelta(seconds=1)  # the grace ends soon
    listener.save()
    ends = listener.previous_secret_expires_at
    wait_until(lambda: timezone.now() > ends, 30, "the grace period to end")
    after = deliver_one(receiver, "After")  # the cached listener drops the old secret by itself
    assert len(after.headers["webhook-signature"].split()) == 1
    assert verifies(new, after) and not verifies(old, after)


def test_a_test_event_after_the_grace_period_is_signed_with_the_new_secret_only(db, redis_client, receiver):
    from durian.web.sample import send_test_event

    listener = PersonHook().listener(url=receiver.url).save()
    old = listener.secret
    new = listener.rotate_secret(grace=600)
    _, during = send_test_event(listener)
    (first,) = receiver.wait_for(1)  # the receiver records a request just after answering it
    assert during.ok and verifies(old, first) and verifies(new, first)

    listener.previous_secret_expires_at = timezone.now() - datetime.timedelta(seconds=1)  # the grace has ended
    listener.save()
    assert listener.secrets() == [new]
    _, after = send_test_event(listener)
    assert after.ok and len(receiver.wait_for(2))
    assert len(receiver.requests[-1].headers["webhook-signature"].split()) == 1
    assert verifies(new, receiver.requests[-1]) and not verifies(old, receiver.requests[-1])


def test_the_previous_secret_signs_until_its_grace_period_ends_and_not_after(db, redis_client):
    listener = PersonHook().listener(url="http://127.0.0.1:9/hook").save()
    old = listener.secret
    new = listener.rotate_secret(grace=60)
    ends = listener.previous_secret_expires_at
    assert listener.secrets(now=ends - datetime.timedelta(seconds=1)) == [new, old]
    assert listener.secrets(now=ends) == [new]
    assert listener.secrets(now=ends + datetime.timedelta(days=1)) == [new]


def test_the_default_grace_period_is_24_hours(db, redis_client, settings):
    listener = PersonHook().listener(url="http://127.0.0.1:9/hook").save()
    listener.rotate_secret()
    left = listener.previous_secret_expires_at - timezone.now()
    assert datetime.timedelta(hours=23, minutes=59) < left <= datetime.timedelta(hours=24)
    assert listener.secrets() == [listener.secret, listener.previous_secret]

    settings.DURIAN_SECRET_ROTATION_GRACE = 60
    listener.rotate_secret()
    assert listener.previous_secret_expires_at - timezone.now() <= datetime.timedelta(seconds=60)
