"""What the tags accept as a source: a SourceImage, a FieldFile or a storage key, reduced to a key and a size.

The size and version come only from what is recorded: a SourceImage (or its own ``file``) and a
``VariantImageField`` know them; a plain ImageField's ``width_field``/``height_field`` hold the size the file is
stored at, which an EXIF orientation may swap, so it gives none, and neither does a key.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.db.models.fields.files import FieldFile

from .edge.keys import SourceVersion
from .fields import VariantImageField
from .models import SourceImage

__all__ = ["SourceRef", "as_source", "is_empty"]


@dataclass(frozen=True)
class SourceRef:
    """A source key, its upright size and its version when known (never read from storage)."""

    key: str
    width: int | None = None
    height: int | None = None
    version: SourceVersion | None = None

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None


def is_empty(source: object) -> bool:
    """Whether ``source`` is no image at all: None, ``""``, a blank file field or a SourceImage without a file."""
    if isinstance(source, SourceImage):
        source = source.file
    if isinstance(source, FieldFile):
        return not source.name
    return source is None or source == ""


def as_source(source: object) -> SourceRef:
    """Reduce a tag argument to a :class:`SourceRef` without any storage or database call."""
    if isinstance(source, SourceImage):  # the commonest first
        return SourceRef(source.key, source.width or None, source.height or None, _version(source.sha256))
    if isinstance(source, SourceRef):
        return source
    if isinstance(source, FieldFile) and isinstance(source.instance, SourceImage) and source.field.attname == "file":
        return as_source(source.instance)
    if isinstance(source, FieldFile):
        if isinstance(source.field, VariantImageField):
            return _recorded(source, source.field)
        return SourceRef(source.name)
    if isinstance(source, str) and source:
        return SourceRef(source.lstrip("/"))
    raise TypeError(f"an image source must be a SourceImage, a FieldFile or a storage key, not {source!r}")


def _version(sha256: str | None) -> SourceVersion | None:
    return _known_version(sha256) if sha256 else None


@functools.lru_cache(maxsize=1024)
def _known_version(sha256: str) -> SourceVersion:
    """The version of a SHA-256, validated once for the sources of a few pages (a hash that is not one raises
    every time: nothing is kept of it)."""
    return SourceVersion.from_sha256(sha256)


def _recorded(fieldfile: FieldFile, field: VariantImageField) -> SourceRef:
    """What a VariantImageField recorded on its instance (loaded attributes: no query unless deferred); nothing
    until all of it is (a row saved before the field may hold a sideways width and height)."""
    instance = fieldfile.instance
    if not field.is_recorded(instance):
        return SourceRef(fieldfile.name)

    def value(name: str | None) -> Any:
        return getattr(instance, name) if name else None

    version = value(field.version_field)
    return SourceRef(fieldfile.name, value(field.width_field), value(field.height_field), _version(version))
