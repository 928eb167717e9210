"""``manage.py warm_variants``: request the published variants of every tracked image ahead of the first visitor."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import conf, warming
from ...publishing import published_document

#: Tracked images requested together; the checkpoint moves once a whole chunk is done.
CHUNK = 50


class Progress:
    """Progress as whole lines (a terminal and a log file alike): at most every ``every`` seconds, and at the end."""

    def __init__(self, total: int, stream: TextIO, every: float = 10.0) -> None:
        self.total, self.stream, self.every = total, stream, every
        self.sources = 0
        self.last = time.monotonic()

    def step(self, sources: int, counts: Counter[str], final: bool = False) -> None:
        self.sources += sources
        now = time.monotonic()
        if final or now - self.last >= self.every:
            self.last = now
            share = f" ({100 * self.sources // self.total}%)" if self.total else ""
            self.stream.write(
                f"{self.sources}/{self.total} images{share}: {counts['made']} made, {counts['stored']} already "
                f"stored, {counts['cached']} already cached, {counts['failed']} failed\n"
            )
            self.stream.flush()


class Command(BaseCommand):
    help = (
        "Request every published variant of every tracked image (SourceImage and VariantImageField) so the first "
        "visitor never waits: through the CDN when one is configured, else with the local edge in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--preset", action="append", help="Only this preset (repeatable).")
        parser.add_argument("--workers", type=int, default=8, help="Variants requested at once (default 8).")
        parser.add_argument(
            "--checkpoint",
            type=Path,
            help="A file recording progress: an interrupted run given the same file resumes where it stopped "
            "(removed once the run completes).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        document = published_document()
        if document is None:
            raise CommandError("No presets are published yet: run `manage.py deploy_edge` first.")
        names = options["preset"] or sorted(document.presets)
        unknown = sorted(set(names) - set(document.presets))
        if unknown:
            raise CommandError(f"Not published: {', '.join(unknown)}. Published: {', '.join(document.presets)}.")
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        outputs = [output for name in names for output in document.outputs(name)]
        checkpoint = warming.Checkpoint(options["checkpoint"])
        request = warming.requester(document)
        progress = Progress(warming.count(checkpoint.after), self.stdout)
        via = f"through {conf.settings().cdn_url}" if conf.settings().cdn_url else "with the local edge"
        self.stdout.write(f"Warming {progress.total} images x {len(outputs)} variants {via}.")
        counts: Counter[str] = Counter()
        failures = 0
        with ThreadPoolExecutor(max_workers=options["workers"]) as pool:
            for chunk in _chunks(warming.tracked_sources(checkpoint.after), CHUNK):
                keys = [key for tracked in chunk for key in warming.keys(tracked.ref, outputs, document)]
                for outcome in pool.map(request, keys):
                    counts[outcome.detail if outcome.ok else "failed"] += 1
                    if not outcome.ok:
                        failures += 1
                        self.stderr.write(f"{outcome.key}: {outcome.detail}")
                checkpoint.advance({tracked.label: tracked.pk for tracked in chunk})  # the last of each field
                progress.step(len(chunk), counts)
        progress.step(0, counts, final=True)
        checkpoint.finish()  # the run went through: a new one starts over (made variants are found at once)
        if failures:
            raise CommandError(f"{failures} variant(s) could not be made; see above. Run again to retry them.")


def _chunks(items: Iterable[warming.Tracked], size: int) -> Iterator[list[warming.Tracked]]:
    chunk: list[warming.Tracked] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
