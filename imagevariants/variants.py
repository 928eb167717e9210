"""Variant URLs, srcset and <picture> markup: pure string building over the published presets document."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from . import conf
from .edge.formats import FORMATS, PICTURE_FORMATS
from .edge.keys import url_path
from .edge.pipeline import output_size
from .edge.presets import Document, Output
from .exceptions import NothingPublished, UnknownPreset
from .publishing import published_document
from .sources import as_source, is_empty

logger = logging.getLogger("imagevariants")


@dataclass(frozen=True)
class Candidate:
    """One variant of one source: its URL and its output size when the source's size is known."""

    url: str
    width: int | None
    height: int | None
    nominal_width: int  # the preset's width, the srcset descriptor when the source's size is unknown

    @property
    def descriptor(self) -> str:
        return f"{self.url} {self.descriptor_width}w"

    @property
    def descriptor_width(self) -> int:
        return self.width or self.nominal_width


def base_url() -> str:
    """The URL under which a key is served: the CDN, or the local edge's route."""
    cdn = conf.settings().cdn_url
    if cdn:
        return cdn.rstrip("/") + "/"
    return reverse("imagevariants:edge", kwargs={"key": "_"})[:-1]


def original_url(source: object) -> str:
    """The URL of the original: through the CDN when configured, else the storage's own URL."""
    ref = as_source(source)
    if conf.settings().cdn_url:
        return base_url() + url_path(ref.key)
    return conf.source_storage.url(ref.key)


def _document() -> Document:
    document = published_document()
    if document is None:
        raise NothingPublished("No presets are published yet: run `manage.py deploy_edge`.")
    return document


def _output(document: Document, preset: str, fmt: str | None) -> Output:
    if preset not in document.presets:
        known = ", ".join(document.presets) or "none"
        raise UnknownPreset(f"Unknown image preset {preset!r}; published presets: {known}.")
    outputs = document.outputs(preset)
    if fmt is None:
        return outputs[0]
    for output in outputs:
        if output.spec.format == fmt:
            return output
    raise UnknownPreset(f"Preset {preset!r} has no {fmt!r} output; it has {[o.spec.format for o in outputs]}.")


def candidate(source: object, preset: str, fmt: str | None = None) -> Candidate:
    """URL and size of one variant. Raises UnknownPreset for a preset or format the edge does not serve."""
    ref = as_source(source)
    document = _document()
    output = _output(document, preset, fmt)
    width = height = None
    if ref.size:
        width, height = output_size(*ref.size, output.spec)
    key = output.key(ref.key, document.prefix, ref.version)
    return Candidate(base_url() + url_path(key), width, height, output.spec.width)


def _or_original(exc: UnknownPreset, source: object) -> str:
    if settings.DEBUG and not isinstance(exc, NothingPublished):  # before the first deploy, pages still render
        raise exc
    logger.warning("%s Falling back to the original's URL.", exc)  # pragma: no mutate
    return original_url(source)


def _nothing(source: object, what: str) -> bool:
    """Whether there is no image to render (None, an empty field): the tags then render nothing, with a warning."""
    if not is_empty(source):
        return False
    logger.warning("No image for %s (%r): nothing rendered.", what, source)  # pragma: no mutate
    return True


def variant_url(source: object, preset: str, fmt: str | None = None) -> str:
    """The URL of ``source`` in ``preset``; the original's URL (and a warning) for an unknown preset unless DEBUG.

    No image (None, an empty field) gives ``""`` and a warning."""
    if _nothing(source, f"variant_url {preset!r}"):
        return ""
    try:
        return candidate(source, preset, fmt).url
    except UnknownPreset as exc:
        return _or_original(exc, source)


def parse_presets(presets: str | list[str] | tuple[str, ...]) -> list[str]:
    names = presets.split() if isinstance(presets, str) else list(presets)
    if not names:
        raise UnknownPreset("No preset names given.")
    return names


def candidates(source: object, presets: str | list[str], fmt: str | None = None) -> list[Candidate]:
    """The variants for a srcset, narrowest first. Of the presets wider than a source of known width, only the
    narrowest is kept: the edge never upscales, so it gives the source's own width, the best there is."""
    ref = as_source(source)
    found = sorted(
        (candidate(ref, name, fmt) for name in parse_presets(presets)),
        key=lambda c: (c.descriptor_width, c.nominal_width),
    )
    if not ref.size:
        return found
    fitting = [c for c in found if c.nominal_width <= ref.size[0]]
    wider = [c for c in found if c.nominal_width > ref.size[0]]
    if wider and not any(c.nominal_width == ref.size[0] for c in fitting):
        fitting.append(wider[0])
    return fitting


def srcset(source: object, presets: str | list[str], fmt: str | None = None) -> str:
    """A srcset attribute value. Width descriptors need the source's size; without it, each preset's width.

    No image (None, an empty field) gives ``""`` and a warning."""
    if _nothing(source, f"srcset {presets!r}"):
        return ""
    try:
        return _joined(candidates(source, presets, fmt))
    except UnknownPreset as exc:
        return _or_original(exc, source)


def picture(
    source: object, presets: str | list[str], *, sizes: str = "100vw", alt: str = "", **attrs: str
) -> SafeString:
    """``<picture>`` with AVIF and WebP ``<source>``s and a fallback ``<img>`` that has width and height.

    No image (None, an empty field) gives no markup at all and a warning."""
    if _nothing(source, f"picture {presets!r}"):
        return SafeString("")
    ref = as_source(source)
    try:
        names = parse_presets(presets)
        fallback = candidates(ref, names)
    except UnknownPreset as exc:
        url = _or_original(exc, ref)
        return format_html('<img src="{}" alt="{}"{}>', url, alt, _attributes(attrs, ref.width, ref.height))
    document = _document()
    sources = []
    for fmt in PICTURE_FORMATS:
        if all(any(o.spec.format == fmt for o in document.outputs(name)) for name in names):
            sources.append(
                format_html(
                    '<source type="{}" srcset="{}" sizes="{}">',
                    FORMATS[fmt].mime,
                    _joined(candidates(ref, names, fmt)),
                    sizes,
                )
            )
    largest = fallback[-1]
    img = format_html(
        '<img src="{}" srcset="{}" sizes="{}" alt="{}"{}>',
        largest.url,
        _joined(fallback),
        sizes,
        alt,
        _attributes(attrs, largest.width, largest.height),
    )
    return format_html("<picture>{}{}</picture>", SafeString("".join(sources)), img)


def _joined(items: list[Candidate]) -> str:
    return ", ".join(c.descriptor for c in items)


def _attributes(attrs: dict[str, str], width: int | None, height: int | None) -> SafeString:
    values = {"loading": "lazy", "decoding": "async"}
    if width and height:
        values.update(width=str(width), height=str(height))
    values.update({name.replace("_", "-"): value for name, value in attrs.items() if value is not None})
    return format_html_join("", ' {}="{}"', sorted(values.items()))
