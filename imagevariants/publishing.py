"""Which presets the edge serves: the document of the last successful publication, cached per process.

Presets edited in the admin are drafts until published. With a CDN, ``manage.py deploy_edge`` publishes (see
``deploy.publish_to_cloudfront``). On the local edge (no CDN configured) ``publish_locally`` publishes, at these
points only: once the transaction of a preset's save or delete commits (``signals``; ``loaddata`` included), after
``migrate`` when the presets differ from what is published (presets a data migration wrote), and on
``manage.py deploy_edge`` or the admin's Deploy button. Reading never writes: ``published_document`` only reads, and
with nothing published the tags render the originals. Tags only use published presets, so an URL is never one the
deployed edge cannot serve.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

from django.utils import timezone

from . import conf
from .edge.presets import Document
from .edge.spec import Spec
from .models import Publication, VariantPreset

_lock = threading.Lock()
_cached: tuple[float, Document | None] | None = None


def forget() -> None:
    """Drop this process's copy of the published document (after a publication or a settings change)."""
    global _cached
    _cached = None


def last_publication(target: str | None = None) -> Publication | None:
    deployments = Publication.objects.filter(status=Publication.Status.SUCCEEDED)
    if target:
        deployments = deployments.filter(target=target)
    return deployments.order_by("-created_at", "-pk").first()


def _target() -> str:
    return Publication.Target.LOCAL if conf.settings().local_mode else Publication.Target.CLOUDFRONT


def published_document() -> Document | None:
    """The document the edge serves now, or None if nothing was published. At most one query per TTL.

    Only reads, whatever the mode: it runs while templates render.
    """
    global _cached
    now = time.monotonic()
    cached = _cached
    if cached is not None and cached[0] > now:
        return cached[1]
    with _lock:
        deployment = last_publication(_target())
        document = Document.from_dict(deployment.document) if deployment else None
        _cached = (now + conf.settings().presets_cache_seconds, document)
        return document


def served_revisions(target: str) -> dict[str, list[Spec]]:
    """Every revision that was live at some point in the last ``REVISIONS_KEEP_DAYS`` days, by preset.

    Those are the revisions whose URLs may still sit in cached pages: the one live when the window opened, and
    every one published since.
    """
    since = timezone.now() - timedelta(days=conf.settings().revisions_keep_days)
    succeeded = Publication.objects.filter(target=target, status=Publication.Status.SUCCEEDED)
    recent = list(succeeded.filter(created_at__gte=since))
    before = succeeded.filter(created_at__lt=since).order_by("-created_at", "-pk").first()
    served: dict[str, dict[str, Spec]] = {}
    for deployment in [*recent, *([before] if before else [])]:
        for name, preset in Document.from_dict(deployment.document).presets.items():
            served.setdefault(name, {}).update({fp: preset.revisions[fp] for fp in preset.current})
    return {name: list(specs.values()) for name, specs in served.items()}


def draft_document() -> Document:
    """The document the current presets would publish: their current revisions plus the revisions still served."""
    return Document.build(
        {p.name: p.specs() for p in VariantPreset.objects.all()},
        served_revisions(_target()),
        prefix=conf.settings().variant_prefix,
        limits=conf.settings().limits,
        sources=conf.settings().sources,
    )


def record(document: Document, target: str, by: str = "", **fields) -> Publication:
    """Store one publication of ``document``; a succeeded one becomes what the tags use."""
    deployment = Publication.objects.create(
        target=target,
        created_by=by or socket.gethostname(),
        document=document.to_dict(),
        document_sha256=document.sha256,
        **fields,
    )
    return deployment


def publish_draft(target: str, by: str = "", **fields) -> Publication:
    """Record the presets as a succeeded publication to ``target`` (a no-op returning the last one when nothing
    changed); ``fields`` go to the record (a ``note``)."""
    document = draft_document()
    previous = last_publication(target)
    if previous and previous.document_sha256 == document.sha256:
        return previous
    return record(document, target, by, status=Publication.Status.SUCCEEDED, finished_at=timezone.now(), **fields)


def publish_locally(by: str = "") -> Publication:
    """Publish the presets to the local edge (a no-op returning the last publication when nothing changed)."""
    return publish_draft(Publication.Target.LOCAL, by)


def preset_state(preset: VariantPreset, published: Document | None) -> str:
    """'live', 'draft' (edited since published) or 'unpublished' (never published)."""
    if published is None or preset.name not in published.presets:
        return "unpublished"
    current = published.presets[preset.name].current
    return "live" if list(current) == [s.fingerprint for s in preset.specs()] else "draft"
