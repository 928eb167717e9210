"""A Django REST framework field that gives, as data, what ``{% picture %}`` renders as markup.

``VariantField("sm md lg")`` serializes a source (a ``SourceImage``, a ``FieldFile`` or a storage key) as::

    {
        "url": "https://…/_v/lg.72aff0d5.c5d41402abc4b/images/cat.jpg",   # the <img>'s src: the largest variant
        "width": 700, "height": 525,                                       # its size, None when unknown
        "srcset": "https://…/_v/sm.….jpg 100w, …",                         # the <img>'s srcset
        "sources": [{"type": "image/avif", "srcset": "…"}, {"type": "image/webp", "srcset": "…"}],
    }

and no image as ``None``: ``variants.picture_data``, the data ``{% picture %}`` renders, with absolute URLs. The CDN's
are, and on the local edge they are built with the serializer context's ``request`` (relative without one). Like
the tags, it makes no storage call and at most one query per process to read the published presets.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

try:
    from rest_framework import serializers
except ImportError as exc:  # Django REST framework is an optional dependency
    raise ImportError(
        "imagevariants.rest_framework needs Django REST framework: install django-imagevariants with its "
        "rest_framework extra (django-imagevariants[rest_framework])."
    ) from exc

from . import variants

__all__ = ["VariantField"]


class VariantField(serializers.Field):
    """A read-only field: the ``<picture>`` of a source in ``presets`` (space-separated names or a list).

    Other keyword arguments are DRF's (``source=``, ``label=``, ``help_text=``...)."""

    def __init__(self, presets: str | list[str] | tuple[str, ...], **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)
        self.presets = variants.parse_presets(presets)

    def to_representation(self, value: object) -> dict[str, Any] | None:
        picture = variants.picture_data(value, self.presets)
        if picture is None:
            return None
        largest = picture.fallback
        url = self._absolute(largest.url)
        if picture.original:  # as {% picture %}: the original (UnknownPreset under DEBUG once presets are published)
            return self._data(url, largest.width, largest.height, url, [])
        sources = [{"type": s.content_type, "srcset": self._srcset(s.candidates)} for s in picture.sources]
        return self._data(url, largest.width, largest.height, self._srcset(picture.candidates), sources)

    @staticmethod
    def _data(
        url: str, width: int | None, height: int | None, srcset: str, sources: list[dict[str, str]]
    ) -> dict[str, Any]:
        """The one place the keys are named: a placeholder (a preview to show while loading) will join them here,
        once the edge makes one; until then there is no such key, rather than an invented value."""
        return {"url": url, "width": width, "height": height, "srcset": srcset, "sources": sources}

    def _absolute(self, url: str) -> str:
        """An absolute URL: CDN URLs already are; a path is joined to the request's host when there is one."""
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url

    def _srcset(self, items: list[variants.Candidate]) -> str:
        return ", ".join(replace(c, url=self._absolute(c.url)).descriptor for c in items)
