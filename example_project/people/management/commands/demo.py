"""The README walk-through, run for real: three listeners, three people, deliveries shown."""

import os
import time

from django.core.management.base import BaseCommand, CommandError

from durian.match import Startswith
from durian.models import Listener
from example_project.people.hooks import PersonHook
from example_project.people.models import Person, Received


class Command(BaseCommand):
    help = "Create the walk-through's three listeners, save three people, and show what the receiver got."

    def add_arguments(self, parser):
        parser.add_argument(
            "--receiver", default=os.environ.get("DURIAN_EXAMPLE_RECEIVER", "http://127.0.0.1:8000/receiver/")
        )
        parser.add_argument("--timeout", type=float, default=60.0)

    def handle(self, *args, receiver, timeout, **options):
        Listener.objects.filter(url__startswith=receiver).delete()
        already = set(Received.objects.values_list("webhook_id", flat=True))
        hook = PersonHook()
        listeners = [
            hook.listener(url=receiver + "?joe", description="name is Joe").match(name="Joe").save(),
            hook.listener(url=receiver + "?j", description="name starts with J").match(name=Startswith("J")).save(),
            hook.listener(url=receiver + "?all", description="every person").save(),
        ]
        for listener in listeners:
            self.stdout.write(f"listener {listener.pk}: {listener.describe_filters()} -> {listener.url}")
        for name, address in [("Joe", "1 Main St"), ("Jane", "2 High St"), ("Ann", "3 Low Rd")]:
            Person.objects.create(name=name, address=address, secret="never sent")
            self.stdout.write(f"saved Person(name={name!r})")
        expected = 1 + 2 + 3
        deadline = time.monotonic() + timeout
        shown: set[str] = set(already)
        while time.monotonic() < deadline:
            for r in Received.objects.exclude(webhook_id__in=shown).order_by("received_at"):
                shown.add(r.webhook_id)
                self.stdout.write(self.style.SUCCESS(f"delivered {r.webhook_id}: {r.body}"))
            if len(shown) - len(already) >= expected:
                self.stdout.write(self.style.SUCCESS(f"all {expected} deliveries arrived"))
                return
            time.sleep(0.2)
        raise CommandError(f"only {len(shown) - len(already)} of {expected} deliveries arrived in {timeout:.0f} s")
