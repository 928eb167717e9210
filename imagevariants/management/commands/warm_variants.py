"""``manage.py warm_variants``: make the published variants of tracked sources ahead of the first request."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import conf
from ...edge.errors import EdgeError
from ...edge.pipeline import render
from ...models import SourceImage
from ...publishing import published_document
from ...storage_store import store_for


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, stream: Any = sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.lock = threading.Lock()

    def step(self, count: int = 1) -> None:
        with self.lock:
            self.done += count
            filled = int(30 * self.done / self.total) if self.total else 30
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            if self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()


class Command(BaseCommand):
    help = "Pre-generate the published variants of tracked sources, skipping those already stored. Resumable."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--preset", action="append", help="Only this preset (repeatable).")
        parser.add_argument("--workers", type=int, default=4, help="Sources processed at once (default 4).")

    def handle(self, *args: Any, **options: Any) -> None:
        document = published_document()
        if document is None:
            raise CommandError("No presets are published yet: run `manage.py deploy_edge` first.")
        names = options["preset"] or sorted(document.presets)
        unknown = sorted(set(names) - set(document.presets))
        if unknown:
            raise CommandError(f"Not published: {', '.join(unknown)}. Published: {', '.join(document.presets)}.")
        storage = conf.source_storage
        store = store_for(storage)
        outputs = [output for name in names for output in document.outputs(name)]
        sources = list(SourceImage.objects.order_by("pk"))
        limits = document.limits
        progress = Progress(len(sources) * len(outputs))
        counts = {"made": 0, "skipped": 0, "failed": 0}
        lock = threading.Lock()

        def warm(source: SourceImage) -> list[str]:
            errors, data = [], None
            for output in outputs:
                key = output.key(source.key, document.prefix)
                outcome = "skipped"
                try:
                    if not storage.exists(key):
                        data = data if data is not None else store.read(source.key, limits.max_source_bytes)
                        made = render(data, output.spec, limits)
                        store.write(key, made.data, made.content_type, document.cache_control["variant"])
                        outcome = "made"
                except EdgeError as exc:
                    outcome = "failed"
                    errors.append(f"{key}: {exc}")
                with lock:
                    counts[outcome] += 1
                progress.step()
            return errors

        failures: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, options["workers"])) as pool:
            for future in as_completed([pool.submit(warm, source) for source in sources]):
                failures.extend(future.result())
        for failure in failures:
            self.stderr.write(failure)
        self.stdout.write(f"{counts['made']} made, {counts['skipped']} already stored, {counts['failed']} failed.")
        if failures:
            raise CommandError(f"{len(failures)} variant(s) could not be made; see above.")
