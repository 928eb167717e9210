"""``manage.py purge_source KEY [KEY...]``: the takedown path. A source goes everywhere at once: its original, every
stored variant of it (any revision, in the published document or not, any version token, any format), their CDN
paths, and the SourceImage rows of those keys."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import conf
from ...edge.errors import BadKey
from ...edge.keys import check_key
from ...publishing import published_document
from ...purge import purge_sources


class Command(BaseCommand):
    help = (
        "Remove sources everywhere: the originals, every variant of them in storage, their CDN paths and their"
        " SourceImage rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("keys", nargs="+", metavar="KEY", help="Storage key of a source, such as images/cat.jpg.")
        parser.add_argument("--dry-run", action="store_true", help="Only list what would be removed.")

    def handle(self, *args: Any, **options: Any) -> None:
        document = published_document()
        prefix = document.prefix if document else conf.settings().variant_prefix
        keys = []
        for key in options["keys"]:
            key = key.lstrip("/")
            try:
                check_key(key)
            except BadKey as exc:
                raise CommandError(f"{key!r} is not a storage key: {exc}.") from None
            if key.startswith(prefix):
                raise CommandError(f"{key} is under the variant prefix {prefix}: give the key of its source.")
            keys.append(key)
        dry_run = options["dry_run"]
        verb = "would delete" if dry_run else "deleted"
        outcome = purge_sources(
            keys,
            dry_run=dry_run,
            deleted=lambda key: self.stdout.write(f"{verb} {key}"),
            not_invalidated=lambda path: self.stderr.write(f"not invalidated {path}"),
        )
        for key in outcome.missing:
            self.stdout.write(f"not in storage: {key}")
        self.stdout.write(outcome.summary(dry_run))
        if outcome.errors:
            raise CommandError(" ".join(outcome.errors))
