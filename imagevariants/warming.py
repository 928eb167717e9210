"""Warming: request every published variant of every tracked source through the edge that serves them.

With a CDN, each variant URL is requested from the CDN (CloudFront runs the function on a miss, which makes and
stores the variant): Django renders nothing. On the local edge the same handler runs in this process, over the
configured storage. Sources are read from the database in primary-key order, a chunk at a time.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import models

from . import conf
from .edge.keys import url_path
from .edge.presets import Document, Output
from .local_edge import answer_miss
from .models import SourceImage
from .sources import SourceRef, as_source, is_empty
from .storage_store import store_for
from .variants import base_url

__all__ = ["USER_AGENT", "Checkpoint", "Outcome", "Tracked", "count", "keys", "requester", "tracked_sources"]

#: Seconds to wait for the CDN's answer: the function has 30 s to make a variant.
REQUEST_TIMEOUT = 40
USER_AGENT = "django-imagevariants warm_variants"


@dataclass(frozen=True)
class Tracked:
    """One image the app tracks: where it comes from (``app.model.field`` and primary key) and its reference."""

    label: str
    pk: Any
    ref: SourceRef


@dataclass(frozen=True)
class Outcome:
    """What requesting one variant gave: ``made`` (or served), or the reason it failed."""

    key: str
    ok: bool
    detail: str = ""


def tracked_fields() -> list[tuple[type[models.Model], str]]:
    """``SourceImage.file`` and every ``VariantImageField`` of the installed models, in a stable order."""
    from .fields import VariantImageField

    found: list[tuple[type[models.Model], str]] = [(SourceImage, "file")]
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, VariantImageField) and not model._meta.proxy:
                found.append((model, field.name))
    return sorted(set(found), key=lambda item: (item[0]._meta.label_lower, item[1]))


def label_of(model: type[models.Model], field: str) -> str:
    return f"{model._meta.label_lower}.{field}"


def count(after: dict[str, Any]) -> int:
    """How many tracked images :func:`tracked_sources` will yield."""
    return sum(_queryset(model, field, after).count() for model, field in tracked_fields())


def tracked_sources(after: dict[str, Any], chunk_size: int = 500) -> Iterator[Tracked]:
    """Every tracked image with a file, by model then primary key, skipping those up to ``after[label]``."""
    for model, field in tracked_fields():
        label = label_of(model, field)
        for instance in _queryset(model, field, after).iterator(chunk_size=chunk_size):
            value = instance if model is SourceImage else getattr(instance, field)
            if not is_empty(value):
                yield Tracked(label, instance.pk, as_source(value))


def _queryset(model: type[models.Model], field: str, after: dict[str, Any]) -> models.QuerySet:
    queryset = model._default_manager.exclude(**{field: ""}).exclude(**{f"{field}__isnull": True}).order_by("pk")
    label = label_of(model, field)
    return queryset.filter(pk__gt=after[label]) if label in after else queryset


def keys(ref: SourceRef, outputs: list[Output], document: Document) -> list[str]:
    """The keys of the variants the tags emit for ``ref``."""
    return [output.key(ref.key, document.prefix, ref.version) for output in outputs]


def requester(document: Document) -> Callable[[str], Outcome]:
    """How to warm one key: a GET of its CDN URL, or the edge handler run here for the local edge."""
    if conf.settings().cdn_url:
        return _through_cdn
    storage = conf.source_storage
    store = store_for(storage)

    def locally(key: str) -> Outcome:
        if storage.exists(key):
            return Outcome(key, True, "stored")
        response = answer_miss(key, "localhost", store, document)
        status = int(response["status"])
        if status in (200, 307):  # 307: stored, too large to return inline
            return Outcome(key, True, "made")
        return Outcome(key, False, f"{status} {response.get('body', '').strip()}")

    return locally


def _through_cdn(key: str) -> Outcome:
    url = base_url() + url_path(key)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            while response.read(65536):
                pass
            cache = response.headers.get("X-Cache", "")
        return Outcome(key, True, "cached" if cache.lower().startswith("hit") else "made")
    except urllib.error.HTTPError as exc:
        body = exc.read(200).decode("utf-8", "replace").strip().splitlines()
        return Outcome(key, False, f"{exc.code} {body[0] if body else exc.reason}")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return Outcome(key, False, f"no answer: {getattr(exc, 'reason', exc)}")


class Checkpoint:
    """Where an interrupted run resumes: the last primary key done of each tracked field, in a JSON file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.after: dict[str, Any] = {}
        if path is not None and path.exists():
            self.after = json.loads(path.read_text())

    def advance(self, done: dict[str, Any]) -> None:
        """Record the last primary key done of each field in ``done``."""
        self.after.update(done)
        if self.path is not None:
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(json.dumps(self.after, sort_keys=True, default=str))
            temporary.replace(self.path)

    def finish(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
