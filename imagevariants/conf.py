"""The ``IMAGEVARIANTS`` settings namespace: defaults merged in a cached getter that ``setting_changed`` resets."""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

from .edge.limits import Limits

_LIMITS = Limits()

DEFAULTS: dict[str, Any] = {
    # CloudFront base URL (https://d111111abcdef8.cloudfront.net). Empty: the local edge serves variants.
    "CDN_URL": "",
    # Key prefix under which every variant lives; the edge may write only there.
    "VARIANT_PREFIX": "_v/",
    # Alias in STORAGES of the storage that holds the sources (and, on the local edge, the variants).
    "STORAGE": "default",
    # S3 bucket of the sources; None falls back to django-storages' AWS_STORAGE_BUCKET_NAME.
    "BUCKET": None,
    # Where uploaded SourceImage files go in the storage (the edge may read sources there).
    "UPLOAD_TO": "images/",
    # More key prefixes the edge may read sources under (a project's own upload folders): ["uploads/"].
    "SOURCE_PREFIXES": (),
    # Deployment of the edge function. Empty names: this site's own, imagevariants-edge-<bucket or distribution id>.
    "FUNCTION_NAME": "",
    "ROLE_NAME": "",
    "DISTRIBUTION_ID": "",
    "REGION": "us-east-1",
    "RUNTIME": "python3.12",
    "MEMORY_MB": 1536,
    # Limits baked into the presets document.
    "MAX_SOURCE_PIXELS": _LIMITS.max_source_pixels,
    "MAX_SOURCE_BYTES": _LIMITS.max_source_bytes,
    "MAX_FRAMES": _LIMITS.max_frames,
    "MAX_JPEG_SCANS": _LIMITS.max_jpeg_scans,
    # How long the URLs of a superseded preset revision keep working (the edge keeps serving it).
    "REVISIONS_KEEP_DAYS": 365,
    # How long a process trusts its copy of the published presets before asking the database again.
    "PRESETS_CACHE_SECONDS": 30,
}


@functools.cache
def get_settings() -> dict[str, Any]:
    """The merged settings. Unknown options raise ImproperlyConfigured naming them."""
    user = getattr(settings, "IMAGEVARIANTS", {}) or {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured("IMAGEVARIANTS must be a dict.")
    unknown = sorted(set(user) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown IMAGEVARIANTS option(s): {', '.join(unknown)}. Known options: {', '.join(DEFAULTS)}."
        )
    merged = {**DEFAULTS, **user}
    if merged["BUCKET"] is None:
        merged["BUCKET"] = getattr(settings, "AWS_STORAGE_BUCKET_NAME", None)
    return merged


def get(name: str) -> Any:
    """One merged setting."""
    return get_settings()[name]


def local_mode() -> bool:
    """True when no CDN is configured: variants are served by the local edge and preset edits apply at once."""
    return not get("CDN_URL")


def limits() -> Limits:
    """The limits baked into the presets document (and applied to uploads)."""
    return Limits(
        max_source_pixels=get("MAX_SOURCE_PIXELS"),
        max_source_bytes=get("MAX_SOURCE_BYTES"),
        max_frames=get("MAX_FRAMES"),
        max_jpeg_scans=get("MAX_JPEG_SCANS"),
        memory_mb=get("MEMORY_MB"),
    )


def upload_prefix() -> str:
    """The key prefix of uploaded SourceImage files (``UPLOAD_TO`` as a folder)."""
    return get("UPLOAD_TO").strip("/") + "/"


def source_prefixes() -> tuple[str, ...]:
    """Where the edge may read sources: the app's upload folder and ``SOURCE_PREFIXES``."""
    extra = get("SOURCE_PREFIXES")
    if isinstance(extra, str):
        extra = (extra,)
    return tuple(sorted({upload_prefix(), *(str(prefix).strip("/") + "/" for prefix in extra)}))


class _SourceStorage(LazyObject):
    """The storage named by ``STORAGE``, looked up on first use and again after a settings change."""

    def _setup(self) -> None:
        self._wrapped = storages[get("STORAGE")]


#: The storage that holds the sources (and, on the local edge, the variants).
source_storage = _SourceStorage()


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting in ("IMAGEVARIANTS", "AWS_STORAGE_BUCKET_NAME", "STORAGES"):
        get_settings.cache_clear()
        source_storage._wrapped = empty
