"""System checks for the ``IMAGEVARIANTS`` settings. Ids are stable and listed in docs/reference/checks.md."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse

from . import conf
from .edge.keys import PREFIX_RE
from .models import encodable

RUNTIMES = ("python3.12", "python3.13")


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    try:
        options = conf.get_settings()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Fix the IMAGEVARIANTS setting.", id="imagevariants.E001")]
    messages: list[Error | Warning] = []
    cdn = options["CDN_URL"]
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
        if not options["BUCKET"]:
            messages.append(
                Warning(
                    "No S3 bucket configured for the edge.",
                    hint="Set IMAGEVARIANTS['BUCKET'] or AWS_STORAGE_BUCKET_NAME.",
                    id="imagevariants.W001",
                )
            )
    if not isinstance(options["VARIANT_PREFIX"], str) or not PREFIX_RE.match(options["VARIANT_PREFIX"]):
        messages.append(
            Error(
                f"IMAGEVARIANTS['VARIANT_PREFIX'] must be path segments ending in '/', "
                f"not {options['VARIANT_PREFIX']!r}.",
                hint="The default is '_v/'.",
                id="imagevariants.E003",
            )
        )
    if options["REGION"] != "us-east-1":
        messages.append(
            Error(
                f"IMAGEVARIANTS['REGION'] is {options['REGION']!r}; Lambda@Edge functions must live in us-east-1.",
                hint="Remove REGION or set it to 'us-east-1'. The bucket may be in any region.",
                id="imagevariants.E004",
            )
        )
    if options["RUNTIME"] not in RUNTIMES:
        messages.append(
            Error(
                f"IMAGEVARIANTS['RUNTIME'] is {options['RUNTIME']!r}; supported: {', '.join(RUNTIMES)}.",
                id="imagevariants.E005",
            )
        )
    if options["STORAGE"] not in settings.STORAGES:
        messages.append(
            Error(
                f"IMAGEVARIANTS['STORAGE'] names {options['STORAGE']!r}, which is not in STORAGES.",
                hint=f"Use one of: {', '.join(settings.STORAGES)}.",
                id="imagevariants.E006",
            )
        )
    for name in ("MAX_SOURCE_PIXELS", "MAX_SOURCE_BYTES", "MEMORY_MB", "PRESETS_CACHE_SECONDS", "REVISIONS_KEEP_DAYS"):
        value = options[name]
        minimum = 0 if name in ("PRESETS_CACHE_SECONDS", "REVISIONS_KEEP_DAYS") else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            messages.append(
                Error(
                    f"IMAGEVARIANTS['{name}'] must be an integer of at least {minimum}, not {value!r}.",
                    id="imagevariants.E007",
                )
            )
    if not cdn:
        try:
            reverse("imagevariants:edge", kwargs={"key": "_"})
        except NoReverseMatch:
            messages.append(
                Error(
                    "No CDN is configured and the local edge's URLs are not installed.",
                    hint="Add path('variants/', include('imagevariants.urls')) to your URLconf, or set CDN_URL.",
                    id="imagevariants.E008",
                )
            )
    for fmt in ("webp", "avif"):
        if not encodable(fmt):
            messages.append(
                Warning(
                    f"This Pillow cannot encode {fmt.upper()}: presets cannot offer it.",
                    hint="Install Pillow 11.3 or newer from a wheel, which includes WebP and AVIF.",
                    id="imagevariants.W002",
                )
            )
    return messages
