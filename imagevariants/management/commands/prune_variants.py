"""``manage.py prune_variants``: delete stored variants of preset revisions the edge no longer serves.

Only keys that parse as variant keys (``{prefix}{preset}.{fingerprint}[.{version}]/...``) of a revision the
published document does not serve are ever deleted: a file under the prefix that is not a variant key, and anything
outside the prefix, is left alone, even when the prefix is shared with originals (a layout the system checks
refuse). The prefix is listed in one paginated pass and deleted in batches (see ``imagevariants.purge``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...publishing import published_document
from ...purge import prune


class Command(BaseCommand):
    help = "List (default) or delete (--yes) variants of revisions that are no longer published."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--yes", action="store_true", help="Delete them (without it, only list them).")

    def handle(self, *args: Any, **options: Any) -> None:
        document = published_document()
        if document is None:
            raise CommandError("No presets are published yet: nothing is known to be stale.")
        delete = options["yes"]
        label = "deleted" if delete else "stale"
        outcome = prune(document, dry_run=not delete, deleted=lambda key: self.stdout.write(f"{label} {key}"))
        verb = "Deleted" if delete else "Would delete (run again with --yes)"
        self.stdout.write(f"{verb}: {outcome.variants} variant(s) of revisions no longer published.")
        if outcome.errors:
            raise CommandError(" ".join(outcome.errors))
