"""``manage.py durian_purge --older-than 7d``: remove old records and trim the stream safely."""

from django.core.management.base import BaseCommand, CommandError

from durian.management import purge, reach
from durian.management.timespec import parse_moment
from durian.storage.connection import get_redis


class Command(BaseCommand):
    help = (
        "Remove delivery records and delivered dead letters older than the given age, trim the stream below "
        "that age (never entries not yet consumed) and forget idle consumers."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--older-than", required=True, help="Age (7d, 12h, 30min) or ISO date/time: remove what is older."
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be removed; remove nothing.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        try:
            before = parse_moment(options["older_than"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        reach.quick_client().close()  # Redis down: one line, before anything is changed
        summary = purge.purge(get_redis("worker"), before, dry_run=options["dry_run"])
        self.stdout.write(
            ("Dry run: would purge" if options["dry_run"] else "Purged") + f" what is older than {before.isoformat()}"
        )
        self.stdout.write("\n".join(summary.lines()))
