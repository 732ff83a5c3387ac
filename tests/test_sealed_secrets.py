"""Signing secrets stay sealed wherever they are stored or travel (database, Redis, a loaded listener,
serialized data) and are opened only where a body is signed or a secret is shown to its owner."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import pytest
from django.core import serializers
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from standardwebhooks import Webhook

from durian.core import sealing
from durian.models import Listener
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

pytestmark = pytest.mark.django_db(transaction=True)

DURIAN = Path(__file__).resolve().parent.parent / "durian"


def _plain_forms(*secrets: str) -> list[str]:
    """Each secret as ``whsec_...`` and as its bare base64 key: neither may be stored anywhere."""
    return [form for s in secrets for form in (s, s.removeprefix("whsec_"))]


def _stored_columns() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, previous_secret FROM durian_listener")
        return [value or "" for row in cursor.fetchall() for value in row]


def _everything_in_redis(client) -> str:
    """Every key and value in Redis, read by type (``DUMP`` may compress values)."""
    out: list[bytes] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        out.append(key)
        if kind == "string":
            out.append(client.get(key) or b"")
        elif kind == "hash":
            out.extend(b for pair in client.hgetall(key).items() for b in pair)
        elif kind == "list":
            out.extend(client.lrange(key, 0, -1))
        elif kind == "set":
            out.extend(client.smembers(key))
        elif kind == "zset":
            out.extend(client.zrange(key, 0, -1))
        elif kind == "stream":
            out.extend(b for _, fields in client.xrange(key) for pair in fields.items() for b in pair)
    return b"\n".join(out).decode("utf-8", "replace")


def test_a_loaded_listener_holds_only_sealed_secrets_and_opens_them_when_read(db):
    made = PersonHook().listener(url="http://127.0.0.1:9/hook").save()
    old = made.secret
    new = made.rotate_secret(grace=600)
    listener = Listener.objects.get(pk=made.pk)
    held = repr(vars(listener))
    assert not any(plain in held for plain in _plain_forms(old, new))
    sealed = listener.sealed_secrets()
    assert len(sealed) == 2 and all(sealing.is_sealed(s) for s in sealed)
    assert (listener.secret, listener.previous_secret) == (new, old)  # reading opens
    assert listener.secrets() == [new, old]
    assert listener.masked_secret == f"whsec_…{new[-4:]}"


def test_a_listener_made_or_given_a_plain_secret_seals_it_at_once(db):
    listener = Listener(hook="person", url="http://127.0.0.1:9/hook")
    plain = listener.secret
    assert plain.startswith("whsec_") and plain not in repr(vars(listener))
    listener.secret = chosen = "whsec_" + "A" * 43 + "="
    assert chosen not in repr(vars(listener)) and listener.secret == chosen
    listener.save()
    assert chosen not in "".join(_stored_columns())
    Listener.objects.filter(pk=listener.pk).update(secret=plain)  # a queryset update seals too
    assert plain not in "".join(_stored_columns())
    assert Listener.objects.get(pk=listener.pk).secret == plain


def test_the_database_holds_no_plain_secret_and_a_load_and_save_keeps_the_stored_token(db):
    listener = PersonHook().listener(url="http://127.0.0.1:9/hook").save()
    old = listener.secret
    new = listener.rotate_secret(grace=600)
    stored = _stored_columns()
    assert all(sealing.is_sealed(v) for v in stored)
    assert not any(plain in "".join(stored) for plain in _plain_forms(old, new))
    loaded = Listener.objects.get(pk=listener.pk)
    loaded.description = "edited"
    loaded.save()
    loaded.refresh_from_db()
    assert _stored_columns() == stored  # the token travels as is: saving does not open and re-seal it
    assert loaded.sealed_secrets() == stored


def test_serialized_listeners_carry_sealed_secrets_and_load_back(db):
    listener = PersonHook().listener(url="http://127.0.0.1:9/hook").save()
    plain = listener.secret
    dumped = serializers.serialize("json", Listener.objects.all())  # what dumpdata writes
    assert not any(p in dumped for p in _plain_forms(plain))
    Listener.objects.all().delete()
    for obj in serializers.deserialize("json", dumped):  # what loaddata reads
        obj.save()
    assert Listener.objects.get(pk=listener.pk).secret == plain


def test_the_redis_cache_and_stream_hold_no_plain_secret_and_deliveries_verify_during_a_rotation(
    worker, receiver, redis_client
):
    listener = PersonHook().listener(url=receiver.url).save()
    old = listener.secret
    Person.objects.create(name="Before")
    (before,) = receiver.wait_for(1)
    assert Webhook(old).verify(before.body, before.headers)["name"] == "Before"

    new = listener.rotate_secret(grace=600)
    Person.objects.create(name="During")
    during = receiver.wait_for(2)[-1]
    assert len(during.headers["webhook-signature"].split()) == 2
    assert Webhook(new).verify(during.body, during.headers)["name"] == "During"
    assert Webhook(old).verify(during.body, during.headers)["name"] == "During"

    everything = _everything_in_redis(redis_client)
    assert "listeners" in everything  # the listener cache is there, with its sealed secrets
    assert not any(plain in everything for plain in _plain_forms(old, new))
    assert not any(plain in "".join(_stored_columns()) for plain in _plain_forms(old, new))


def test_after_a_key_rotation_and_reseal_deliveries_are_signed_with_the_old_key_dropped(worker, receiver, redis_client):
    old_key, new_key = "old key " * 4, "new key " * 4
    with override_settings(DURIAN_SECRET_KEYS=[old_key]):
        listener = PersonHook().listener(url=receiver.url).save()
        plain = listener.secret
        Person.objects.create(name="Before")
        receiver.wait_for(1)  # the workers' cache now holds the old key's tokens
    with override_settings(DURIAN_SECRET_KEYS=[new_key, old_key]):
        call_command("durian_reseal", stdout=io.StringIO())
    with override_settings(DURIAN_SECRET_KEYS=[new_key]):
        assert Listener.objects.get(pk=listener.pk).secret == plain
        Person.objects.create(name="After")
        after = receiver.wait_for(2)[-1]
    assert Webhook(plain).verify(after.body, after.headers)["name"] == "After"
    assert plain not in _everything_in_redis(redis_client)


def test_reseal_says_so_when_the_listener_cache_cannot_be_reloaded(redis_client):
    listener = PersonHook().listener(url="http://127.0.0.1:9/hook").save()
    with override_settings(DURIAN_REDIS_URL="redis://127.0.0.1:9/0"):
        with pytest.raises(CommandError, match="run this command again before dropping the old key"):
            call_command("durian_reseal", stdout=io.StringIO())
    assert sealing.is_sealed(_stored_columns()[0]) and Listener.objects.get(pk=listener.pk).secret == listener.secret


# -- where a secret is opened -------------------------------------------------------------------------------

#: The only modules that call ``sealing.unseal``: the model's attributes (read to show a secret to its
#: owner) and the transport, where a body is signed.
OPENERS = {"core/sealing.py", "models.py", "transport/delivery.py"}
#: The only modules that read ``listener.secret`` or ``previous_secret`` (which opens it): the model itself
#: and the pages that show a new secret once or masked. (The API's answer on create and rotate reads it
#: through its serializer's ``secret`` field.)
READERS = {"models.py", "admin.py", "web/listeners.py"}


def _readers() -> set[str]:
    found = set()
    for path in DURIAN.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("secret", "previous_secret")
                and isinstance(node.ctx, ast.Load)
            ):
                found.add(str(path.relative_to(DURIAN)))
    return found


def _callers_of(name: str) -> set[str]:
    found = set()
    for path in DURIAN.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if called == name:
                    found.add(str(path.relative_to(DURIAN)))
    return found


def test_secrets_are_opened_only_where_a_body_is_signed_or_a_secret_is_shown():
    assert _callers_of("unseal") <= OPENERS and "transport/delivery.py" in _callers_of("unseal")
    assert _readers() <= READERS
    templates = "".join(p.read_text() for p in DURIAN.rglob("*.html"))
    assert not re.search(r"\{[{%][^}]*\.(previous_)?secret\b", templates)  # pages get a secret from their view, once


def test_a_secret_no_key_opens_makes_a_dead_letter_that_says_why_and_is_sent_once_the_key_is_back(
    worker, receiver, redis_client
):
    from durian.models import DeadLetter
    from durian.pipeline import resend

    old_key, new_key = "old key " * 4, "new key " * 4
    with override_settings(DURIAN_SECRET_KEYS=[old_key]):
        PersonHook().listener(url=receiver.url).save()
    with override_settings(DURIAN_SECRET_KEYS=[new_key]):  # the old key dropped before durian_reseal ran
        Person.objects.create(name="Unsigned")
        letter = wait_for_dead_letter()
        assert letter.last_error == "not sent: the sender could not sign it"
        assert "DURIAN_SECRET_KEYS" in letter.last_error_detail
        assert receiver.requests == []  # nothing unsigned went out
    with override_settings(DURIAN_SECRET_KEYS=[new_key, old_key]):  # the key is back: re-send it
        resend.resend([DeadLetter.objects.get(pk=letter.pk)])
        assert receiver.wait_for(1)[0].json()["name"] == "Unsigned"
    assert DeadLetter.objects.get(pk=letter.pk).status == DeadLetter.Status.DELIVERED


def wait_for_dead_letter():
    from durian.models import DeadLetter

    from .waiting import wait_until

    wait_until(DeadLetter.objects.exists, 30, "a dead letter")
    return DeadLetter.objects.get()
