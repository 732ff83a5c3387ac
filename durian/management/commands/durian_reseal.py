"""``manage.py durian_reseal``: re-seal every listener secret with the newest key (after a key rotation)."""

import redis
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from durian.core import sealing
from durian.models import Listener
from durian.storage import listener_cache
from durian.storage.connection import get_redis


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored listener secret (and URL password and header value) with the first key of DURIAN_SECRET_KEYS, and reload the "
        "Redis listener cache with them. Run it after putting a new key first; drop the old key once it has run."
    )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        table = connection.ops.quote_name(Listener._meta.db_table)
        count = 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT id, secret, previous_secret, url FROM {table}")
            for pk, secret, previous, url in cursor.fetchall():
                new = [sealing.reseal(v) if v else "" for v in (secret, previous or "")]
                new.append(sealing.reseal_url(url or ""))  # a URL's password is sealed like the secrets
                cursor.execute(
                    f"UPDATE {table} SET secret = %s, previous_secret = %s, url = %s WHERE id = %s", [*new, pk]
                )
                count += 1
            for pk, headers in Listener.objects.exclude(headers={}).values_list("id", "headers"):
                if isinstance(headers, dict) and headers:  # header values are sealed like the secrets
                    resealed = {k: sealing.reseal(v) if isinstance(v, str) and v else v for k, v in headers.items()}
                    Listener.objects.filter(pk=pk).update(headers=resealed)
        self.stdout.write(f"Listener secrets re-sealed with the newest key: {count}")
        try:  # the workers read secrets from the cache: it must not keep tokens of the key about to go
            listener_cache.rebuild(get_redis("worker"))
        except redis.RedisError as exc:
            raise CommandError(
                f"The listener cache could not be reloaded ({exc}): run this command again before dropping the old key."
            ) from None
        self.stdout.write("Listener cache reloaded.")
