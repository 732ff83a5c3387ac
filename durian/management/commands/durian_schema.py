"""``manage.py durian_schema [HOOK ...]``: the JSON Schema of hooks' payloads."""

import json

from django.core.management.base import BaseCommand, CommandError

from durian.registry import hooks


class Command(BaseCommand):
    help = (
        "Print the JSON Schema (draft 2020-12) of a hook's payload; with several hooks or none, "
        "an object mapping each hook name to its schema."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("hooks", nargs="*", metavar="HOOK", help="Hook names (default: every hook).")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        names = options["hooks"]
        unknown = [name for name in names if name not in hooks]
        if unknown:
            raise CommandError(
                f"No hook named {', '.join(map(repr, unknown))}; known: {', '.join(h.name for h in hooks)}."
            )
        if len(names) == 1:
            document = hooks[names[0]].schema()
        else:
            document = {h.name: h.schema() for h in hooks if not names or h.name in names}
        self.stdout.write(json.dumps(document, indent=2, ensure_ascii=False))
