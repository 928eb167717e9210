"""System checks, by concern: the settings, the URLs, Pillow's codecs. Every check is tagged ``imagevariants`` and
its concern (``manage.py check --tag codecs``); ids are stable and listed in docs/reference/checks.md."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.urls import NoReverseMatch, reverse

from . import conf
from .edge.formats import FORMATS, encodable
from .edge.keys import PREFIX_RE
from .edge.presets import overlapping

RUNTIMES = ("python3.12", "python3.13")


TAG = "imagevariants"


@register(TAG, "settings")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    try:
        options = conf.settings()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Fix the IMAGEVARIANTS setting.", id="imagevariants.E001")]
    messages: list[Error | Warning] = []
    cdn = options.cdn_url
    if cdn:
        parts = urlsplit(cdn)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            messages.append(
                Error(
                    f"IMAGEVARIANTS['CDN_URL'] is not a base URL: {cdn!r}.",
                    hint="Use the distribution's URL, such as https://d111111abcdef8.cloudfront.net.",
                    id="imagevariants.E002",
                )
            )
        if not options.bucket and not _storage_bucket(options.storage):
            messages.append(
                Warning(
                    "No S3 bucket configured for the edge.",
                    hint="Set IMAGEVARIANTS['BUCKET'], AWS_STORAGE_BUCKET_NAME or the storage's bucket_name option.",
                    id="imagevariants.W001",
                )
            )
    elif options.distribution_id:
        messages.append(
            Warning(
                f"IMAGEVARIANTS['DISTRIBUTION_ID'] names {options.distribution_id} but CDN_URL is not set: the site"
                " runs the local edge, not the distribution.",
                hint="Set CDN_URL to the distribution's URL (deploy_edge --create-distribution prints both lines), or"
                " remove DISTRIBUTION_ID.",
                id="imagevariants.W005",
            )
        )
    if not isinstance(options.variant_prefix, str) or not PREFIX_RE.match(options.variant_prefix):
        messages.append(
            Error(
                f"IMAGEVARIANTS['VARIANT_PREFIX'] must be path segments ending in '/', not {options.variant_prefix!r}.",
                hint="The default is '_v/'.",
                id="imagevariants.E003",
            )
        )
    messages.extend(_check_sources(options))
    if options.region != "us-east-1":
        messages.append(
            Error(
                f"IMAGEVARIANTS['REGION'] is {options.region!r}; Lambda@Edge functions must live in us-east-1.",
                hint="Remove REGION or set it to 'us-east-1'. The bucket may be in any region.",
                id="imagevariants.E004",
            )
        )
    if options.runtime not in RUNTIMES:
        messages.append(
            Error(
                f"IMAGEVARIANTS['RUNTIME'] is {options.runtime!r}; supported: {', '.join(RUNTIMES)}.",
                id="imagevariants.E005",
            )
        )
    if options.storage not in settings.STORAGES:
        messages.append(
            Error(
                f"IMAGEVARIANTS['STORAGE'] names {options.storage!r}, which is not in STORAGES.",
                hint=f"Use one of: {', '.join(settings.STORAGES)}.",
                id="imagevariants.E006",
            )
        )
    numbers = ("MAX_SOURCE_PIXELS", "MAX_SOURCE_BYTES", "MAX_FRAMES", "MAX_JPEG_SCANS", "MEMORY_MB")
    for name in (*numbers, "PRESETS_CACHE_SECONDS", "REVISIONS_KEEP_DAYS"):
        value = getattr(options, name.lower())
        minimum = 0 if name in ("PRESETS_CACHE_SECONDS", "REVISIONS_KEEP_DAYS") else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            messages.append(
                Error(
                    f"IMAGEVARIANTS['{name}'] must be an integer of at least {minimum}, not {value!r}.",
                    id="imagevariants.E007",
                )
            )
    return messages


@register(TAG, Tags.urls)
def check_urls(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    try:
        cdn = conf.settings().cdn_url
    except ImproperlyConfigured:  # E001
        return []
    messages: list[Error | Warning] = []
    if cdn and _local_edge_mounted():
        messages.append(
            Warning(
                "A CDN is configured and the local edge's URLs are still installed; they serve nothing.",
                hint="Remove path('variants/', include('imagevariants.urls')) from your URLconf.",
                id="imagevariants.W003",
            )
        )
    if not cdn and not _local_edge_mounted():
        messages.append(
            Error(
                "No CDN is configured and the local edge's URLs are not installed.",
                hint="Add path('variants/', include('imagevariants.urls')) to your URLconf, or set CDN_URL.",
                id="imagevariants.E008",
            )
        )
    return messages


@register(TAG, "codecs")
def check_codecs(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    messages = []
    for fmt in (name for name, output in FORMATS.items() if output.feature):
        if not encodable(fmt):
            messages.append(
                Warning(
                    f"This Pillow cannot encode {fmt.upper()}: presets cannot offer it.",
                    hint="Install Pillow 11.3 or newer from a wheel, which includes WebP and AVIF.",
                    id="imagevariants.W002",
                )
            )
    return messages


def _storage_bucket(alias: Any) -> str | None:
    """The bucket the sources' storage names: ``bucket_name`` in its STORAGES OPTIONS, else on its instance."""
    config = settings.STORAGES.get(alias) if isinstance(alias, str) else None
    if not isinstance(config, dict):
        return None  # E006
    bucket = (config.get("OPTIONS") or {}).get("bucket_name")
    if bucket:
        return str(bucket)
    try:
        bucket = getattr(storages[alias], "bucket_name", None)
    except Exception:  # a storage that cannot be made here is not this check's to report
        return None
    return str(bucket) if bucket else None


def _local_edge_mounted() -> bool:
    try:
        reverse("imagevariants:edge", kwargs={"key": "_"})
    except NoReverseMatch:
        return False
    return True


def _check_sources(options: conf.Settings) -> list[Error]:
    """Source prefixes (``UPLOAD_TO`` and ``SOURCE_PREFIXES``) are path segments, apart from the variant prefix.

    The edge writes, and ``prune_variants`` deletes, under the variant prefix: an overlap would put originals
    where variants are made and removed.
    """
    extra = options.source_prefixes
    if not isinstance(options.upload_to, str) or not (
        isinstance(extra, str) or (isinstance(extra, list | tuple) and all(isinstance(p, str) for p in extra))
    ):
        return [
            Error(
                "IMAGEVARIANTS['UPLOAD_TO'] must be a string and SOURCE_PREFIXES a list of strings.",
                hint="Such as UPLOAD_TO='images/' and SOURCE_PREFIXES=['uploads/'].",
                id="imagevariants.E010",
            )
        ]
    messages = []
    variant_prefix = options.variant_prefix
    comparable = isinstance(variant_prefix, str) and PREFIX_RE.match(variant_prefix)  # else E003
    for prefix in options.sources:
        if not PREFIX_RE.match(prefix):
            messages.append(
                Error(
                    f"The source prefix {prefix!r} (from UPLOAD_TO or SOURCE_PREFIXES) is not path segments "
                    "ending in '/'.",
                    hint="Use folders of letters, digits, '-' and '_', such as 'images/' or 'uploads/photos/'.",
                    id="imagevariants.E010",
                )
            )
        elif comparable and overlapping(prefix, variant_prefix):
            messages.append(
                Error(
                    f"The variant prefix {variant_prefix!r} overlaps the source prefix {prefix!r}: variants would "
                    "be made, and prune_variants would delete, where originals are stored.",
                    hint="Give VARIANT_PREFIX a folder of its own, such as '_v/', apart from UPLOAD_TO and "
                    "SOURCE_PREFIXES.",
                    id="imagevariants.E009",
                )
            )
    return messages
