"""``manage.py durian_backfill <listener id>``: run a listener's backfill (again) in this process."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from durian.core.redact import printable
from durian.listeners import start_backfill, validate_backfill
from durian.management import reach
from durian.management.progress import ProgressBar
from durian.models import Backfill, Listener
from durian.pipeline import backfill as backfills
from durian.registry import hooks
from durian.storage.connection import get_redis

#: A worker takes over a backfill this command started if the command stops (its lease runs out).
WORKER_AFTER_MS = 90_000


class Command(BaseCommand):
    help = (
        "Send a listener one event for each existing row its filters match (its backfill), here in this "
        "process: resumes a backfill that has not finished, else starts a new one."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("listener", help="The listener's id.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        raw = options["listener"]
        try:
            listener_id = int(raw)
        except ValueError:
            raise CommandError(f"{printable(raw)!r} is not a listener id (a number).") from None
        listener = Listener.objects.select_related("backfill").filter(pk=listener_id).first()
        if listener is None:
            raise CommandError(f"No listener with id {listener_id}.")
        try:
            validate_backfill(listener.hook)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.message_dict["backfill"])) from None
        reach.quick_client().close()  # Redis down: one line, before anything is changed
        backfill = Backfill.objects.filter(listener=listener).first()
        if backfill is None or backfill.finished:
            start_backfill(listener, worker_after_ms=WORKER_AFTER_MS)
        bar = ProgressBar(getattr(self.stderr, "_out", self.stderr), f"Backfilling listener {listener_id}")

        def progress(backfill: Backfill) -> None:
            bar.update(backfill.read / max(1, backfill.total), f"{backfill.sent} sent")

        try:
            done = backfills.run(listener_id, hooks[listener.hook], progress=progress, client=get_redis("worker"))
        except Exception as exc:
            bar.close()
            raise CommandError(f"The backfill of listener {listener_id} failed: {printable(str(exc))}") from None
        if done is None:
            bar.close()
            self.stdout.write(f"Another process runs the backfill of listener {listener_id}; see its page.")
            return
        bar.close(f"{done.sent} sent")
        self.stdout.write(f"Backfill of listener {listener_id}: {done.describe()}")
