"""Variant URLs, srcset and <picture> markup: pure string building over the published presets document."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

from django.conf import settings
from django.urls import get_resolver, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from . import conf
from .edge.formats import FORMATS, PICTURE_FORMATS
from .edge.keys import url_path
from .edge.pipeline import output_size
from .edge.presets import Document, Output
from .edge.spec import Spec
from .exceptions import NothingPublished, UnknownPreset
from .publishing import published_document
from .sources import SourceRef, as_source, is_empty

__all__ = [
    "Candidate",
    "base_url",
    "candidate",
    "candidates",
    "original_url",
    "parse_presets",
    "picture",
    "srcset",
    "variant_url",
]

logger = logging.getLogger(__name__)


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


#: The local edge's base URL by what ``reverse`` depends on: the resolver (a new one once the URLconf changes or
#: ``clear_url_caches`` runs), the script prefix and the active language.
_local_bases: dict[tuple[object, str, str | None], str] = {}
_LOCAL_BASES_KEPT = 64


def base_url() -> str:
    """The URL under which a key is served: the CDN, or the local edge's route."""
    cdn = conf.settings().cdn_url
    if cdn:
        return cdn.rstrip("/") + "/"
    urlconf = get_urlconf()
    key = (get_resolver(urlconf), get_script_prefix(), get_language())
    base = _local_bases.get(key)
    if base is None:
        base = reverse("imagevariants:edge", urlconf, kwargs={"key": "_"})[:-1]
        if len(_local_bases) >= _LOCAL_BASES_KEPT:  # many prefixes, URLconfs or languages: start afresh
            _local_bases.clear()
        _local_bases[key] = base
    return base


def forget() -> None:
    """Drop what this module keeps: the local edge's base URLs and the outputs of the last document seen.

    Nothing needs to call it for the URLs to be right: what is kept is looked up by the objects it was made of (the
    URL resolver, the published document), which a change of settings, URLconf or publication replaces."""
    global _last_routes
    _local_bases.clear()
    _last_routes = None


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


class _Target(NamedTuple):
    """One output as the tags emit it: the percent-encoded parts of its URL around the source's part."""

    head: str  # url_path("{prefix}{preset}.{fingerprint}")
    suffix: str  # url_path(".{extension}") of a converted format, else ""
    spec: Spec
    nominal_width: int


def _target(document: Document, output: Output) -> _Target:
    """``url_path(output.key(source_key, prefix, version))`` is ``head + _source_part(...) + suffix``: percent-encoding
    encodes each character on its own, so the parts of a key can be encoded apart."""
    fmt = output.spec.format
    return _Target(
        url_path(f"{document.prefix}{output.preset}.{output.fingerprint}"),
        url_path(f".{FORMATS[fmt].extension}") if fmt else "",
        output.spec,
        output.spec.width,
    )


def _source_part(ref: SourceRef) -> str:
    """The part of a variant's URL that is the source's: its version token, when known, and its key."""
    version = f".{url_path(ref.version.token)}" if ref.version else ""
    return f"{version}/{url_path(ref.key)}"


class _Routes:
    """What ``_output`` finds in one document, by (preset, format), the primary under format None: made once per
    published document instead of once per URL."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.targets: dict[tuple[str, str | None], _Target] = {}
        for name in document.presets:
            outputs = document.outputs(name)
            self.targets[name, None] = _target(document, outputs[0])
            for output in outputs:
                if output.spec.format is not None:
                    self.targets.setdefault((name, output.spec.format), _target(document, output))

    def target(self, preset: str, fmt: str | None) -> _Target:
        """The output of ``preset`` in ``fmt``; raises UnknownPreset, as ``_output``, for one not published."""
        found = self.targets.get((preset, fmt))
        return found if found is not None else _target(self.document, _output(self.document, preset, fmt))


_last_routes: _Routes | None = None


def _routes(document: Document) -> _Routes:
    """The outputs of the published document, made again once it is another (a publication, the cache's TTL)."""
    global _last_routes
    routes = _last_routes
    if routes is None or routes.document is not document:
        routes = _last_routes = _Routes(document)
    return routes


class _Urls:
    """The URLs of one source's variants in one tag: the base URL and the source's part made on first use (after
    the first preset was found, as ``candidate`` does) and shared by every variant."""

    __slots__ = ("ref", "_base", "_source")

    def __init__(self, ref: SourceRef) -> None:
        self.ref = ref
        self._base = ""
        self._source = ""

    def of(self, target: _Target) -> str:
        if not self._source:
            self._base = base_url()
            self._source = _source_part(self.ref)
        return f"{self._base}{target.head}{self._source}{target.suffix}"


#: A variant in a srcset: (descriptor width, nominal width, URL, output width, output height), plain tuples (a
#: srcset is made of many).
_Found = tuple[int, int, str, int | None, int | None]
_BY_WIDTH = itemgetter(0, 1)


def _found(routes: _Routes, urls: _Urls, names: Iterable[str], fmt: str | None) -> list[_Found]:
    """What ``candidates`` gives, as tuples."""
    size = urls.ref.size
    found: list[_Found] = []
    for name in names:
        target = routes.target(name, fmt)
        url = urls.of(target)
        if size:
            width, height = output_size(size[0], size[1], target.spec)
            found.append((width or target.nominal_width, target.nominal_width, url, width, height))
        else:
            found.append((target.nominal_width, target.nominal_width, url, None, None))
    found.sort(key=_BY_WIDTH)
    if not size:
        return found
    fitting = [c for c in found if c[1] <= size[0]]
    wider = [c for c in found if c[1] > size[0]]
    if wider and not any(c[1] == size[0] for c in fitting):
        fitting.append(wider[0])
    return fitting


def candidate(source: object, preset: str, fmt: str | None = None) -> Candidate:
    """URL and size of one variant. Raises UnknownPreset for a preset or format the edge does not serve."""
    ref = as_source(source)
    target = _routes(_document()).target(preset, fmt)
    width = height = None
    if ref.size:
        width, height = output_size(*ref.size, target.spec)
    return Candidate(_Urls(ref).of(target), width, height, target.nominal_width)


def _or_original(exc: UnknownPreset, source: object) -> str:
    if settings.DEBUG and not isinstance(exc, NothingPublished):  # before the first deploy, pages still render
        raise exc
    logger.warning("%s Falling back to the original's URL.", exc)  # pragma: no mutate
    return original_url(source)


def _nothing(source: object, tag: str, presets: object) -> bool:
    """Whether there is no image to render (None, an empty field): the tags then render nothing, with a warning."""
    if not is_empty(source):
        return False
    logger.warning("No image for %s %r (%r): nothing rendered.", tag, presets, source)  # pragma: no mutate
    return True


def variant_url(source: object, preset: str, fmt: str | None = None) -> str:
    """The URL of ``source`` in ``preset``; the original's URL (and a warning) for an unknown preset unless DEBUG.

    No image (None, an empty field) gives ``""`` and a warning."""
    if _nothing(source, "variant_url", preset):
        return ""
    try:
        ref = as_source(source)
        target = _routes(_document()).target(preset, fmt)
        return f"{base_url()}{target.head}{_source_part(ref)}{target.suffix}"
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
    names = parse_presets(presets)
    found = _found(_routes(_document()), _Urls(ref), names, fmt)
    return [Candidate(url, width, height, nominal) for _, nominal, url, width, height in found]


def srcset(source: object, presets: str | list[str], fmt: str | None = None) -> str:
    """A srcset attribute value. Width descriptors need the source's size; without it, each preset's width.

    No image (None, an empty field) gives ``""`` and a warning."""
    if _nothing(source, "srcset", presets):
        return ""
    try:
        ref = as_source(source)
        names = parse_presets(presets)
        return _srcset(_found(_routes(_document()), _Urls(ref), names, fmt))
    except UnknownPreset as exc:
        return _or_original(exc, source)


#: The ``type`` of each ``<source>``, escaped as ``format_html`` would.
_MIME_HTML = {fmt: html.escape(FORMATS[fmt].mime) for fmt in PICTURE_FORMATS}


def picture(
    source: object, presets: str | list[str], *, sizes: str = "100vw", alt: str = "", **attrs: str
) -> SafeString:
    """``<picture>`` with AVIF and WebP ``<source>``s and a fallback ``<img>`` that has width and height.

    No image (None, an empty field) gives no markup at all and a warning."""
    if _nothing(source, "picture", presets):
        return SafeString("")
    ref = as_source(source)
    try:
        names = parse_presets(presets)
        routes = _routes(_document())
        urls = _Urls(ref)
        fallback = _found(routes, urls, names, None)
    except UnknownPreset as exc:
        url = _or_original(exc, ref)
        return format_html('<img src="{}" alt="{}"{}>', url, alt, _attributes(attrs, ref.width, ref.height))
    # The markup format_html would make, each value escaped as it escapes it; the URLs' own parts need no escaping.
    sizes_html = _html(sizes)
    markup = ["<picture>"]
    for fmt in PICTURE_FORMATS:
        if all((name, fmt) in routes.targets for name in names):
            found = _found(routes, urls, names, fmt)
            markup.append(f'<source type="{_MIME_HTML[fmt]}" srcset="{_srcset_html(found)}" sizes="{sizes_html}">')
    _, _, url, width, height = fallback[-1]
    markup.append(
        f'<img src="{html.escape(url)}" srcset="{_srcset_html(fallback)}" sizes="{sizes_html}" alt="{_html(alt)}"'
        f"{_attributes(attrs, width, height)}></picture>"
    )
    return SafeString("".join(markup))


def _srcset(found: list[_Found]) -> str:
    """``", ".join(c.descriptor for c in candidates)`` for the same variants."""
    return ", ".join([f"{url} {descriptor}w" for descriptor, _, url, _, _ in found])


def _srcset_html(found: list[_Found]) -> str:
    return html.escape(_srcset(found))


def _html(value: object) -> str:
    """``conditional_escape(value)``, a plain string's escaped without its lazy wrapper."""
    return html.escape(value) if type(value) is str else conditional_escape(value)


def _attributes(attrs: dict[str, str], width: int | None, height: int | None) -> SafeString:
    """What ``format_html_join("", ' {}="{}"', ...)`` gives for the attributes, sorted by name."""
    values = {"loading": "lazy", "decoding": "async"}
    if width and height:
        values.update(width=str(width), height=str(height))
    values.update({name.replace("_", "-"): value for name, value in attrs.items() if value is not None})
    return SafeString("".join([f' {_html(name)}="{_html(value)}"' for name, value in sorted(values.items())]))
