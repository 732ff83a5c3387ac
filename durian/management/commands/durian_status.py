"""``manage.py durian_status``: stream length, group lag, pending entries, outbox, dead letters."""

import json

from django.core.management.base import BaseCommand

from durian.management import status
from durian.storage.connection import get_redis


class Command(BaseCommand):
    help = "Show the event stream's backlog, pending entries, the outbox, dead letters and disabled listeners."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--json", action="store_true", help="Print the status as JSON.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        state = status.gather(get_redis("worker"))
        if options["json"]:
            self.stdout.write(json.dumps(state, indent=2, default=str))
        else:
            self.stdout.write("\n".join(status.render(state)))
