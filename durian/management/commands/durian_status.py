"""``manage.py durian_status``: stream length, group lag, pending entries, outbox, dead letters."""

import json

import redis
from django.core.management.base import BaseCommand, CommandError
from redis.backoff import NoBackoff
from redis.retry import Retry

from durian.conf import settings
from durian.core.redact import display_url
from durian.management import status

#: Seconds to wait for Redis to connect or answer: an operator is waiting at the terminal.
TIMEOUT_S = 3.0


class Command(BaseCommand):
    help = "Show the event stream's backlog, pending entries, the outbox, dead letters and disabled listeners."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--json", action="store_true", help="Print the status as JSON.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        url = settings.REDIS_URL
        # A client of its own, without redis-py's retries: an unreachable Redis is one line, in seconds.
        client = redis.Redis.from_url(
            url,
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
            retry_on_error=[],
        )
        try:
            client.ping()
            state = status.gather(client)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise CommandError(
                f"cannot reach Redis at {display_url(url)} ({exc}); is it running, and is DURIAN_REDIS_URL "
                "(or REDIS_URL) set to it?"
            ) from None
        finally:
            client.close()
        if options["json"]:
            self.stdout.write(json.dumps(state, indent=2, default=str))
        else:
            self.stdout.write("\n".join(status.render(state)))
