"""The ``IMAGEVARIANTS`` settings namespace: defaults merged in a cached getter that ``setting_changed`` resets
(the receiver is in ``signals``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.utils.functional import LazyObject, empty

from .edge.limits import Limits

_LIMITS = Limits()


@dataclass(frozen=True)
class Settings:
    """The merged ``IMAGEVARIANTS`` settings; each attribute is an option's name in lower case.

    Values are as the project set them: the system checks (docs/reference/checks.md) report those of the wrong
    type or range.
    """

    #: CloudFront base URL (https://d111111abcdef8.cloudfront.net). Empty: the local edge serves variants.
    cdn_url: str = ""
    #: Key prefix under which every variant lives; the edge may write only there.
    variant_prefix: str = "_v/"
    #: Alias in STORAGES of the storage that holds the sources (and, on the local edge, the variants).
    storage: str = "default"
    #: S3 bucket of the sources; None falls back to django-storages' AWS_STORAGE_BUCKET_NAME.
    bucket: str | None = None
    #: Where uploaded SourceImage files go in the storage (the edge may read sources there).
    upload_to: str = "images/"
    #: More key prefixes the edge may read sources under (a project's own upload folders): ["uploads/"].
    source_prefixes: tuple[str, ...] | list[str] | str = ()
    #: Deployment of the edge function. Empty names: this site's own, imagevariants-edge-<bucket or distribution>.
    function_name: str = ""
    role_name: str = ""
    distribution_id: str = ""
    region: str = "us-east-1"
    runtime: str = "python3.12"
    memory_mb: int = _LIMITS.memory_mb
    #: Limits baked into the presets document (and applied to uploads).
    max_source_pixels: int = _LIMITS.max_source_pixels
    max_source_bytes: int = _LIMITS.max_source_bytes
    max_frames: int = _LIMITS.max_frames
    max_jpeg_scans: int = _LIMITS.max_jpeg_scans
    #: How long the URLs of a superseded preset revision keep working (the edge keeps serving it).
    revisions_keep_days: int = 365
    #: How long a process trusts its copy of the published presets before asking the database again.
    presets_cache_seconds: int = 30

    @property
    def local_mode(self) -> bool:
        """True when no CDN is configured: the local edge serves variants and preset edits apply at once."""
        return not self.cdn_url

    @functools.cached_property
    def limits(self) -> Limits:
        """The limits baked into the presets document (and applied to uploads)."""
        return Limits(
            max_source_pixels=self.max_source_pixels,
            max_source_bytes=self.max_source_bytes,
            max_frames=self.max_frames,
            max_jpeg_scans=self.max_jpeg_scans,
            memory_mb=self.memory_mb,
        )

    @functools.cached_property
    def upload_prefix(self) -> str:
        """The key prefix of uploaded SourceImage files (``upload_to`` as a folder)."""
        return self.upload_to.strip("/") + "/"

    @functools.cached_property
    def sources(self) -> tuple[str, ...]:
        """Where the edge may read sources: the app's upload folder and ``source_prefixes``."""
        extra = (self.source_prefixes,) if isinstance(self.source_prefixes, str) else self.source_prefixes
        return tuple(sorted({self.upload_prefix, *(str(prefix).strip("/") + "/" for prefix in extra)}))


#: The options and their defaults, by the names projects use in ``settings.IMAGEVARIANTS``.
DEFAULTS: dict[str, Any] = {item.name.upper(): item.default for item in fields(Settings)}


@functools.cache
def settings() -> Settings:
    """The merged settings. Unknown options raise ImproperlyConfigured naming them."""
    user = getattr(django_settings, "IMAGEVARIANTS", {}) or {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured("IMAGEVARIANTS must be a dict.")
    unknown = sorted(set(user) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown IMAGEVARIANTS option(s): {', '.join(unknown)}. Known options: {', '.join(DEFAULTS)}."
        )
    merged = {name.lower(): value for name, value in user.items()}
    if merged.get("bucket") is None:
        merged["bucket"] = getattr(django_settings, "AWS_STORAGE_BUCKET_NAME", None)
    return Settings(**merged)


class _SourceStorage(LazyObject):
    """The storage named by ``STORAGE``, looked up on first use and again after a settings change."""

    def _setup(self) -> None:
        self._wrapped = storages[settings().storage]


#: The storage that holds the sources (and, on the local edge, the variants).
source_storage = _SourceStorage()


#: The Django settings the merged settings and the sources' storage are made of.
SETTINGS_READ = ("IMAGEVARIANTS", "AWS_STORAGE_BUCKET_NAME", "STORAGES")


def reset() -> None:
    """Forget the merged settings and the sources' storage (``signals`` calls it when a setting they read changes)."""
    settings.cache_clear()
    source_storage._wrapped = empty
