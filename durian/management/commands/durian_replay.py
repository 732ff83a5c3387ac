"""``manage.py durian_replay --since 2h [--until ...] [--hook H] [--listener N]``: deliver past events again."""

from django.core.management.base import BaseCommand, CommandError

from durian.core.redact import printable
from durian.management import reach
from durian.management.progress import ProgressBar
from durian.management.timespec import WindowError, replay_window
from durian.models import Listener
from durian.pipeline import replay
from durian.registry import hooks
from durian.storage.connection import get_redis


class Command(BaseCommand):
    help = (
        "Deliver again the events of a time window (from the stream, or from dead letters for older ones) "
        "to the listeners that match them now."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--since", required=True, help="Start: ISO date/time, or a duration ago (12h, 7d).")
        parser.add_argument("--until", help="End (default: now): ISO date/time, or a duration ago.")
        parser.add_argument("--hook", help="Only events of this hook.")
        parser.add_argument("--listener", type=int, help="Only deliveries to this listener (id).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be delivered; send nothing.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        try:
            since, until = replay_window(options["since"], options["until"])
        except WindowError as exc:
            raise CommandError(f"--{exc.field}: {exc}") from None
        if options["listener"] is not None and not Listener.objects.filter(pk=options["listener"]).exists():
            raise CommandError(f"no such listener: {options['listener']}")
        if options["hook"] and options["hook"] not in hooks:
            raise CommandError(
                f"no such hook: {printable(options['hook'])} (hooks: {', '.join(sorted(h.name for h in hooks)) or 'none'})"
            )
        reach.quick_client().close()  # Redis down: one line, before anything is changed
        bar = ProgressBar(getattr(self.stderr, "_out", self.stderr), "Replaying")
        summary = replay.replay(
            get_redis("worker"),
            since,
            until,
            hook=options["hook"],
            listener_id=options["listener"],
            dry_run=options["dry_run"],
            progress=bar.update,
        )
        bar.close(f"{summary.events} events")
        prefix = "Dry run: " if options["dry_run"] else ""
        self.stdout.write(prefix + f"replay {since.isoformat()} .. {until.isoformat()}")
        self.stdout.write("\n".join(summary.lines()))
