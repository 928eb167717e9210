"""``manage.py prune_variants``: delete stored variants of preset revisions the edge no longer serves.

Only keys that parse as variant keys (``{prefix}{preset}.{fingerprint}/...``) of a revision the published document
does not serve are ever deleted: a file under the prefix that is not a variant key, and anything outside the
prefix, is left alone, even when the prefix is shared with originals (a layout the system checks refuse).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import conf
from ...edge.keys import parse_key
from ...publishing import published_document


class Command(BaseCommand):
    help = "List (default) or delete (--yes) variants of revisions that are no longer published."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--yes", action="store_true", help="Delete them (without it, only list them).")

    def handle(self, *args: Any, **options: Any) -> None:
        document = published_document()
        if document is None:
            raise CommandError("No presets are published yet: nothing is known to be stale.")
        storage = conf.source_storage
        prefix = document.prefix.rstrip("/")
        stale: list[str] = []
        try:
            folders = storage.listdir(prefix)[0]
        except FileNotFoundError:
            folders = []
        for folder in sorted(folders):
            variant = parse_key(f"{document.prefix}{folder}/x", document.prefix)
            if variant is None:
                continue  # not a {preset}.{fingerprint} folder: not ours to delete
            preset = document.presets.get(variant.preset)
            if preset is None or variant.fingerprint not in preset.revisions:
                stale.extend(self._files(storage, f"{prefix}/{folder}"))  # each {prefix}{preset}.{fp}/...
        for key in stale:
            if options["yes"]:
                storage.delete(key)
            self.stdout.write(("deleted " if options["yes"] else "stale ") + key)
        verb = "Deleted" if options["yes"] else "Would delete (run again with --yes)"
        self.stdout.write(f"{verb}: {len(stale)} variant(s) of revisions no longer published.")

    def _files(self, storage: Any, folder: str) -> list[str]:
        directories, files = storage.listdir(folder)
        found = [f"{folder}/{name}" for name in files]
        for directory in directories:
            found.extend(self._files(storage, f"{folder}/{directory}"))
        return found
