"""``manage.py durian_status``: stream length, group lag, pending entries, outbox, dead letters."""

import json

from django.core.management.base import BaseCommand

from durian.management import reach, status


class Command(BaseCommand):
    help = "Show the event stream's backlog, pending entries, the outbox, dead letters and disabled listeners."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--json", action="store_true", help="Print the status as JSON.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        client = reach.quick_client()  # one line and a non-zero exit, in seconds, when Redis is down
        try:
            state = status.gather(client)
        except reach.UNREACHABLE as exc:
            raise reach.unreachable(exc) from None
        finally:
            client.close()
        if options["json"]:
            self.stdout.write(json.dumps(state, indent=2, default=str))
        else:
            self.stdout.write("\n".join(status.render(state)))
