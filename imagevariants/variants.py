"""Variant URLs, srcset and <picture> markup: pure string building over the published presets document.

The tags are thin wrappers over this module's public functions, which Python code may call as well (see
docs/reference/python-api.md). An unknown preset raises UnknownPreset with DEBUG on; otherwise every function logs
a warning and gives the original instead, as it does with nothing published (DEBUG on or off)."""

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
from .edge.formats import FORMATS, PICTURE_FORMATS, key_format
from .edge.keys import url_path
from .edge.pipeline import output_size
from .edge.presets import Document, Output
from .edge.spec import Spec
from .exceptions import NothingPublished, UnknownPreset
from .publishing import published_document
from .sources import SourceRef, as_source, is_empty

__all__ = [
    "Candidate",
    "PictureData",
    "PictureSource",
    "base_url",
    "candidate",
    "candidates",
    "original_url",
    "parse_presets",
    "picture",
    "picture_data",
    "srcset",
    "variant_url",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One variant of one source (or the original, where the tags fall back to it): its URL, its output size when
    the source's size is known, and its output format when known.

    ``format`` is a name of the formats table (``"webp"``): a converting output's own; for a preset that keeps the
    source's format, the one the source key's extension names (``.jpg``, ``.jpeg``: ``"jpeg"``), else None (the
    edge decides from the bytes: a TIFF or BMP source becomes JPEG or PNG). The original's is its key's."""

    url: str
    width: int | None
    height: int | None
    nominal_width: int  # the preset's width, the srcset descriptor when the source's size is unknown; 0: unknown
    format: str | None = None

    @property
    def content_type(self) -> str | None:
        """The MIME type of ``format`` (``"image/webp"``), None when the format is not known."""
        return FORMATS[self.format].mime if self.format else None

    @property
    def descriptor(self) -> str:
        """``URL WIDTHw``, a srcset entry; the URL alone when no width is known (the original of a storage key)."""
        width = self.descriptor_width
        return f"{self.url} {width}w" if width else self.url

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
        #: The presets with an output of their own in each <picture> alternate (a kept format is none).
        self.offering = {fmt: frozenset(name for name, of in self.targets if of == fmt) for fmt in PICTURE_FORMATS}

    def target(self, preset: str, fmt: str | None, source_key: str) -> _Target:
        """The output of ``preset`` in ``fmt`` for a source ``source_key``; raises UnknownPreset, as ``_output``, for
        one not published."""
        found = self.targets.get((preset, fmt))
        return found if found is not None else self._kept(preset, fmt, source_key)

    def _kept(self, preset: str, fmt: str | None, source_key: str) -> _Target:
        """The primary output of a preset that keeps the source's format, asked for that format by name (``"jpeg"``
        for ``cat.jpg``): the source's format as its key names it. Any other output not published raises."""
        primary = self.targets.get((preset, None))
        if fmt is not None and primary is not None and primary.spec.format is None and key_format(source_key) == fmt:
            return primary
        return _target(self.document, _output(self.document, preset, fmt))


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


#: A variant in a srcset: (descriptor width, nominal width, URL, output width, output height, output), plain tuples
#: (a srcset is made of many); the output is None for the original.
_Found = tuple[int, int, str, int | None, int | None, _Target | None]
_BY_WIDTH = itemgetter(0, 1)


def _found(routes: _Routes, urls: _Urls, names: Iterable[str], fmt: str | None) -> list[_Found]:
    """What ``candidates`` gives, as tuples."""
    ref = urls.ref
    key, size = ref.key, ref.size
    known = routes.targets.get  # what ``routes.target`` looks up first, without its call
    found: list[_Found] = []
    for name in names:
        target = known((name, fmt)) or routes.target(name, fmt, key)
        url = urls.of(target)
        if size:
            width, height = output_size(size[0], size[1], target.spec)
            found.append((width or target.nominal_width, target.nominal_width, url, width, height, target))
        else:
            found.append((target.nominal_width, target.nominal_width, url, None, None, target))
    found.sort(key=_BY_WIDTH)
    if not size:
        return found
    fitting = [c for c in found if c[1] <= size[0]]
    wider = [c for c in found if c[1] > size[0]]
    if wider and not any(c[1] == size[0] for c in fitting):
        fitting.append(wider[0])
    return fitting


def _candidates(found: list[_Found], ref: SourceRef) -> list[Candidate]:
    """The candidates of ``found``, each with its output format: a converting output's, else the source key's."""
    kept = key_format(ref.key)
    return [
        Candidate(url, width, height, nominal, (target.spec.format if target else None) or kept)
        for _, nominal, url, width, height, target in found
    ]


def candidate(source: object, preset: str, fmt: str | None = None) -> Candidate:
    """URL, size and format of one variant, as ``variant_url`` chooses it. A preset or format the edge does not
    serve raises UnknownPreset with DEBUG on; otherwise it gives the original (its size and format when known)
    with a warning, as it does with nothing published, DEBUG on or off."""
    ref = as_source(source)
    try:
        target = _routes(_document()).target(preset, fmt, ref.key)
    except UnknownPreset as exc:
        found = _original_found(exc, ref)
    else:
        width = height = None
        if ref.size:
            width, height = output_size(*ref.size, target.spec)
        found = (width or target.nominal_width, target.nominal_width, _Urls(ref).of(target), width, height, target)
    return _candidates([found], ref)[0]


def _or_original(exc: UnknownPreset, source: object) -> str:
    if settings.DEBUG and not isinstance(exc, NothingPublished):  # before the first deploy, pages still render
        raise exc
    logger.warning("%s Falling back to the original's URL.", exc)  # pragma: no mutate
    return original_url(source)


def _original_found(exc: UnknownPreset, ref: SourceRef) -> _Found:
    """The original, where the tags fall back to it (``_or_original``), as a srcset entry: the source's size."""
    url = _or_original(exc, ref)
    return (ref.width or 0, ref.width or 0, url, ref.width, ref.height, None)


def _nothing(source: object, tag: str, presets: object) -> bool:
    """Whether there is no image to render (None, an empty field): the tags then render nothing, with a warning."""
    if not is_empty(source):
        return False
    _no_image(source, tag, presets)
    return True


def _no_image(source: object, tag: str, presets: object) -> None:
    logger.warning("No image for %s %r (%r): nothing rendered.", tag, presets, source)  # pragma: no mutate


def variant_url(source: object, preset: str, fmt: str | None = None) -> str:
    """The URL of ``source`` in ``preset``; the original's URL (and a warning) for an unknown preset unless DEBUG.

    No image (None, an empty field) gives ``""`` and a warning."""
    if _nothing(source, "variant_url", preset):
        return ""
    try:
        ref = as_source(source)
        target = _routes(_document()).target(preset, fmt, ref.key)
        return f"{base_url()}{target.head}{_source_part(ref)}{target.suffix}"
    except UnknownPreset as exc:
        return _or_original(exc, source)


def parse_presets(presets: str | list[str] | tuple[str, ...]) -> list[str]:
    names = presets.split() if isinstance(presets, str) else list(presets)
    if not names:
        raise UnknownPreset("No preset names given.")
    return names


def candidates(source: object, presets: str | list[str], fmt: str | None = None) -> list[Candidate]:
    """The variants ``srcset`` lists, narrowest first. Of the presets wider than a source of known width, only the
    narrowest is kept: the edge never upscales, so it gives the source's own width, the best there is.

    An unknown preset or format: UnknownPreset with DEBUG on, else the original alone, as ``candidate``."""
    ref = as_source(source)
    try:
        names = parse_presets(presets)
        found = _found(_routes(_document()), _Urls(ref), names, fmt)
    except UnknownPreset as exc:
        found = [_original_found(exc, ref)]
    return _candidates(found, ref)


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


class PictureSource(NamedTuple):
    """One ``<source>`` of a ``<picture>``: a format every preset offers, and its variants."""

    format: str  # a name of the formats table: "avif", "webp"
    content_type: str  # the MIME type, its ``type`` attribute
    srcset: str
    candidates: list[Candidate]  # narrowest first


class PictureData:
    """What ``picture()`` renders, as data: made by ``picture_data``.

    ``original`` is True when it falls back to the original (an unknown preset with DEBUG off, nothing published):
    then ``fallback`` is the original at the source's size, ``srcset`` its URL and there are no ``sources``."""

    __slots__ = ("source", "original", "_found", "_alternates")

    def __init__(
        self, source: SourceRef, found: list[_Found], alternates: list[tuple[str, list[_Found]]], original: bool
    ) -> None:
        self.source = source  # the source, as ``sources.as_source`` reduces it
        self.original = original
        self._found = found  # the <img>'s variants, narrowest first (the original alone when falling back)
        self._alternates = alternates  # (format, variants) of each <source>, the one offered first first

    @property
    def fallback(self) -> Candidate:
        """The ``<img>``'s ``src``, ``width`` and ``height``: the largest variant, or the original."""
        return _candidates(self._found[-1:], self.source)[0]

    @property
    def candidates(self) -> list[Candidate]:
        """The variants of the ``<img>``'s ``srcset``, narrowest first; the original alone when falling back."""
        return _candidates(self._found, self.source)

    @property
    def srcset(self) -> str:
        """The ``<img>``'s ``srcset``, as ``srcset()`` gives it: the original's URL alone when falling back."""
        return self._found[0][2] if self.original else _srcset(self._found)

    @property
    def sources(self) -> list[PictureSource]:
        """A ``<source>`` per format (AVIF, then WebP) that every preset offers as an output of its own."""
        return [
            PictureSource(fmt, FORMATS[fmt].mime, _srcset(found), _candidates(found, self.source))
            for fmt, found in self._alternates
        ]

    def __repr__(self) -> str:
        return f"<PictureData {self.srcset!r} {[(s.format, s.srcset) for s in self.sources]!r}>"


def picture_data(source: object, presets: str | list[str]) -> PictureData | None:
    """What ``picture()`` renders for ``source`` in ``presets``, as data; None for no image (None, an empty field),
    without a warning. An unknown preset: UnknownPreset with DEBUG on, else the original, as ``candidate``."""
    if is_empty(source):
        return None
    ref = as_source(source)
    try:
        names = parse_presets(presets)
        routes = _routes(_document())
        urls = _Urls(ref)
        found = _found(routes, urls, names, None)
    except UnknownPreset as exc:
        return PictureData(ref, [_original_found(exc, ref)], [], True)
    alternates = []
    for fmt, offering in routes.offering.items():  # each alternate every preset has an output of its own in
        if offering.issuperset(names):
            alternates.append((fmt, _found(routes, urls, names, fmt)))
    return PictureData(ref, found, alternates, False)


def picture(
    source: object, presets: str | list[str], *, sizes: str = "100vw", alt: str = "", **attrs: str
) -> SafeString:
    """``<picture>`` with AVIF and WebP ``<source>``s and a fallback ``<img>`` that has width and height: the markup
    of ``picture_data``.

    No image (None, an empty field) gives no markup at all and a warning."""
    data = picture_data(source, presets)
    if data is None:
        _no_image(source, "picture", presets)
        return SafeString("")
    if data.original:
        _, _, url, width, height, _ = data._found[0]
        return format_html('<img src="{}" alt="{}"{}>', url, alt, _attributes(attrs, width, height))
    # The markup format_html would make, each value escaped as it escapes it; the URLs' own parts need no escaping.
    sizes_html = _html(sizes)
    markup = ["<picture>"]
    for fmt, found in data._alternates:
        markup.append(f'<source type="{_MIME_HTML[fmt]}" srcset="{_srcset_html(found)}" sizes="{sizes_html}">')
    fallback = data._found
    _, _, url, width, height, _ = fallback[-1]
    markup.append(
        f'<img src="{html.escape(url)}" srcset="{_srcset_html(fallback)}" sizes="{sizes_html}" alt="{_html(alt)}"'
        f"{_attributes(attrs, width, height)}></picture>"
    )
    return SafeString("".join(markup))


def _srcset(found: list[_Found]) -> str:
    """``", ".join(c.descriptor for c in candidates)`` for the same variants."""
    return ", ".join([f"{url} {descriptor}w" for descriptor, _, url, _, _, _ in found])


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
